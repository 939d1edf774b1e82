//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/omen-otel/omen/testbed/demo"
	"github.com/omen-otel/omen/testbed/harness"
)

// labelValues is Grafana's variable query label_values(selector, label).
var labelValues = regexp.MustCompile(`^label_values\((.+), (\w+)\)$`)

// dashboardQueries reads every panel query of the committed Grafana dashboard, and its variable
// queries, by the panel's title or the variable's name.
func dashboardQueries(t *testing.T) (panels, variables map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "grafana", "omen.json"))
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &d))
	panels, variables = map[string]string{}, map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			panels[tg.Expr] = p.Title
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			q, ok := v.Query.(string)
			require.True(t, ok, "variable %s: query %v is not a string", v.Name, v.Query)
			variables[v.Name] = q
		}
	}
	require.NotEmpty(t, panels)
	return panels, variables
}

// TestDashboardQueriesReturnData evaluates every query of examples/grafana/omen.json in a real
// Prometheus holding Omen's scores of the demo's shop with its bad canary (package demo): each
// returns data. The service variable must offer the canary's service, and the panels are read
// with it picked.
func TestDashboardQueriesReturnData(t *testing.T) {
	queries, variables := dashboardQueries(t)
	require.Contains(t, variables, "service")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	r := demo.Start(t, ctx, demo.Options{Root: harness.RepoRoot(t)})
	for name, q := range variables {
		m := labelValues.FindStringSubmatch(q)
		require.NotNil(t, m, "variable %s: %s is not label_values(selector, label)", name, q)
		samples, err := r.Prometheus.Query(ctx, m[1])
		require.NoError(t, err, "variable %s: %s", name, q)
		var values []string
		for _, s := range samples {
			values = append(values, s.Labels[m[2]])
		}
		require.Contains(t, values, r.Canary.Service, "variable %s: %s does not offer the canary's service", name, q)
	}
	for expr, panel := range queries {
		expr = strings.ReplaceAll(expr, "$service", r.Canary.Service)
		samples, err := r.Prometheus.Query(ctx, expr)
		require.NoError(t, err, "%s: %s", panel, expr)
		require.NotEmpty(t, samples, "%s: %s returns no data", panel, expr)
	}
}
