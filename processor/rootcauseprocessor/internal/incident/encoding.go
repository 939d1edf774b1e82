package incident

import (
	"fmt"
	"maps"
	"slices"

	"github.com/omen-otel/omen/internal/binpart"
)

// trackerVersion is bumped whenever the layout below changes:
//
//	byte    version
//	int64   incidents opened so far
//	uint32  number of open incidents, then per incident: id, start, cause, the cause's version,
//	        services (a count and strings), entry points (the same), score, last anomalous time,
//	        members (the same)
const trackerVersion = 2

func appendStrings(b []byte, ss []string) []byte {
	b = binpart.AppendUint32(b, len(ss))
	for _, s := range ss {
		b = binpart.AppendString(b, s)
	}
	return b
}

func readStrings(d *binpart.Decoder) []string {
	n := d.Uint32()
	var out []string
	for range n {
		s := d.String()
		if d.Err != nil {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// AppendBinary appends the open incidents.
func (t *Tracker) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, trackerVersion)
	b = binpart.AppendInt64(b, int64(t.opened))
	b = binpart.AppendUint32(b, len(t.open))
	for _, inc := range t.open {
		b = binpart.AppendString(b, inc.ID)
		b = binpart.AppendInt64(b, inc.Start)
		b = binpart.AppendString(b, inc.Cause)
		b = binpart.AppendString(b, inc.CauseVersion)
		b = appendStrings(b, inc.Services)
		b = appendStrings(b, inc.EntryPoints)
		b = binpart.AppendFloat64(b, inc.Score)
		b = binpart.AppendInt64(b, inc.lastAnomalous)
		b = appendStrings(b, slices.Sorted(maps.Keys(inc.members)))
	}
	return b, nil
}

// Decode reads incidents written by AppendBinary into a new tracker.
func Decode(cfg Config, data []byte) (*Tracker, error) {
	t := New(cfg)
	d := binpart.Decoder{B: data}
	if v := d.Byte(); d.Err == nil && v != trackerVersion {
		return nil, fmt.Errorf("incidents: version %d, want %d", v, trackerVersion)
	}
	t.opened = int(d.Int64())
	for range d.Uint32() {
		inc := &Incident{ID: d.String(), Start: d.Int64(), Cause: d.String(), CauseVersion: d.String()}
		inc.Services, inc.EntryPoints = readStrings(&d), readStrings(&d)
		inc.Score, inc.lastAnomalous = d.Float64(), d.Int64()
		inc.members = map[string]bool{}
		for _, m := range readStrings(&d) {
			inc.members[m] = true
		}
		if d.Err != nil {
			break
		}
		t.open = append(t.open, inc)
	}
	if err := d.Done(); err != nil {
		return nil, fmt.Errorf("incidents: %w", err)
	}
	return t, nil
}
