//go:build e2e

package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omen-otel/omen/testbed/harness"
)

// outageDuration is $OMEN_E2E_OUTAGE, 20s by default (what `make test` runs); the issue's
// scenario is OMEN_E2E_OUTAGE=10m.
func outageDuration(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv("OMEN_E2E_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("OMEN_E2E_OUTAGE: %v", err)
		}
		return d
	}
	return 20 * time.Second
}

// TestAlertSurvivesOutageAndSIGKILL: Alertmanager is down when the anomaly fires; during the
// outage the collector is killed with SIGKILL twice (at a third and two thirds of it) and
// restarted, and it gets no score after the spike. When Alertmanager is back, both alerts are
// there with the spike's startsAt, re-sent from the restored state; they resolve once the
// series is ordinary again.
func TestAlertSurvivesOutageAndSIGKILL(t *testing.T) {
	runOutage(t, false)
}

// TestAlertReachesEveryAlertmanager: the same with an HA pair whose second Alertmanager is down
// throughout the outage, the two kills and the first one's recovery: the first gets the alerts
// as above, undelayed by the second; the second, started only then, gets them too, with the
// spike's startsAt, from the outbox that outlived both kills.
func TestAlertReachesEveryAlertmanager(t *testing.T) {
	runOutage(t, true)
}

func runOutage(t *testing.T, pair bool) {
	outage := outageDuration(t)
	am := harness.StartAlertmanager(t)
	urls := []string{am.URL}
	var am2 *harness.Alertmanager
	if pair {
		am2 = harness.StartAlertmanager(t)
		am2.Stop()
		urls = append(urls, am2.URL)
	}
	col := harness.StartCollector(t, harness.CollectorConfig{
		Config: "testbed/e2e/testdata/alerting_outage.yaml",
		Env: []string{
			"OMEN_ALERTMANAGER_URLS=[" + strings.Join(urls, ", ") + "]",
			"OMEN_ALERT_STATE_DIR=" + t.TempDir(),
		},
	})
	am.Stop()
	down := time.Now()
	spike := sendAnomaly(t, col)

	// Both alerts fired and wait for every endpoint; the state change was checkpointed.
	pending := func() error {
		for _, u := range urls {
			if err := waitTelemetry(col, `otelcol_alertwebhook_pending{`, `endpoint="`+strings.TrimPrefix(u, "http://")+`"`, "} 2", arrival); err != nil {
				return err
			}
		}
		return nil
	}
	if err := pending(); err != nil {
		t.Fatal(err)
	}
	if err := waitTelemetry(col, `otelcol_alertwebhook_checkpoint_writes{`, `outcome="ok"`, "", arrival); err != nil {
		t.Fatal(err)
	}

	for i := 1; i <= 2; i++ {
		time.Sleep(time.Until(down.Add(time.Duration(i) * outage / 3)))
		col.Kill()
		col.Start()
		if err := waitTelemetry(col, `otelcol_alertwebhook_checkpoint_loads{`, `outcome="restored"`, "} 1", arrival); err != nil {
			t.Fatalf("after SIGKILL %d: %v", i, err)
		}
		// The restored alerts are re-sent into the outboxes, and checkpointed again.
		if err := pending(); err != nil {
			t.Fatalf("after SIGKILL %d: %v", i, err)
		}
		if err := waitTelemetry(col, `otelcol_alertwebhook_checkpoint_writes{`, `outcome="ok"`, "", arrival); err != nil {
			t.Fatalf("after SIGKILL %d: %v", i, err)
		}
		t.Logf("SIGKILL %d at %s into the outage; restored", i, time.Since(down).Round(time.Second))
	}
	time.Sleep(time.Until(down.Add(outage)))
	am.Start()
	t.Logf("Alertmanager back after %s", time.Since(down).Round(time.Second))
	checkFiring(t, am, spike)

	if pair {
		// The first one got its alerts while the second was down; now the second comes back.
		am2.Start()
		checkFiring(t, am2, spike)
	}

	// The anomaly has ended: ordinary points (the restarted processor warms up on the first 20)
	// bring the scores down and both alerts resolve, in every Alertmanager.
	sendNoisy(t, col, 40)
	for _, a := range []*harness.Alertmanager{am, am2} {
		if a == nil {
			continue
		}
		if _, err := a.WaitFor(arrival, func(got []harness.AMAlert) bool { return len(got) == 0 }); err != nil {
			t.Fatalf("the alerts did not resolve: %v", err)
		}
	}
}

// checkFiring waits for both alerts in am and checks they carry the spike's startsAt.
func checkFiring(t *testing.T, am *harness.Alertmanager, spike time.Time) {
	t.Helper()
	got, err := am.WaitFor(arrival, func(a []harness.AMAlert) bool {
		return findAlert(a, "AnomalousService") != nil && findAlert(a, "AnomalousMetric") != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"AnomalousService", "AnomalousMetric"} {
		a := findAlert(got, name)
		if d := a.StartsAt.Sub(spike); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s startsAt = %s, want the spike's timestamp %s", name, a.StartsAt, spike)
		}
		if a.Status.State != "active" {
			t.Errorf("%s state = %q, want active", name, a.Status.State)
		}
	}
	if svc := findAlert(got, "AnomalousService"); svc.Labels["service_name"] != "checkout" || svc.Labels["severity"] != "page" {
		t.Errorf("service alert labels = %v", svc.Labels)
	}
}

// sendNoisy sends n ordinary points around 120, stamped now, 50 ms apart.
func sendNoisy(t *testing.T, col *harness.Collector, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), arrival)
	defer cancel()
	rng := rand.New(rand.NewPCG(3, 5))
	for range n {
		if err := harness.SendMetrics(ctx, col.OTLPHTTP, latency(time.Now(), 120+5*rng.NormFloat64())); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
