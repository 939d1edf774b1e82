// Command backtest runs labelled corpora in NAB's layout through the real anomaly processor and
// scores the result as the Numenta Anomaly Benchmark does.
//
//	go run ./testbed/cmd/backtest --corpus DIR [--corpus DIR ...] --out DIR [--config FILE]
//
// Each data file becomes one gauge series, fed point by point in timestamp order through
// ConsumeMetrics; its anomaly.score points are read from what the processor passes on. The
// results go to <out>/omen/<category>/omen_<file>.csv (<out>/<corpus>/omen/... with several
// corpora). For each corpus it prints the NAB scores of the three profiles and, per category,
// the windows found and the false positive rows at the standard profile's threshold; it ends
// with one line per corpus reading "<corpus> standard S lowFP F lowFN N".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.yaml.in/yaml/v3"

	"github.com/omen-otel/omen/internal/names"
	"github.com/omen-otel/omen/processor/anomalyprocessor"
	"github.com/omen-otel/omen/testbed/internal/nab"
	"github.com/omen-otel/omen/testbed/internal/picture"
)

const detectorName = "omen"

func main() {
	var corpora corpusList
	flag.Var(&corpora, "corpus", "corpus folder in NAB's layout: data/<category>/<file>.csv and labels/combined_windows.json (repeat for several)")
	out := flag.String("out", "", "folder for the result files (<out>/omen/<category>/omen_<file>.csv; <out>/<corpus>/omen/... with several corpora)")
	config := flag.String("config", "", "the anomaly processor's YAML config (optional; the defaults without it)")
	pictures := flag.String("pictures", "", "folder for one SVG per file: the series with the model's expected value and band, its score, the labelled windows and the detections at the standard threshold (optional)")
	flag.Parse()
	if len(corpora) == 0 || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(corpora, *out, *config, *pictures); err != nil {
		fmt.Fprintln(os.Stderr, "backtest:", err)
		os.Exit(1)
	}
}

// corpusList collects the repeated --corpus flag.
type corpusList []string

func (l *corpusList) String() string { return strings.Join(*l, ",") }

func (l *corpusList) Set(dir string) error {
	*l = append(*l, dir)
	return nil
}

func run(corpora []string, outDir, configPath, picturesDir string) error {
	cfg, err := loadConfig(configPath)
	if err != nil {
		return err
	}
	names := corpusNames(corpora)
	summary := make([]string, len(corpora))
	for i, dir := range corpora {
		out, pics := outDir, picturesDir
		if len(corpora) > 1 {
			out = filepath.Join(outDir, names[i])
			if pics != "" {
				pics = filepath.Join(picturesDir, names[i])
			}
		}
		line, err := backtest(cfg, names[i], dir, out, pics)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		summary[i] = line
	}
	for _, line := range summary {
		fmt.Println(line)
	}
	return nil
}

// corpusNames names each corpus after its folder, numbered when two folders share a name.
func corpusNames(dirs []string) []string {
	names := make([]string, len(dirs))
	seen := map[string]int{}
	for i, d := range dirs {
		names[i] = filepath.Base(filepath.Clean(d))
		seen[names[i]]++
	}
	for i := range names {
		if seen[names[i]] > 1 {
			names[i] = fmt.Sprintf("%s-%d", names[i], i+1)
		}
	}
	return names
}

// backtest scores one corpus, prints its report and returns its summary line; with picturesDir
// it also draws every file.
func backtest(cfg *anomalyprocessor.Config, name, corpusDir, outDir, picturesDir string) (string, error) {
	c, err := nab.LoadCorpus(corpusDir)
	if err != nil {
		return "", err
	}
	if picturesDir != "" {
		// The band is emitted beside the scores and changes none of them.
		withBands := *cfg
		withBands.Bands = true
		cfg = &withBands
	}
	scores := make(map[string][]float64, len(c.Files))
	bands := make(map[string]*band, len(c.Files))
	for _, f := range c.Files {
		s, b, err := scoreFile(cfg, f)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f.Name, err)
		}
		scores[f.Name], bands[f.Name] = s, b
		if err := writeResult(outDir, f, s); err != nil {
			return "", err
		}
	}
	fmt.Printf("== %s: %d files, %d rows, %d windows\n", name, len(c.Files), c.Rows(), windows(c))
	normalized := map[string]float64{}
	thresholds := map[string]float64{}
	for _, p := range nab.Profiles() {
		threshold, raw, norm, err := nab.Sweep(c, scores, p)
		if err != nil {
			return "", err
		}
		normalized[p.Name], thresholds[p.Name] = norm, threshold
		fmt.Printf("%-19s threshold %.4f raw %9.4f score %.2f\n", p.Name, threshold, raw, norm)
	}
	cats, err := nab.Breakdown(c, scores, thresholds[nab.Standard.Name])
	if err != nil {
		return "", err
	}
	if picturesDir != "" {
		for _, f := range c.Files {
			if err := drawFile(picturesDir, f, scores[f.Name], bands[f.Name], thresholds[nab.Standard.Name]); err != nil {
				return "", err
			}
		}
	}
	fmt.Printf("%-26s %5s %7s %5s %7s   (at the standard threshold %.4f)\n", "category", "files", "windows", "found", "FP rows", thresholds[nab.Standard.Name])
	for _, k := range cats {
		fmt.Printf("%-26s %5d %7d %5d %7d\n", k.Name, k.Files, k.Windows, k.Found, k.FPRows)
	}
	return fmt.Sprintf("%s standard %.2f lowFP %.2f lowFN %.2f", name,
		normalized[nab.Standard.Name], normalized[nab.RewardLowFP.Name], normalized[nab.RewardLowFN.Name]), nil
}

