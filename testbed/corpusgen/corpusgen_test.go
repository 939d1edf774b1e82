package corpusgen

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/omen-otel/omen/testbed/internal/nab"
)

func TestDeterministic(t *testing.T) {
	a, b, other := Generate(7), Generate(7), Generate(8)
	if len(a.Series) != len(b.Series) {
		t.Fatalf("%d and %d series for one seed", len(a.Series), len(b.Series))
	}
	differ := false
	for i := range a.Series {
		sa, sb := a.Series[i], b.Series[i]
		if sa.Name != sb.Name || !slices.Equal(sa.Values, sb.Values) || !slices.Equal(sa.Windows, sb.Windows) || !slices.EqualFunc(sa.Times, sb.Times, func(x, y time.Time) bool { return x.Equal(y) }) {
			t.Fatalf("%s differs between two runs of seed 7", sa.Name)
		}
		if !slices.Equal(sa.Values, other.Series[i].Values) {
			differ = true
		}
	}
	if !differ {
		t.Fatal("seeds 7 and 8 give the same values")
	}
}

// TestLabels: a series differs from its clean version only inside its anomalies, each anomaly
// changes its first row's value (so the window starts where something is to be seen), and each
// window starts on its anomaly's first row and covers it.
func TestLabels(t *testing.T) {
	c := Generate(1)
	kinds := map[string]map[string]bool{}
	for _, s := range c.Series {
		inside := make([]bool, len(s.Values))
		for a, an := range s.Anomalies {
			w := s.Windows[a]
			if w[0] != an.Start || w[1] < an.End {
				t.Errorf("%s: window %v does not start on and cover anomaly %+v", s.Name, w, an)
			}
			for j := an.Start; j <= an.End; j++ {
				inside[j] = true
			}
			if kinds[s.Category] == nil {
				kinds[s.Category] = map[string]bool{}
			}
			kinds[s.Category][an.Kind] = true
		}
		for j := range s.Values {
			if !inside[j] && s.Values[j] != s.Clean[j] {
				t.Fatalf("%s row %d: %v outside every anomaly, clean %v", s.Name, j, s.Values[j], s.Clean[j])
			}
		}
		changed := 0
		for _, an := range s.Anomalies {
			for j := an.Start; j <= an.End; j++ {
				if s.Values[j] != s.Clean[j] {
					changed++
				}
			}
		}
		if len(s.Anomalies) > 0 && changed == 0 {
			t.Errorf("%s: the injected anomalies changed no value", s.Name)
		}
	}
	// Generated without injection, every series is its clean version.
	k := 0
	for ci, cat := range Categories() {
		for i := range files[cat] {
			s := c.Series[k]
			k++
			if clean := generate(c.Seed, ci, cat, i, false); !slices.Equal(clean.Values, s.Clean) {
				t.Errorf("%s: generated without injection is not its clean series", s.Name)
			}
		}
	}
	for _, cat := range Categories() {
		if len(kinds[cat]) < 2 {
			t.Errorf("category %s has anomaly kinds %v, want at least 2", cat, kinds[cat])
		}
	}
}

// TestCountsAreSmallIntegers: the count series hold integers, mostly 0 to 10.
func TestCountsAreSmallIntegers(t *testing.T) {
	for _, s := range Generate(3).Series {
		if s.Category != Counts {
			continue
		}
		small := 0
		for _, v := range s.Clean {
			if v != math.Trunc(v) || v < 0 {
				t.Fatalf("%s: count %v", s.Name, v)
			}
			if v <= 10 {
				small++
			}
		}
		if frac := float64(small) / float64(len(s.Clean)); frac < 0.95 {
			t.Errorf("%s: %.2f of the clean counts are at most 10", s.Name, frac)
		}
	}
}

// TestWriteLoads: what Write writes is a corpus the backtest's loader reads, with every series,
// row and window.
func TestWriteLoads(t *testing.T) {
	dir := t.TempDir()
	c := Generate(2)
	if err := c.Write(dir); err != nil {
		t.Fatal(err)
	}
	loaded, err := nab.LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Files) != len(c.Series) {
		t.Fatalf("%d files loaded, %d written", len(loaded.Files), len(c.Series))
	}
	steps := map[int64]bool{}
	gapped := 0
	for _, s := range c.Series {
		f := loaded.File(s.Category + "/" + s.Name)
		if f == nil {
			t.Fatalf("%s not loaded", s.Name)
		}
		if !slices.Equal(f.Values, s.Values) {
			t.Fatalf("%s: values differ after the round trip", s.Name)
		}
		if len(f.Windows) != len(s.Windows) {
			t.Fatalf("%s: %d windows loaded, %d written", s.Name, len(f.Windows), len(s.Windows))
		}
		for i, w := range f.Windows {
			if w.Start != s.Windows[i][0] || w.End != s.Windows[i][1] {
				t.Fatalf("%s: window %v loaded as %v", s.Name, s.Windows[i], w)
			}
			if w.Start < nab.Probation(len(f.Values)) {
				t.Errorf("%s: window %v in NAB's probation", s.Name, w)
			}
		}
		steps[int64(s.Step)] = true
		if span := s.Times[len(s.Times)-1].Sub(s.Times[0]); int(span/s.Step)+1 > len(s.Times) {
			gapped++
		}
	}
	if len(steps) != 4 || gapped == 0 {
		t.Errorf("%d sampling intervals and %d series with gaps, want 4 and some", len(steps), gapped)
	}
	if _, err := os.Stat(filepath.Join(dir, "labels", "combined_windows.json")); err != nil {
		t.Fatal(err)
	}
}
