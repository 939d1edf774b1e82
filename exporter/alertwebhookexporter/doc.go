// Package alertwebhookexporter turns the anomaly processor's scores into alerts and sends them to
// Alertmanager, to any receiver of Alertmanager's webhook payload, or through a template to any
// HTTP API.
//
//go:generate go tool mdatagen metadata.yaml
package alertwebhookexporter
