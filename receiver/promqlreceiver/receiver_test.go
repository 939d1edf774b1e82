package promqlreceiver

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/metadatatest"
)

// fakeProm answers /api/v1/query and /api/v1/query_range like Prometheus for the expression
// "clock": one series whose value at each evaluation timestamp is that timestamp in seconds,
// so every emitted point says when it was evaluated. Any other expression gets the recorded
// answer of Prometheus 2.42 to a query that does not parse. While down > 0, requests are answered
// with 503 and down is decremented.
type fakeProm struct {
	t  *testing.T
	mu sync.Mutex
	// down is the number of requests still to fail with 503.
	down     int
	requests []request
}

type request struct {
	at                      time.Time
	path, expr              string
	start, end, step, instT int64 // milliseconds
}

func (f *fakeProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	num := func(k string) int64 {
		v, _ := strconv.ParseFloat(r.PostForm.Get(k), 64)
		return int64(math.Round(v * 1000))
	}
	req := request{at: time.Now(), path: r.URL.Path, expr: r.PostForm.Get("query"), start: num("start"), end: num("end"), step: num("step"), instT: num("time")}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	down := f.down > 0
	if down {
		f.down--
	}
	f.mu.Unlock()
	if down {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	if req.expr == "many_to_many" {
		w.WriteHeader(http.StatusUnprocessableEntity)
		b, err := os.ReadFile(filepath.Join("internal", "promapi", "testdata", "execution.json"))
		require.NoError(f.t, err)
		_, _ = w.Write(b)
		return
	}
	if req.expr != "clock" {
		w.WriteHeader(http.StatusBadRequest)
		b, err := os.ReadFile(filepath.Join("internal", "promapi", "testdata", "bad_data.json"))
		require.NoError(f.t, err)
		_, _ = w.Write(b)
		return
	}
	const metric = `{"__name__":"clock","job":"a","env":"prod"}`
	if r.URL.Path == "/api/v1/query" {
		ts := secs(req.instT)
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":%s,"value":[%s,"%s"]},{"metric":{"job":"nan"},"value":[%s,"NaN"]}]}}`,
			metric, ts, ts, ts)
		return
	}
	var values []string
	for ts := req.start; ts <= req.end; ts += req.step {
		values = append(values, fmt.Sprintf(`[%s,"%s"]`, secs(ts), secs(ts)))
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":%s,"values":[%s]}]}}`, metric, strings.Join(values, ","))
}

func secs(ms int64) string { return fmt.Sprintf("%d.%03d", ms/1000, ms%1000) }

func (f *fakeProm) log() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

type testReceiver struct {
	sink *consumertest.MetricsSink
	tel  *componenttest.Telemetry
	logs *observer.ObservedLogs
	prom *fakeProm
	// stop shuts the receiver down; after it, its points, requests and counters no longer change.
	stop func()
}

// start runs the receiver against a fake Prometheus until the test ends.
func start(t *testing.T, cfg *Config, down int) *testReceiver {
	t.Helper()
	tr := &testReceiver{sink: new(consumertest.MetricsSink), tel: componenttest.NewTelemetry(), prom: &fakeProm{t: t, down: down}}
	srv := httptest.NewServer(tr.prom)
	t.Cleanup(srv.Close)
	cfg.Endpoint = srv.URL
	require.NoError(t, cfg.Validate())
	set := metadatatest.NewSettings(tr.tel)
	var core zapcore.Core
	core, tr.logs = observer.New(zap.InfoLevel)
	set.Logger = zap.New(core)
	r, err := newReceiver(set, cfg, tr.sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	var once sync.Once
	tr.stop = func() {
		once.Do(func() { require.NoError(t, r.Shutdown(context.Background())) })
	}
	t.Cleanup(func() {
		tr.stop()
		require.NoError(t, tr.tel.Shutdown(context.Background()))
	})
	return tr
}

// point is one emitted point, flattened.
type point struct {
	name  string
	ts    time.Time
	v     float64
	attrs map[string]any
}

func (tr *testReceiver) points() []point {
	var out []point
	for _, md := range tr.sink.AllMetrics() {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for _, dp := range m.Gauge().DataPoints().All() {
						out = append(out, point{name: m.Name(), ts: dp.Timestamp().AsTime(), v: dp.DoubleValue(), attrs: dp.Attributes().AsRaw()})
					}
				}
			}
		}
	}
	return out
}

// counter sums the data points of a telemetry counter whose attributes include want.
func (tr *testReceiver) counter(t *testing.T, name string, want map[string]string) int64 {
	t.Helper()
	m, err := tr.tel.GetMetric("otelcol_" + name)
	if err != nil {
		return 0
	}
	var total int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		ok := true
		for k, v := range want {
			if got, found := dp.Attributes.Value(attribute.Key(k)); !found || got.AsString() != v {
				ok = false
			}
		}
		if ok {
			total += dp.Value
		}
	}
	return total
}

