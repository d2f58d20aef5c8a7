package analyze

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
)

// TestReadSourcePaths checks that the read-ahead and the sequential
// readers give the same analysis, input errors included, and that a
// cancelled context stops both.
func TestReadSourcePaths(t *testing.T) {
	var buf bytes.Buffer
	w, err := capture.NewPcapWriter(&buf, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(ts time.Time, p []byte) {
		if err := w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)}); err != nil {
			t.Fatal(err)
		}
	}
	trafficGap(4, 3<<20, time.Second, emit) // several batches
	w.WritePacket(capture.Packet{Timestamp: time.Unix(1e9, 0), LinkType: capture.LinkTypeRaw, Data: []byte{0x10, 0, 0}, CaptureLength: 3, Length: 3})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	// A corrupt record header in the middle: the reader resynchronizes.
	off := 24
	for range 3000 {
		off += 16 + int(binary.LittleEndian.Uint32(data[off+8:]))
	}
	binary.LittleEndian.PutUint32(data[off+8:], 0x7fffffff)

	run := func(read func(context.Context, *Analyzer, capture.Source, func(ReadStats)) (ReadStats, error)) (ReadStats, string) {
		r, _, err := capture.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		a := New(Config{Hash: true})
		st, err := read(context.Background(), a, r, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(a.Finish())
		return st, string(b)
	}
	st1, seq := run(readSequential)
	st2, pip := run(readPipelined)
	if seq != pip || st1 != st2 {
		t.Errorf("sequential and read-ahead differ:\n%+v\n%s\n%+v\n%s", st1, seq, st2, pip)
	}
	if st1.NotIP != 1 || !bytes.Contains([]byte(seq), []byte(CodeInput)) {
		t.Errorf("stats %+v; the corrupt record is not reported", st1)
	}
	for _, read := range []func(context.Context, *Analyzer, capture.Source, func(ReadStats)) (ReadStats, error){readSequential, readPipelined} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, _, _ := capture.NewReader(bytes.NewReader(data))
		if _, err := read(ctx, New(Config{}), r, nil); err != context.Canceled {
			t.Errorf("cancelled: %v", err)
		}
	}
}

// TestSecondSectionHeaderOneFinding: a pcapng file whose second section
// describes no interface makes every later block an error; they are one
// input_error finding that counts them, not one each.
func TestSecondSectionHeaderOneFinding(t *testing.T) {
	write := func() []byte {
		var buf bytes.Buffer
		w, err := capture.NewPcapngWriter(&buf, capture.PcapngWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.AddInterface(capture.Interface{LinkType: capture.LinkTypeRaw}); err != nil {
			t.Fatal(err)
		}
		c := synth.New(1, 2, func(ts time.Time, p []byte) {
			w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)})
		})
		s := c.Handshake(cli1, srv1)
		for range 200 {
			s.Send(0, payload(100, 1))
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first, second := write(), write()
	shb := binary.LittleEndian.Uint32(second[4:])
	idb := binary.LittleEndian.Uint32(second[shb+4:])
	file := append(append(append([]byte(nil), first...), second[:shb]...), second[shb+idb:]...)
	name := filepath.Join(t.TempDir(), "two-sections.pcapng")
	if err := os.WriteFile(name, file, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := New(Config{})
	if _, err := ReadSource(context.Background(), a, src, nil); err != nil {
		t.Fatal(err)
	}
	r := a.Finish()
	if n := countFindings(r.Findings, CodeInput); n != 1 || r.Packets != 203 {
		t.Fatalf("%d input_error findings, %d packets: %+v", n, r.Packets, r.Findings)
	}
	t.Log(r.Findings[0].Message)
}
