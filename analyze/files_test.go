package analyze

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFileSinkBoundedOpenFiles: more streams than FileSink.MaxOpen, their
// data and holes interleaved, are all written whole (files opened again as
// needed, never truncated twice) with no more than MaxOpen files open.
func TestFileSinkBoundedOpenFiles(t *testing.T) {
	dir := t.TempDir()
	const streams, maxOpen = 100, 8
	s := &FileSink{Dir: dir, MaxOpen: maxOpen}
	infos := make([]ConnInfo, streams)
	want := make([][]byte, streams)
	for i := range infos {
		infos[i].ID = i + 1
	}
	ts := time.Unix(0, 0)
	for round := range 5 {
		for i := range infos {
			b := []byte(fmt.Sprintf("conn %d round %d;", i, round))
			off := uint64(len(want[i]))
			if round == 2 {
				// A hole of 3 bytes before this round's data.
				s.Hole(&infos[i], 0, ts, off, 3)
				want[i] = append(want[i], 0, 0, 0)
				off += 3
			}
			s.Data(&infos[i], 0, ts, off, b)
			want[i] = append(want[i], b...)
			open := 0
			for _, fs := range s.streams {
				if fs.f != nil {
					open++
				}
				if fs.holes != nil {
					open++
				}
			}
			if open > maxOpen {
				t.Fatalf("%d files open (MaxOpen %d)", open, maxOpen)
			}
		}
	}
	for i := range infos {
		s.End(&infos[i], 0, ts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range infos {
		got, err := os.ReadFile(filepath.Join(dir, StreamFile(i+1, 0)))
		if err != nil || !bytes.Equal(got, want[i]) {
			t.Fatalf("stream %d: %q, want %q (%v)", i, got, want[i], err)
		}
		h, err := os.ReadFile(filepath.Join(dir, HolesFile(i+1, 0)))
		if err != nil || strings.Count(string(h), "\n") != 2 {
			t.Fatalf("holes of stream %d: %q (%v)", i, h, err)
		}
	}
}
