# Omen. `make run` builds the distribution and runs it on its default config; `make test` runs
# every test. Both install what they need: Go modules, and for the tests the Debian packages of
# Prometheus and Alertmanager.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

# The checksum database does not answer for these modules at our pinned versions; go.sum and the
# distribution's generated go.sum keep their hashes.
export GONOSUMDB := go.opentelemetry.io/collector/internal/schemagen,github.com/open-telemetry/opentelemetry-collector-contrib/connector/servicegraphconnector

BUILD_DIR := dist/_build
OMENCOL := $(BUILD_DIR)/omencol
CONFIG ?= dist/config.yaml
EXAMPLES := $(shell find examples -name '*.yaml' -not -path '*/testdata/*' 2>/dev/null | sort)

# The canary analysis test's own module: Argo Rollouts' Kubernetes libraries stay out of the
# distribution's requirements (testbed/argorollouts/README.md).
ARGO_MODULE := testbed/argorollouts

.PHONY: run build test unit e2e argo-rollouts demo validate generate check-generate bench lint clean deps

## run: build the distribution and run it on the default config (CONFIG=... for another); what it
## learns is checkpointed under $(BUILD_DIR)/state (OMEN_STATE_DIR=... for another place)
run: build
	OMEN_STATE_DIR=$${OMEN_STATE_DIR:-$(abspath $(BUILD_DIR))/state} ./$(OMENCOL) --config $(CONFIG)

## build: generate and compile the distribution with the pinned OpenTelemetry Collector Builder
build:
	$(GO) tool builder --config builder-config.yaml

## test: every test: lint, unit (race), the build, config validation, generated code, end-to-end
test: deps lint unit build validate check-generate e2e argo-rollouts

deps:
	$(GO) mod download
	cd $(ARGO_MODULE) && $(GO) mod download
	testbed/install-deps.sh

unit:
	$(GO) test -race -count=1 ./...

## validate: `omencol validate` on the default config and every example
validate: build
	for f in $(CONFIG) $(EXAMPLES); do echo "validate $$f"; ./$(OMENCOL) validate --config "$$f"; done

## e2e: the end-to-end tests against the built binary, a real Prometheus and Alertmanager
e2e: build
	OMEN_BINARY=$(abspath $(OMENCOL)) $(GO) test -race -count=1 -tags e2e -timeout 20m ./testbed/e2e/...

## demo: a generated shop whose busiest service gets a bad canary, through Omen, Prometheus and
## Alertmanager on loopback, judged by Argo Rollouts' analysis: the timeline, and pictures in
## $(BUILD_DIR)/demo (graph.svg, latency.svg)
demo: deps build
	cd $(ARGO_MODULE) && OMEN_DEMO_OUT=$(abspath $(BUILD_DIR))/demo OMEN_BINARY=$(abspath $(OMENCOL)) $(GO) test -count=1 -run '^TestDemo$$' -v -timeout 10m . | grep -v '^=== RUN'
	@echo "pictures: $(abspath $(BUILD_DIR))/demo/graph.svg $(abspath $(BUILD_DIR))/demo/latency.svg"

## argo-rollouts: Argo Rollouts' analysis controller judges canaries on Omen's scores (short form)
argo-rollouts: build
	cd $(ARGO_MODULE) && OMEN_BINARY=$(abspath $(OMENCOL)) $(GO) test -race -count=1 -timeout 20m ./...

generate:
	$(GO) generate ./...

## check-generate: fail when `go generate ./...` changes anything in the tree
check-generate:
	before=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	$(GO) generate ./...; \
	after=$$(git status --porcelain=v1 -uall; git diff | sha256sum); \
	if [ "$$before" != "$$after" ]; then git status --short; echo "go generate ./... changed the tree: commit its output"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./testbed/...
	cd $(ARGO_MODULE) && $(GO) vet ./...

clean:
	rm -rf $(BUILD_DIR)
