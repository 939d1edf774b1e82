package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/omen-otel/omen/internal/checkpoint/checkpointtest"
)

// state is a stand-in for a component's learned state: a map, encoded as JSON.
type state map[string]float64

// fake is a component with one state behind a lock.
type fake struct {
	mu      sync.Mutex
	s       state
	applied int
}

func (f *fake) codec(version uint32) Codec[state] {
	return Codec[state]{
		Version: version,
		Snapshot: func() state {
			f.mu.Lock()
			defer f.mu.Unlock()
			out := make(state, len(f.s))
			for k, v := range f.s {
				out[k] = v
			}
			return out
		},
		Encode: func(w io.Writer, s state) error { return json.NewEncoder(w).Encode(s) },
		Decode: func(r io.Reader) (state, error) {
			var s state
			err := json.NewDecoder(r).Decode(&s)
			return s, err
		},
		Apply: func(s state) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.s = s
			f.applied++
		},
	}
}

// recorder is a Hook that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	loaded   []Outcome
	loadedN  []int64
	writes   int
	failures int
	bytes    int64
}

func (r *recorder) Loaded(_ context.Context, o Outcome, n int64, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaded = append(r.loaded, o)
	r.loadedN = append(r.loadedN, n)
}

func (r *recorder) Written(_ context.Context, n int64, _, _ time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failures++
		return
	}
	r.writes++
	r.bytes += n
}

// host is a component.Host with the given extensions.
type host struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

var storageID = checkpointtest.StorageID

// fileStorage starts the real file_storage extension on dir; it is shut down when the test ends.
func fileStorage(t testing.TB, dir string) extension.Extension {
	t.Helper()
	return checkpointtest.FileStorage(t, dir).Storage
}

// manualTicker is a tick channel the test drives.
func manualTicker(ch chan time.Time) func(time.Duration) (<-chan time.Time, func()) {
	return func(time.Duration) (<-chan time.Time, func()) { return ch, func() {} }
}

type run struct {
	cp      *Checkpointer[state]
	f       *fake
	hook    *recorder
	ticks   chan time.Time
	written chan error
}

func start(t *testing.T, ext component.Component, version uint32, initial state, tune func(*Settings)) *run {
	t.Helper()
	id := storageID
	r := &run{f: &fake{s: initial}, hook: &recorder{}, ticks: make(chan time.Time), written: make(chan error, 16)}
	set := Settings{
		Kind: component.KindProcessor, ID: component.MustNewID("anomaly"), Name: "models",
		Hook: r.hook, NewTicker: manualTicker(r.ticks), Written: func(err error) { r.written <- err },
		MinGap: time.Millisecond,
	}
	if tune != nil {
		tune(&set)
	}
	r.cp = New(Config{Storage: &id, Interval: time.Minute}, set, r.f.codec(version))
	if err := r.cp.Start(context.Background(), host{exts: map[component.ID]component.Component{storageID: ext}}); err != nil {
		t.Fatal(err)
	}
	return r
}

// tick makes the checkpoint goroutine write once and returns the write's error.
func (r *run) tick(t *testing.T) error {
	t.Helper()
	r.ticks <- time.Now()
	select {
	case err := <-r.written:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint written within 10s of a tick")
		return nil
	}
}

