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
		e.started = true
		e.score = e.gauge(names.Score, "Anomaly score of the metric named by metric.name, 0 to 10: a score of s is as surprising as an event of probability 10^-s on a well-behaved series.")
		if e.bands {
			e.expected = e.gauge(names.Expected, "Value the model expected for the metric named by metric.name.")
			e.lower = e.gauge(names.Lower, "Lower end of the model's normal band for the metric named by metric.name.")
			e.upper = e.gauge(names.Upper, "Upper end of the model's normal band for the metric named by metric.name.")
		}
	}
	point(e.score, ts, attrs, name, feature, score)
	if e.bands && res.WarmedUp {
		point(e.expected, ts, attrs, name, feature, res.Expected)
		point(e.lower, ts, attrs, name, feature, res.Lower)
		point(e.upper, ts, attrs, name, feature, res.Upper)
	}
}

func (e *emitter) gauge(name, description string) pmetric.NumberDataPointSlice {
	m := e.metrics.AppendEmpty()
	m.SetName(name)
	m.SetDescription(description)
	return m.SetEmptyGauge().DataPoints()
}

// point appends a point carrying the scored point's attributes, the metric's name and the
// feature (for histograms and summaries).
func point(dps pmetric.NumberDataPointSlice, ts int64, attrs pcommon.Map, name, feature string, v float64) {
	dp := dps.AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(ts))
	dp.SetDoubleValue(v)
	out := dp.Attributes()
	out.EnsureCapacity(attrs.Len() + 2)
	attrs.CopyTo(out)
	out.PutStr(names.MetricName, name)
	if feature != "" {
		out.PutStr(names.Feature, feature)
	}
}
