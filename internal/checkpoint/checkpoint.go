// Package checkpoint persists a component's learned state through a storage extension
// (`storage: file_storage/...`), so that it survives a restart of the collector.
//
// # Wiring a component
//
// The component's config embeds Config, which adds two keys, `storage` and
// `checkpoint_interval`:
//
//	type Config struct {
//		Checkpoint checkpoint.Config `mapstructure:",squash"`
//		...
//	}
//
// (a named field, so that Config.Validate, which the collector calls on every field, is not
// promoted into the component's own Validate)
//
// createDefaultConfig sets the interval (Checkpoint: checkpoint.Config{Interval: time.Minute}); `storage`
// stays nil (no checkpoints) unless the user names an extension.
//
// The component builds one Checkpointer per state it owns, with a Codec that says how the
// state is copied, encoded, decoded and installed:
//
//	cp := checkpoint.New(cfg.Checkpoint, checkpoint.Settings{
//		Logger: set.Logger, Kind: component.KindProcessor, ID: set.ID, Name: "models",
//		Hook:   telemetryHook, // counts restores, cold starts by reason, writes and bytes
//	}, checkpoint.Codec[snapshot]{
//		Version:  3,                    // bump when the encoding changes
//		Snapshot: p.snapshot,           // under the component's lock: copy only
//		Encode:   encodeSnapshot,       // off the lock, in the checkpoint goroutine
//		Decode:   decodeSnapshot,       // into a fresh value; an error applies nothing
//		Apply:    p.install,            // swaps the decoded state in; called in Start only
//	})
//
// In Start, `cp.Start(ctx, host)` looks the extension up in host.GetExtensions(), opens a
// client (kind, id, name), reads the checkpoint and either calls Apply with the fully decoded
// state or leaves the component cold; then it starts the goroutine that writes a checkpoint
// every `checkpoint_interval` (and soon after `cp.Trigger()`, for state that changes rarely and
// matters at once, like a firing alert; at most one write per Settings.MinGap). In Shutdown, `cp.Shutdown(ctx)` stops that goroutine,
// writes a last checkpoint and closes the client.
//
// Start fails only when the config is wrong: the named extension is missing or is not a storage
// extension. Everything else that can go wrong with the stored bytes is a cold start, logged and
// reported to the Hook with its Outcome: no checkpoint yet (Empty), a checkpoint written by
// another Codec.Version (OtherVersion), bytes that fail their checksums or do not decode
// (Corrupt), a store that cannot be opened or read (Unreadable). A cold start never applies part
// of a state: Apply is called once, with a state that decoded completely, or not at all.
//
// # What is stored
//
// A checkpoint is a manifest (the versioned envelope, JSON, key "<name>/manifest" within the
// component's client) and the encoded state cut into chunks of Settings.ChunkSize bytes (keys
// "<name>/<slot>/<i>"), each with a CRC-32C in the manifest. Chunks are written in batches of
// Settings.BatchChunks through the client's Batch, so a state of hundreds of megabytes never
// needs one huge value or one huge transaction. Two slots alternate: a checkpoint is written into
// the slot the manifest does not point at, and the manifest is written last, so a process killed
// in the middle of a write, or a full disk, leaves the previous checkpoint whole.
//
// Encoding streams: Encode writes to an io.Writer that fills and flushes chunks as it goes, and
// Decode reads from an io.Reader that fetches and verifies one chunk at a time.
package checkpoint

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// Config is embedded (`mapstructure:",squash"`) in the config of a component that checkpoints.
type Config struct {
	// Storage names the storage extension (file_storage/...) the state is checkpointed to; nil
	// keeps the state in memory only, as before.
	Storage *component.ID `mapstructure:"storage"`
	// Interval is how often the state is checkpointed while the component runs (it is also
	// checkpointed at shutdown).
	Interval time.Duration `mapstructure:"checkpoint_interval"`
}

// Validate names the key and the bad value.
func (c Config) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("checkpoint_interval must be > 0 (got %s)", c.Interval)
	}
	return nil
}

// Outcome is how a component's state began in Start.
type Outcome string

const (
	// Restored: the checkpoint was read, decoded and applied.
	Restored Outcome = "restored"
	// Empty: there was no checkpoint (the first start with this storage).
	Empty Outcome = "empty"
	// OtherVersion: the checkpoint was written with another Codec.Version or envelope format.
	OtherVersion Outcome = "other_version"
	// Corrupt: the manifest, a chunk's checksum or the decoding failed.
	Corrupt Outcome = "corrupt"
	// Unreadable: the storage client could not be opened, or a read failed.
	Unreadable Outcome = "unreadable"
	// Disabled: no storage is configured.
	Disabled Outcome = "disabled"
)

