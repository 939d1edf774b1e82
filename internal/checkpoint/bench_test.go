package checkpoint

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// series is a stand-in for one series' model: a 128-bit identity and a flat struct of floats
// (24 float64, 208 bytes encoded). The anomaly processor's real models differ; these
// benchmarks measure the package's cost per byte and per series of this size.
type series struct {
	id    [2]uint64
	state [24]float64
}

type seriesState struct {
	mu sync.Mutex
	s  []series
}

func newSeriesState(n int) *seriesState {
	st := &seriesState{s: make([]series, n)}
	for i := range st.s {
		st.s[i].id = [2]uint64{uint64(i), uint64(i) * 31}
		for j := range st.s[i].state {
			st.s[i].state[j] = float64(i*j) / 7
		}
	}
	return st
}

func (st *seriesState) codec() Codec[[]series] {
	return Codec[[]series]{
		Version: 1,
		Snapshot: func() []series {
			st.mu.Lock()
			defer st.mu.Unlock()
			return append([]series(nil), st.s...)
		},
		Encode: func(w io.Writer, s []series) error {
			var buf [8 * 26]byte
			if err := binary.Write(w, binary.LittleEndian, uint64(len(s))); err != nil {
				return err
			}
			for i := range s {
				binary.LittleEndian.PutUint64(buf[0:], s[i].id[0])
				binary.LittleEndian.PutUint64(buf[8:], s[i].id[1])
				for j, v := range s[i].state {
					binary.LittleEndian.PutUint64(buf[16+8*j:], math.Float64bits(v))
				}
				if _, err := w.Write(buf[:]); err != nil {
					return err
				}
			}
			return nil
		},
		Decode: func(r io.Reader) ([]series, error) {
			var n uint64
			if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
				return nil, err
			}
			out := make([]series, n)
			var buf [8 * 26]byte
			br := bufio.NewReader(r)
			for i := range out {
				if _, err := io.ReadFull(br, buf[:]); err != nil {
					return nil, err
				}
				out[i].id = [2]uint64{binary.LittleEndian.Uint64(buf[0:]), binary.LittleEndian.Uint64(buf[8:])}
				for j := range out[i].state {
					out[i].state[j] = math.Float64frombits(binary.LittleEndian.Uint64(buf[16+8*j:]))
				}
			}
			return out, nil
		},
		Apply: func(s []series) {
			st.mu.Lock()
			defer st.mu.Unlock()
			st.s = s
		},
	}
}

// benchHook sums what a write reports.
type benchHook struct {
	snapshot, write time.Duration
	bytes           int64
	err             error
}

func (h *benchHook) Loaded(context.Context, Outcome, int64, time.Duration) {}
func (h *benchHook) Written(_ context.Context, n int64, snapshot, write time.Duration, err error) {
	h.snapshot += snapshot
	h.write += write
	h.bytes = n
	if err != nil {
		h.err = err
	}
}

const benchSeries = 100_000

// BenchmarkWrite100kSeries writes a checkpoint of 100,000 series to the real file storage (one
// op = one checkpoint) and reports how long the snapshot held the state's lock (snapshot-ms,
// the part on the hot path), the write (encode + store, write-ms) and the bytes per series.
func BenchmarkWrite100kSeries(b *testing.B) {
	b.ReportAllocs()
	st := newSeriesState(benchSeries)
	h := &benchHook{}
	dir := b.TempDir()
	cp := startBench(b, dir, st, h)
	b.ResetTimer()
	for range b.N {
		if err := cp.write(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(h.snapshot.Microseconds())/1000/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(h.write.Microseconds())/1000/float64(b.N), "write-ms")
	b.ReportMetric(float64(h.bytes)/benchSeries, "bytes/series")
	if err := cp.client.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	// What the store holds on disk: the bbolt file, with both slots once two checkpoints were
	// written, and bbolt's free pages.
	var disk int64
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			disk += fi.Size()
		}
	}
	b.ReportMetric(float64(disk)/benchSeries, "disk-bytes/series")
}

// BenchmarkRestore100kSeries reads, verifies, decodes and applies a checkpoint of 100,000 series
// from the real file storage (one op = one restore).
func BenchmarkRestore100kSeries(b *testing.B) {
	b.ReportAllocs()
	dir := b.TempDir()
	st := newSeriesState(benchSeries)
	cp := startBench(b, dir, st, &benchHook{})
	if err := cp.write(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		fresh := &seriesState{}
		r := New(cp.cfg, cp.set, fresh.codec())
		r.client = cp.client
		if o, _, err := r.restore(context.Background()); o != Restored {
			b.Fatalf("%s: %v", o, err)
		}
		if len(fresh.s) != benchSeries {
			b.Fatalf("restored %d series", len(fresh.s))
		}
	}
	b.StopTimer()
	if err := cp.client.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSnapshotParallel: checkpoints written while other goroutines take the state's lock,
// as ConsumeMetrics would.
func BenchmarkSnapshotParallel(b *testing.B) {
	b.ReportAllocs()
	st := newSeriesState(benchSeries)
	codec := st.codec()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(codec.Snapshot()) != benchSeries {
				b.Fatal("short snapshot")
			}
		}
	})
}

func startBench(b *testing.B, dir string, st *seriesState, h Hook) *Checkpointer[[]series] {
	b.Helper()
	ext := fileStorage(b, dir)
	id := storageID
	cp := New(Config{Storage: &id, Interval: time.Hour}, Settings{
		Kind: component.KindProcessor, ID: component.MustNewID("anomaly"), Name: "models", Hook: h,
	}, st.codec())
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.MustNewID("anomaly"), "models")
	if err != nil {
		b.Fatal(err)
	}
	cp.client = client
	return cp
}
