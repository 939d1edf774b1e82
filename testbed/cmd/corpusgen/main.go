// Command corpusgen writes the seeded operational corpus of testbed/corpusgen in NAB's layout,
// for the backtest:
//
//	go run ./testbed/cmd/corpusgen --seed 1 --out /tmp/ops
//	go run ./testbed/cmd/backtest --corpus /tmp/ops --out /tmp/ops-results
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/omen-otel/omen/testbed/corpusgen"
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the corpus; the same seed writes the same files")
	out := flag.String("out", "", "folder to write data/<category>/<file>.csv and labels/combined_windows.json into")
	flag.Parse()
	if *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	c := corpusgen.Generate(*seed)
	if err := c.Write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "corpusgen:", err)
		os.Exit(1)
	}
	rows, windows := 0, 0
	for _, s := range c.Series {
		rows += len(s.Values)
		windows += len(s.Windows)
	}
	fmt.Printf("%d files, %d rows, %d windows in %s\n", len(c.Series), rows, windows, *out)
}
