package picture

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testChart(n int) Chart {
	c := Chart{Title: "latency <p95> & more", Threshold: 7, Windows: [][2]int{{n / 2, n/2 + 5}}}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		c.T = append(c.T, t0.Add(time.Duration(i)*time.Minute))
		v := 100 + 5*math.Sin(float64(i)/10)
		score := math.NaN()
		if i >= 10 {
			score = 1
		}
		if i == n/2+2 {
			v, score = 400, 9.5
		}
		c.Value = append(c.Value, v)
		c.Expected = append(c.Expected, 100)
		c.Lower = append(c.Lower, 90)
		c.Upper = append(c.Upper, 110)
		c.Score = append(c.Score, score)
	}
	return c
}

func TestChartIsValidSVGWithItsParts(t *testing.T) {
	var b strings.Builder
	require.NoError(t, testChart(200).WriteSVG(&b))
	svg := b.String()
	require.NoError(t, xml.Unmarshal([]byte(svg), new(struct{ XMLName xml.Name })), "well-formed XML")
	assert.Contains(t, svg, "latency &lt;p95&gt; &amp; more", "the title is escaped")
	for _, part := range []string{"<title>value</title>", "<title>expected</title>", "<title>score</title>", "<title>expected band</title>", "<title>labelled window</title>"} {
		assert.Contains(t, svg, part)
	}
	assert.Equal(t, 1, strings.Count(svg, "<circle"), "one detection: the spike")
	assert.Contains(t, svg, "score 9.5")
}

func TestLongSeriesKeepTheirSpikes(t *testing.T) {
	c := testChart(100_000)
	var b strings.Builder
	require.NoError(t, c.WriteSVG(&b))
	assert.Less(t, b.Len(), 2_000_000, "thinned")
	// The spike (400, the top of the value panel, y = 40) is one row in 100,000: kept as the
	// highest of its stretch, the value line reaches it.
	svg := b.String()
	i := strings.Index(svg, "<title>value</title>")
	require.Positive(t, i)
	start := strings.LastIndex(svg[:i], "<polyline")
	assert.Contains(t, svg[start:i], ",40.0 ")
}

func TestChartRefusesWhatItCannotDraw(t *testing.T) {
	c := testChart(10)
	c.Score = c.Score[:5]
	assert.ErrorContains(t, c.WriteSVG(new(strings.Builder)), "score has 5 points")
	c = testChart(10)
	c.Windows = [][2]int{{8, 12}}
	assert.ErrorContains(t, c.WriteSVG(new(strings.Builder)), "outside")
	assert.Error(t, Chart{}.WriteSVG(new(strings.Builder)))
}

// A canary's chart: its latency beside the stable version's, dashed, a legend naming both, and
// the canary's start and end marked.
func TestChartBaselineAndMarks(t *testing.T) {
	c := testChart(60)
	c.Baseline = make([]float64, 60)
	for i := range c.Baseline {
		c.Baseline[i] = 100
	}
	c.ValueLabel, c.BaselineLabel = "canary 2.0.0", "stable 1.0.0"
	c.Marks = []Mark{{c.T[10], "canary"}, {c.T[59].Add(time.Hour), "outside the chart"}}
	var b strings.Builder
	require.NoError(t, c.WriteSVG(&b))
	svg := b.String()
	require.NoError(t, xml.Unmarshal([]byte(svg), new(struct{ XMLName xml.Name })))
	assert.Contains(t, svg, "<title>baseline</title>")
	assert.Contains(t, svg, ">canary 2.0.0<")
	assert.Contains(t, svg, ">stable 1.0.0<")
	assert.Contains(t, svg, ">canary<")
	assert.NotContains(t, svg, "outside the chart")
	c.Baseline = c.Baseline[:10]
	assert.Error(t, c.WriteSVG(new(strings.Builder)), "a baseline of another length")
}
