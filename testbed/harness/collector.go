package harness

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a collector may take to report healthy.
const startTimeout = 60 * time.Second

// Collector is one omencol process. Its listening addresses are chosen once, so Stop and Start
// restart it on the same ports, as a restarted collector in production would be.
//
// A config reaches these addresses through environment variables with the names below, as
// dist/config.yaml does (`${env:OMEN_PROMETHEUS_ENDPOINT:-127.0.0.1:8889}`).
type Collector struct {
	OTLPGRPC   string // OMEN_OTLP_GRPC_ENDPOINT
	OTLPHTTP   string // OMEN_OTLP_HTTP_ENDPOINT
	Prometheus string // OMEN_PROMETHEUS_ENDPOINT: the prometheus exporter
	Health     string // OMEN_HEALTH_ENDPOINT: the health_check extension
	Telemetry  string // OMEN_TELEMETRY_PORT (the port only): the collector's own metrics

	t      testing.TB
	binary string
	config string
	env    []string
	proc   *process
	// stopped is set by Stop: a collector that exits without being asked to is a test failure.
	stopped bool
}

// CollectorConfig says what to run.
type CollectorConfig struct {
	// Config is the path of the collector config, relative to the repository root when not absolute.
	Config string
	// Env holds extra environment variables (KEY=value), for configs that need more addresses.
	Env []string
	// Binary is the collector to run; CollectorBinary when empty.
	Binary string
}

// CollectorBinary is the built distribution: $OMEN_BINARY, or dist/_build/omencol in the
// repository (what `make build` writes).
func CollectorBinary(t testing.TB) string {
	return lookBinary(t, "OMEN_BINARY", filepath.Join(RepoRoot(t), "dist", "_build", "omencol"))
}

// StartCollector starts the built collector on free ports and waits until its health check
// answers. It is stopped when the test ends.
func StartCollector(t testing.TB, cfg CollectorConfig) *Collector {
	t.Helper()
	config := cfg.Config
	if !filepath.IsAbs(config) {
		config = filepath.Join(RepoRoot(t), config)
	}
	binary := cfg.Binary
	if binary == "" {
		binary = CollectorBinary(t)
	}
	c := &Collector{t: t, binary: binary, config: config}
	// Registered before the start, so a collector that never becomes healthy is stopped too.
	t.Cleanup(func() {
		if c.proc != nil && !c.stopped {
			if err := c.proc.stop(); err != nil {
				t.Errorf("stopping the collector: %v", err)
			}
		}
	})
	// A port found free may be taken by another process before the collector binds it (other
	// tests run on this machine too): the first start tries again on new ports, up to 3 times.
	for attempt := 1; ; attempt++ {
		c.OTLPGRPC, c.OTLPHTTP, c.Prometheus, c.Health, c.Telemetry = FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t), FreeAddr(t)
		c.env = append([]string{
			"OMEN_OTLP_GRPC_ENDPOINT=" + c.OTLPGRPC,
			"OMEN_OTLP_HTTP_ENDPOINT=" + c.OTLPHTTP,
			"OMEN_PROMETHEUS_ENDPOINT=" + c.Prometheus,
			"OMEN_HEALTH_ENDPOINT=" + c.Health,
			"OMEN_TELEMETRY_PORT=" + strconv.Itoa(portOf(c.Telemetry)),
		}, cfg.Env...)
		err := c.start()
		if err == nil {
			return c
		}
		if attempt < 3 && strings.Contains(c.Logs(), "address already in use") {
			t.Logf("collector start %d: a port was taken meanwhile; trying new ports", attempt)
			continue
		}
		t.Fatalf("collector did not become healthy: %v", err)
	}
}

// Start (re)starts a stopped collector with the same config and ports.
func (c *Collector) Start() {
	c.t.Helper()
	if err := c.start(); err != nil {
		c.t.Fatalf("collector did not become healthy: %v", err)
	}
}

func (c *Collector) start() error {
	if c.proc != nil {
		if done, _ := c.proc.exited(); !done {
			return errors.New("collector is already running")
		}
	}
	c.stopped = false
	c.proc = startProcess(c.t, "omencol", c.env, c.binary, "--config", c.config)
	c.proc.logOnFailure(c.t)
	healthURL := "http://" + c.Health + "/"
	return waitHTTPOK(c.proc, healthURL, startTimeout, 200*time.Millisecond)
}

// Stop stops the collector gracefully (SIGTERM), as an orchestrator would.
func (c *Collector) Stop() {
	c.t.Helper()
	c.stopped = true
	if err := c.proc.stop(); err != nil {
		c.t.Fatalf("stopping the collector: %v", err)
	}
}

// Kill kills the collector with SIGKILL: no shutdown, no last checkpoint. Start starts it again.
func (c *Collector) Kill() {
	c.t.Helper()
	c.stopped = true
	if err := c.proc.kill(); err != nil {
		c.t.Fatalf("killing the collector: %v", err)
	}
}

// Logs is what the collector wrote to stdout and stderr so far (its last MiB).
func (c *Collector) Logs() string {
	return c.proc.out.tail(1 << 20)
}
