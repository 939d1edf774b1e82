package trafficgen_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/omen-otel/omen/testbed/trafficgen"
)

// roots counts the traces in td.
func roots(td ptrace.Traces) int {
	n := 0
	for _, s := range spans(td) {
		if s.ParentSpanID().IsEmpty() {
			n++
		}
	}
	return n
}

func TestRunKeepsTheRate(t *testing.T) {
	t.Parallel() // mostly waiting for the ticker
	g := newGenerator(t, trafficgen.Config{Seed: 3, Services: 4, TraceRate: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()

	// Faults come and go while Run draws traces, as in the testbed; the race detector watches.
	var wg sync.WaitGroup
	wg.Go(func() {
		f := g.PickFault()
		for ctx.Err() == nil {
			if err := g.Inject(f); err != nil {
				t.Error(err)
				return
			}
			g.Clear()
			time.Sleep(time.Millisecond)
		}
	})

	traces, batches := 0, 0
	err := g.Run(ctx, func(_ context.Context, td ptrace.Traces) error {
		traces += roots(td)
		batches++
		return nil
	})
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// 200 traces/s for up to 0.5 s, in batches every 100 ms, the last one at 0.4 s at the earliest.
	if traces < 60 || traces > 100 {
		t.Errorf("%d traces in 0.5 s at 200/s", traces)
	}
	if batches < 3 || batches > 5 {
		t.Errorf("%d batches in 0.5 s", batches)
	}
}

func TestRunCarriesFractions(t *testing.T) {
	t.Parallel() // mostly waiting for the ticker
	// At 5 traces/s a 100 ms batch is due half a trace: only the carried remainders make any.
	g := newGenerator(t, trafficgen.Config{Seed: 3, TraceRate: 5})
	ctx, cancel := context.WithTimeout(context.Background(), 1050*time.Millisecond)
	defer cancel()
	traces := 0
	if err := g.Run(ctx, func(_ context.Context, td ptrace.Traces) error {
		traces += roots(td)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if traces < 4 || traces > 5 {
		t.Errorf("%d traces in 1.05 s at 5/s", traces)
	}
}

func TestRunStopsAtSendError(t *testing.T) {
	t.Parallel() // mostly waiting for the ticker
	g := newGenerator(t, trafficgen.Config{Seed: 3})
	refused := errors.New("refused")
	done := make(chan error, 1)
	go func() {
		done <- g.Run(context.Background(), func(context.Context, ptrace.Traces) error { return refused })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, refused) {
			t.Errorf("Run returned %v, want %v", err, refused)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop at a send error")
	}

	// An error caused by the end of the context is the normal end of the run, not a failure.
	ctx, cancel := context.WithCancel(context.Background())
	err := g.Run(ctx, func(ctx context.Context, _ ptrace.Traces) error {
		cancel()
		return ctx.Err()
	})
	if err != nil {
		t.Errorf("Run after cancel during a send: %v", err)
	}
}

func TestHTTPSender(t *testing.T) {
	var (
		mu       sync.Mutex
		path     string
		ctype    string
		received int
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err == nil {
			err = req.UnmarshalProto(body)
		}
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		path, ctype, received = r.URL.Path, r.Header.Get("Content-Type"), req.Traces().SpanCount()
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
		_, _ = w.Write(resp)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", srv.URL)
	}

	g := newGenerator(t, trafficgen.Config{Seed: 5})
	td := g.Traces(now, 3)
	send := trafficgen.HTTPSender(strings.TrimPrefix(srv.URL, "http://"))
	if err := send(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if path != "/v1/traces" || ctype != "application/x-protobuf" {
		t.Errorf("POST to %q with content type %q", path, ctype)
	}
	if received != td.SpanCount() || received == 0 {
		t.Errorf("server decoded %d spans, sent %d", received, td.SpanCount())
	}
}

func TestHTTPSenderNon2xx(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "overloaded", http.StatusInternalServerError)
	}))
	defer srv.Close()

	g := newGenerator(t, trafficgen.Config{Seed: 5})
	err := trafficgen.HTTPSender(srv.URL)(context.Background(), g.Traces(now, 1))
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("send to a failing server: %v, want an error naming 500", err)
	}
}

// SendAll keeps each generator's rate, in one request per tick holding every generator's traces.
func TestSendAllKeepsEachRate(t *testing.T) {
	t.Parallel() // mostly waiting for the ticker
	gens := []*trafficgen.Generator{
		newGenerator(t, trafficgen.Config{Seed: 3, Services: 4, Prefix: "a-"}),
		newGenerator(t, trafficgen.Config{Seed: 4, Services: 4, Prefix: "b-"}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	perSystem, requests := map[string]int{}, 0
	err := trafficgen.SendAll(ctx, gens, 100, func(_ context.Context, td ptrace.Traces) error {
		requests++
		for _, s := range spans(td) {
			if s.ParentSpanID().IsEmpty() {
				perSystem[s.service[:2]]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("SendAll: %v", err)
	}
	// 100 traces/s each for up to 0.7 s, every 200 ms: at least 3 ticks, at most 0.7 s of traces.
	for _, p := range []string{"a-", "b-"} {
		if n := perSystem[p]; n < 55 || n > 70 {
			t.Errorf("system %s: %d traces in 0.7 s at 100/s", p, n)
		}
	}
	if requests < 3 || requests > 4 {
		t.Errorf("%d requests in 0.7 s, want one per 200 ms tick", requests)
	}
}
