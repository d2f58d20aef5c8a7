package capture

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

func mustPcapReader(t *testing.T, b []byte) Source {
	t.Helper()
	r, _, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// shifted returns copies of pkts with timestamps moved by d, and each
// segment's sequence number set to seq0+i.
func numbered(pkts []Packet, seq0 uint32, d time.Duration) []Packet {
	out := make([]Packet, len(pkts))
	for i, p := range pkts {
		p.Data = bytes.Clone(p.Data)
		p.Timestamp = p.Timestamp.Add(d)
		p.Data[14+20+4+3] = byte(seq0) + byte(i) // low byte of the TCP sequence number
		out[i] = p
	}
	return out
}

func readMerged(t *testing.T, m *Merger) []Packet {
	t.Helper()
	var out []Packet
	for {
		p, err := m.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		p.Data = bytes.Clone(p.Data)
		out = append(out, p)
	}
}

// TestMergerOrder: packets of two inputs come out in timestamp order,
// each tagged with its input.
func TestMergerOrder(t *testing.T) {
	a := numbered(samplePackets(), 0, 0)
	b := numbered(samplePackets(), 100, 700*time.Microsecond) // between a's packets
	m := NewMerger([]string{"a", "b"}, []Source{mustPcapReader(t, writePcap(t, a, true)), mustPcapReader(t, writePcap(t, b, true))}, false)
	got := readMerged(t, m)
	if len(got) != len(a)+len(b) {
		t.Fatalf("%d packets, want %d", len(got), len(a)+len(b))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Timestamp.Before(got[i-1].Timestamp) {
			t.Errorf("packet %d at %v before packet %d at %v", i, got[i].Timestamp, i-1, got[i-1].Timestamp)
		}
	}
	for i, p := range got {
		if want := i % 2; p.Source != want {
			t.Errorf("packet %d from input %d, want %d", i, p.Source, want)
		}
	}
	if st := m.Stats(); st[0].Packets != 7 || st[1].Packets != 7 || len(m.Errors()) != 0 {
		t.Errorf("stats %+v errors %v", st, m.Errors())
	}
}

// TestMergerInputError: a truncated input ends that input only; the error
// names it and where it happened, and the other input is read to its end.
func TestMergerInputError(t *testing.T) {
	a := writePcap(t, numbered(samplePackets(), 0, 0), true)
	b := writePcap(t, numbered(samplePackets(), 100, time.Microsecond), true)
	b = b[:len(b)-40]
	m := NewMerger([]string{"wifi.pcap", "cell.pcap"}, []Source{mustPcapReader(t, a), mustPcapReader(t, b)}, false)
	got := readMerged(t, m)
	if len(got) != 13 {
		t.Errorf("%d packets, want 7 + 6", len(got))
	}
	errs := m.Errors()
	if len(errs) != 1 || errs[0].Input != 1 || !errors.Is(errs[0], ErrTruncated) ||
		errs[0].Error() != "cell.pcap: after packet 6: "+errs[0].Err.Error() {
		t.Errorf("errors %v", errs)
	}
}

// TestMergerDedup: the same segments captured at two points are delivered
// once, and the delay between the sightings is the one-way delay.
func TestMergerDedup(t *testing.T) {
	a := numbered(samplePackets(), 0, 0)
	b := numbered(samplePackets(), 0, 5*time.Millisecond)
	// One segment only the second point saw.
	b = append(b, numbered(samplePackets()[:1], 50, 20*time.Millisecond)...)
	m := NewMerger([]string{"client", "server"}, []Source{mustPcapReader(t, writePcap(t, a, true)), mustPcapReader(t, writePcap(t, b, true))}, true)
	got := readMerged(t, m)
	if len(got) != 8 {
		t.Fatalf("%d packets delivered, want 7 + 1", len(got))
	}
	if st := m.Stats(); st[1].Duplicates != 7 || st[0].Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
	owd := m.OneWayDelays()
	var n uint64
	for _, o := range owd {
		n += o.Count
		if o.From != 0 || o.To != 1 || o.Min != 5*time.Millisecond || o.Max != 5*time.Millisecond || o.Sum != time.Duration(o.Count)*5*time.Millisecond {
			t.Errorf("one-way delay %+v", o)
		}
	}
	if n != 7 {
		t.Errorf("%d delay samples, want 7", n)
	}
	// Without dedup every packet comes through.
	m = NewMerger([]string{"client", "server"}, []Source{mustPcapReader(t, writePcap(t, a, true)), mustPcapReader(t, writePcap(t, b, true))}, false)
	if got := readMerged(t, m); len(got) != 15 {
		t.Errorf("without dedup: %d packets", len(got))
	}
}