func (r *run) stop(t *testing.T) {
	t.Helper()
	if err := r.cp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func bigState(n int) state {
	s := make(state, n)
	for i := range n {
		s[fmt.Sprintf("series-%06d", i)] = float64(i) * 1.5
	}
	return s
}

func equalState(a, b state) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestRestoreEqualsWhatWasWritten(t *testing.T) {
	dir := t.TempDir()
	want := bigState(2000)
	// Small chunks and batches so that the state spans many chunks and several batches.
	small := func(s *Settings) { s.ChunkSize = 1000; s.BatchChunks = 4 }
	r := start(t, fileStorage(t, dir), 1, want, small)
	if got := r.hook.loaded; len(got) != 1 || got[0] != Empty {
		t.Fatalf("first start: loaded %v, want [empty]", got)
	}
	r.stop(t) // the last checkpoint is written at shutdown
	if r.hook.writes != 1 || r.hook.bytes < 2000*10 {
		t.Fatalf("shutdown wrote %d checkpoints, %d bytes", r.hook.writes, r.hook.bytes)
	}

	r2 := start(t, fileStorage(t, dir), 1, nil, small)
	defer r2.stop(t)
	if got := r2.hook.loaded; len(got) != 1 || got[0] != Restored || r2.hook.loadedN[0] != r.hook.bytes {
		t.Fatalf("restart: loaded %v %v, want [restored] with %d bytes", got, r2.hook.loadedN, r.hook.bytes)
	}
	if r2.f.applied != 1 || !equalState(r2.f.s, want) {
		t.Fatalf("restored %d entries (applied %d times), want the %d written", len(r2.f.s), r2.f.applied, len(want))
	}
}

func TestPeriodicAndTriggeredWrites(t *testing.T) {
	dir := t.TempDir()
	ext := fileStorage(t, dir)
	r := start(t, ext, 1, state{"a": 1}, nil)
	if err := r.tick(t); err != nil {
		t.Fatal(err)
	}
	r.f.mu.Lock()
	r.f.s = state{"a": 2, "b": 3}
	r.f.mu.Unlock()
	r.cp.Trigger()
	select {
	case err := <-r.written:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint within 10s of Trigger")
	}
	if r.hook.writes != 2 {
		t.Fatalf("writes = %d, want 2", r.hook.writes)
	}
	// A process killed now has the triggered checkpoint: read it without Shutdown's write.
	r.cp.cancel()
	<-r.cp.done
	if err := r.cp.client.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := readBack(t, ext, 1)
	if !equalState(got, state{"a": 2, "b": 3}) {
		t.Fatalf("stored %v, want the triggered state", got)
	}
}

// readBack restores what ext holds into a fresh component (another client of the same file).
func readBack(t *testing.T, ext component.Component, version uint32) state {
	t.Helper()
	f := &fake{}
	id := storageID
	cp := New(Config{Storage: &id, Interval: time.Minute}, Settings{Kind: component.KindProcessor, ID: component.MustNewID("anomaly"), Name: "models"}, f.codec(version))
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.MustNewID("anomaly"), "models")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	cp.client = client
	if o, _, err := cp.restore(context.Background()); o != Restored {
		t.Fatalf("read back: %s (%v)", o, err)
	}
	return f.s
}

func TestShrinkingStateDeletesOldChunks(t *testing.T) {
	dir := t.TempDir()
	ext := fileStorage(t, dir)
	small := func(s *Settings) { s.ChunkSize = 100; s.BatchChunks = 3 }
	r := start(t, ext, 1, bigState(200), small)
	for range 2 { // both slots hold a large state
		if err := r.tick(t); err != nil {
			t.Fatal(err)
		}
	}
	large := r.cp.slotChunks
	r.f.mu.Lock()
	r.f.s = state{"x": 1}
	r.f.mu.Unlock()
	for range 2 {
		if err := r.tick(t); err != nil {
			t.Fatal(err)
		}
	}
	r.stop(t)
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.MustNewID("anomaly"), "models")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close(context.Background())
	for slot := range 2 {
		if large[slot] < 10 {
			t.Fatalf("slot %d held %d chunks; the test needs many", slot, large[slot])
		}
		for i := 1; i < large[slot]; i++ {
			if b, err := client.Get(context.Background(), fmt.Sprintf("models/%d/%d", slot, i)); err != nil || b != nil {
				t.Fatalf("chunk %d of slot %d is still stored (%d bytes, %v)", i, slot, len(b), err)
			}
		}
	}
}

// corrupt writes a checkpoint, lets damage alter the store through a raw client, and restarts.
func corrupt(t *testing.T, version uint32, damage func(c storage.Client)) *run {
	t.Helper()
	dir := t.TempDir()
	ext := fileStorage(t, dir)
	small := func(s *Settings) { s.ChunkSize = 100 }
	r := start(t, ext, 1, bigState(50), small)
	r.stop(t)
	client, err := ext.(storage.Extension).GetClient(context.Background(), component.KindProcessor, component.MustNewID("anomaly"), "models")
	if err != nil {
		t.Fatal(err)
	}
	damage(client)
	if err := client.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return start(t, ext, version, state{"cold": 1}, small)
}

