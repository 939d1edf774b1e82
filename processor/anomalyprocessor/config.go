package anomalyprocessor

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"time"

	"go.opentelemetry.io/collector/filter"

	"github.com/omen-otel/omen/internal/detector"
	"github.com/omen-otel/omen/internal/servicegraph"
	"github.com/omen-otel/omen/processor/anomalyprocessor/internal/combine"
)

// Config is the anomaly processor's configuration. The README's configuration table is the
// user's reference; createDefaultConfig holds every default.
type Config struct {
	// MaxSeries bounds the models held: one per scored series, and one per feature of a histogram
	// or summary series. At the bound, points of new series are not scored (counted as skipped with
	// reason "limit") until series that stopped reporting expire; learned models are never evicted
	// to make room.
	MaxSeries int `mapstructure:"max_series"`
	// SeriesTTL is how long a series may go without a point before its model is forgotten.
	SeriesTTL time.Duration `mapstructure:"series_ttl"`
	// Bands adds anomaly.expected, anomaly.lower and anomaly.upper beside each anomaly.score. Off by
	// default: it quadruples the series a Prometheus stores for the scores.
	Bands bool `mapstructure:"bands"`
	// ScoreUngrouped scores, each alone, the series that no group takes.
	ScoreUngrouped bool `mapstructure:"score_ungrouped"`
	// Exclude lists metrics that are never scored, by exact name (strict) or regular expression
	// (regexp).
	Exclude []filter.Config `mapstructure:"exclude"`
	// HistogramQuantile is the quantile scored for each histogram series (besides its request rate
	// and mean), in (0, 1).
	HistogramQuantile float64 `mapstructure:"histogram_quantile"`
	// Groups are the composite keys: each scores the metrics it takes per tuple of key attributes
	// and emits one anomaly.unified_score per tuple.
	Groups []GroupConfig `mapstructure:"groups"`
	// Detector tunes the per-series models; the defaults are the configuration evaluated on NAB.
	Detector detector.Config `mapstructure:"detector"`
	// ServiceGraph learns who calls whom from client→server edge metrics, scores every edge and
	// service, and ranks the likely root cause.
	ServiceGraph ServiceGraphConfig `mapstructure:"service_graph"`
}

// ServiceGraphConfig is the service graph's configuration.
type ServiceGraphConfig struct {
	// Enabled turns the service graph on. With it off, edge metrics are scored like any other.
	Enabled bool `mapstructure:"enabled"`
	// Edges say which metrics describe edges and which attributes name their ends. The default
	// reads the servicegraph connector's metrics, as OTLP or scraped from Prometheus (Tempo's
	// metrics-generator has the same shape).
	Edges []EdgeSourceConfig `mapstructure:"edges"`
	// Dimensions are further point attributes that tell edges of one client→server pair apart
	// (the connector's dimensions come as client_<name> and server_<name>, so a canary's version
	// is server_service.version). They become attributes of the edge's scores.
	Dimensions []string `mapstructure:"dimensions"`
	// ServiceKey is the attribute that names a service in the groups: a group whose key includes
	// it adds its unified score to that service's.
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

// GroupConfig is one composite key.
type GroupConfig struct {
	// Name identifies the group: the anomaly.group attribute of its unified scores.
	Name string `mapstructure:"name"`
	// Metrics selects the metrics the group takes, by exact name or regular expression.
	Metrics []filter.Config `mapstructure:"metrics"`
	// Key lists the attribute names whose values make one key, looked up among the point's
	// attributes first, then the resource's (for example [service.name, http.route]). A point that
	// lacks one of them is not part of the group.
	Key []string `mapstructure:"key"`
	// Combine says how the scores of a key's features become its unified score: max (default),
	// mean_top_k, fisher or stouffer.
	Combine string `mapstructure:"combine"`
	// TopK is the number of highest feature scores mean_top_k averages.
	TopK int `mapstructure:"top_k"`
	// StaticBounds gives, per metric name, limits that score a point while its model is still
	// warming up: 10 outside [min, max], 0 inside.
	StaticBounds map[string]Bounds `mapstructure:"static_bounds"`
}

// Bounds are static limits; a missing side is unbounded.
type Bounds struct {
	Min *float64 `mapstructure:"min"`
	Max *float64 `mapstructure:"max"`
}

// Validate names the key and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.MaxSeries <= 0 {
		errs = append(errs, fmt.Errorf("max_series must be > 0 (got %d)", cfg.MaxSeries))
	}
	if cfg.SeriesTTL <= 0 {
		errs = append(errs, fmt.Errorf("series_ttl must be > 0 (got %s)", cfg.SeriesTTL))
	}
	if !(cfg.HistogramQuantile > 0 && cfg.HistogramQuantile < 1) {
		errs = append(errs, fmt.Errorf("histogram_quantile must be in (0, 1) (got %g)", cfg.HistogramQuantile))
	}
	for i, f := range cfg.Exclude {
		if err := f.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("exclude[%d]: %w", i, err))
		}
	}
	if err := cfg.Detector.Validate(); err != nil {
		errs = append(errs, within("detector", err))
	}
	names := map[string]bool{}
	if cfg.ServiceGraph.Enabled {
		if err := cfg.ServiceGraph.validate(); err != nil {
			errs = append(errs, within("service_graph", err))
		}
		names[servicegraph.GroupEdge], names[servicegraph.GroupService] = true, true
	}
	for i, g := range cfg.Groups {
		if err := g.validate(); err != nil {
			errs = append(errs, within(fmt.Sprintf("groups[%d]", i), err))
		}
		if names[g.Name] {
			errs = append(errs, fmt.Errorf("groups[%d]: name %q is used twice or reserved", i, g.Name))
		}
		names[g.Name] = true
	}
	return errors.Join(errs...)
}

