// Package anomalyprocessor scores every metric series, and every composite key of several
// metrics, with streaming detectors, and adds the scores to the metrics it passes on.
//
//go:generate go tool mdatagen metadata.yaml
package anomalyprocessor
