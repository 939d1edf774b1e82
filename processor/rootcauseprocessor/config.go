package rootcauseprocessor

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/confkey"
	"github.com/omen-otel/omen/internal/detector"
)

// Config is the root-cause processor's configuration. The README's configuration table is the
// user's reference; createDefaultConfig holds every default.
type Config struct {
	// Edges say which metrics describe edges and which attributes name their ends. The default
	// reads the servicegraph connector's metrics, as OTLP or scraped from Prometheus (Tempo's
	// metrics-generator has the same shape).
	Edges []EdgeSourceConfig `mapstructure:"edges"`
	// Dimensions are further point attributes that tell edges of one client→server pair apart
	// (the connector's dimensions come as client_<name> and server_<name>, so a canary's version
	// is server_service.version). They become attributes of the edge's scores.
	Dimensions []string `mapstructure:"dimensions"`
	// VersionDimension is the one of Dimensions that names the server's version. A service's
	// likely-cause point in an incident names the version whose edges made its score, as
	// service.version. Empty, or not among Dimensions, names no version.
	VersionDimension string `mapstructure:"version_dimension"`
	// ServiceKey is the attribute that names a service on the scores this processor emits, and on
	// the unified scores of the anomaly processor's groups that it adds to a service's own score.
	ServiceKey string `mapstructure:"service_key"`
	// ExternalClients are client names that stand for the world outside the graph (the
	// connector's "user" virtual node): a service they alone call is customer-facing.
	ExternalClients []string `mapstructure:"external_clients"`
	// MaxEdges bounds the edges held. At the bound new edges are not learned (counted as
	// refused) until others expire; known edges keep their models.
	MaxEdges int `mapstructure:"max_edges"`
	// EdgeTTL is how long an edge may go without a point (by the points' timestamps) before it
	// and its models are forgotten.
	EdgeTTL time.Duration `mapstructure:"edge_ttl"`
	// IntervalWait is how long an edge's interval (its points of one timestamp) waits, after its
	// first point arrived, for the rest before it is scored; a newer point of the edge closes it
	// at once. It is longer than the anomaly processor's, so that the services' own scores of an
	// interval reach the ranking of the same interval.
	IntervalWait time.Duration `mapstructure:"interval_wait"`
	// TimestampTolerance: points of an edge whose timestamps lie within it of its interval's
	// first point are of that interval. The servicegraph connector stamps each point of a flush
	// with its own reading of the clock, microseconds apart; keep it well below the flush
	// interval.
	TimestampTolerance time.Duration `mapstructure:"timestamp_tolerance"`
	// Bands adds anomaly.expected, anomaly.lower and anomaly.upper beside each edge feature's
	// score.
	Bands bool `mapstructure:"bands"`
	// Incidents say when services form an incident and when it ends.
	Incidents IncidentsConfig `mapstructure:"incidents"`
	// Detector tunes the edge models.
	Detector detector.Config `mapstructure:"detector"`
	// Checkpoint adds storage (a storage extension, file_storage/...) and checkpoint_interval:
	// with storage set, the edges' models, the topology and the open incidents are checkpointed
	// and restored at start.
	Checkpoint checkpoint.Config `mapstructure:",squash"`
}

// IncidentsConfig groups anomalous services into incidents.
type IncidentsConfig struct {
	// Threshold: a service scoring at or above it, and part of no open incident, opens one.
	Threshold float64 `mapstructure:"threshold"`
	// ResolveThreshold: a service scoring at or above it joins the incident of an anomalous
	// neighbour and holds its incident open.
	ResolveThreshold float64 `mapstructure:"resolve_threshold"`
	// Calm is how long, in the points' time, an incident stays open once none of its services
	// scores ResolveThreshold: a fault that flares again within it is the same incident.
	Calm time.Duration `mapstructure:"calm"`
}

// EdgeSourceConfig describes one family of edge metrics. Each metric name may appear once
// across all sources.
type EdgeSourceConfig struct {
	// Requests are monotonic sums counting the requests of an edge (all of them, failed or not).
	Requests []string `mapstructure:"requests"`
	// Failed are monotonic sums counting its failed requests.
	Failed []string `mapstructure:"failed"`
	// FailedWhen counts as failed the requests whose attribute matches a regular expression, for
	// sources without a failed-requests metric (Istio: response_code ^5).
	FailedWhen FailedWhenConfig `mapstructure:"failed_when"`
	// Latency are histograms (explicit or exponential) of the server-side request duration.
	Latency []string `mapstructure:"latency"`
	// Client, Server and ConnectionType are the point attributes naming the calling service, the
	// called one and the kind of connection (optional).
	Client         string `mapstructure:"client"`
	Server         string `mapstructure:"server"`
	ConnectionType string `mapstructure:"connection_type"`
}

