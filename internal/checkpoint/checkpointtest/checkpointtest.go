// Package checkpointtest gives the tests of components that checkpoint a real file_storage
// extension and a host that holds it.
package checkpointtest

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// StorageID is the id the storage extension is known by in Host.
var StorageID = component.MustNewIDWithName("file_storage", "test")

// Host is a component.Host whose only extension is the storage, under StorageID.
type Host struct {
	component.Host
	Storage extension.Extension
}

// GetExtensions returns the storage extension.
func (h Host) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{StorageID: h.Storage}
}

// Corrupt flips a byte in the middle of the first chunk of the checkpoint named name of
// component id (kind), as a bad disk would; the checksums must catch it.
func Corrupt(t testing.TB, h Host, kind component.Kind, id component.ID, name string) {
	t.Helper()
	ctx := context.Background()
	client, err := h.Storage.(storage.Extension).GetClient(ctx, kind, id, name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := client.Close(ctx); err != nil {
			t.Error(err)
		}
	}()
	for _, chunk := range []string{name + "/0/0", name + "/1/0"} {
		data, err := client.Get(ctx, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		data[len(data)/2] ^= 0xff
		if err := client.Set(ctx, chunk, data); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no chunk of %s to corrupt", name)
}

// FileStorage starts the real file_storage extension on dir and returns a host holding it; it
// is shut down when the test ends. Two calls on the same dir, one after the other's shutdown,
// are a restart of the collector.
func FileStorage(t testing.TB, dir string) Host {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ext.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return Host{Host: componenttest.NewNopHost(), Storage: ext}
}
