package promqlreceiver

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/omen-otel/omen/receiver/promqlreceiver/internal/schedule"
)

// Config is the PromQL receiver's configuration. The README's configuration table is the user's
// reference; createDefaultConfig holds every default.
type Config struct {
	// ClientConfig is how Prometheus is reached: endpoint (its base URL, such as
	// http://prometheus:9090), tls, headers, auth, timeout.
	confighttp.ClientConfig `mapstructure:",squash"`
	// Interval is the evaluation interval of the queries that do not set their own.
	Interval time.Duration `mapstructure:"interval"`
	// Lookback is how much history each query is back-filled with at start-up, and the most a
	// query catches up after Prometheus was unreachable. 0 evaluates only from the start on.
	Lookback time.Duration `mapstructure:"lookback"`
	// MaxPointsPerRequest bounds the steps of one query_range request of a back-fill (per series);
	// Prometheus itself refuses more than 11,000.
	MaxPointsPerRequest int `mapstructure:"max_points_per_request"`
	// Retry says how soon a request that failed because Prometheus was unreachable, overloaded or
	// timing out is tried again.
	Retry RetryConfig `mapstructure:"retry"`
	// Queries are the PromQL expressions evaluated, one emitted metric each.
	Queries []QueryConfig `mapstructure:"queries"`
}

// RetryConfig is an exponential backoff.
type RetryConfig struct {
	// InitialInterval is the delay before the first retry; it doubles with each failure.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	// MaxInterval caps the delay between retries.
	MaxInterval time.Duration `mapstructure:"max_interval"`
}

// QueryConfig is one PromQL query.
type QueryConfig struct {
	// Name is the name of the emitted gauge metric.
	Name string `mapstructure:"name"`
	// Expr is the PromQL expression; it should return an instant vector or a scalar.
	Expr string `mapstructure:"expr"`
	// Interval is this query's evaluation interval (and the step of its back-fill); the
	// receiver's interval when zero.
	Interval time.Duration `mapstructure:"interval"`
	// Labels are added to every point as attributes, replacing a series label of the same name,
	// as the labels of a Prometheus recording rule do.
	Labels map[string]string `mapstructure:"labels"`
}

// Validate names the key and the bad value.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.Endpoint == "" {
		errs = append(errs, errors.New("endpoint must be set to Prometheus' base URL (for example http://127.0.0.1:9090)"))
	} else if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("endpoint must be an http:// or https:// URL (got %q)", cfg.Endpoint))
	}
	if err := validateInterval("interval", cfg.Interval); err != nil {
		errs = append(errs, err)
	}
	if cfg.Lookback < 0 {
		errs = append(errs, fmt.Errorf("lookback must be >= 0 (got %s)", cfg.Lookback))
	}
	if cfg.MaxPointsPerRequest < 1 || cfg.MaxPointsPerRequest > schedule.MaxPointsPerSeries {
		errs = append(errs, fmt.Errorf("max_points_per_request must be in [1, %d] (got %d)", schedule.MaxPointsPerSeries, cfg.MaxPointsPerRequest))
	}
	if cfg.Retry.InitialInterval <= 0 {
		errs = append(errs, fmt.Errorf("retry.initial_interval must be > 0 (got %s)", cfg.Retry.InitialInterval))
	}
	if cfg.Retry.MaxInterval < cfg.Retry.InitialInterval {
		errs = append(errs, fmt.Errorf("retry.max_interval (%s) must be >= retry.initial_interval (%s)", cfg.Retry.MaxInterval, cfg.Retry.InitialInterval))
	}
	if len(cfg.Queries) == 0 {
		errs = append(errs, errors.New("queries must list at least one query"))
	}
	names := map[string]bool{}
	for i, q := range cfg.Queries {
		if q.Name == "" {
			errs = append(errs, fmt.Errorf("queries[%d]: name must be set", i))
		} else if names[q.Name] {
			errs = append(errs, fmt.Errorf("queries[%d]: name %q is used twice", i, q.Name))
		}
		names[q.Name] = true
		if q.Expr == "" {
			errs = append(errs, fmt.Errorf("queries[%d]: expr must be set", i))
		}
		if q.Interval != 0 {
			if err := validateInterval(fmt.Sprintf("queries[%d]: interval", i), q.Interval); err != nil {
				errs = append(errs, err)
			}
		}
		for k := range q.Labels {
			if k == "" || k == "__name__" {
				errs = append(errs, fmt.Errorf("queries[%d]: labels: %q is not a label name a point may carry", i, k))
			}
		}
	}
	return errors.Join(errs...)
}

// validateInterval requires whole milliseconds, the resolution of Prometheus' timestamps, so the
// grid timestamps are exactly the ones Prometheus evaluates.
func validateInterval(key string, d time.Duration) error {
	if d < time.Millisecond || d%time.Millisecond != 0 {
		return fmt.Errorf("%s must be a positive whole number of milliseconds (got %s)", key, d)
	}
	return nil
}

// interval is q's effective interval.
func (cfg *Config) interval(q QueryConfig) time.Duration {
	if q.Interval != 0 {
		return q.Interval
	}
	return cfg.Interval
}