// FailedWhenConfig selects failed requests by an attribute's value.
type FailedWhenConfig struct {
	// Attribute is the point attribute read; empty turns the selection off.
	Attribute string `mapstructure:"attribute"`
	// Regexp is matched against its value (Go syntax, unanchored).
	Regexp string `mapstructure:"regexp"`
}

// Validate names the key and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxEdges <= 0 {
		errs = append(errs, fmt.Errorf("max_edges must be > 0 (got %d)", cfg.MaxEdges))
	}
	if cfg.EdgeTTL <= 0 {
		errs = append(errs, fmt.Errorf("edge_ttl must be > 0 (got %s)", cfg.EdgeTTL))
	}
	if cfg.IntervalWait <= 0 {
		errs = append(errs, fmt.Errorf("interval_wait must be > 0 (got %s)", cfg.IntervalWait))
	}
	if cfg.TimestampTolerance < 0 {
		errs = append(errs, fmt.Errorf("timestamp_tolerance must be >= 0 (got %s)", cfg.TimestampTolerance))
	}
	if cfg.ServiceKey == "" {
		errs = append(errs, errors.New("service_key must be set"))
	}
	if len(cfg.Edges) == 0 {
		errs = append(errs, errors.New("edges must list at least one source"))
	}
	for i, d := range cfg.Dimensions {
		if d == "" {
			errs = append(errs, fmt.Errorf("dimensions[%d] must not be empty", i))
		}
	}
	seen := map[string]string{}
	for i, e := range cfg.Edges {
		where := fmt.Sprintf("edges[%d]", i)
		if err := e.validate(seen, where); err != nil {
			errs = append(errs, confkey.Within(where, err))
		}
	}
	if err := cfg.Incidents.validate(); err != nil {
		errs = append(errs, confkey.Within("incidents", err))
	}
	if err := cfg.Checkpoint.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Detector.Validate(); err != nil {
		errs = append(errs, confkey.Within("detector", err))
	}
	return errors.Join(errs...)
}

func (ic *IncidentsConfig) validate() error {
	var errs []error
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(ic.Threshold) || ic.Threshold <= 0 || ic.Threshold > 10 {
		errs = append(errs, fmt.Errorf("threshold must be in (0, 10] (got %g)", ic.Threshold))
	}
	if !finite(ic.ResolveThreshold) || ic.ResolveThreshold <= 0 || ic.ResolveThreshold > ic.Threshold {
		errs = append(errs, fmt.Errorf("resolve_threshold must be in (0, threshold] (got %g)", ic.ResolveThreshold))
	}
	if ic.Calm < 0 {
		errs = append(errs, fmt.Errorf("calm must be >= 0 (got %s)", ic.Calm))
	}
	return errors.Join(errs...)
}

func (e *EdgeSourceConfig) validate(seen map[string]string, where string) error {
	var errs []error
	if len(e.Requests) == 0 {
		errs = append(errs, errors.New("requests must name at least one metric"))
	}
	if e.Client == "" || e.Server == "" {
		errs = append(errs, errors.New("client and server must name the attributes of the edge's ends"))
	}
	if e.FailedWhen.Attribute != "" {
		if _, err := regexp.Compile(e.FailedWhen.Regexp); err != nil || e.FailedWhen.Regexp == "" {
			errs = append(errs, fmt.Errorf("failed_when.regexp must be a regular expression (got %q)", e.FailedWhen.Regexp))
		}
	}
	for _, role := range []struct {
		key   string
		names []string
	}{{"requests", e.Requests}, {"failed", e.Failed}, {"latency", e.Latency}} {
		key := role.key
		for j, n := range role.names {
			at := fmt.Sprintf("%s.%s[%d]", where, key, j)
			switch prev, dup := seen[n]; {
			case n == "":
				errs = append(errs, fmt.Errorf("%s[%d] must not be empty", key, j))
			case dup:
				errs = append(errs, fmt.Errorf("%s[%d]: metric %q is already %s", key, j, n, prev))
			default:
				seen[n] = at
			}
		}
	}
	return errors.Join(errs...)
}
