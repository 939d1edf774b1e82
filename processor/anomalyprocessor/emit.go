package anomalyprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/names"
)

// emitter appends score points to the scope the scored points came from. The score metrics are
// created on the first score, so a scope with nothing scored is left as it came.
type emitter struct {
	metrics pmetric.MetricSlice
	bands   bool

	started                       bool
	score, expected, lower, upper pmetric.NumberDataPointSlice
}

func (e *emitter) emit(ts int64, attrs pcommon.Map, name, feature string, score float64, res detector.Result) {
	if !e.started {
		e.start()
	}
	point(e.score, ts, attrs, name, feature, score)
	if e.bands && res.WarmedUp {
		point(e.expected, ts, attrs, name, feature, res.Expected)
		point(e.lower, ts, attrs, name, feature, res.Lower)
		point(e.upper, ts, attrs, name, feature, res.Upper)
	}
}

// start appends the score metrics, with room for a score of every point the scope holds, so
// their point slices are allocated once rather than grown point by point.
func (e *emitter) start() {
	e.started = true
	n := scorable(e.metrics)
	e.score = e.gauge(names.Score, "Anomaly score of the metric named by metric.name, 0 to 10: a score of s is as surprising as an event of probability 10^-s on a well-behaved series.", n)
	if e.bands {
		e.expected = e.gauge(names.Expected, "Value the model expected for the metric named by metric.name.", n)
		e.lower = e.gauge(names.Lower, "Lower end of the model's normal band for the metric named by metric.name.", n)
		e.upper = e.gauge(names.Upper, "Upper end of the model's normal band for the metric named by metric.name.", n)
	}
}

func (e *emitter) gauge(name, description string, capacity int) pmetric.NumberDataPointSlice {
	m := e.metrics.AppendEmpty()
	m.SetName(name)
	m.SetDescription(description)
	dps := m.SetEmptyGauge().DataPoints()
	dps.EnsureCapacity(capacity)
	return dps
}

// scorable is how many score points the metrics could give at most: one per number point and
// per summary quantile, three per histogram point (rate, mean, quantile).
func scorable(ms pmetric.MetricSlice) int {
	n := 0
	for i, l := 0, ms.Len(); i < l; i++ {
		m := ms.At(i)
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			n += m.Gauge().DataPoints().Len()
		case pmetric.MetricTypeSum:
			n += m.Sum().DataPoints().Len()
		case pmetric.MetricTypeHistogram:
			n += 3 * m.Histogram().DataPoints().Len()
		case pmetric.MetricTypeExponentialHistogram:
			n += 3 * m.ExponentialHistogram().DataPoints().Len()
		case pmetric.MetricTypeSummary:
			dps := m.Summary().DataPoints()
			for j, k := 0, dps.Len(); j < k; j++ {
				n += dps.At(j).QuantileValues().Len()
			}
		}
	}
	return n
}

// point appends a point carrying the scored point's attributes, the metric's name and the
// feature (for histograms and summaries).
func point(dps pmetric.NumberDataPointSlice, ts int64, attrs pcommon.Map, name, feature string, v float64) {
	dp := dps.AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(ts))
	dp.SetDoubleValue(v)
	out := dp.Attributes()
	n := attrs.Len() + 1
	if feature != "" {
		n++
	}
	out.EnsureCapacity(n)
	attrs.CopyTo(out)
	out.PutStr(names.MetricName, name)
	if feature != "" {
		out.PutStr(names.Feature, feature)
	}
}
