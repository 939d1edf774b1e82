package detector

import (
	"fmt"
	"math"
)

// Config holds the tunables of a detector. Every half-life is a number of
// samples (points) at the series' typical interval; gaps longer than that
// interval decay the state by the elapsed time instead (see Model.Update).
// The processor's YAML config maps onto these fields one to one.
type Config struct {
	// MinSamples is the number of accepted points before any score is
	// emitted (warm-up). The baseline and calibrators learn meanwhile.
	MinSamples int `mapstructure:"min_samples"`

	// LevelHalfLife is the half-life of the EWMA baseline (expected value).
	LevelHalfLife float64 `mapstructure:"level_half_life"`
	// ScaleHalfLife is the half-life of the EWMA residual variance that
	// turns a deviation into a z-score.
	ScaleHalfLife float64 `mapstructure:"scale_half_life"`
	// VolatilityHalfLife is the half-life of a short EWMA residual variance
	// (the current volatility regime). The scale never falls below half its
	// standard deviation, so a deviation during a burst of volatility is
	// judged against the burst rather than against the calm long run.
	VolatilityHalfLife float64 `mapstructure:"volatility_half_life"`
	// WinsorZ clips residuals to ±WinsorZ standard deviations before they
	// update the baseline and variance, so the outliers being scored do not
	// drag the model towards themselves.
	WinsorZ float64 `mapstructure:"winsor_z"`
	// BandZ is the half-width of the reported lower/upper band in standard
	// deviations around the expected value.
	BandZ float64 `mapstructure:"band_z"`

	// ShortHalfLife and LongHalfLife are the windows of the anomaly
	// likelihood: the short EWMA of the raw deviation is compared to the
	// long-run EWMA mean and variance of that same short average.
	ShortHalfLife float64 `mapstructure:"short_half_life"`
	LongHalfLife  float64 `mapstructure:"long_half_life"`

	// ShiftDrift (k) and ShiftThreshold (h) configure the CUSUM level-shift
	// detector over winsorised z-scores. When either side exceeds h the
	// baseline is re-anchored to the recent level so the model re-learns
	// within a few points instead of alerting for a whole LevelHalfLife.
	// The CUSUM is not scored itself: the spike and the anomaly likelihood
	// already flag the start of a shift.
	ShiftDrift     float64 `mapstructure:"shift_drift"`
	ShiftThreshold float64 `mapstructure:"shift_threshold"`

	// RefractoryHalfLife is how fast the suppression after an alert wears
	// off: a point scores only the surprise in excess of the recent maximum,
	// and that maximum halves every RefractoryHalfLife samples.
	RefractoryHalfLife float64 `mapstructure:"refractory_half_life"`

	// Seasonal enables the daily and weekly profile (separate allocation).
	// The profile's offset is used in proportion to the share of the
	// residual variance it explains, so on a series without a daily or
	// weekly shape the model behaves as without it.
	Seasonal bool `mapstructure:"seasonal"`
	// DayBuckets and WeekBuckets split a day and a week into equal buckets
	// of time-of-day and time-of-week (UTC). 0 disables that profile.
	DayBuckets  int `mapstructure:"day_buckets"`
	WeekBuckets int `mapstructure:"week_buckets"`
	// SeasonalHalfLife is the half-life of each bucket, counted in visits of
	// that bucket (so in days for a day bucket, weeks for a week bucket).
	SeasonalHalfLife float64 `mapstructure:"seasonal_half_life"`

	// HoldShifts keeps a sustained deviation from teaching the tail model
	// and the scale: a point that comes while the recent points already
	// deviate strongly (a fault in progress, not an isolated spike of a
	// heavy-tailed series) is scored but not learned from, so the deviation
	// keeps its score until the level, which still follows slowly, absorbs
	// it. Not a YAML key: the service graph's edge models set it, series
	// models keep learning as NAB rewards.
	HoldShifts bool `mapstructure:"-"`
}

// Default returns the configuration used for the NAB evaluation.
func Default() Config {
	return Config{
		MinSamples:         100,
		LevelHalfLife:      50,
		ScaleHalfLife:      1000,
		VolatilityHalfLife: 20,
		WinsorZ:            4,
		BandZ:              3,
		ShortHalfLife:      5,
		LongHalfLife:       3000,
		ShiftDrift:         1,
		ShiftThreshold:     12,
		RefractoryHalfLife: 50,
		Seasonal:           true,
		DayBuckets:         24,
		WeekBuckets:        42,
		SeasonalHalfLife:   3,
	}
}

// Validate reports the first field with an unusable value.
func (c Config) Validate() error {
	pos := func(name string, v float64) error {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%s must be a positive finite number, got %v", name, v)
		}
		return nil
	}
	if c.MinSamples < 1 {
		return fmt.Errorf("min_samples must be at least 1, got %d", c.MinSamples)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"level_half_life", c.LevelHalfLife},
		{"scale_half_life", c.ScaleHalfLife},
		{"volatility_half_life", c.VolatilityHalfLife},
		{"winsor_z", c.WinsorZ},
		{"band_z", c.BandZ},
		{"short_half_life", c.ShortHalfLife},
		{"long_half_life", c.LongHalfLife},
		{"shift_drift", c.ShiftDrift},
		{"shift_threshold", c.ShiftThreshold},
		{"refractory_half_life", c.RefractoryHalfLife},
	} {
		if err := pos(f.name, f.v); err != nil {
			return err
		}
	}
	if c.ShortHalfLife >= c.LongHalfLife {
		return fmt.Errorf("short_half_life (%v) must be shorter than long_half_life (%v)", c.ShortHalfLife, c.LongHalfLife)
	}
	if c.Seasonal {
		if c.DayBuckets < 0 || c.DayBuckets > maxBuckets {
			return fmt.Errorf("day_buckets must be in 0..%d, got %d", maxBuckets, c.DayBuckets)
		}
		if c.WeekBuckets < 0 || c.WeekBuckets > maxBuckets {
			return fmt.Errorf("week_buckets must be in 0..%d, got %d", maxBuckets, c.WeekBuckets)
		}
		if c.DayBuckets == 0 && c.WeekBuckets == 0 {
			return fmt.Errorf("seasonal needs day_buckets or week_buckets > 0, got 0 and 0")
		}
		if err := pos("seasonal_half_life", c.SeasonalHalfLife); err != nil {
			return err
		}
	}
	return nil
}

// alpha converts a half-life in samples to an EWMA smoothing factor.
func alpha(halfLife float64) float64 { return 1 - math.Exp2(-1/halfLife) }
