// Package promqlreceiver evaluates PromQL queries against an existing Prometheus on a schedule,
// back-fills each query's history at start-up, and emits the results as gauge metrics.
//
//go:generate go tool mdatagen metadata.yaml
package promqlreceiver
