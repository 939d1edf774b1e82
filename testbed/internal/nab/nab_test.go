package nab

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

const eps = 1e-9

func loadTestCorpus(t *testing.T) *Corpus {
	t.Helper()
	c, err := LoadCorpus("testdata/corpus")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func zeroScores(c *Corpus) map[string][]float64 {
	m := make(map[string][]float64, len(c.Files))
	for _, f := range c.Files {
		m[f.Name] = make([]float64, len(f.Values))
	}
	return m
}

// perfectScores is 1 on the first row of every window and 0 elsewhere.
func perfectScores(c *Corpus) map[string][]float64 {
	m := zeroScores(c)
	for _, f := range c.Files {
		for _, w := range f.Windows {
			m[f.Name][w.Start] = 1
		}
	}
	return m
}

func TestLoadCorpus(t *testing.T) {
	c := loadTestCorpus(t)
	if len(c.Files) != 3 || c.Rows() != 70 {
		t.Fatalf("files=%d rows=%d, want 3 and 70", len(c.Files), c.Rows())
	}
	b := c.File("catA/b.csv")
	if b == nil {
		t.Fatal("catA/b.csv missing")
	}
	want := []Window{{20, 21}, {30, 34}}
	if len(b.Windows) != 2 || b.Windows[0] != want[0] || b.Windows[1] != want[1] {
		t.Fatalf("windows %v, want %v", b.Windows, want)
	}
	if got := b.Timestamps[1].Sub(b.Timestamps[0]).Minutes(); got != 5 {
		t.Fatalf("row spacing %v min, want 5", got)
	}
	if b.Values[2] != 11 {
		t.Fatalf("value %v, want 11", b.Values[2])
	}
}

func TestProbation(t *testing.T) {
	for n, want := range map[int]int{20: 3, 40: 6, 4032: 604, 5000: 750, 22695: 750} {
		if got := Probation(n); got != want {
			t.Errorf("Probation(%d)=%d, want %d", n, got, want)
		}
	}
}

func TestWeights(t *testing.T) {
	c := loadTestCorpus(t)
	sigma, win := Weights(c.File("catA/a.csv"), Standard)
	for i, want := range map[int]float64{
		3:  -0.11,                // before any window: full FP penalty
		10: 1,                    // first window row scores exactly A_TP
		11: 0.9669890878000605,   // S(-0.75)/S(-1)
		14: -0.07504879692619866, // 0.11*S(1/3), just after the window
	} {
		if math.Abs(sigma[i]-want) > eps {
			t.Errorf("sigma[%d]=%v, want %v", i, sigma[i], want)
		}
	}
	if win[2] != -2 || win[3] != -1 || win[13] != 0 {
		t.Errorf("window ids %v", win)
	}
	if sigma[13] <= 0 || sigma[13] >= sigma[12] {
		t.Errorf("last window row %v must be small and positive", sigma[13])
	}
}

func TestSweepNullAndPerfect(t *testing.T) {
	c := loadTestCorpus(t)
	for _, p := range Profiles() {
		if th, _, n, err := Sweep(c, perfectScores(c), p); err != nil || th != 1 || math.Abs(n-100) > eps {
			t.Errorf("%s perfect: threshold %v score %v err %v, want 1, 100", p.Name, th, n, err)
		}
		// The null detector never reaches a threshold: every window is a FN.
		// (On this tiny corpus an all-zero detector is not null: detecting
		// every row beats missing all three windows.)
		raw, err := ScoreAt(c, zeroScores(c), 0.5, p)
		if n := Normalize(raw, 3, p); err != nil || math.Abs(n) > eps {
			t.Errorf("%s null: score %v err %v, want 0", p.Name, n, err)
		}
	}
}

// TestSweepHandBuilt checks a case computed by hand from SCORING.md.
func TestSweepHandBuilt(t *testing.T) {
	c := loadTestCorpus(t)
	s := zeroScores(c)
	s["catA/b.csv"][0] = 1.0  // probation: ignored
	s["catB/c.csv"][5] = 0.95 // FP before any window: -0.11
	s["catA/a.csv"][11] = 0.9 // second row of a width-4 window
	s["catA/b.csv"][15] = 0.7 // FP: -0.11
	s["catA/b.csv"][31] = 0.5 // second row of a width-5 window
	th, raw, n, err := Sweep(c, s, Standard)
	if err != nil {
		t.Fatal(err)
	}
	if th != 0.5 || math.Abs(raw-0.7240959287226649) > eps || math.Abs(n-62.06826547871108) > eps {
		t.Fatalf("got threshold %v raw %v norm %v", th, raw, n)
	}
}

// TestSweepMatchesBruteForce checks the incremental sweep against ScoreAt at
// every distinct threshold, including the tie rule.
func TestSweepMatchesBruteForce(t *testing.T) {
	c := loadTestCorpus(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 50; trial++ {
		s := zeroScores(c)
		var levels []float64
		for _, v := range s {
			for i := range v {
				// Few distinct values so that ties occur.
				v[i] = float64(rng.IntN(8)) / 8
			}
		}
		for k := 0; k <= 8; k++ {
			levels = append(levels, float64(k)/8)
		}
		for _, p := range Profiles() {
			th, raw, _, err := Sweep(c, s, p)
			if err != nil {
				t.Fatal(err)
			}
			bestTh, best := 1.1, -p.FN*3
			for k := len(levels) - 1; k >= 0; k-- {
				got, err := ScoreAt(c, s, levels[k], p)
				if err != nil {
					t.Fatal(err)
				}
				if got > best+eps {
					bestTh, best = levels[k], got
				}
			}
			if th != bestTh || math.Abs(raw-best) > eps {
				t.Fatalf("trial %d %s: sweep (%v,%v), brute force (%v,%v)", trial, p.Name, th, raw, bestTh, best)
			}
		}
	}
}

func TestSweepRejectsBadScores(t *testing.T) {
	c := loadTestCorpus(t)
	s := zeroScores(c)
	s["catA/a.csv"] = s["catA/a.csv"][:5]
	if _, _, _, err := Sweep(c, s, Standard); err == nil {
		t.Error("short score slice accepted")
	}
	s = zeroScores(c)
	s["catA/a.csv"][7] = math.NaN()
	if _, _, _, err := Sweep(c, s, Standard); err == nil {
		t.Error("NaN score accepted")
	}
}

func TestWriteResultCSV(t *testing.T) {
	c := loadTestCorpus(t)
	f := c.File("catA/a.csv")
	s := make([]float64, len(f.Values))
	s[10] = 0.25
	var buf bytes.Buffer
	if err := WriteResultCSV(&buf, f, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 21 || lines[0] != "timestamp,value,anomaly_score,label" {
		t.Fatalf("bad output:\n%s", buf.String())
	}
	if lines[11] != "2020-01-01 00:50:00,6,0.25,1" || lines[10] != "2020-01-01 00:45:00,5.5,0,0" {
		t.Fatalf("rows: %q %q", lines[10], lines[11])
	}
}

// TestRealCorpus checks the loader and scorer invariants on the published
// NAB corpus when OMEN_NAB_CORPUS points at it.
func TestRealCorpus(t *testing.T) {
	dir := os.Getenv("OMEN_NAB_CORPUS")
	if dir == "" {
		t.Skip("OMEN_NAB_CORPUS not set")
	}
	c, err := LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	nwin, inWin := 0, 0
	for _, f := range c.Files {
		for _, w := range f.Windows {
			nwin++
			inWin += w.Width()
		}
	}
	if len(c.Files) != 58 || c.Rows() != 365558 || nwin != 116 || inWin != 33495 {
		t.Fatalf("files=%d rows=%d windows=%d window rows=%d", len(c.Files), c.Rows(), nwin, inWin)
	}
	for _, p := range Profiles() {
		if _, _, n, _ := Sweep(c, zeroScores(c), p); math.Abs(n) > eps {
			t.Errorf("%s: all-zero detector scores %v, want 0", p.Name, n)
		}
		if _, _, n, _ := Sweep(c, perfectScores(c), p); math.Abs(n-100) > eps {
			t.Errorf("%s: perfect detector scores %v, want 100", p.Name, n)
		}
	}
}

// TestBreakdown counts, per category, the windows a threshold finds and its false positive
// rows, on the hand-built case of TestSweepHandBuilt.
func TestBreakdown(t *testing.T) {
	c := loadTestCorpus(t)
	s := zeroScores(c)
	s["catA/b.csv"][0] = 1.0  // probation: not counted
	s["catB/c.csv"][5] = 0.95 // FP
	s["catA/a.csv"][11] = 0.9 // found
	s["catA/a.csv"][12] = 0.9 // the same window again
	s["catA/b.csv"][15] = 0.7 // FP
	s["catA/b.csv"][31] = 0.4 // below the threshold: b's second window is missed
	got, err := Breakdown(c, s, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	want := []Category{
		{Name: "catA", Files: 2, Windows: 3, Found: 1, FPRows: 1},
		{Name: "catB", Files: 1, Windows: 0, Found: 0, FPRows: 1},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("breakdown %+v, want %+v", got, want)
	}
}