// Hook receives what the component reports as its own telemetry. Methods are called from Start,
// the checkpoint goroutine and Shutdown, never concurrently with each other.
type Hook interface {
	// Loaded is called once per Start (not when storage is not configured): how the state began,
	// the bytes of state read, and how long reading, decoding and applying took.
	Loaded(ctx context.Context, o Outcome, bytes int64, took time.Duration)
	// Written is called after each checkpoint: the bytes of state written (0 when it failed),
	// how long Codec.Snapshot ran (the only part that holds the component's lock), how long
	// encoding and writing took, and the error when it failed.
	Written(ctx context.Context, bytes int64, snapshot, write time.Duration, err error)
}

// Codec says how the state S of a component is copied, encoded, decoded and installed.
type Codec[S any] struct {
	// Version is the version of the encoding. A checkpoint of another version is not decoded:
	// the component starts cold (OtherVersion). Bump it whenever Encode changes.
	Version uint32
	// Snapshot returns a copy of the state to write. It runs in the checkpoint goroutine and in
	// Shutdown; it should hold the component's lock only to copy what Encode needs.
	Snapshot func() S
	// Encode writes s. It runs without the component's lock.
	Encode func(w io.Writer, s S) error
	// Decode reads a state into a fresh value. When it fails nothing is applied.
	Decode func(r io.Reader) (S, error)
	// Apply installs a decoded state. It is called at most once, in Start, before the first
	// Snapshot.
	Apply func(S)
}

// Settings identify the state in the store and tune the writes.
type Settings struct {
	Logger *zap.Logger
	// Kind, ID and Name are passed to the extension's GetClient: one client per component and
	// name. Name tells apart several states of one component (and several signals).
	Kind component.Kind
	ID   component.ID
	Name string
	// Hook, when not nil, receives restores, cold starts, writes and bytes.
	Hook Hook
	// ChunkSize is the size of one stored value (default 1 MiB).
	ChunkSize int
	// BatchChunks is how many chunks go into one Batch call (default 16).
	BatchChunks int
	// NewTicker, for tests: returns the channel of checkpoint ticks and its stop function.
	// Default: a time.Ticker of Config.Interval.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// MinGap is the least time between two checkpoints of the goroutine (default 1 s), so that
	// frequent Triggers cost at most one write per MinGap.
	MinGap time.Duration
	// Written, for tests: called (in the checkpoint goroutine) after each periodic or triggered
	// checkpoint, with its error.
	Written func(err error)
}

// The envelope's format name and version. envelopeVersion changes only when the manifest or the
// chunk layout change; a component's own format is Codec.Version.
const (
	envelopeFormat  = "omen.checkpoint"
	envelopeVersion = 1
)

