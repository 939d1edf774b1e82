//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/testbed/harness"
)

// The throughput test's load, as in the processor's BenchmarkConsumeMetrics: 10,000 gauge series,
// 1,000 per service, each request one service's scrape of 10 metrics of 100 points with two
// point attributes.
const (
	tpServices        = 10
	tpMetrics         = 10
	tpPointsPerMetric = 100
	tpPointsPerBatch  = tpMetrics * tpPointsPerMetric
	tpSenders         = 5 // each sends the batches of tpServices/tpSenders services, in time order
	// tpWarmup intervals reach every model past its warm-up (min_samples, 100 by default) before
	// anything is measured, so that every measured point is scored and gets its score point.
	tpWarmup = 110
)

// TestThroughput measures the whole pipeline of the built binary, OTLP/HTTP in and OTLP/HTTP out
// to a sink, with the anomaly processor (default configuration) and without it: the same binary
// and config (testdata/throughput.yaml) apart from the processor list, both collectors running,
// measured in turn (rounds of one window each, the order alternating), so both see the same
// machine. It fails when the pipeline with the processor carries less than
// OMEN_THROUGHPUT_MIN_RATIO (0.8) of the points per second of the one without it. It also reports
// each collector's own CPU time per point (otelcol_process_cpu_seconds), which other jobs on the
// machine disturb less than points/s.
//
// Opt-in, it loads both cores for about a minute:
//
//	make build
//	OMEN_THROUGHPUT=1 OMEN_BINARY=$PWD/dist/_build/omencol go test -tags e2e -run TestThroughput -v -count=1 ./testbed/e2e/
//
// OMEN_THROUGHPUT_ROUNDS (3) and OMEN_THROUGHPUT_WINDOW (5s) set the rounds and the length of a
// window; OMEN_THROUGHPUT_PROFILE=dir writes a CPU profile of the collector with the processor
// over its last window to dir/anomaly.pprof, and of the one without it to dir/plain.pprof;
// OMEN_THROUGHPUT_BASELINE=path adds, in the same rounds, the pipeline with the processor run by
// another build (the code before a change), reported beside the others (its profile:
// dir/baseline.pprof).
//
// The sender and the sink run in the test process on the same two cores: both pipelines pay for
// them per request, so the figure is what the machine carries end to end, not the collector
// alone. The sink reads every request and decodes one in eight, to check it.
func TestThroughput(t *testing.T) {
	if os.Getenv("OMEN_THROUGHPUT") == "" {
		t.Skip("opt-in: OMEN_THROUGHPUT=1 (loads both cores for about a minute)")
	}
	rounds := envInt(t, "OMEN_THROUGHPUT_ROUNDS", 3)
	window := envDuration(t, "OMEN_THROUGHPUT_WINDOW", 5*time.Second)
	minRatio := 0.8
	if v := os.Getenv("OMEN_THROUGHPUT_MIN_RATIO"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("OMEN_THROUGHPUT_MIN_RATIO=%q: %v", v, err)
		}
		minRatio = f
	}
	profileDir := os.Getenv("OMEN_THROUGHPUT_PROFILE")

	sink := startCountingSink(t)
	pipelines := []*tpPipeline{
		{name: "plain", processors: "[]"},
		{name: "anomaly", processors: "[anomaly]"},
	}
	if baseline := os.Getenv("OMEN_THROUGHPUT_BASELINE"); baseline != "" {
		// Another build (the code before a change), measured in the same rounds.
		pipelines = append(pipelines, &tpPipeline{name: "baseline", processors: "[anomaly]", binary: baseline})
	}
	for _, p := range pipelines {
		p.pprof = harness.FreeAddr(t)
		p.col = harness.StartCollector(t, harness.CollectorConfig{
			Config: "testbed/e2e/testdata/throughput.yaml",
			Binary: p.binary,
			Env: []string{
				"OMEN_THROUGHPUT_PROCESSORS=" + p.processors,
				"OMEN_SINK_URL=" + sink.url(p.name),
				"OMEN_PPROF_ENDPOINT=" + p.pprof,
			},
		})
		p.load = newTPLoad()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, p := range pipelines {
		start := time.Now()
		if _, err := p.load.send(ctx, p.col.OTLPHTTP, tpWarmup, time.Time{}); err != nil {
			t.Fatalf("%s: warm-up: %v", p.name, err)
		}
		t.Logf("%s: warm-up, %d intervals of %d points, in %s", p.name, tpWarmup, tpServices*tpPointsPerBatch, time.Since(start).Round(time.Millisecond))
	}
	sink.reset()

	for r := range rounds {
		order := slices.Clone(pipelines)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, p := range order {
			var profile chan error
			if profileDir != "" && r == rounds-1 {
				profile = make(chan error, 1)
				go func() {
					profile <- saveProfile(ctx, p.pprof, window-time.Second, filepath.Join(profileDir, p.name+".pprof"))
				}()
			}
			cpu := collectorCPU(t, p.col)
			start := time.Now()
			points, err := p.load.send(ctx, p.col.OTLPHTTP, 1<<30, start.Add(window))
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			p.cpu += collectorCPU(t, p.col) - cpu
			if profile != nil {
				if err := <-profile; err != nil {
					t.Errorf("%s: profile: %v", p.name, err)
				}
			}
			rate := float64(points) / elapsed.Seconds()
			p.rates = append(p.rates, rate)
			p.points += points
			p.elapsed += elapsed
			t.Logf("round %d, %-8s %7.0f points/s (%d points in %s)", r+1, p.name+":", rate, points, elapsed.Round(time.Millisecond))
		}
	}

	// What reached the sink: every measured point, and with the processor one score point each.
	plain, scored := pipelines[0], pipelines[1]
	for _, p := range pipelines {
		got := sink.stats(p.name)
		t.Logf("%s: sink got %d requests, %d bytes; decoded %d: %d points, %d of them score points", p.name, got.requests, got.bytes, got.decoded, got.points, got.scores)
		if got.requests != p.points/tpPointsPerBatch {
			t.Errorf("%s: the sink got %d requests for %d sent", p.name, got.requests, p.points/tpPointsPerBatch)
		}
		if got.decoded == 0 {
			t.Fatalf("%s: the sink decoded no request", p.name)
		}
	}
	if got := sink.stats(plain.name); got.scores != 0 || got.points != got.decoded*tpPointsPerBatch {
		t.Errorf("without the processor: %d points and %d score points in %d requests, want %d and 0", got.points, got.scores, got.decoded, got.decoded*tpPointsPerBatch)
	}
	for _, p := range pipelines[1:] {
		if got := sink.stats(p.name); got.scores != got.decoded*tpPointsPerBatch || got.points != 2*got.scores {
			t.Errorf("%s, with the processor: %d points and %d score points in %d requests, want %d and %d", p.name, got.points, got.scores, got.decoded, 2*got.decoded*tpPointsPerBatch, got.decoded*tpPointsPerBatch)
		}
	}

	plainRate := float64(plain.points) / plain.elapsed.Seconds()
	scoredRate := float64(scored.points) / scored.elapsed.Seconds()
	ratio := scoredRate / plainRate
	t.Logf("without anomaly %.0f points/s (rounds %s), with anomaly %.0f points/s (rounds %s): ratio %.2f (median of rounds %.2f)",
		plainRate, rates(plain.rates), scoredRate, rates(scored.rates), ratio, median(scored.rates)/median(plain.rates))
	// The collectors' own CPU time per point (otelcol_process_cpu_seconds), which the sender and
	// the sink do not share: what the processor costs in the collector.
	plainCPU, scoredCPU := plain.cpuPerPoint(), scored.cpuPerPoint()
	t.Logf("collector CPU per point: without anomaly %.2f µs, with anomaly %.2f µs (ratio %.2f)", plainCPU, scoredCPU, plainCPU/scoredCPU)
	if len(pipelines) > 2 {
		b := pipelines[2]
		bRate := float64(b.points) / b.elapsed.Seconds()
		t.Logf("baseline build %s with anomaly: %.0f points/s (rounds %s), ratio %.2f; collector CPU per point %.2f µs",
			b.binary, bRate, rates(b.rates), bRate/plainRate, b.cpuPerPoint())
	}
	if ratio < minRatio {
		t.Errorf("with the anomaly processor the pipeline carries %.2f of the points per second without it, want at least %.2f", ratio, minRatio)
	}
}