func testConfig(queries ...QueryConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "http://placeholder"
	cfg.Interval = 100 * time.Millisecond
	cfg.Lookback = time.Second
	cfg.MaxPointsPerRequest = 3
	cfg.Retry = RetryConfig{InitialInterval: 20 * time.Millisecond, MaxInterval: 80 * time.Millisecond}
	cfg.Queries = queries
	return cfg
}

// checkSeries asserts that the points of the "clock" series are every grid step from the first
// on, each once, in order, with the value Prometheus computed for its timestamp.
func checkSeries(t *testing.T, pts []point, step time.Duration) {
	t.Helper()
	require.NotEmpty(t, pts)
	for i, p := range pts {
		assert.InDelta(t, float64(p.ts.UnixMilli())/1000, p.v, 1e-9, "point %d: value is not its own timestamp", i)
		assert.Zero(t, p.ts.UnixMilli()%step.Milliseconds(), "point %d at %s is off the grid", i, p.ts)
		if i > 0 {
			require.Equal(t, step, p.ts.Sub(pts[i-1].ts), "point %d: gap or repeat after %s", i, pts[i-1].ts)
		}
	}
}

// TestBackfillThenLive checks the warm start: the lookback is fetched with query_range in
// chunks of at most max_points_per_request steps, emitted in time order, then the live schedule
// continues with instant queries one step after the back-fill, without gap or repeat.
func TestBackfillThenLive(t *testing.T) {
	begin := time.Now()
	tr := start(t, testConfig(QueryConfig{Name: "clock_seconds", Expr: "clock", Labels: map[string]string{"env": "test", "team": "omen"}}), 0)
	require.Eventually(t, func() bool { return len(tr.points()) >= 16 }, 10*time.Second, 10*time.Millisecond)
	tr.stop()
	pts := tr.points()
	checkSeries(t, pts, 100*time.Millisecond)
	assert.WithinDuration(t, begin.Add(-time.Second), pts[0].ts, 200*time.Millisecond, "the back-fill starts lookback before the start")
	for _, p := range pts {
		assert.Equal(t, "clock_seconds", p.name)
		// __name__ is dropped, a static label overrides a series label of the same name.
		assert.Equal(t, map[string]any{"job": "a", "env": "test", "team": "omen"}, p.attrs)
	}

	reqs := tr.prom.log()
	ranges := 0
	for ; ranges < len(reqs) && reqs[ranges].path == "/api/v1/query_range"; ranges++ {
		r := reqs[ranges]
		assert.LessOrEqual(t, (r.end-r.start)/r.step+1, int64(3), "request %d asks for more than max_points_per_request points", ranges)
		assert.Equal(t, int64(100), r.step)
		if ranges > 0 {
			assert.Equal(t, reqs[ranges-1].end+100, r.start, "chunk %d does not start one step after the previous one", ranges)
		}
	}
	assert.GreaterOrEqual(t, ranges, 4, "a 1 s lookback at 100 ms in chunks of 3 takes at least 4 requests")
	require.Greater(t, len(reqs), ranges)
	for _, r := range reqs[ranges:] {
		assert.Equal(t, "/api/v1/query", r.path, "after the back-fill only instant queries are sent")
	}
	assert.Equal(t, reqs[ranges-1].end+100, reqs[ranges].instT, "the live schedule continues one step after the back-fill")

	assert.Equal(t, int64(len(pts)), tr.counter(t, "promql_points_emitted", map[string]string{"query": "clock_seconds"}))
	assert.Positive(t, tr.counter(t, "promql_points_skipped", map[string]string{"query": "clock_seconds", "reason": "nan"}))
	// The last request may have been cut short by the shutdown, and then counts as nothing.
	assert.InDelta(t, len(reqs), tr.counter(t, "promql_evaluations", map[string]string{"query": "clock_seconds"}), 1)
	assert.Zero(t, tr.counter(t, "promql_evaluations_failed", nil))
	assert.Equal(t, int64(len(pts)), tr.counter(t, "receiver_accepted_metric_points", nil))
}