func TestColdStarts(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		version uint32
		damage  func(t *testing.T, c storage.Client)
		want    Outcome
	}{
		{"other version", 2, func(*testing.T, storage.Client) {}, OtherVersion},
		{"flipped byte in a chunk", 1, func(t *testing.T, c storage.Client) {
			b, err := c.Get(ctx, "models/0/3")
			if err != nil || b == nil {
				t.Fatalf("chunk 3: %v %v", b, err)
			}
			b[10] ^= 0x40
			if err := c.Set(ctx, "models/0/3", b); err != nil {
				t.Fatal(err)
			}
		}, Corrupt},
		{"missing chunk", 1, func(t *testing.T, c storage.Client) {
			if err := c.Delete(ctx, "models/0/2"); err != nil {
				t.Fatal(err)
			}
		}, Corrupt},
		{"garbage manifest", 1, func(t *testing.T, c storage.Client) {
			if err := c.Set(ctx, "models/manifest", []byte("{not json")); err != nil {
				t.Fatal(err)
			}
		}, Corrupt},
		{"another format's manifest", 1, func(t *testing.T, c storage.Client) {
			if err := c.Set(ctx, "models/manifest", []byte(`{"format":"x"}`)); err != nil {
				t.Fatal(err)
			}
		}, Corrupt},
		{"valid checksums, undecodable state", 1, func(t *testing.T, c storage.Client) {
			// A consistent envelope around bytes the codec refuses: the decoder's error is a
			// cold start too, and nothing is applied.
			w := &chunkWriter{ctx: ctx, c: c, prefix: "models/0/", size: 100, batch: 16}
			if _, err := w.Write([]byte(`{"a": 1, "b": tru`)); err != nil {
				t.Fatal(err)
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			mb, _ := json.Marshal(manifest{Format: envelopeFormat, Envelope: envelopeVersion, Version: 1, Slot: 0, Bytes: w.total, CRCs: w.crcs})
			if err := c.Set(ctx, "models/manifest", mb); err != nil {
				t.Fatal(err)
			}
		}, Corrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := corrupt(t, tc.version, func(c storage.Client) { tc.damage(t, c) })
			defer r.stop(t)
			if len(r.hook.loaded) != 1 || r.hook.loaded[0] != tc.want {
				t.Fatalf("loaded %v, want [%s]", r.hook.loaded, tc.want)
			}
			if r.f.applied != 0 || !equalState(r.f.s, state{"cold": 1}) {
				t.Fatalf("a cold start changed the state: applied %d times, %d entries", r.f.applied, len(r.f.s))
			}
			// The component goes on checkpointing, over the bad checkpoint.
			if err := r.tick(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnreadableStoreIsAColdStart(t *testing.T) {
	dir := t.TempDir()
	r := start(t, fileStorage(t, dir), 1, bigState(10), nil)
	r.stop(t)
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("files in the storage directory: %v %v", files, err)
	}
	// The database file is replaced by bytes bbolt cannot open.
	if err := os.WriteFile(files[0], []byte(strings.Repeat("not a bbolt file ", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	r2 := start(t, fileStorage(t, dir), 1, state{"cold": 1}, nil)
	if len(r2.hook.loaded) != 1 || r2.hook.loaded[0] != Unreadable || r2.f.applied != 0 {
		t.Fatalf("loaded %v, applied %d; want [unreadable], nothing applied", r2.hook.loaded, r2.f.applied)
	}
	// Without a client, ticks write nothing and Shutdown succeeds.
	r2.ticks <- time.Now()
	r2.stop(t)
	if r2.hook.writes+r2.hook.failures != 0 {
		t.Fatalf("writes without a store: %d ok, %d failed", r2.hook.writes, r2.hook.failures)
	}
}

// faulty wraps the file storage's clients to fail reads or writes on demand.
type faulty struct {
	extension.Extension
	failGet, failBatch *bool
}

func (f faulty) GetClient(ctx context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	c, err := f.Extension.(storage.Extension).GetClient(ctx, kind, id, name)
	return faultyClient{Client: c, f: f}, err
}

type faultyClient struct {
	storage.Client
	f faulty
}

func (c faultyClient) Get(ctx context.Context, key string) ([]byte, error) {
	if *c.f.failGet && key != "models/manifest" {
		return nil, errors.New("input/output error")
	}
	return c.Client.Get(ctx, key)
}

func (c faultyClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	if *c.f.failBatch {
		return storage.ErrStorageFull
	}
	return c.Client.Batch(ctx, ops...)
}

func TestFailedReadIsUnreadable(t *testing.T) {
	var failGet, failBatch bool
	ext := faulty{Extension: fileStorage(t, t.TempDir()), failGet: &failGet, failBatch: &failBatch}
	r := start(t, ext, 1, bigState(10), nil)
	r.stop(t)
	failGet = true
	r2 := start(t, ext, 1, state{"cold": 1}, nil)
	defer r2.stop(t)
	if len(r2.hook.loaded) != 1 || r2.hook.loaded[0] != Unreadable || r2.f.applied != 0 {
		t.Fatalf("loaded %v, applied %d; want [unreadable], nothing applied", r2.hook.loaded, r2.f.applied)
	}
}

// A full disk fails the write, which is counted; the previous checkpoint stays whole.
func TestFailedWriteKeepsThePreviousCheckpoint(t *testing.T) {
	var failGet, failBatch bool
	ext := faulty{Extension: fileStorage(t, t.TempDir()), failGet: &failGet, failBatch: &failBatch}
	first := bigState(30)
	small := func(s *Settings) { s.ChunkSize = 64 }
	r := start(t, ext, 1, first, small)
	if err := r.tick(t); err != nil {
		t.Fatal(err)
	}
	failBatch = true
	r.f.mu.Lock()
	r.f.s = bigState(60)
	r.f.mu.Unlock()
	if err := r.tick(t); !errors.Is(err, storage.ErrStorageFull) {
		t.Fatalf("write on a full disk: %v, want ErrStorageFull", err)
	}
	if err := r.cp.Shutdown(context.Background()); !errors.Is(err, storage.ErrStorageFull) {
		t.Fatalf("shutdown on a full disk: %v, want ErrStorageFull", err)
	}
	if r.hook.writes != 1 || r.hook.failures != 2 {
		t.Fatalf("writes %d, failures %d; want 1 and 2", r.hook.writes, r.hook.failures)
	}
	failBatch = false
	r2 := start(t, ext, 1, nil, small)
	defer r2.stop(t)
	if r2.hook.loaded[0] != Restored || !equalState(r2.f.s, first) {
		t.Fatalf("after a full disk: %v with %d entries, want the first checkpoint's %d", r2.hook.loaded, len(r2.f.s), len(first))
	}
}

func TestStartErrors(t *testing.T) {
	id := storageID
	cp := New(Config{Storage: &id, Interval: time.Minute}, Settings{Name: "x"}, (&fake{}).codec(1))
	err := cp.Start(context.Background(), host{exts: map[component.ID]component.Component{}})
	if err == nil || !strings.Contains(err.Error(), `no extension "file_storage/test"`) {
		t.Fatalf("missing extension: %v", err)
	}
	notStorage := extensiontest.NewNopFactory()
	ext, _ := notStorage.Create(context.Background(), extensiontest.NewNopSettings(notStorage.Type()), notStorage.CreateDefaultConfig())
	err = cp.Start(context.Background(), host{exts: map[component.ID]component.Component{storageID: ext}})
	if err == nil || !strings.Contains(err.Error(), "is not a storage extension") {
		t.Fatalf("not a storage extension: %v", err)
	}
	// Without storage, nothing happens and nothing is needed.
	off := New(Config{Interval: time.Minute}, Settings{}, (&fake{}).codec(1))
	if err := off.Start(context.Background(), host{}); err != nil || off.Enabled() {
		t.Fatal(err)
	}
	if err := off.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{Interval: -time.Second}).Validate(); err == nil || err.Error() != "checkpoint_interval must be > 0 (got -1s)" {
		t.Fatalf("Validate = %v", err)
	}
	if err := (Config{Interval: time.Second}).Validate(); err != nil {
		t.Fatal(err)
	}
}
