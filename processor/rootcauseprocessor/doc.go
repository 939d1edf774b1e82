// Package rootcauseprocessor learns the service graph from client→server edge metrics, scores
// every edge and service, ranks the likely root cause, and keeps the incidents that the alert
// webhook exporter turns into notifications.
//
//go:generate go tool mdatagen metadata.yaml
package rootcauseprocessor