type tpPipeline struct {
	name, processors string
	pprof            string // the pprof extension's address
	col              *harness.Collector
	load             *tpLoad
	rates            []float64
	points           int64
	elapsed          time.Duration
	cpu              float64 // the collector's CPU seconds during the windows
	binary           string  // the collector; OMEN_BINARY when empty
}

// cpuPerPoint is the collector's CPU time per point measured, in microseconds.
func (p *tpPipeline) cpuPerPoint() float64 { return p.cpu / float64(p.points) * 1e6 }

// tpLoad is the stream of one pipeline: each sender's batches and the next interval of each.
type tpLoad struct {
	batches  [tpSenders][]pmetric.Metrics
	interval [tpSenders]int
}

func newTPLoad() *tpLoad {
	l := &tpLoad{}
	for s := range tpServices {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(s))
		rm.Resource().Attributes().PutStr("service.instance.id", "instance-"+strconv.Itoa(s))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		for m := range tpMetrics {
			metric := ms.AppendEmpty()
			metric.SetName("app.metric." + strconv.Itoa(m))
			dps := metric.SetEmptyGauge().DataPoints()
			for p := range tpPointsPerMetric {
				dp := dps.AppendEmpty()
				dp.Attributes().PutStr("http.route", "/api/v1/route/"+strconv.Itoa(p))
				dp.Attributes().PutStr("http.request.method", "GET")
			}
		}
		l.batches[s%tpSenders] = append(l.batches[s%tpSenders], md)
	}
	return l
}

