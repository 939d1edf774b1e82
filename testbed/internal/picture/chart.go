// Package picture draws what Omen saw as SVG, with the standard library only: a series above its
// anomaly score (with the model's expected value and band, the labelled windows and the
// detections), for a person who would rather look than read numbers.
package picture

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Chart is a series in the upper panel and its score (0 to 10) in the lower one, sharing the time
// axis.
type Chart struct {
	Title string
	T     []time.Time
	// Value is the observed series; Expected, Lower and Upper are optional (nil, or NaN where the
	// model had none yet).
	Value, Expected, Lower, Upper []float64
	// Score is 0 to 10, NaN where there is none (warm-up).
	Score []float64
	// Threshold draws a line across the score panel, and marks each row whose score reaches it.
	Threshold float64
	// Windows are labelled anomalies, as row ranges [start, end], shaded in both panels.
	Windows [][2]int
	// Baseline is an optional series to compare Value with, drawn dashed (a canary's stable
	// version); NaN where it has none. ValueLabel and BaselineLabel name the two in a legend.
	Baseline                  []float64
	ValueLabel, BaselineLabel string
	// Marks are moments drawn as vertical lines across both panels, with their labels.
	Marks []Mark
}

// Mark is one moment of a chart, such as a canary's start.
type Mark struct {
	At    time.Time
	Label string
}

const (
	width, height      = 1200.0, 520.0
	left, right        = 80.0, 20.0
	top, mid, bottom   = 40.0, 330.0, 480.0
	scoreTop           = 360.0
	colorValue         = "#1f4e79"
	colorExpected      = "#7f7f7f"
	colorBand          = "#d9d9d9"
	colorScore         = "#c55a11"
	colorBaseline      = "#548235"
	colorMark          = "#404040"
	colorWindow        = "#ffe699"
	colorDetection     = "#c00000"
	fontFamily         = "font-family=\"sans-serif\""
	maxPointsPerSeries = 4000
)

// WriteSVG writes the chart. Long series are thinned to at most 4,000 drawn points per line,
// keeping each stretch's extremes so spikes stay visible.
func (c Chart) WriteSVG(w io.Writer) error {
	n := len(c.T)
	if n == 0 {
		return fmt.Errorf("chart %q: no points", c.Title)
	}
	for name, s := range map[string][]float64{"value": c.Value, "expected": c.Expected, "lower": c.Lower, "upper": c.Upper, "score": c.Score, "baseline": c.Baseline} {
		if s != nil && len(s) != n {
			return fmt.Errorf("chart %q: %s has %d points, the time axis %d", c.Title, name, len(s), n)
		}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{c.Value, c.Expected, c.Lower, c.Upper, c.Baseline} {
		for _, v := range s {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi == lo {
		hi = lo + 1
	}
	t0, t1 := c.T[0], c.T[n-1]
	span := max(t1.Sub(t0).Seconds(), 1)
	x := func(i int) float64 { return left + (width-left-right)*c.T[i].Sub(t0).Seconds()/span }
	yValue := func(v float64) float64 { return mid - (mid-top)*(v-lo)/(hi-lo) }
	yScore := func(v float64) float64 { return bottom - (bottom-scoreTop)*v/10 }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" %s font-size="16">%s</text>`+"\n", left, fontFamily, escape(c.Title))
	for _, win := range c.Windows {
		if win[0] < 0 || win[1] >= n || win[0] > win[1] {
			return fmt.Errorf("chart %q: window %v outside %d rows", c.Title, win, n)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="%s" opacity="0.6"><title>labelled window</title></rect>`+"\n",
			x(win[0]), top, max(x(win[1])-x(win[0]), 1), bottom-top, colorWindow)
	}
	if c.Lower != nil && c.Upper != nil {
		band(&b, n, x, yValue, c.Lower, c.Upper)
	}
	line(&b, n, x, yValue, c.Expected, colorExpected, "expected")
	if c.Baseline != nil {
		b.WriteString(`<g stroke-dasharray="6 3">` + "\n")
		line(&b, n, x, yValue, c.Baseline, colorBaseline, "baseline")
		b.WriteString("</g>\n")
	}
	line(&b, n, x, yValue, c.Value, colorValue, "value")
	for _, m := range c.Marks {
		if m.At.Before(t0) || m.At.After(t1) {
			continue
		}
		mx := left + (width-left-right)*m.At.Sub(t0).Seconds()/span
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="%s" stroke-dasharray="2 3"/>`+"\n", mx, mx, top, bottom, colorMark)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" %s font-size="11" fill="%s">%s</text>`+"\n", mx+4, top+12, fontFamily, colorMark, escape(m.Label))
	}
	if c.ValueLabel != "" || c.BaselineLabel != "" {
		legend(&b, []string{colorValue, colorBaseline}, []string{c.ValueLabel, c.BaselineLabel})
	}
	line(&b, n, x, yScore, c.Score, colorScore, "score")
	if c.Threshold > 0 && c.Score != nil {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="4 3"/>`+"\n",
			left, width-right, yScore(c.Threshold), yScore(c.Threshold), colorDetection)
		for i, s := range c.Score {
			if s >= c.Threshold {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: score %.1f</title></circle>`+"\n",
					x(i), yScore(s), colorDetection, c.T[i].UTC().Format(time.RFC3339), s)
			}
		}
	}
	axes(&b, lo, hi, yValue, yScore, t0, t1)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// line draws s as a polyline, broken where it is NaN; nil draws nothing.
func line(b *strings.Builder, n int, x func(int) float64, y func(float64) float64, s []float64, color, name string) {
	if s == nil {
		return
	}
	step := max(1, n/maxPointsPerSeries)
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.2" points="%s"><title>%s</title></polyline>`+"\n", color, strings.Join(pts, " "), name)
		}
		pts = pts[:0]
	}
	for i := 0; i < n; i += step {
		// The stretch's lowest and highest, in order, so a one-row spike survives the thinning.
		lo, hi := i, i
		for j := i; j < min(i+step, n); j++ {
			if math.IsNaN(s[j]) {
				continue
			}
			if math.IsNaN(s[lo]) || s[j] < s[lo] {
				lo = j
			}
			if math.IsNaN(s[hi]) || s[j] > s[hi] {
				hi = j
			}
		}
		if math.IsNaN(s[lo]) {
			flush()
			continue
		}
		for _, j := range []int{min(lo, hi), max(lo, hi)} {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(j), y(s[j])))
		}
	}
	flush()
}