// TestRejectedQueryKeepsOthers checks that a query Prometheus rejects is reported once with
// Prometheus' own error text and not sent again, while the other query keeps running.
func TestRejectedQueryKeepsOthers(t *testing.T) {
	tr := start(t, testConfig(
		QueryConfig{Name: "broken", Expr: "sum(rate("},
		QueryConfig{Name: "clock_seconds", Expr: "clock"},
	), 0)
	require.Eventually(t, func() bool { return len(tr.points()) >= 16 }, 10*time.Second, 10*time.Millisecond)
	tr.stop()
	checkSeries(t, tr.points(), 100*time.Millisecond)

	logged := tr.logs.FilterMessageSnippet("rejected").All()
	require.Len(t, logged, 1)
	assert.Equal(t, "broken", logged[0].ContextMap()["query"])
	assert.Contains(t, logged[0].ContextMap()["error"], `invalid parameter "query": 1:10: parse error: unclosed left parenthesis`)
	brokenRequests := 0
	for _, r := range tr.prom.log() {
		if r.expr == "sum(rate(" {
			brokenRequests++
		}
	}
	assert.Equal(t, 1, brokenRequests)
	assert.Equal(t, int64(1), tr.counter(t, "promql_evaluations_failed", map[string]string{"query": "broken", "reason": "rejected"}))
	assert.Zero(t, tr.counter(t, "promql_evaluations_failed", map[string]string{"query": "clock_seconds"}))
}

// TestUnavailableIsRetried checks that while Prometheus is down the request is retried with
// growing delays and each failure counted, and that once it is back the series is complete
// from the start of the lookback: nothing was lost.
func TestUnavailableIsRetried(t *testing.T) {
	begin := time.Now()
	tr := start(t, testConfig(QueryConfig{Name: "clock_seconds", Expr: "clock"}), 4)
	require.Eventually(t, func() bool { return len(tr.points()) >= 16 }, 10*time.Second, 10*time.Millisecond)
	tr.stop()
	pts := tr.points()
	checkSeries(t, pts, 100*time.Millisecond)
	assert.WithinDuration(t, begin.Add(-time.Second), pts[0].ts, 200*time.Millisecond, "the back-fill still starts lookback before the start")

	assert.Equal(t, int64(4), tr.counter(t, "promql_evaluations_failed", map[string]string{"query": "clock_seconds", "reason": "unavailable"}))
	assert.Len(t, tr.logs.FilterMessageSnippet("unavailable").All(), 4)
	reqs := tr.prom.log()
	// Delays of 20, 40, 80 and 80 ms (max_interval), each within ±20% jitter.
	for i, want := range []time.Duration{20, 40, 80, 80} {
		gap := reqs[i+1].at.Sub(reqs[i].at)
		assert.GreaterOrEqual(t, gap, want*time.Millisecond*8/10, "retry %d came after %s", i+1, gap)
	}
}

// TestExecutionErrorSkipsTimestamps checks that a query failing in Prometheus' evaluation is
// counted and skips only the timestamps of that request: it is not retried at once, it is not
// stopped, and the following timestamps are asked for.
func TestExecutionErrorSkipsTimestamps(t *testing.T) {
	tr := start(t, testConfig(QueryConfig{Name: "m2m", Expr: "many_to_many"}), 0)
	require.Eventually(t, func() bool { return len(tr.prom.log()) >= 8 }, 10*time.Second, 10*time.Millisecond)
	tr.stop()
	reqs := tr.prom.log()
	first := func(r request) int64 {
		if r.path == "/api/v1/query" {
			return r.instT
		}
		return r.start
	}
	last := func(r request) int64 {
		if r.path == "/api/v1/query" {
			return r.instT
		}
		return r.end
	}
	for i := 1; i < len(reqs); i++ {
		assert.Equal(t, last(reqs[i-1])+100, first(reqs[i]), "request %d does not ask for the timestamps after request %d's", i, i-1)
	}
	assert.GreaterOrEqual(t, tr.counter(t, "promql_evaluations_failed", map[string]string{"query": "m2m", "reason": "execution"}), int64(len(reqs)-1))
	assert.Empty(t, tr.points())
}

func TestStopsCleanlyWhileWaiting(t *testing.T) {
	cfg := testConfig(QueryConfig{Name: "clock_seconds", Expr: "clock"})
	cfg.Interval = time.Hour
	cfg.Lookback = 0
	tr := start(t, cfg, 1<<30) // Prometheus never answers: the loop sits in its backoff.
	require.Eventually(t, func() bool { return len(tr.prom.log()) >= 2 }, 10*time.Second, 10*time.Millisecond)
	// The cleanup's Shutdown must return promptly; goleak (TestMain) checks no loop is left.
}

func TestPointAttributesAreSorted(t *testing.T) {
	q := pointAttributes(map[string]string{"__name__": "up", "b": "2", "a": "1", "c": "3"}, pcommon.NewMap())
	var keys []string
	for k := range q.All() {
		keys = append(keys, k)
	}
	assert.Equal(t, []string{"a", "b", "c"}, keys)
}
