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
)

// WebhookRecorder is an HTTP server on 127.0.0.1 that answers 200 to every POST and keeps what it
// received, in arrival order: the receiving end of a webhook, as a user's would be.
type WebhookRecorder struct {
	// URL is where to post: http://127.0.0.1:port/hook.
	URL string

	mu       sync.Mutex
	requests []WebhookRequest
}

// WebhookRequest is one POST the recorder received.
type WebhookRequest struct {
	ContentType string
	Body        []byte
}

// StartWebhookRecorder starts the recorder; it is stopped when the test ends.
func StartWebhookRecorder(t testing.TB) *WebhookRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("starting the webhook recorder: %v", err)
	}
	w := &WebhookRecorder{URL: "http://" + l.Addr().String() + "/hook"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.requests = append(w.requests, WebhookRequest{ContentType: r.Header.Get("Content-Type"), Body: body})
		w.mu.Unlock()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("webhook recorder: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("stopping the webhook recorder: %v", err)
		}
	})
	return w
}

// Requests is every request received so far.
func (w *WebhookRecorder) Requests() []WebhookRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WebhookRequest(nil), w.requests...)
}

// WaitFor polls the received requests until ok accepts them or the timeout passes.
func (w *WebhookRecorder) WaitFor(timeout time.Duration, ok func([]WebhookRequest) bool) ([]WebhookRequest, error) {
	deadline := time.Now().Add(timeout)
	for {
		reqs := w.Requests()
		if ok(reqs) {
			return reqs, nil
		}
		if time.Now().After(deadline) {
			return reqs, fmt.Errorf("the webhook recorder's %d requests were not accepted within %s", len(reqs), timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
