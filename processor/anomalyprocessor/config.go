package anomalyprocessor

import (
	"errors"
	"fmt"
	"math"
	"time"

	"go.opentelemetry.io/collector/filter"

	"github.com/omen-otel/omen/internal/checkpoint"
	"github.com/omen-otel/omen/internal/confkey"
	"github.com/omen-otel/omen/internal/detector"
	omennames "github.com/omen-otel/omen/internal/names"
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
	// IntervalWait is how long a composite key's interval (its features' scores of one
	// timestamp) waits, after its first score arrived, for the other features before its unified
	// score is emitted; a newer timestamp of the key closes it at once.
	IntervalWait time.Duration `mapstructure:"interval_wait"`
	// TimestampTolerance: a key's feature scores whose timestamps lie within it of the first of
	// its interval are of that interval. Receivers and connectors stamp the metrics of one
	// collection or flush with readings of the clock that differ slightly; keep it well below
	// the collection interval.
	TimestampTolerance time.Duration `mapstructure:"timestamp_tolerance"`
	// Checkpoint adds storage (a storage extension, file_storage/...) and checkpoint_interval:
	// with storage set, every series' model is checkpointed and restored at start, so a restarted
	// collector scores from its first point.
	Checkpoint checkpoint.Config `mapstructure:",squash"`
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
	if cfg.IntervalWait <= 0 {
		errs = append(errs, fmt.Errorf("interval_wait must be > 0 (got %s)", cfg.IntervalWait))
	}
	if err := cfg.Checkpoint.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.TimestampTolerance < 0 {
		errs = append(errs, fmt.Errorf("timestamp_tolerance must be >= 0 (got %s)", cfg.TimestampTolerance))
	}
	if err := cfg.Detector.Validate(); err != nil {
		errs = append(errs, confkey.Within("detector", err))
	}
	// The root-cause processor's groups share the anomaly.group attribute.
	names := map[string]bool{omennames.GroupEdge: true, omennames.GroupService: true}
	for i, g := range cfg.Groups {
		if err := g.validate(); err != nil {
			errs = append(errs, confkey.Within(fmt.Sprintf("groups[%d]", i), err))
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