// loadConfig reads the processor's config from the top level of a YAML file, over the defaults.
func loadConfig(path string) (*anomalyprocessor.Config, error) {
	cfg := anomalyprocessor.NewFactory().CreateDefaultConfig().(*anomalyprocessor.Config)
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		if err := yaml.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := confmap.Validate(cfg); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	return cfg, nil
}

// band is the model's expected value and band per row (NaN where it had none), with bands on.
type band struct{ expected, lower, upper []float64 }

// scoreFile feeds one file through a fresh processor and returns NAB scores (score / 10), one
// per row (a row without a score, in the warm-up, scores 0), and the model's band per row.
func scoreFile(cfg *anomalyprocessor.Config, f *nab.File) ([]float64, *band, error) {
	var row scored
	sink, err := consumer.NewMetrics(func(_ context.Context, md pmetric.Metrics) error {
		row = readScore(md)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ctx := context.Background()
	p, err := anomalyprocessor.NewFactory().CreateMetrics(ctx, processortest.NewNopSettings(anomalyprocessor.NewFactory().Type()), cfg, sink)
	if err != nil {
		return nil, nil, err
	}
	if err := p.Start(ctx, componenttest.NewNopHost()); err != nil {
		return nil, nil, err
	}
	out := make([]float64, len(f.Values))
	b := &band{}
	for i, v := range f.Values {
		if err := p.ConsumeMetrics(ctx, point(f.Name, f.Timestamps[i].UnixNano(), v)); err != nil {
			return nil, nil, errors.Join(err, p.Shutdown(ctx))
		}
		if row.ok {
			out[i] = row.score / 10
		}
		b.expected = append(b.expected, row.expected)
		b.lower = append(b.lower, row.lower)
		b.upper = append(b.upper, row.upper)
	}
	return out, b, p.Shutdown(ctx)
}

func point(name string, ts int64, v float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("nab.value")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.Timestamp(ts))
	dp.SetDoubleValue(v)
	dp.Attributes().PutStr("file", name)
	return md
}

// scored is what the processor added to one row: its score and, with bands, the model's
// expected value and band (NaN when absent).
type scored struct {
	ok                            bool
	score, expected, lower, upper float64
}

// readScore finds the anomaly.score the processor added, if any, and the band beside it.
func readScore(md pmetric.Metrics) scored {
	out := scored{expected: math.NaN(), lower: math.NaN(), upper: math.NaN()}
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if m.Type() != pmetric.MetricTypeGauge || m.Gauge().DataPoints().Len() == 0 {
					continue
				}
				v := m.Gauge().DataPoints().At(0).DoubleValue()
				switch m.Name() {
				case names.Score:
					out.ok, out.score = true, v
				case names.Expected:
					out.expected = v
				case names.Lower:
					out.lower = v
				case names.Upper:
					out.upper = v
				}
			}
		}
	}
	return out
}

// drawFile writes <dir>/<category>/<file>.svg: the series with its band, its score, the labelled
// windows and the detections at threshold (a NAB score, the score / 10).
func drawFile(dir string, f *nab.File, scores []float64, b *band, threshold float64) error {
	category, file := filepath.Split(f.Name)
	if err := os.MkdirAll(filepath.Join(dir, category), 0o755); err != nil {
		return err
	}
	c := picture.Chart{
		Title: f.Name, T: f.Timestamps, Value: f.Values,
		Expected: b.expected, Lower: b.lower, Upper: b.upper,
		Threshold: 10 * threshold,
	}
	for _, s := range scores {
		c.Score = append(c.Score, 10*s)
	}
	for _, w := range f.Windows {
		c.Windows = append(c.Windows, [2]int{w.Start, w.End})
	}
	out, err := os.Create(filepath.Join(dir, category, strings.TrimSuffix(file, ".csv")+".svg"))
	if err != nil {
		return err
	}
	if err := c.WriteSVG(out); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	return out.Close()
}

func writeResult(outDir string, f *nab.File, scores []float64) error {
	category, file := filepath.Split(f.Name)
	dir := filepath.Join(outDir, detectorName, category)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w, err := os.Create(filepath.Join(dir, detectorName+"_"+file))
	if err != nil {
		return err
	}
	if err := nab.WriteResultCSV(w, f, scores); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func windows(c *nab.Corpus) int {
	n := 0
	for _, f := range c.Files {
		n += len(f.Windows)
	}
	return n
}
