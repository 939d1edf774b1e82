package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// OTLPSink is an OTLP/HTTP server on 127.0.0.1 that keeps every metrics request a collector's
// otlp_http exporter sends it, in arrival order, so a test can compare what was exported point by
// point. It understands protobuf without compression: configure the exporter with
// `compression: none`.
type OTLPSink struct {
	// Endpoint is the exporter's endpoint: http://127.0.0.1:port (the exporter adds /v1/metrics).
	Endpoint string

	mu      sync.Mutex
	metrics []pmetric.Metrics
}

// StartOTLPSink starts the sink; it is stopped when the test ends.
func StartOTLPSink(t testing.TB) *OTLPSink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the OTLP sink: %v", err)
	}
	s := &OTLPSink{Endpoint: "http://" + l.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/metrics", s.handleMetrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("OTLP sink: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("stopping the OTLP sink: %v", err)
		}
	})
	return s
}

func (s *OTLPSink) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, fmt.Sprintf("content type %q: the sink takes application/x-protobuf", ct), http.StatusUnsupportedMediaType)
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "" {
		http.Error(w, fmt.Sprintf("content encoding %q: configure the exporter with compression: none", enc), http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.metrics = append(s.metrics, req.Metrics())
	s.mu.Unlock()
	resp, err := pmetricotlp.NewExportResponse().MarshalProto()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Metrics is every request received so far, in arrival order.
func (s *OTLPSink) Metrics() []pmetric.Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]pmetric.Metrics(nil), s.metrics...)
}

// SinkPoint is one gauge or sum number point the sink received, flattened.
type SinkPoint struct {
	Metric     string
	T          int64 // Unix milliseconds
	V          float64
	Attributes map[string]any
	Resource   map[string]any // the attributes of the point's resource
}

// Points flattens the gauge and sum points of every request, in arrival order.
func (s *OTLPSink) Points() []SinkPoint {
	var out []SinkPoint
	for _, md := range s.Metrics() {
		for _, rm := range md.ResourceMetrics().All() {
			res := rm.Resource().Attributes().AsRaw()
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					var dps pmetric.NumberDataPointSlice
					switch m.Type() {
					case pmetric.MetricTypeGauge:
						dps = m.Gauge().DataPoints()
					case pmetric.MetricTypeSum:
						dps = m.Sum().DataPoints()
					default:
						continue
					}
					for _, dp := range dps.All() {
						v := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(dp.IntValue())
						}
						out = append(out, SinkPoint{Metric: m.Name(), T: dp.Timestamp().AsTime().UnixMilli(), V: v, Attributes: dp.Attributes().AsRaw(), Resource: res})
					}
				}
			}
		}
	}
	return out
}

// WaitFor polls the received points until ok accepts them or the timeout passes.
func (s *OTLPSink) WaitFor(timeout time.Duration, ok func([]SinkPoint) bool) ([]SinkPoint, error) {
	deadline := time.Now().Add(timeout)
	for {
		pts := s.Points()
		if ok(pts) {
			return pts, nil
		}
		if time.Now().After(deadline) {
			return pts, fmt.Errorf("the OTLP sink's %d points were not accepted within %s", len(pts), timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
