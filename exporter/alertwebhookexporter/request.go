package alertwebhookexporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exporterhelper/xexporterhelper"

	"github.com/omen-otel/omen/exporter/alertwebhookexporter/internal/alert"
)

// request is what goes through exporterhelper's queue: notifications, not metrics. The state
// machine runs before the queue (in ConsumeMetrics and on the resend ticker), so a persistent
// queue stores the alerts themselves, and a notification computed while the receiver is down is
// delivered after a restart exactly as it was computed (with its original startsAt and endsAt).
type request struct {
	Alerts []alert.Alert `json:"alerts"`
}

var _ xexporterhelper.Request = (*request)(nil)

func (r *request) ItemsCount() int { return len(r.Alerts) }

// BytesSize is the size of the JSON encoding, what the persistent queue stores.
func (r *request) BytesSize() int {
	b, _ := json.Marshal(r)
	return len(b)
}

// MergeSplit merges r2 into r and splits the result into requests of at most maxSize alerts
// (with the items or requests sizer; batching by bytes is not supported).
func (r *request) MergeSplit(_ context.Context, maxSize int, szt exporterhelper.RequestSizerType, r2 xexporterhelper.Request) ([]xexporterhelper.Request, error) {
	if szt == exporterhelper.RequestSizerTypeBytes {
		return nil, errors.New("the alertwebhook exporter batches by items or requests, not by bytes")
	}
	alerts := r.Alerts
	if r2 != nil {
		other, ok := r2.(*request)
		if !ok {
			return nil, fmt.Errorf("cannot merge a %T into an alert request", r2)
		}
		alerts = append(append(make([]alert.Alert, 0, len(alerts)+len(other.Alerts)), alerts...), other.Alerts...)
	}
	if maxSize <= 0 || szt != exporterhelper.RequestSizerTypeItems || len(alerts) <= maxSize {
		return []xexporterhelper.Request{&request{Alerts: alerts}}, nil
	}
	var out []xexporterhelper.Request
	for len(alerts) > 0 {
		n := min(maxSize, len(alerts))
		out = append(out, &request{Alerts: alerts[:n:n]})
		alerts = alerts[n:]
	}
	return out, nil
}

// encoding is how the persistent queue stores a request: JSON. The context (client metadata)
// is not kept: notifications do not depend on who sent the scores.
type encoding struct{}

var _ exporterhelper.QueueBatchEncoding[xexporterhelper.Request] = encoding{}

func (encoding) Marshal(_ context.Context, req xexporterhelper.Request) ([]byte, error) {
	return json.Marshal(req)
}

func (encoding) Unmarshal(b []byte) (context.Context, xexporterhelper.Request, error) {
	var r request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, nil, err
	}
	return context.Background(), &r, nil
}