func (g *GroupConfig) validate() error {
	var errs []error
	if g.Name == "" {
		errs = append(errs, errors.New("name must be set"))
	}
	if len(g.Metrics) == 0 {
		errs = append(errs, errors.New("metrics must list at least one metric"))
	}
	for i, f := range g.Metrics {
		if err := f.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("metrics[%d]: %w", i, err))
		}
	}
	if len(g.Key) == 0 {
		errs = append(errs, errors.New("key must list at least one attribute"))
	}
	for i, k := range g.Key {
		if k == "" {
			errs = append(errs, fmt.Errorf("key[%d] must not be empty", i))
		}
	}
	if _, err := g.combiner(); err != nil {
		errs = append(errs, err)
	}
	for metric, b := range g.StaticBounds {
		if b.Min == nil && b.Max == nil {
			errs = append(errs, fmt.Errorf("static_bounds[%s]: set min, max or both", metric))
		}
		if b.Min != nil && b.Max != nil && !(*b.Min <= *b.Max) {
			errs = append(errs, fmt.Errorf("static_bounds[%s]: min (%g) must be <= max (%g)", metric, *b.Min, *b.Max))
		}
		for _, v := range []*float64{b.Min, b.Max} {
			if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
				errs = append(errs, fmt.Errorf("static_bounds[%s]: bounds must be finite (got %g)", metric, *v))
			}
		}
	}
	return errors.Join(errs...)
}

// combiner turns combine and top_k into the combination step.
func (g *GroupConfig) combiner() (combine.Combiner, error) {
	name := g.Combine
	if name == "" {
		name = "max"
	}
	m, err := combine.ParseMethod(name)
	if err != nil {
		return combine.Combiner{}, fmt.Errorf("combine: %w", err)
	}
	c := combine.Combiner{Method: m, TopK: g.TopK}
	if err := c.Validate(); err != nil {
		return combine.Combiner{}, fmt.Errorf("top_k: %w", err)
	}
	return c, nil
}

func (sg *ServiceGraphConfig) validate() error {
	var errs []error
	if sg.MaxEdges <= 0 {
		errs = append(errs, fmt.Errorf("max_edges must be > 0 (got %d)", sg.MaxEdges))
	}
	if sg.EdgeTTL <= 0 {
		errs = append(errs, fmt.Errorf("edge_ttl must be > 0 (got %s)", sg.EdgeTTL))
	}
	if sg.ServiceKey == "" {
		errs = append(errs, errors.New("service_key must be set"))
	}
	if len(sg.Edges) == 0 {
		errs = append(errs, errors.New("edges must list at least one source"))
	}
	for i, d := range sg.Dimensions {
		if d == "" {
			errs = append(errs, fmt.Errorf("dimensions[%d] must not be empty", i))
		}
	}
	seen := map[string]string{}
	for i, e := range sg.Edges {
		where := fmt.Sprintf("edges[%d]", i)
		if err := e.validate(seen, where); err != nil {
			errs = append(errs, within(where, err))
		}
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

// within prefixes each error joined in err with the key it is found under, so every line of
// the message names its key in full.
func within(key string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = within(key, e)
		}
		return errors.Join(out...)
	}
	return fmt.Errorf("%s: %w", key, err)
}
