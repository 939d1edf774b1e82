package nab

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Profile is a NAB cost matrix. A_TN exists in NAB's profiles.json but is
// never used by the scorer, so it is not modelled.
type Profile struct {
	Name   string
	TP, FP float64 // reward for a detected window's first row, penalty per FP row
	FN     float64 // penalty per missed window
}

// The three NAB v1.1 profiles (config/profiles.json).
var (
	Standard    = Profile{Name: "standard", TP: 1, FP: 0.11, FN: 1}
	RewardLowFP = Profile{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1}
	RewardLowFN = Profile{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2}
)

// Profiles lists the NAB profiles in scoreboard order.
func Profiles() []Profile { return []Profile{Standard, RewardLowFP, RewardLowFN} }

// Probation is the number of leading rows NAB ignores in a file of n rows:
// min(floor(0.15*n), 0.15*5000).
func Probation(n int) int {
	return min(int(math.Floor(0.15*float64(n))), 750)
}

// scaledSigmoid is NAB's S(x) = 2/(1+e^(5x)) - 1, clamped to -1 beyond x=3.
func scaledSigmoid(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// Weights returns NAB's per-row weight sigma_i for f under p, and for each
// row the index of the window that holds it (-1 outside every window).
// Probation rows get weight 0 and window -2: they never count.
func Weights(f *File, p Profile) (sigma []float64, window []int) {
	n := len(f.Values)
	sigma = make([]float64, n)
	window = make([]int, n)
	prob := Probation(n)
	sNeg1 := scaledSigmoid(-1)
	wi := 0
	prev := -1 // index of the last window that ended before the current row
	for i := 0; i < n; i++ {
		for wi < len(f.Windows) && f.Windows[wi].End < i {
			prev = wi
			wi++
		}
		if i < prob {
			window[i] = -2
			continue
		}
		if wi < len(f.Windows) && f.Windows[wi].Start <= i {
			w := f.Windows[wi]
			pos := -float64(w.End-i+1) / float64(w.Width())
			sigma[i] = p.TP * scaledSigmoid(pos) / sNeg1
			window[i] = wi
			continue
		}
		window[i] = -1
		if prev < 0 {
			sigma[i] = -p.FP
			continue
		}
		w := f.Windows[prev]
		// A one-row window divides by zero in NAB; +Inf saturates S to -1,
		// which is the limit NAB would approach.
		d := float64(i-w.End) / float64(w.Width()-1)
		sigma[i] = p.FP * scaledSigmoid(d)
	}
	return sigma, window
}

// scorableWindows counts windows with at least one row past probation;
// windows wholly inside probation do not exist for NAB.
func scorableWindows(c *Corpus) int {
	n := 0
	for _, f := range c.Files {
		prob := Probation(len(f.Values))
		for _, w := range f.Windows {
			if w.End >= prob {
				n++
			}
		}
	}
	return n
}

func checkScores(c *Corpus, scores map[string][]float64) error {
	for _, f := range c.Files {
		s, ok := scores[f.Name]
		if !ok {
			return fmt.Errorf("nab: no scores for %s", f.Name)
		}
		if len(s) != len(f.Values) {
			return fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(s), len(f.Values))
		}
		for i, v := range s {
			if math.IsNaN(v) {
				return fmt.Errorf("nab: %s: score at row %d is NaN", f.Name, i)
			}
		}
	}
	return nil
}

// ScoreAt is the raw NAB score of the whole corpus at threshold theta: a row
// detects when its score >= theta; every FP row adds its (negative) weight,
// each window adds the weight of its earliest detection or -FN if none.
func ScoreAt(c *Corpus, scores map[string][]float64, theta float64, p Profile) (float64, error) {
	if err := checkScores(c, scores); err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range c.Files {
		s := scores[f.Name]
		sigma, win := Weights(f, p)
		best := make([]float64, len(f.Windows))
		hit := make([]bool, len(f.Windows))
		live := make([]bool, len(f.Windows))
		for i := range s {
			switch w := win[i]; {
			case w == -2:
			case w == -1:
				if s[i] >= theta {
					total += sigma[i]
				}
			default:
				live[w] = true
				if s[i] >= theta && (!hit[w] || sigma[i] > best[w]) {
					hit[w], best[w] = true, sigma[i]
				}
			}
		}
		for w := range best {
			switch {
			case hit[w]:
				total += best[w]
			case live[w]:
				total -= p.FN
			}
		}
	}
	return total, nil
}

