package servicegraph

// What the anomaly processor emits for the service graph, and what the alert webhook exporter
// and the testbed read back: one definition for both sides.
const (
	// MetricRootCause is the per-service root-cause score.
	MetricRootCause = "anomaly.root_cause"
	// GroupEdge and GroupService are the anomaly.group of edge and service unified scores.
	GroupEdge    = "service_graph.edge"
	GroupService = "service_graph.service"

	// AttrClient, AttrServer and AttrConnectionType name an edge's ends and kind on its scores.
	AttrClient         = "client"
	AttrServer         = "server"
	AttrConnectionType = "connection_type"
	// AttrCustomerFacing says, on a service's scores, whether only the outside world calls it.
	AttrCustomerFacing = "service.customer_facing"
)
