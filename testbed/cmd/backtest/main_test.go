package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPictures runs the small test corpus with --pictures: one well-formed SVG per file, with its
// series, score and windows.
func TestPictures(t *testing.T) {
	out, pics := t.TempDir(), t.TempDir()
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	// The test corpus is a few dozen rows a file: score after five.
	require.NoError(t, os.WriteFile(cfg, []byte("detector:\n  min_samples: 5\n"), 0o600))
	require.NoError(t, run([]string{"../../internal/nab/testdata/corpus"}, out, cfg, pics))
	for _, f := range []string{"catA/a.svg", "catA/b.svg", "catB/c.svg"} {
		data, err := os.ReadFile(filepath.Join(pics, f))
		require.NoError(t, err, f)
		svg := string(data)
		assert.True(t, strings.HasPrefix(svg, "<svg "), f)
		assert.Contains(t, svg, "<title>value</title>", f)
		assert.Contains(t, svg, "<title>score</title>", f)
	}
	data, err := os.ReadFile(filepath.Join(pics, "catA/a.svg"))
	require.NoError(t, err)
	assert.Contains(t, string(data), "<title>labelled window</title>", "a.csv has a labelled window")
}
