package trafficgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

const (
	// batchInterval is how often Run sends: often enough for a steady stream, seldom enough that
	// a batch at the default rate holds a couple of traces.
	batchInterval = 100 * time.Millisecond
	// sendTimeout bounds one export, so that a stuck collector makes HTTPSender fail rather than
	// stall Run.
	sendTimeout = 10 * time.Second
)

// Run sends traces at the configured rate until ctx ends, then returns nil. Every 100 ms it sends
// one Traces holding the traces due since the last batch; the fractional remainder carries over,
// so any rate is kept on average, and a slow send is made up by a larger next batch.
//
// Run stops at the first send error and returns it, unless ctx has ended meanwhile: a testbed
// should not measure a collector that drops its input. A caller that wants to ride out errors,
// such as a load test that expects refusals, can pass a send that counts them and returns nil.
func (g *Generator) Run(ctx context.Context, send func(context.Context, ptrace.Traces) error) error {
	ticker := time.NewTicker(batchInterval)
	defer ticker.Stop()
	last := time.Now()
	due := 0.0
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			due += g.rate * now.Sub(last).Seconds()
			last = now
			n := int(due)
			if n == 0 {
				continue
			}
			due -= float64(n)
			if err := send(ctx, g.Traces(now, n)); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// SendAll sends the traces of several generators at rate traces per second each, in one request
// per 200 ms tick holding all of theirs, until ctx ends; then it returns nil. Like Run it stops
// at the first send error, unless ctx has ended meanwhile. Each generator's own rate is unused.
func SendAll(ctx context.Context, gens []*Generator, rate float64, send func(context.Context, ptrace.Traces) error) error {
	const tick = 200 * time.Millisecond
	owed := make([]float64, len(gens))
	last := time.Now()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-ticker.C:
			td := ptrace.NewTraces()
			for i, g := range gens {
				owed[i] += rate * now.Sub(last).Seconds()
				n := int(owed[i])
				owed[i] -= float64(n)
				g.Traces(now, n).ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
			}
			last = now
			if err := send(ctx, td); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// HTTPSender returns a send function for Run that exports to an OTLP/HTTP receiver at endpoint
// ("host:port", or a URL with a scheme), posting protobuf to /v1/traces as an SDK does. A response
// other than 2xx is an error naming the status.
func HTTPSender(endpoint string) func(context.Context, ptrace.Traces) error {
	url := endpoint
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	url = strings.TrimSuffix(url, "/") + "/v1/traces"
	client := &http.Client{Timeout: sendTimeout}
	return func(ctx context.Context, td ptrace.Traces) error {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return fmt.Errorf("trafficgen: encode traces: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("trafficgen: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("trafficgen: %w", err)
		}
		defer resp.Body.Close()
		// Reading the body to its end lets the client reuse the connection.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return fmt.Errorf("trafficgen: POST %s: %s", url, resp.Status)
		}
		return nil
	}
}
