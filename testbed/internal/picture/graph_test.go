package picture

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphMarksTheCause(t *testing.T) {
	g := Graph{
		Title: "shop",
		Services: []Service{
			{Name: "frontend", Score: 8}, {Name: "checkout", Score: 9},
			{Name: "payments", Score: 9.5, RootCause: 9.5, Cause: true}, {Name: "search", Score: 1},
		},
		Calls: []Call{
			{"user", "frontend", 8}, {"frontend", "checkout", 9}, {"checkout", "payments", 9.5}, {"frontend", "search", 1},
			{"payments", "checkout", 0}, // a cycle does not stop the layout
		},
	}
	var b strings.Builder
	require.NoError(t, g.WriteSVG(&b))
	svg := b.String()
	require.NoError(t, xml.Unmarshal([]byte(svg), new(struct{ XMLName xml.Name })))
	assert.Equal(t, 5, strings.Count(svg, "<circle"), "four services and the outside world")
	assert.Equal(t, 5, strings.Count(svg, "<line"))
	assert.Contains(t, svg, ">likely cause<")
	assert.Contains(t, svg, ">payments 9.5<")
	assert.Equal(t, 1, strings.Count(svg, "likely cause"))
	assert.Contains(t, svg, `stroke="#c00000" stroke-width="4"`)
	assert.Error(t, Graph{}.WriteSVG(new(strings.Builder)))

	// A bad canary: the cause's version is named.
	g.Services[2].Version = "2.0.0"
	b.Reset()
	require.NoError(t, g.WriteSVG(&b))
	assert.Contains(t, b.String(), ">payments version 2.0.0 9.5<")
}
