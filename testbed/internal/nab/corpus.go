// Package nab reads a corpus in the Numenta Anomaly Benchmark (NAB v1.1)
// layout and scores detector output exactly as NAB's --optimize run does:
// per-row scaled-sigmoid weights, one global threshold per profile found by
// an exhaustive sweep over all rows of the corpus, and normalisation to 0..100.
//
// It is stdlib-only so the testbed can score detectors without Python.
package nab

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// timeLayout is NAB's data timestamp format. Labels carry a ".ffffff" suffix
// that is always zero, so only the first 19 characters are compared.
const timeLayout = "2006-01-02 15:04:05"

// Window is an anomaly window as inclusive row indices into its file.
type Window struct {
	Start, End int
}

// Width is the number of rows in the window.
func (w Window) Width() int { return w.End - w.Start + 1 }

// File is one data file of the corpus.
type File struct {
	// Name is the corpus-relative path, e.g. "realKnownCause/nyc_taxi.csv".
	// It is the key in combined_windows.json and in the scores map of Sweep.
	Name       string
	Timestamps []time.Time
	Values     []float64
	// stamps keeps the raw 19-character timestamps so result CSVs
	// reproduce the input exactly.
	stamps  []string
	Windows []Window
}

// Corpus is a set of files with their labelled windows.
type Corpus struct {
	Files []*File // sorted by Name
}

// File returns the file with the given name, or nil.
func (c *Corpus) File(name string) *File {
	i := sort.Search(len(c.Files), func(i int) bool { return c.Files[i].Name >= name })
	if i < len(c.Files) && c.Files[i].Name == name {
		return c.Files[i]
	}
	return nil
}

// Rows is the total number of data rows in the corpus.
func (c *Corpus) Rows() int {
	n := 0
	for _, f := range c.Files {
		n += len(f.Values)
	}
	return n
}

// LoadCorpus reads dir/data/<category>/<file>.csv and
// dir/labels/combined_windows.json. Every labelled file must exist and every
// window boundary must match a row timestamp.
func LoadCorpus(dir string) (*Corpus, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "data", "*", "*.csv"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("nab: no data/<category>/*.csv under %s", dir)
	}
	labels, err := readWindows(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, err
	}
	c := &Corpus{}
	for _, p := range paths {
		name := filepath.ToSlash(filepath.Join(filepath.Base(filepath.Dir(p)), filepath.Base(p)))
		f, err := readFile(p)
		if err != nil {
			return nil, err
		}
		f.Name = name
		if f.Windows, err = f.resolve(labels[name]); err != nil {
			return nil, err
		}
		delete(labels, name)
		c.Files = append(c.Files, f)
	}
	for name := range labels {
		return nil, fmt.Errorf("nab: labels name %q but there is no data/%s", name, name)
	}
	sort.Slice(c.Files, func(i, j int) bool { return c.Files[i].Name < c.Files[j].Name })
	return c, nil
}

func readWindows(path string) (map[string][][2]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string][][2]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("nab: %s: %w", path, err)
	}
	return m, nil
}

func readFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	f, err := ReadDataCSV(fh)
	if err != nil {
		return nil, fmt.Errorf("nab: %s: %w", path, err)
	}
	return f, nil
}

// ReadDataCSV parses a NAB data file (header "timestamp,value"). Timestamps
// are taken as UTC.
func ReadDataCSV(r io.Reader) (*File, error) {
	cr := csv.NewReader(bufio.NewReader(r))
	cr.FieldsPerRecord = 2
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	if head[0] != "timestamp" || head[1] != "value" {
		return nil, fmt.Errorf("header is %q, want timestamp,value", strings.Join(head, ","))
	}
	f := &File{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		stamp := rec[0]
		if len(stamp) > 19 {
			stamp = stamp[:19]
		}
		ts, err := time.Parse(timeLayout, stamp)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", len(f.Values)+1, err)
		}
		v, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", len(f.Values)+1, err)
		}
		f.stamps = append(f.stamps, stamp)
		f.Timestamps = append(f.Timestamps, ts)
		f.Values = append(f.Values, v)
	}
	return f, nil
}

// resolve maps label timestamps to row indices.
func (f *File) resolve(labels [][2]string) ([]Window, error) {
	idx := make(map[string]int, len(f.stamps))
	for i, s := range f.stamps {
		if _, dup := idx[s]; !dup {
			idx[s] = i
		}
	}
	var ws []Window
	for _, l := range labels {
		var w Window
		for k, dst := range []*int{&w.Start, &w.End} {
			s := l[k]
			if len(s) > 19 {
				s = s[:19]
			}
			i, ok := idx[s]
			if !ok {
				return nil, fmt.Errorf("nab: %s: window bound %q matches no row", f.Name, l[k])
			}
			*dst = i
		}
		if w.End < w.Start || (len(ws) > 0 && w.Start <= ws[len(ws)-1].End) {
			return nil, fmt.Errorf("nab: %s: window %v is empty, unsorted or overlapping", f.Name, l)
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// WriteResultCSV writes a NAB result file (timestamp,value,anomaly_score,label)
// for f. scores are NAB anomaly scores in 0..1; label is 1 inside a window.
func WriteResultCSV(w io.Writer, f *File, scores []float64) error {
	if len(scores) != len(f.Values) {
		return fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(scores), len(f.Values))
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("timestamp,value,anomaly_score,label\n")
	wi := 0
	for i := range f.Values {
		for wi < len(f.Windows) && f.Windows[wi].End < i {
			wi++
		}
		label := '0'
		if wi < len(f.Windows) && f.Windows[wi].Start <= i {
			label = '1'
		}
		stamp := f.Timestamps[i].UTC().Format(timeLayout)
		if i < len(f.stamps) {
			stamp = f.stamps[i]
		}
		bw.WriteString(stamp)
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatFloat(f.Values[i], 'g', -1, 64))
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatFloat(scores[i], 'g', -1, 64))
		bw.WriteByte(',')
		bw.WriteRune(label)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
