package promqlreceiver

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/metadata"
	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/promapi"
	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/schedule"
)

const (
	scopeName = "github.com/omen-otel/omen/receiver/promqlreceiver"
	// batchPoints bounds the points of one pdata batch, so a back-fill chunk of 11,000 steps over
	// many series reaches the pipeline in pieces the batch and memory_limiter processors handle.
	batchPoints = 10_000
	// numKinds is the number of promapi.Kind values, the reasons of a failed evaluation.
	numKinds = int(promapi.KindInvalidResponse) + 1
)

type promqlReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Metrics
	obs  *receiverhelper.ObsReport
	tel  *metadata.TelemetryBuilder

	client *promapi.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// query is one configured query made ready for its loop.
type query struct {
	cfg     QueryConfig
	grid    schedule.Grid
	attrs   metric.MeasurementOption           // query=<name>
	failed  [numKinds]metric.MeasurementOption // query=<name>, reason=<kind>
	skipNaN metric.MeasurementOption
	static  pcommon.Map // the static labels, as attributes
}

func newReceiver(set receiver.Settings, cfg *Config, next consumer.Metrics) (*promqlReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &promqlReceiver{cfg: cfg, set: set, next: next, obs: obs, tel: tel}, nil
}

func (r *promqlReceiver) Start(ctx context.Context, host component.Host) error {
	httpClient, err := r.cfg.ToClient(ctx, host.GetExtensions(), r.set.TelemetrySettings)
	if err != nil {
		return err
	}
	r.client = &promapi.Client{HTTP: httpClient, BaseURL: r.cfg.Endpoint}
	// The loops outlive Start's context, which ends when Start returns.
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, qc := range r.cfg.Queries {
		q := r.newQuery(qc)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.run(runCtx, q)
		}()
	}
	return nil
}

func (r *promqlReceiver) Shutdown(context.Context) error {
	if r.cancel != nil {
		r.cancel()
	}
	r.wg.Wait()
	r.tel.Shutdown()
	return nil
}

func (r *promqlReceiver) newQuery(qc QueryConfig) *query {
	name := attribute.String("query", qc.Name)
	q := &query{
		cfg:     qc,
		grid:    schedule.NewGrid(qc.Name, r.cfg.interval(qc)),
		attrs:   metric.WithAttributeSet(attribute.NewSet(name)),
		skipNaN: metric.WithAttributeSet(attribute.NewSet(name, attribute.String("reason", "nan"))),
		static:  pcommon.NewMap(),
	}
	for k := range numKinds {
		q.failed[k] = metric.WithAttributeSet(attribute.NewSet(name, attribute.String("reason", promapi.Kind(k).String())))
	}
	for k, v := range qc.Labels {
		q.static.PutStr(k, v)
	}
	return q
}

// run evaluates one query until ctx ends. next is the first grid timestamp not yet emitted: it
// starts lookback before the first due timestamp (the back-fill), and only moves forward once
// its points were emitted (or could never be), so the series has no gap and no repeated
// timestamp. While more than one timestamp is due (the back-fill, or catching up after
// Prometheus was unreachable) they are fetched with query_range in chunks; a single due
// timestamp, the live case, with an instant query.
func (r *promqlReceiver) run(ctx context.Context, q *query) {
	log := r.set.Logger.With(zap.String("query", q.cfg.Name))
	backoff := schedule.Backoff{Initial: r.cfg.Retry.InitialInterval, Max: r.cfg.Retry.MaxInterval}
	step := q.grid.Interval
	next := q.grid.First(q.grid.Due(time.Now()), r.cfg.Lookback)
	for {
		due := q.grid.Due(time.Now())
		if next.After(due) {
			if !sleep(ctx, time.Until(q.grid.EvalAt(next))) {
				return
			}
			continue
		}
		// After a long outage, catch up no further back than a back-fill would.
		if earliest := q.grid.First(due, r.cfg.Lookback); next.Before(earliest) {
			next = earliest
		}
		end := next
		var series []promapi.Series
		var err error
		if next.Equal(due) {
			series, err = r.client.Query(ctx, q.cfg.Expr, next)
		} else {
			end = schedule.ChunkEnd(next, due, step, r.cfg.MaxPointsPerRequest)
			series, err = r.client.QueryRange(ctx, q.cfg.Expr, next, end, step)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff.Reset()
			r.tel.PromqlEvaluations.Add(ctx, 1, q.attrs)
			r.emit(ctx, q, series)
			next = end.Add(step)
			continue
		}
		kind := promapi.KindOf(err)
		r.tel.PromqlEvaluationsFailed.Add(ctx, 1, q.failed[kind])
		switch kind {
		case promapi.KindRejected:
			log.Error("Prometheus rejected the query; it is not evaluated again until the collector restarts",
				zap.String("expr", q.cfg.Expr), zap.Error(err))
			return
		case promapi.KindUnavailable:
			delay := backoff.Next()
			log.Warn("Prometheus is unavailable; retrying", zap.Duration("retry_in", delay), zap.Error(err))
			if !sleep(ctx, delay) {
				return
			}
		default:
			// The answer for these timestamps will not get better by asking again: skip them.
			log.Warn("query failed; skipping its timestamps", zap.Time("from", next), zap.Time("to", end), zap.Error(err))
			next = end.Add(step)
		}
	}
}