// Normalize maps a raw corpus score to NAB's 0..100 scale, where 0 is the
// null detector (-FN per window) and 100 detects every window on its first row.
func Normalize(raw float64, windows int, p Profile) float64 {
	null := -p.FN * float64(windows)
	perfect := p.TP * float64(windows)
	return 100 * (raw - null) / (perfect - null)
}

type sweepRow struct {
	score  float64
	sigma  float64
	window int32 // global window id, or -1 for a row outside every window
}

// Sweep finds NAB's optimal global threshold for one profile: all scorable
// rows of the corpus are pooled, sorted by score descending, and the score is
// updated incrementally at every distinct score value, starting from
// theta = 1.1 where nothing is detected. On ties the highest threshold wins.
// scores maps File.Name to one anomaly score per row (NAB scale, 0..1).
// It returns the threshold, the raw score and the normalised score.
func Sweep(c *Corpus, scores map[string][]float64, p Profile) (threshold, raw, normalized float64, err error) {
	if err := checkScores(c, scores); err != nil {
		return 0, 0, 0, err
	}
	rows := make([]sweepRow, 0, c.Rows())
	nwin := 0
	for _, f := range c.Files {
		s := scores[f.Name]
		sigma, win := Weights(f, p)
		for i := range s {
			switch w := win[i]; w {
			case -2:
			case -1:
				rows = append(rows, sweepRow{s[i], sigma[i], -1})
			default:
				rows = append(rows, sweepRow{s[i], sigma[i], int32(nwin + w)})
			}
		}
		nwin += len(f.Windows)
	}
	windows := scorableWindows(c)
	// Descending by score; a stable sort keeps the run deterministic.
	slices.SortStableFunc(rows, func(a, b sweepRow) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	best := make([]float64, nwin)
	hit := make([]bool, nwin)
	cur := -p.FN * float64(windows)
	threshold, raw = 1.1, cur
	for i := 0; i < len(rows); {
		theta := rows[i].score
		for ; i < len(rows) && rows[i].score == theta; i++ {
			r := rows[i]
			if r.window < 0 {
				cur += r.sigma
				continue
			}
			switch w := r.window; {
			case !hit[w]:
				hit[w], best[w] = true, r.sigma
				cur += p.FN + r.sigma
			case r.sigma > best[w]:
				cur += r.sigma - best[w]
				best[w] = r.sigma
			}
		}
		if cur > raw {
			threshold, raw = theta, cur
		}
	}
	return threshold, raw, Normalize(raw, windows, p), nil
}

// Category is what a swept threshold does on one category of a corpus (the folder of its files).
type Category struct {
	Name  string
	Files int
	// Windows counts the scorable windows (those reaching past probation), Found those with a
	// detection, FPRows the detections outside every window, row by row as NAB counts them.
	Windows, Found, FPRows int
}

// Breakdown says, category by category, which windows a threshold finds and how many false
// positive rows it raises, so a corpus-wide score shows where it is won or lost.
func Breakdown(c *Corpus, scores map[string][]float64, theta float64) ([]Category, error) {
	if err := checkScores(c, scores); err != nil {
		return nil, err
	}
	var out []Category
	for _, f := range c.Files {
		name, _, _ := strings.Cut(f.Name, "/")
		if len(out) == 0 || out[len(out)-1].Name != name {
			out = append(out, Category{Name: name})
		}
		cat := &out[len(out)-1]
		cat.Files++
		s := scores[f.Name]
		_, win := Weights(f, Standard)
		found := make([]bool, len(f.Windows))
		live := make([]bool, len(f.Windows))
		for i := range s {
			switch w := win[i]; {
			case w == -2:
			case w == -1:
				if s[i] >= theta {
					cat.FPRows++
				}
			default:
				live[w] = true
				found[w] = found[w] || s[i] >= theta
			}
		}
		for w := range found {
			if live[w] {
				cat.Windows++
			}
			if found[w] {
				cat.Found++
			}
		}
	}
	return out, nil
}
