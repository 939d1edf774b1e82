package corpusgen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

const timeLayout = "2006-01-02 15:04:05"

// Write writes the corpus under dir in NAB's layout: data/<category>/<name> (timestamp,value)
// and labels/combined_windows.json (each window as its first and last row's timestamps, with
// NAB's ".000000" suffix).
func (c *Corpus) Write(dir string) error {
	labels := make(map[string][][2]string, len(c.Series))
	for _, s := range c.Series {
		name := s.Category + "/" + s.Name
		if err := s.writeCSV(filepath.Join(dir, "data", s.Category, s.Name)); err != nil {
			return err
		}
		ws := make([][2]string, 0, len(s.Windows))
		for _, w := range s.Windows {
			ws = append(ws, [2]string{
				s.Times[w[0]].Format(timeLayout) + ".000000",
				s.Times[w[1]].Format(timeLayout) + ".000000",
			})
		}
		labels[name] = ws
	}
	b, err := json.MarshalIndent(labels, "", "    ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "labels"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "labels", "combined_windows.json"), append(b, '\n'), 0o644)
}

func (s *Series) writeCSV(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	w.WriteString("timestamp,value\n")
	for i, t := range s.Times {
		w.WriteString(t.Format(timeLayout))
		w.WriteByte(',')
		w.WriteString(strconv.FormatFloat(s.Values[i], 'f', -1, 64))
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("corpusgen: %s: %w", path, err)
	}
	return f.Close()
}
