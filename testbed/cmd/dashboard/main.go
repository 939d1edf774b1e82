// Command dashboard writes examples/grafana/omen.json, Omen's Grafana dashboard, with the Grafana
// Foundation SDK: the services' scores, the service graph (node graph panel) from the edge
// scores, the open incidents with their likely cause, the latency of the loudest edges with the
// model's expected value and band, and a service's versions side by side (a canary against the
// stable version). `go generate ./...` writes it anew, and `make test` checks
// that the committed file is what this command writes; the end-to-end tests run every query of
// it against a real Prometheus holding Omen's scores.
//
//go:generate go run . -out ../../../examples/grafana/omen.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/nodegraph"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The queries read what the Prometheus exporter makes of Omen's metrics
// (translation_strategy UnderscoreEscapingWithSuffixes: anomaly.unified_score becomes
// anomaly_unified_score, service.name becomes service_name).
const (
	queryServiceScores = `max by (service_name) (anomaly_unified_score{anomaly_group="service_graph.service"})`
	queryRootCause     = `max by (service_name) (anomaly_root_cause)`
	queryIncidents     = `max by (anomaly_incident_id, service_name, service_version) (anomaly_incident_cause)`
	querySeverity      = `max by (anomaly_incident_id) (anomaly_incident) > 0`
	// The node graph wants nodes with an id and a main stat, edges with an id, a source and a
	// target: label_join makes the edge's id from its ends.
	queryNodes = `max by (service_name) (anomaly_unified_score{anomaly_group="service_graph.service"})`
	queryEdges = `label_join(max by (client, server) (anomaly_unified_score{anomaly_group="service_graph.edge"}), "id", "->", "client", "server")`
	// The loudest edges' mean latency with what the model expected and its band (root_cause
	// with bands: true).
	queryLatencyScore = `topk(3, max by (client, server) (anomaly_score{anomaly_feature="latency_mean"}))`
	queryExpected     = `max by (client, server) (anomaly_expected{anomaly_feature="latency_mean"})`
	queryLower        = `max by (client, server) (anomaly_lower{anomaly_feature="latency_mean"})`
	queryUpper        = `max by (client, server) (anomaly_upper{anomaly_feature="latency_mean"})`
	// The versions of the service the dashboard's variable picks, side by side: each version's
	// own score over its incoming edges, and its mean latency from the connector's metrics
	// (edges split by server_service.version).
	queryVersionsOf     = `label_values(anomaly_unified_score{anomaly_group="service_graph.service_version"}, service_name)`
	queryVersionScores  = `max by (service_version) (anomaly_unified_score{anomaly_group="service_graph.service_version", service_name="$service"})`
	queryVersionLatency = `sum by (server_service_version) (rate(traces_service_graph_request_server_seconds_sum{server="$service"}[1m])) / sum by (server_service_version) (rate(traces_service_graph_request_server_seconds_count{server="$service"}[1m]))`
)

func main() {
	out := flag.String("out", "omen.json", "where the dashboard goes")
	flag.Parse()
	d, err := build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	data, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, append(data, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		os.Exit(1)
	}
}

// datasource is the dashboard's Prometheus, chosen when the dashboard is imported.
func datasource() common.DataSourceRef {
	typ, uid := "prometheus", "${datasource}"
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

func query(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().RefId(ref).Expr(expr).LegendFormat(legend).Datasource(datasource())
}

// table queries are instant: the panel shows each series' current value.
func tableQuery(ref, expr string) *prometheus.DataqueryBuilder {
	return query(ref, expr, "").Instant().Format(prometheus.PromQueryFormatTable)
}

// organize renames a table's fields, as the node graph panel wants them.
func organize(rename map[string]string) dashboard.DataTransformerConfig {
	return dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{"renameByName": rename}}
}

func build() (dashboard.Dashboard, error) {
	return dashboard.NewDashboardBuilder("Omen: anomalies, root cause and incidents").
		Uid("omen").
		Tags([]string{"omen", "anomaly"}).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Prometheus").Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("service").
			Label("Service with versions").
			Description("A service whose edges are split by version (a rollout in progress).").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: ptr(queryVersionsOf)}).
			Definition(queryVersionsOf).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged)).
		WithRow(dashboard.NewRowBuilder("Services")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Anomaly score per service").
			Description("Each service's unified score, 0 to 10: 3 is worth a look, 7 pages.").
			Min(0).Max(10).Height(8).Span(12).
			WithTarget(query("A", queryServiceScores, "{{service_name}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Root-cause score per service").
			Description("How likely each service started what its callers suffer: its own score less what its dependencies explain.").
			Min(0).Max(10).Height(8).Span(12).
			WithTarget(query("A", queryRootCause, "{{service_name}}"))).
		WithRow(dashboard.NewRowBuilder("Service graph and incidents")).
		WithPanel(nodegraph.NewPanelBuilder().
			Title("Service graph").
			Description("Services and calls with their current scores.").
			Height(12).Span(14).
			WithTarget(tableQuery("nodes", queryNodes)).
			WithTarget(tableQuery("edges", queryEdges)).
			WithTransformation(organize(map[string]string{"service_name": "id", "Value": "mainstat"})).
			WithTransformation(organize(map[string]string{"client": "source", "server": "target", "Value #edges": "mainstat"}))).
		WithPanel(table.NewPanelBuilder().
			Title("Open incidents and their likely cause").
			Description("One row per open incident: its id and the service ranked first, then its severity.").
			Height(6).Span(10).
			WithTarget(tableQuery("A", queryIncidents)).
			WithTarget(tableQuery("B", querySeverity))).
		WithRow(dashboard.NewRowBuilder("The loudest edges")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Mean latency: what the model expected, and its band").
			Height(8).Span(12).
			WithTarget(query("A", queryExpected, "expected {{client}} → {{server}}")).
			WithTarget(query("B", queryLower, "lower {{client}} → {{server}}")).
			WithTarget(query("C", queryUpper, "upper {{client}} → {{server}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Mean latency score of the loudest edges").
			Min(0).Max(10).Height(8).Span(12).
			WithTarget(query("A", queryLatencyScore, "{{client}} → {{server}}"))).
		WithRow(dashboard.NewRowBuilder("Canary against stable: $service")).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Score per version").
			Description("Each version's own score over the edges into it; a canary's edges are scored against the stable version's models from its first flush. 7 pages, and fails examples/argo-rollouts' analysis.").
			Min(0).Max(10).Height(8).Span(12).
			WithTarget(query("A", queryVersionScores, "{{service_version}}"))).
		WithPanel(timeseries.NewPanelBuilder().
			Title("Mean latency per version").
			Unit("s").Height(8).Span(12).
			WithTarget(query("A", queryVersionLatency, "{{server_service_version}}"))).
		Build()
}

func ptr[T any](v T) *T { return &v }
