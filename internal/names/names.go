// Package names holds every anomaly.* metric and attribute name that Omen's components emit and
// read: the anomaly processor and the root-cause processor write them, the alert webhook
// exporter and the testbed read them back. Nobody spells them again.
package names

// Prefix starts the name of every metric Omen adds; the scoring components never score such a
// metric again.
const Prefix = "anomaly."

// Metrics.
const (
	// Score is the anomaly score of one series (or of one feature of a histogram, summary or
	// service-graph edge), 0 to 10.
	Score = "anomaly.score"
	// Expected, Lower and Upper are a series model's expected value and normal band.
	Expected = "anomaly.expected"
	Lower    = "anomaly.lower"
	Upper    = "anomaly.upper"
	// Unified is the score of a composite key, a service-graph edge or a service.
	Unified = "anomaly.unified_score"
	// RootCause is a service's root-cause score.
	RootCause = "anomaly.root_cause"
	// Incident is one point per open incident and ranking: its severity, the highest score of its
	// services (0 on the point that closes it). Its start timestamp is when it opened.
	Incident = "anomaly.incident"
	// IncidentService is one point per service of an open incident and ranking: its rank in the
	// incident, 1 for the likely cause.
	IncidentService = "anomaly.incident.service"
	// IncidentCause is one point per open incident and ranking naming its likely cause, and the
	// cause's version (service.version) when a version's edges made its score: always 1. A
	// series of its own, so that neither the cause's version nor its rank is an attribute that
	// changes; a new cause or version is a new series.
	IncidentCause = "anomaly.incident.cause"
	// IncidentEntryPoint is one point per customer-facing service through which customers reach
	// an open incident's likely cause, and ranking: always 1.
	IncidentEntryPoint = "anomaly.incident.entry_point"
	// CustomerFacing is one point per service and ranking: 1 when only the outside world calls
	// it, else 0. A value, not an attribute of the service's scores, because it changes when the
	// topology does and a score series' attributes never change.
	CustomerFacing = "anomaly.customer_facing"
)

// Attributes.
const (
	// MetricName names the metric an anomaly.score (or band) point scores.
	MetricName = "metric.name"
	// Feature names what of the metric was scored: rate, mean, p95 of a histogram, an edge's
	// request_rate, error_ratio or latency_mean.
	Feature = "anomaly.feature"
	// Group names the composite key of a unified score, or one of the service-graph groups.
	Group = "anomaly.group"

	// Client, Server and ConnectionType name an edge's ends and kind on its scores.
	Client         = "client"
	Server         = "server"
	ConnectionType = "connection_type"
	// ServiceVersion names, on an anomaly.incident.cause point, the version of the cause whose
	// edges made its score (a canary's), the alert exporter's root_cause_version; and the
	// version of a service_graph.service_version score.
	ServiceVersion = "service.version"

	// IncidentID identifies an incident on every anomaly.incident* point: stable from its
	// opening to its closing.
	IncidentID = "anomaly.incident.id"
)

// Groups of the service graph's unified scores.
const (
	GroupEdge    = "service_graph.edge"
	GroupService = "service_graph.service"
	// GroupServiceVersion scores one version of a service (service.version) over its own
	// incoming edges: a canary beside the stable version.
	GroupServiceVersion = "service_graph.service_version"
)

// Features of a service-graph edge.
const (
	FeatureRequestRate = "request_rate"
	FeatureErrorRatio  = "error_ratio"
	FeatureLatency     = "latency_mean"
)
