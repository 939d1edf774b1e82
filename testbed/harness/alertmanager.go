package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Alertmanager is a real Alertmanager (the Debian package's /usr/bin/prometheus-alertmanager, or
// $OMEN_ALERTMANAGER_BINARY) on a free loopback port, with a config whose only receiver discards
// notifications: tests read the alerts it holds through its API. Stop and Start restart it on the
// same port and storage, as an Alertmanager that was down for a while.
type Alertmanager struct {
	URL string // http://127.0.0.1:port

	t       testing.TB
	bin     string
	args    []string
	proc    *process
	stopped bool
}

// alertmanagerConfig routes every alert to a receiver without integrations.
const alertmanagerConfig = `route:
  receiver: discard
  group_wait: 1s
receivers:
  - name: discard
`

// StartAlertmanager starts Alertmanager and waits until it is ready. It is stopped when the test
// ends.
func StartAlertmanager(t testing.TB) *Alertmanager {
	t.Helper()
	dir := t.TempDir()
	configPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configPath, []byte(alertmanagerConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	a := &Alertmanager{
		URL: "http://" + addr,
		t:   t,
		bin: lookBinary(t, "OMEN_ALERTMANAGER_BINARY", "prometheus-alertmanager", "alertmanager"),
		args: []string{
			"--config.file=" + configPath,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			// Empty: no cluster listener, which would otherwise bind 0.0.0.0:9094.
			"--cluster.listen-address=",
		},
	}
	t.Cleanup(func() {
		if a.proc != nil && !a.stopped {
			if err := a.proc.stop(); err != nil {
				t.Errorf("stopping alertmanager: %v", err)
			}
		}
	})
	a.Start()
	return a
}

// Start (re)starts a stopped Alertmanager on the same port and storage.
func (a *Alertmanager) Start() {
	a.t.Helper()
	a.stopped = false
	a.proc = startProcess(a.t, "alertmanager", nil, a.bin, a.args...)
	a.proc.logOnFailure(a.t)
	err := waitHTTPOK(a.proc, a.URL+"/-/ready", 30*time.Second, 100*time.Millisecond)
	if err != nil {
		a.t.Fatalf("alertmanager did not become ready: %v", err)
	}
}

// Stop stops Alertmanager (SIGTERM).
func (a *Alertmanager) Stop() {
	a.t.Helper()
	a.stopped = true
	if err := a.proc.stop(); err != nil {
		a.t.Fatalf("stopping alertmanager: %v", err)
	}
}

// AMAlert is an alert as Alertmanager's GET /api/v2/alerts returns it.
type AMAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"`
	} `json:"status"`
}

// Alerts returns the alerts Alertmanager holds that are not resolved.
func (a *Alertmanager) Alerts(ctx context.Context) ([]AMAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v2/alerts: %s", resp.Status)
	}
	var alerts []AMAlert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		return nil, fmt.Errorf("GET /api/v2/alerts: %w", err)
	}
	return alerts, nil
}

// WaitFor polls the alerts until ok accepts them or the timeout passes; on a time-out the error
// holds the last answer.
func (a *Alertmanager) WaitFor(timeout time.Duration, ok func([]AMAlert) bool) ([]AMAlert, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last []AMAlert
	var lastErr error
	for {
		last, lastErr = a.Alerts(ctx)
		if lastErr == nil && ok(last) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("alertmanager's alerts not as expected within %s: %w", timeout, lastErr)
			}
			return last, fmt.Errorf("alertmanager's alerts not as expected within %s; last answer: %+v", timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