// manifest is the envelope: it says which slot holds the checkpoint and how to verify it.
type manifest struct {
	Format   string    `json:"format"`
	Envelope int       `json:"envelope"`
	Version  uint32    `json:"version"`
	Written  time.Time `json:"written"`
	Slot     int       `json:"slot"`
	Bytes    int64     `json:"bytes"`
	CRCs     []uint32  `json:"crc32c"`
	// OtherChunks is how many chunks the other slot held, so that the next write into it
	// deletes the ones it no longer needs.
	OtherChunks int `json:"other_chunks"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checkpointer writes and restores one state. Start, Trigger and Shutdown may be called from
// any goroutine; Start and Shutdown once each.
type Checkpointer[S any] struct {
	cfg   Config
	set   Settings
	codec Codec[S]

	client storage.Client
	// slotChunks is how many chunks each slot holds in the store (as far as known).
	slotChunks [2]int
	// current is the slot the stored manifest points at; -1 before any checkpoint.
	current int

	// writeMu serialises writes: the goroutine's and Shutdown's.
	writeMu sync.Mutex

	trigger chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Checkpointer; nothing is read or started before Start.
func New[S any](cfg Config, set Settings, codec Codec[S]) *Checkpointer[S] {
	if set.Logger == nil {
		set.Logger = zap.NewNop()
	}
	if set.ChunkSize <= 0 {
		set.ChunkSize = 1 << 20
	}
	if set.BatchChunks <= 0 {
		set.BatchChunks = 16
	}
	if set.MinGap <= 0 {
		set.MinGap = time.Second
	}
	if set.NewTicker == nil {
		set.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	return &Checkpointer[S]{cfg: cfg, set: set, codec: codec, current: -1, trigger: make(chan struct{}, 1)}
}

// Enabled reports whether a storage is configured.
func (c *Checkpointer[S]) Enabled() bool { return c.cfg.Storage != nil }

// Start opens the storage, restores the state (or starts cold) and starts the checkpoint
// goroutine. It returns an error only when the storage named in the config is not a storage
// extension of the collector. Without storage it does nothing.
func (c *Checkpointer[S]) Start(ctx context.Context, host component.Host) error {
	if c.cfg.Storage == nil {
		return nil
	}
	ext, ok := host.GetExtensions()[*c.cfg.Storage]
	if !ok {
		return fmt.Errorf("storage: no extension %q is configured", c.cfg.Storage.String())
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", c.cfg.Storage.String())
	}
	begin := time.Now()
	client, err := se.GetClient(ctx, c.set.Kind, c.set.ID, c.set.Name)
	if err != nil {
		// No checkpoints this run: the component works, from a cold start, and says so.
		c.set.Logger.Error("The checkpoint storage cannot be opened: starting cold, and no checkpoints will be written.",
			zap.String("storage", c.cfg.Storage.String()), zap.Error(err))
		c.loaded(ctx, Unreadable, 0, time.Since(begin))
	} else {
		c.client = client
		o, n, err := c.restore(ctx)
		took := time.Since(begin)
		switch o {
		case Restored:
			c.set.Logger.Info("State restored from its checkpoint.", zap.String("name", c.set.Name),
				zap.Int64("bytes", n), zap.Duration("took", took))
		case Empty:
			c.set.Logger.Info("No checkpoint yet: starting cold.", zap.String("name", c.set.Name))
		default:
			c.set.Logger.Warn("The checkpoint cannot be restored: starting cold.", zap.String("name", c.set.Name),
				zap.String("reason", string(o)), zap.Error(err))
		}
		c.loaded(ctx, o, n, took)
	}
	ticks, stop := c.set.NewTicker(c.cfg.Interval)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	go c.run(ctx, ticks, stop)
	return nil
}

func (c *Checkpointer[S]) loaded(ctx context.Context, o Outcome, n int64, took time.Duration) {
	if c.set.Hook != nil {
		c.set.Hook.Loaded(ctx, o, n, took)
	}
}

// Trigger asks for a checkpoint soon, without waiting for it; triggers coalesce.
func (c *Checkpointer[S]) Trigger() {
	select {
	case c.trigger <- struct{}{}:
	default:
	}
}

// Shutdown stops the checkpoint goroutine, writes a last checkpoint and closes the client.
func (c *Checkpointer[S]) Shutdown(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	<-c.done
	c.cancel = nil
	var errs []error
	if c.client != nil {
		if err := c.write(ctx); err != nil {
			errs = append(errs, fmt.Errorf("last checkpoint: %w", err))
		}
		errs = append(errs, c.client.Close(ctx))
		c.client = nil
	}
	return errors.Join(errs...)
}

func (c *Checkpointer[S]) run(ctx context.Context, ticks <-chan time.Time, stop func()) {
	defer close(c.done)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		case <-c.trigger:
		}
		if c.client == nil {
			continue
		}
		err := c.write(ctx)
		if err != nil && ctx.Err() == nil {
			// The previous checkpoint stays whole; the next tick tries again.
			c.set.Logger.Warn("Writing a checkpoint failed; the previous one is kept.", zap.String("name", c.set.Name), zap.Error(err))
		}
		if c.set.Written != nil {
			c.set.Written(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.set.MinGap):
		}
	}
}

// write takes a snapshot and stores it into the slot the manifest does not point at, then the
// manifest.
func (c *Checkpointer[S]) write(ctx context.Context) (err error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	t0 := time.Now()
	s := c.codec.Snapshot()
	t1 := time.Now()
	var n int64
	defer func() {
		if c.set.Hook != nil {
			if err != nil {
				n = 0
			}
			c.set.Hook.Written(ctx, n, t1.Sub(t0), time.Since(t1), err)
		}
	}()
	slot := 0
	if c.current == 0 {
		slot = 1
	}
	w := &chunkWriter{ctx: ctx, c: c.client, prefix: c.chunkPrefix(slot), size: c.set.ChunkSize, batch: c.set.BatchChunks}
	bw := bufio.NewWriterSize(w, 64<<10)
	if err := c.codec.Encode(bw, s); err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := w.close(); err != nil {
		return err
	}
	other := 0
	if c.current >= 0 {
		other = c.slotChunks[c.current]
	}
	m := manifest{
		Format: envelopeFormat, Envelope: envelopeVersion, Version: c.codec.Version,
		Written: time.Now().UTC(), Slot: slot, Bytes: w.total, CRCs: w.crcs, OtherChunks: other,
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := c.client.Set(ctx, c.manifestKey(), mb); err != nil {
		return fmt.Errorf("writing the manifest: %w", err)
	}
	// The slot now holds len(crcs) chunks; the ones it held before beyond that are garbage.
	var del []*storage.Operation
	for i := len(w.crcs); i < c.slotChunks[slot]; i++ {
		del = append(del, storage.DeleteOperation(chunkKey(w.prefix, i)))
	}
	c.slotChunks[slot] = len(w.crcs)
	c.current = slot
	if len(del) > 0 {
		// Left-over chunks are harmless (the manifest does not name them); failing to delete
		// them is not a failed checkpoint.
		_ = c.client.Batch(ctx, del...)
	}
	n = w.total
	return nil
}

// restore reads the manifest and the chunks it names, decodes and applies.
func (c *Checkpointer[S]) restore(ctx context.Context) (Outcome, int64, error) {
	mb, err := c.client.Get(ctx, c.manifestKey())
	if err != nil {
		return Unreadable, 0, err
	}
	if mb == nil {
		return Empty, 0, nil
	}
	var m manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		return Corrupt, 0, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != envelopeFormat {
		return Corrupt, 0, fmt.Errorf("manifest: format %q, want %q", m.Format, envelopeFormat)
	}
	// What is in the store is known now, whatever happens next, so that writes clean up.
	if m.Slot == 0 || m.Slot == 1 {
		c.slotChunks[m.Slot] = len(m.CRCs)
		c.slotChunks[1-m.Slot] = m.OtherChunks
	}
	if m.Envelope != envelopeVersion || m.Version != c.codec.Version {
		return OtherVersion, 0, fmt.Errorf("checkpoint of version %d (envelope %d), want %d (envelope %d)",
			m.Version, m.Envelope, c.codec.Version, envelopeVersion)
	}
	if m.Slot != 0 && m.Slot != 1 {
		return Corrupt, 0, fmt.Errorf("manifest: slot %d", m.Slot)
	}
	r := &chunkReader{ctx: ctx, c: c.client, prefix: c.chunkPrefix(m.Slot), crcs: m.CRCs}
	s, err := c.codec.Decode(bufio.NewReaderSize(r, 64<<10))
	if err == nil {
		// Every chunk is verified, even those Decode did not need.
		_, err = io.Copy(io.Discard, r)
	}
	if err == nil && r.total != m.Bytes {
		err = fmt.Errorf("%d bytes stored, the manifest says %d", r.total, m.Bytes)
	}
	if err != nil {
		if errors.Is(err, errRead) {
			return Unreadable, 0, err
		}
		return Corrupt, 0, err
	}
	c.current = m.Slot
	c.codec.Apply(s)
	return Restored, m.Bytes, nil
}

func (c *Checkpointer[S]) manifestKey() string { return c.set.Name + "/manifest" }

func (c *Checkpointer[S]) chunkPrefix(slot int) string {
	return c.set.Name + "/" + strconv.Itoa(slot) + "/"
}

func chunkKey(prefix string, i int) string { return prefix + strconv.Itoa(i) }

// chunkWriter cuts what is written into chunks and stores them in batches.
type chunkWriter struct {
	ctx    context.Context
	c      storage.Client
	prefix string
	size   int
	batch  int

	buf     bytes.Buffer
	pending []*storage.Operation
	crcs    []uint32
	total   int64
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(w.size-w.buf.Len(), len(p))
		w.buf.Write(p[:k])
		p = p[k:]
		if w.buf.Len() == w.size {
			if err := w.cut(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// cut turns the buffer into a chunk, and stores the pending chunks when a batch is full.
func (w *chunkWriter) cut() error {
	chunk := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	w.crcs = append(w.crcs, crc32.Checksum(chunk, castagnoli))
	w.total += int64(len(chunk))
	w.pending = append(w.pending, storage.SetOperation(chunkKey(w.prefix, len(w.crcs)-1), chunk))
	if len(w.pending) >= w.batch {
		return w.flush()
	}
	return nil
}

func (w *chunkWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	err := w.c.Batch(w.ctx, w.pending...)
	w.pending = w.pending[:0]
	if err != nil {
		return fmt.Errorf("writing chunks: %w", err)
	}
	return nil
}

func (w *chunkWriter) close() error {
	if w.buf.Len() > 0 {
		if err := w.cut(); err != nil {
			return err
		}
	}
	return w.flush()
}

// errRead marks a failed Get, which is Unreadable rather than Corrupt.
var errRead = errors.New("reading a chunk")

// chunkReader reads the chunks in order, verifying each one's checksum.
type chunkReader struct {
	ctx    context.Context
	c      storage.Client
	prefix string
	crcs   []uint32

	next  int
	cur   []byte
	total int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.next >= len(r.crcs) {
			return 0, io.EOF
		}
		b, err := r.c.Get(r.ctx, chunkKey(r.prefix, r.next))
		if err != nil {
			return 0, fmt.Errorf("%w %d: %w", errRead, r.next, err)
		}
		if b == nil {
			return 0, fmt.Errorf("chunk %d is missing", r.next)
		}
		if crc32.Checksum(b, castagnoli) != r.crcs[r.next] {
			return 0, fmt.Errorf("chunk %d fails its checksum", r.next)
		}
		r.total += int64(len(b))
		r.cur = b
		r.next++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