// tpStart is the synthetic time of interval 0; intervals are a minute apart.
var tpStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// send runs the senders, each sending its services' batches interval after interval, until each
// sent n intervals or deadline (when not zero) passed, and returns the points sent and answered.
func (l *tpLoad) send(ctx context.Context, endpoint string, n int, deadline time.Time) (int64, error) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, tpSenders)
	for s := range tpSenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			url := "http://" + endpoint + "/v1/metrics"
			for range n {
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				i := l.interval[s]
				l.interval[s]++
				ts := pcommon.NewTimestampFromTime(tpStart.Add(time.Duration(i) * time.Minute))
				for _, md := range l.batches[s] {
					body, err := stamp(md, ts, i)
					if err == nil {
						err = harness.PostOTLP(ctx, client, url, body)
					}
					if err != nil {
						errs <- err
						return
					}
					sent.Add(tpPointsPerBatch)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return sent.Load(), <-errs
}

// stamp sets a batch's timestamps and values for interval i and encodes it.
func stamp(md pmetric.Metrics, ts pcommon.Timestamp, i int) ([]byte, error) {
	ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for m := range ms.Len() {
		dps := ms.At(m).Gauge().DataPoints()
		for p := range dps.Len() {
			dp := dps.At(p)
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(float64(100 + (p*7+i*13+m)%11))
		}
	}
	return pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
}

// countingSink is an OTLP/HTTP server on 127.0.0.1 that reads every metrics request, decodes one
// in eight and counts, per path (/<pipeline>/v1/metrics), what it got. It keeps nothing else.
type countingSink struct {
	addr string
	mu   sync.Mutex
	by   map[string]*sinkStats
}

type sinkStats struct {
	requests, bytes, decoded, points, scores int64
}

func startCountingSink(t *testing.T) *countingSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &countingSink{addr: l.Addr().String(), by: map[string]*sinkStats{}}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *countingSink) url(pipeline string) string {
	return "http://" + s.addr + "/" + pipeline + "/v1/metrics"
}

func (s *countingSink) handle(w http.ResponseWriter, r *http.Request) {
	pipeline, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/v1/metrics")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	st := s.by[pipeline]
	if st == nil {
		st = &sinkStats{}
		s.by[pipeline] = st
	}
	st.requests++
	st.bytes += int64(len(body))
	decode := st.requests%8 == 0
	s.mu.Unlock()
	if decode {
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		points, scores := countPoints(req.Metrics())
		s.mu.Lock()
		st.decoded++
		st.points += points
		st.scores += scores
		s.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func (s *countingSink) stats(pipeline string) sinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.by[pipeline]; st != nil {
		return *st
	}
	return sinkStats{}
}

func (s *countingSink) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.by = map[string]*sinkStats{}
}

// countPoints counts the gauge points of md, and the anomaly.score points among them.
func countPoints(md pmetric.Metrics) (points, scores int64) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeGauge {
					continue
				}
				n := int64(m.Gauge().DataPoints().Len())
				points += n
				if m.Name() == names.Score {
					scores += n
				}
			}
		}
	}
	return points, scores
}

// collectorCPU reads the collector's CPU seconds from its own telemetry.
func collectorCPU(t *testing.T, col *harness.Collector) float64 {
	t.Helper()
	body, err := get("http://" + col.Telemetry + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, "otelcol_process_cpu_seconds"); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(rest)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("otelcol_process_cpu_seconds: %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatal("the collector reports no otelcol_process_cpu_seconds")
	return 0
}

// saveProfile writes a CPU profile of d from a collector's pprof extension to path.
func saveProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, max(1, int(d.Seconds())))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 2*time.Second {
		t.Fatalf("%s=%q: want a duration of at least 2s", name, v)
	}
	return d
}

func rates(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatFloat(r, 'f', 0, 64)
	}
	return strings.Join(parts, ", ")
}

func median(rs []float64) float64 {
	s := slices.Sorted(slices.Values(rs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
