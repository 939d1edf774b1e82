package checkpoint

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// memClient is an in-memory storage.Client, for fuzzing without a file per input.
type memClient struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memClient) Get(_ context.Context, k string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k], nil
}

func (c *memClient) Set(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return nil
}

func (c *memClient) Delete(_ context.Context, k string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
	return nil
}

func (c *memClient) Batch(ctx context.Context, ops ...*storage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value, _ = c.Get(ctx, op.Key)
		case storage.Set:
			_ = c.Set(ctx, op.Key, op.Value)
		case storage.Delete:
			_ = c.Delete(ctx, op.Key)
		}
	}
	return nil
}

func (*memClient) Close(context.Context) error { return nil }

// FuzzRestore: whatever the store holds, restoring never panics, and the state is applied only
// when the outcome is Restored.
func FuzzRestore(f *testing.F) {
	// Seeds: a valid checkpoint's manifest and first chunk, and damaged ones.
	fk := &fake{s: bigState(20)}
	good := &memClient{m: map[string][]byte{}}
	w := New(Config{Interval: 1}, Settings{Name: "models", ChunkSize: 64}, fk.codec(1))
	w.client = good
	if err := w.write(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Add(good.m["models/manifest"], good.m["models/0/0"])
	f.Add([]byte(`{"format":"omen.checkpoint","envelope":1,"version":1,"slot":0,"bytes":3,"crc32c":[0]}`), []byte("abc"))
	f.Add([]byte(`{"format":"omen.checkpoint","envelope":1,"version":1,"slot":7}`), []byte{})
	f.Add([]byte("{"), []byte("{}"))
	f.Fuzz(func(t *testing.T, manifest, chunk0 []byte) {
		c := &memClient{m: map[string][]byte{}}
		for k, v := range good.m {
			c.m[k] = v
		}
		c.m["models/manifest"] = manifest
		c.m["models/0/0"] = chunk0
		r := &fake{}
		cp := New(Config{Interval: 1}, Settings{Name: "models"}, r.codec(1))
		cp.client = c
		o, _, _ := cp.restore(context.Background())
		if (o == Restored) != (r.applied == 1) || r.applied > 1 {
			t.Fatalf("outcome %s, applied %d times", o, r.applied)
		}
	})
}
