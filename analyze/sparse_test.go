package analyze

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// TestFileSinkSparse: --streams files put each byte at its data offset: a
// hole (a segment the capture lacks, and a tail the peer acknowledged) is
// a zero-filled gap of the right size, listed in the .holes file, and the
// file's length is the stream's end.
func TestFileSinkSparse(t *testing.T) {
	dir := t.TempDir()
	sink := &FileSink{Dir: dir}
	rec, a := newRec(Config{Sink: sink})
	c := synth.New(61, 62, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	d := payload(5000, 3)
	rec.drop = func(i int, _ []byte) bool { return i == 6 } // the third data segment (after SYN, SYN/ACK, ACK)
	for off := 0; off < 4000; off += 1000 {
		s1.Send(0, d[off:off+1000])
	}
	rec.drop = nil
	// The peer acknowledged 1000 more bytes than the capture shows.
	c.DSN[0] += 1000
	s1.SendRaw(1, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: c.DSN[0]})
	r := a.Finish()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	SetStreamFiles(r, dir)
	st := r.Connections[0].Streams[0]
	got, err := os.ReadFile(st.File)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(d)
	clear(want[2000:3000])
	clear(want[4000:5000])
	if !bytes.Equal(got, want) {
		t.Errorf("file: %d bytes, want %d with zeros at the holes", len(got), len(want))
	}
	holes, err := os.ReadFile(st.HolesFile)
	if err != nil || st.HolesFile != filepath.Join(dir, HolesFile(1, 0)) {
		t.Fatalf("holes file %q: %v", st.HolesFile, err)
	}
	if lines := strings.Split(strings.TrimSpace(string(holes)), "\n"); len(lines) != 3 || lines[1] != "2000 1000" || lines[2] != "4000 1000" {
		t.Errorf("holes file:\n%s", holes)
	}
	if st.Bytes != 3000 || st.End != 5000 {
		t.Errorf("stream: %d bytes, end %d", st.Bytes, st.End)
	}
}
