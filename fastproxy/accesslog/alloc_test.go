//go:build !race

// The race detector drops pooled buffers at random, so allocation counts
// are only meaningful without it.

package accesslog

import (
	"path/filepath"
	"testing"
)

func TestRecordDoesNotAllocate(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "a.log"), FormatCombined, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := entry()
	for range 2000 { // past two batches, so both buffers exist
		l.Record(e)
	}
	if n := testing.AllocsPerRun(1000, func() { l.Record(e) }); n != 0 {
		t.Errorf("Record allocates %.1f times per line", n)
	}
}
