package picture

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Graph is a service graph at one moment: services with their scores, the calls between them
// with theirs, and the likely cause marked.
type Graph struct {
	Title    string
	Services []Service
	Calls    []Call
}

// Service is one node.
type Service struct {
	Name string
	// Score is the service's unified score, 0 to 10; RootCause its root-cause score.
	Score, RootCause float64
	// Cause marks the likely cause of an incident; Version is the cause's version when the
	// incident names one (a bad canary's).
	Cause   bool
	Version string
}

// Call is one client→server edge with its unified score. A client that is no service of the
// graph (the connector's "user") is drawn as the outside world.
type Call struct {
	Client, Server string
	Score          float64
}

// WriteSVG draws the graph in layers: the outside world on the left, then each service one
// layer right of its deepest caller, so calls flow left to right.
func (g Graph) WriteSVG(w io.Writer) error {
	if len(g.Services) == 0 {
		return fmt.Errorf("graph %q: no services", g.Title)
	}
	known := map[string]*Service{}
	for i := range g.Services {
		known[g.Services[i].Name] = &g.Services[i]
	}
	callers := map[string][]string{}
	nodes := map[string]bool{}
	for _, c := range g.Calls {
		callers[c.Server] = append(callers[c.Server], c.Client)
		nodes[c.Client], nodes[c.Server] = true, true
	}
	for name := range known {
		nodes[name] = true
	}
	// The layer of a node is one more than its callers' highest; cycles are cut at the first
	// node met again.
	layer := map[string]int{}
	var depth func(string, map[string]bool) int
	depth = func(n string, path map[string]bool) int {
		if d, ok := layer[n]; ok {
			return d
		}
		if path[n] {
			return 0
		}
		path[n] = true
		d := 0
		for _, c := range callers[n] {
			d = max(d, depth(c, path)+1)
		}
		delete(path, n)
		layer[n] = d
		return d
	}
	byLayer := map[int][]string{}
	maxLayer := 0
	for n := range nodes {
		d := depth(n, map[string]bool{})
		byLayer[d] = append(byLayer[d], n)
		maxLayer = max(maxLayer, d)
	}
	maxRows := 1
	for _, ns := range byLayer {
		slices.Sort(ns)
		maxRows = max(maxRows, len(ns))
	}
	const colW, rowH, margin, r = 200.0, 70.0, 110.0, 18.0
	width := 2*margin + colW*float64(maxLayer)
	height := 2*margin + rowH*float64(maxRows-1) + 40
	pos := map[string][2]float64{}
	for d := 0; d <= maxLayer; d++ {
		ns := byLayer[d]
		offset := (float64(maxRows) - float64(len(ns))) * rowH / 2
		for i, n := range ns {
			pos[n] = [2]float64{margin + colW*float64(d), margin + 30 + offset + rowH*float64(i)}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" %s font-size="12">`+"\n", width, height, width, height, fontFamily)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="20" y="24" font-size="16">%s</text>`+"\n", escape(g.Title))
	calls := slices.Clone(g.Calls)
	slices.SortFunc(calls, func(a, b Call) int { return cmp.Compare(a.Score, b.Score) }) // the loudest on top
	for _, c := range calls {
		p, q := pos[c.Client], pos[c.Server]
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"><title>%s → %s: %.1f</title></line>`+"\n",
			p[0]+r, p[1], q[0]-r, q[1], heat(c.Score), 1+c.Score/3, escape(c.Client), escape(c.Server), c.Score)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range nodes {
			if !yield(n) {
				return
			}
		}
	})
	for _, n := range names {
		p := pos[n]
		s := known[n]
		fill, stroke, width, label := "#f2f2f2", "#7f7f7f", 1.0, n
		if s != nil {
			fill = heat(s.Score)
			label = fmt.Sprintf("%s %.1f", n, s.Score)
			if s.Cause {
				stroke, width = "#c00000", 4
				if s.Version != "" {
					label = fmt.Sprintf("%s version %s %.1f", n, s.Version, s.Score)
				}
			}
		}
		tip := n
		if s != nil {
			tip = fmt.Sprintf("%s: score %.1f, root cause %.1f", n, s.Score, s.RootCause)
		}
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.0f" fill="%s" stroke="%s" stroke-width="%.0f"><title>%s</title></circle>`+"\n",
			p[0], p[1], r, fill, stroke, width, escape(tip))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", p[0], p[1]+r+14, escape(label))
		if s != nil && s.Cause {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#c00000" font-weight="bold">likely cause</text>`+"\n", p[0], p[1]-r-8)
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// heat colours a score: grey-green when calm, amber from 3, red from 7.
func heat(score float64) string {
	switch {
	case math.IsNaN(score):
		return "#f2f2f2"
	case score >= 7:
		return "#e06666"
	case score >= 3:
		return "#f6b26b"
	}
	return "#b6d7a8"
}
