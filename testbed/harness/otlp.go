package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// SendMetrics posts metrics to an OTLP/HTTP receiver (host:port) as protobuf, as an SDK would.
func SendMetrics(ctx context.Context, endpoint string, md pmetric.Metrics) error {
	body, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		return err
	}
	return PostOTLP(ctx, http.DefaultClient, "http://"+endpoint+"/v1/metrics", body)
}

// SendTraces posts traces to an OTLP/HTTP receiver (host:port) as protobuf.
func SendTraces(ctx context.Context, endpoint string, td ptrace.Traces) error {
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return err
	}
	return PostOTLP(ctx, http.DefaultClient, "http://"+endpoint+"/v1/traces", body)
}

// PostOTLP posts an encoded OTLP request (protobuf) to url with client; an answer other than
// 200 is an error carrying the start of its body. The answer is read to its end, so the client
// reuses the connection.
func PostOTLP(ctx context.Context, client *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, msg)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
