package anomalyprocessor

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
)

// heapPerSeries measures the heap the processor holds per univariate series after 100,000
// gauge series were scored once each (the store, its index and the models).
func heapPerSeries(t *testing.T, seasonal bool) float64 {
	const series, perBatch = 100_000, 1000
	cfg := createDefaultConfig().(*Config)
	cfg.Detector.Seasonal = seasonal
	before := heapInUse()
	p, err := newProcessor(processortest.NewNopSettings(NewFactory().Type()), cfg, consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for b := range series / perBatch {
		md := pmetric.NewMetrics()
		dps := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptyGauge().DataPoints()
		for i := range perBatch {
			dp := dps.AppendEmpty()
			dp.SetTimestamp(pcommon.NewTimestampFromTime(t0))
			dp.SetDoubleValue(1)
			dp.Attributes().PutStr("id", strconv.Itoa(b*perBatch+i))
		}
		if err := p.ConsumeMetrics(context.Background(), md); err != nil {
			t.Fatal(err)
		}
	}
	if p.models.Len() != series {
		t.Fatalf("%d series held, want %d", p.models.Len(), series)
	}
	perSeries := float64(heapInUse()-before) / series
	runtime.KeepAlive(p)
	return perSeries
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestMemoryPerSeries checks the state budget: at most 512 bytes per univariate series in the
// default configuration, seasonal profile included, everything the processor keeps for it
// included. The cost without the profile is logged (go test -v -run TestMemoryPerSeries).
func TestMemoryPerSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 100,000 series")
	}
	if !createDefaultConfig().(*Config).Detector.Seasonal {
		t.Fatal("the default configuration has no seasonal profile; this test measures it")
	}
	withProfile := heapPerSeries(t, true)
	plain := heapPerSeries(t, false)
	t.Logf("%.0f bytes per series with the seasonal profile (%.0f for the profile), %.0f without", withProfile, withProfile-plain, plain)
	if withProfile > 512 {
		t.Errorf("%.0f bytes per series in the default configuration, budget 512", withProfile)
	}
}