// legend names the lines below the time axis, between its two ends; an empty label is left out.
func legend(b *strings.Builder, colors, labels []string) {
	lx, ly := width/2-180, bottom+18
	for i, l := range labels {
		if l == "" {
			continue
		}
		fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="2"/>`+"\n", lx, lx+20, ly-4, ly-4, colors[i])
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f" %s font-size="11">%s</text>`+"\n", lx+24, ly, fontFamily, escape(l))
		lx += 180
	}
}

// band fills the area between lower and upper where both are known.
func band(b *strings.Builder, n int, x func(int) float64, y func(float64) float64, lower, upper []float64) {
	step := max(1, n/maxPointsPerSeries)
	var up, down []string
	flush := func() {
		if len(up) > 1 {
			for i := len(down) - 1; i >= 0; i-- {
				up = append(up, down[i])
			}
			fmt.Fprintf(b, `<polygon fill="%s" stroke="none" points="%s"><title>expected band</title></polygon>`+"\n", colorBand, strings.Join(up, " "))
		}
		up, down = up[:0], down[:0]
	}
	for i := 0; i < n; i += step {
		if math.IsNaN(lower[i]) || math.IsNaN(upper[i]) {
			flush()
			continue
		}
		up = append(up, fmt.Sprintf("%.1f,%.1f", x(i), y(upper[i])))
		down = append(down, fmt.Sprintf("%.1f,%.1f", x(i), y(lower[i])))
	}
	flush()
}

func axes(b *strings.Builder, lo, hi float64, yValue, yScore func(float64) float64, t0, t1 time.Time) {
	fmt.Fprintf(b, `<g stroke="#404040" %s font-size="11">`+"\n", fontFamily)
	fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f"/>`+"\n", left, left, top, mid)
	fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f"/>`+"\n", left, left, scoreTop, bottom)
	fmt.Fprintf(b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f"/>`+"\n", left, width-right, bottom, bottom)
	for _, v := range []float64{lo, (lo + hi) / 2, hi} {
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end" stroke="none">%s</text>`+"\n", left-6, yValue(v)+4, label(v))
	}
	for _, v := range []float64{0, 3, 7, 10} {
		fmt.Fprintf(b, `<text x="%.0f" y="%.1f" text-anchor="end" stroke="none">%g</text>`+"\n", left-6, yScore(v)+4, v)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" stroke="none">score</text>`+"\n", left+4, scoreTop-6)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" stroke="none">%s</text>`+"\n", left, bottom+18, t0.UTC().Format("2006-01-02 15:04"))
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end" stroke="none">%s</text>`+"\n", width-right, bottom+18, t1.UTC().Format("2006-01-02 15:04"))
	b.WriteString("</g>\n")
}

func label(v float64) string {
	switch a := math.Abs(v); {
	case a != 0 && (a >= 1e7 || a < 1e-2):
		return fmt.Sprintf("%.2e", v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.4g", v)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
