package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a real Prometheus server (the Debian package's /usr/bin/prometheus, or
// $OMEN_PROMETHEUS_BINARY) with its own empty TSDB, listening on a free loopback port.
type Prometheus struct {
	URL  string // http://127.0.0.1:port
	proc *process
}

// PrometheusConfig says what Prometheus scrapes.
type PrometheusConfig struct {
	// Targets are host:port addresses scraped at /metrics.
	Targets []string
	// ScrapeInterval defaults to one second, so tests wait little.
	ScrapeInterval time.Duration
	// Addr is the host:port to listen on; a free loopback port when empty. Setting it lets a
	// collector that queries Prometheus be started, and given the URL, before Prometheus.
	Addr string
	// History is OpenMetrics text (ending with "# EOF") written into the TSDB with
	// `promtool tsdb create-blocks-from openmetrics` before Prometheus starts, so queries have a
	// known past to answer from.
	History string
	// RuleFiles are recording and alerting rule files Prometheus evaluates (every ScrapeInterval).
	RuleFiles []string
}

// StartPrometheus starts Prometheus and waits until it is ready. It is stopped when the test ends.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	bin := lookBinary(t, "OMEN_PROMETHEUS_BINARY", "prometheus")
	if cfg.ScrapeInterval == 0 {
		cfg.ScrapeInterval = time.Second
	}
	dir := t.TempDir()
	configPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configPath, []byte(scrapeConfig(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg.History != "" {
		writeHistory(t, cfg.History, dir)
	}
	addr := cfg.Addr
	if addr == "" {
		addr = FreeAddr(t)
	}
	p := &Prometheus{URL: "http://" + addr}
	p.proc = startProcess(t, "prometheus", nil, bin,
		"--config.file="+configPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	p.proc.logOnFailure(t)
	t.Cleanup(func() {
		if err := p.proc.stop(); err != nil {
			t.Errorf("stopping prometheus: %v", err)
		}
	})
	err := waitHTTPOK(p.proc, p.URL+"/-/ready", 30*time.Second, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("prometheus did not become ready: %v", err)
	}
	return p
}

// writeHistory turns OpenMetrics text into TSDB blocks in dir/data, where Prometheus loads them
// at start.
func writeHistory(t testing.TB, history, dir string) {
	t.Helper()
	promtool := lookBinary(t, "OMEN_PROMTOOL_BINARY", "promtool")
	input := filepath.Join(dir, "history.om")
	if err := os.WriteFile(input, []byte(history), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "tsdb", "create-blocks-from", "openmetrics", input, filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, out)
	}
}

// scrapeConfig is Prometheus' configuration for the targets. honor_labels keeps the job and
// instance labels the collector's exporter derives from service.name and service.instance.id,
// as a collector is usually scraped.
func scrapeConfig(cfg PrometheusConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n", cfg.ScrapeInterval, cfg.ScrapeInterval)
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	b.WriteString("scrape_configs:\n  - job_name: omen\n    honor_labels: true\n    static_configs:\n      - targets:\n")
	for _, target := range cfg.Targets {
		fmt.Fprintf(&b, "          - %q\n", target)
	}
	return b.String()
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

func (s Sample) String() string {
	return fmt.Sprintf("%v => %g", s.Labels, s.Value)
}

// Query evaluates an instant PromQL query now and returns its vector.
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query?query="+url.QueryEscape(expr), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: decoding the answer (%s): %w", expr, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s: %s", expr, body.ErrorType, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", expr, body.Data.ResultType)
	}
	samples := make([]Sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %q: value %v is not a string", expr, r.Value[1])
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		samples = append(samples, Sample{Labels: r.Metric, Value: v})
	}
	return samples, nil
}

// WaitFor polls the query until ok accepts its result or the timeout passes. On a time-out the
// error holds the last result, so a failing test shows what Prometheus did store.
func (p *Prometheus) WaitFor(expr string, timeout time.Duration, ok func([]Sample) bool) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last []Sample
	var lastErr error
	for {
		last, lastErr = p.Query(ctx, expr)
		if lastErr == nil && ok(last) {
			return last, nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return nil, fmt.Errorf("query %q not satisfied within %s: %w", expr, timeout, lastErr)
			}
			return last, fmt.Errorf("query %q not satisfied within %s; last result: %v", expr, timeout, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// RangeSeries is one series of a range query's answer; Points are in time order.
type RangeSeries struct {
	Labels map[string]string
	Points []RangePoint
}

// RangePoint is one step of a range query: T in Unix milliseconds.
type RangePoint struct {
	T int64
	V float64
}

// QueryRange evaluates expr at start, start+step, ... up to end (/api/v1/query_range).
func (p *Prometheus) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) ([]RangeSeries, error) {
	params := url.Values{
		"query": {expr},
		"start": {strconv.FormatFloat(float64(start.UnixMilli())/1000, 'f', 3, 64)},
		"end":   {strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', 3, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/api/v1/query_range?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query_range %q: decoding the answer (%s): %w", expr, resp.Status, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query_range %q: %s", expr, body.Error)
	}
	out := make([]RangeSeries, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s := RangeSeries{Labels: r.Metric}
		for _, pair := range r.Values {
			ts, ok1 := pair[0].(float64)
			vs, ok2 := pair[1].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("query_range %q: malformed sample %v", expr, pair)
			}
			v, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, fmt.Errorf("query_range %q: %w", expr, err)
			}
			s.Points = append(s.Points, RangePoint{T: int64(math.Round(ts * 1000)), V: v})
		}
		out = append(out, s)
	}
	return out, nil
}