// sleep waits d, or less when ctx ends first; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sample points at one point of one series of an answer.
type sample struct {
	t      int64
	series int
	v      float64
}

// emit sends the points of an answer in timestamp order (series in Prometheus' order within a
// timestamp), in batches of at most batchPoints, as one gauge named after the query.
func (r *promqlReceiver) emit(ctx context.Context, q *query, series []promapi.Series) {
	attrs := make([]pcommon.Map, len(series))
	var samples []sample
	nan := 0
	for i, s := range series {
		attrs[i] = pointAttributes(s.Labels, q.static)
		for _, p := range s.Points {
			if math.IsNaN(p.V) {
				nan++
				continue
			}
			samples = append(samples, sample{t: p.T, series: i, v: p.V})
		}
	}
	if nan > 0 {
		r.tel.PromqlPointsSkipped.Add(ctx, int64(nan), q.skipNaN)
	}
	slices.SortStableFunc(samples, func(a, b sample) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	for len(samples) > 0 {
		n := min(len(samples), batchPoints)
		r.send(ctx, q, attrs, samples[:n])
		samples = samples[n:]
	}
}

func (r *promqlReceiver) send(ctx context.Context, q *query, attrs []pcommon.Map, samples []sample) {
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	m := sm.Metrics().AppendEmpty()
	m.SetName(q.cfg.Name)
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(len(samples))
	for _, s := range samples {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(s.t * int64(time.Millisecond)))
		dp.SetDoubleValue(s.v)
		attrs[s.series].CopyTo(dp.Attributes())
	}
	obsCtx := r.obs.StartMetricsOp(ctx)
	err := r.next.ConsumeMetrics(obsCtx, md)
	r.obs.EndMetricsOp(obsCtx, metadata.Type.String(), len(samples), err)
	if err != nil {
		r.set.Logger.Warn("the pipeline refused the query's points", zap.String("query", q.cfg.Name), zap.Int("points", len(samples)), zap.Error(err))
		return
	}
	r.tel.PromqlPointsEmitted.Add(ctx, int64(len(samples)), q.attrs)
}

// pointAttributes are a series' labels without __name__, in name order, overridden by the static
// labels. The metric's name is the query's name. __name__ is dropped rather than kept as an
// attribute because an aggregation drops it anyway, and where a selector keeps it, it would only
// repeat the expression while changing the series' identity whenever a metric is renamed.
func pointAttributes(labels map[string]string, static pcommon.Map) pcommon.Map {
	names := make([]string, 0, len(labels))
	for k := range labels {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	m := pcommon.NewMap()
	m.EnsureCapacity(len(names) + static.Len())
	for _, k := range names {
		m.PutStr(k, labels[k])
	}
	for k, v := range static.All() {
		m.PutStr(k, v.Str())
	}
	return m
}
