package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRealFullDisk runs on a small file system the caller provides in $OMEN_FULL_DISK_DIR (a
// tmpfs of 1 MiB: see the README): a checkpoint is written, the file system is filled, the next
// checkpoint fails and is counted, and after space is freed the first checkpoint is restored.
// Without the variable it is skipped.
func TestRealFullDisk(t *testing.T) {
	root := os.Getenv("OMEN_FULL_DISK_DIR")
	if root == "" {
		t.Skip("OMEN_FULL_DISK_DIR is not set: no small file system to fill")
	}
	dir, err := os.MkdirTemp(root, "checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ext := fileStorage(t, dir)
	first := bigState(100)
	small := func(s *Settings) { s.ChunkSize = 4096 }
	r := start(t, ext, 1, first, small)
	if err := r.tick(t); err != nil {
		t.Fatal(err)
	}
	// Fill the file system.
	filler := filepath.Join(root, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filler)
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	r.f.mu.Lock()
	r.f.s = bigState(20000) // about 600 KB of JSON: more than is left
	r.f.mu.Unlock()
	err = r.tick(t)
	if err == nil {
		t.Fatal("a checkpoint larger than the free space was written")
	}
	t.Logf("write on a full file system: %v", err)
	if err := os.Remove(filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	r.f.mu.Lock()
	r.f.s = first
	r.f.mu.Unlock()
	r.cp.cancel()
	<-r.cp.done
	if err := r.cp.client.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r.hook.writes != 1 || r.hook.failures != 1 {
		t.Fatalf("writes %d, failures %d; want 1 and 1", r.hook.writes, r.hook.failures)
	}
	got := readBack(t, ext, 1)
	if !equalState(got, first) {
		t.Fatalf("restored %d entries, want the first checkpoint's %d", len(got), len(first))
	}
}
