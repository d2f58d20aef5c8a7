package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readAll reads every packet of src, copying data, until an error.
func readAll(t testing.TB, src Source) ([]Packet, error) {
	t.Helper()
	var out []Packet
	for {
		p, err := src.Next()
		if err != nil {
			return out, err
		}
		p.Data = bytes.Clone(p.Data)
		out = append(out, p)
	}
}

func samePackets(t *testing.T, got, want []Packet, tsPrecision time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Timestamp.Equal(w.Timestamp.Truncate(tsPrecision)) {
			t.Errorf("packet %d: timestamp %v, want %v", i, g.Timestamp, w.Timestamp.Truncate(tsPrecision))
		}
		if g.LinkType != w.LinkType || g.Interface != w.Interface || g.Length != w.Length || g.CaptureLength != len(w.Data) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("packet %d: got lt=%v if=%d len=%d caplen=%d data=%x\nwant lt=%v if=%d len=%d data=%x",
				i, g.LinkType, g.Interface, g.Length, g.CaptureLength, g.Data, w.LinkType, w.Interface, w.Length, w.Data)
		}
	}
}

func writePcap(t testing.TB, pkts []Packet, nano bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, LinkTypeEthernet, PcapWriterOptions{Nanosecond: nano})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPcapRoundTrip(t *testing.T) {
	pkts := samplePackets()
	// A truncated capture: original length beyond the captured bytes.
	pkts[2].Length += 1000
	for _, tc := range []struct {
		name string
		nano bool
		prec time.Duration
	}{{"micro", false, time.Microsecond}, {"nano", true, time.Nanosecond}} {
		t.Run(tc.name, func(t *testing.T) {
			file := writePcap(t, pkts, tc.nano)
			r, format, err := NewReader(bytes.NewReader(file))
			if err != nil || format != FormatPcap {
				t.Fatalf("NewReader: %v, %v", format, err)
			}
			if r.(*PcapReader).Nanosecond() != tc.nano {
				t.Errorf("Nanosecond() = %v", !tc.nano)
			}
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatalf("read: %v", err)
			}
			samePackets(t, got, pkts, tc.prec)
		})
	}
}

func TestPcapLinkTypeMismatch(t *testing.T) {
	w, err := NewPcapWriter(io.Discard, LinkTypeEthernet, PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(Packet{LinkType: LinkTypeRaw, Data: []byte{0x45}}); !errors.Is(err, ErrLinkType) {
		t.Fatalf("got %v, want ErrLinkType", err)
	}
}

// TestPcapHandcrafted reads files in both byte orders and both timestamp
// precisions, built byte by byte.
func TestPcapHandcrafted(t *testing.T) {
	data := []byte{0x45, 0, 0, 20, 1, 2, 3, 4}
	for _, tc := range []struct {
		name  string
		order binary.AppendByteOrder
		magic uint32
		frac  uint32
		nsec  int
	}{
		{"le-micro", binary.LittleEndian, pcapMagicMicro, 654321, 654321000},
		{"be-micro", binary.BigEndian, pcapMagicMicro, 654321, 654321000},
		{"le-nano", binary.LittleEndian, pcapMagicNano, 987654321, 987654321},
		{"be-nano", binary.BigEndian, pcapMagicNano, 987654321, 987654321},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &builder{order: tc.order}
			w.pcapHeader(tc.magic, 96, LinkTypeRaw).pcapRecord(1700000000, tc.frac, data, 1500).pcapRecord(1700000001, 0, data[:4], 4)
			r, err := NewPcapReader(bytes.NewReader(w.b))
			if err != nil {
				t.Fatal(err)
			}
			if r.ByteOrder() != tc.order.(binary.ByteOrder) || r.LinkType() != LinkTypeRaw || r.SnapLen() != 96 {
				t.Errorf("header: order %v lt %v snap %d", r.ByteOrder(), r.LinkType(), r.SnapLen())
			}
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatal(err)
			}
			want := []Packet{
				{Timestamp: time.Unix(1700000000, int64(tc.nsec)), LinkType: LinkTypeRaw, Length: 1500, Data: data},
				{Timestamp: time.Unix(1700000001, 0), LinkType: LinkTypeRaw, Length: 4, Data: data[:4]},
			}
			samePackets(t, got, want, time.Nanosecond)
		})
	}
}

func writePcapng(t testing.TB, pkts []Packet, ifaces []Interface) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngWriterOptions{Application: "capture test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if _, err := w.AddInterface(ifc); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mixedPackets returns packets on two interfaces with different link types.
func mixedPackets() ([]Packet, []Interface) {
	pkts := samplePackets()
	for i := range pkts {
		if i%2 == 1 {
			ip, err := DecodeLink(LinkTypeEthernet, pkts[i].Data)
			if err != nil {
				panic(err)
			}
			pkts[i].Data = ip.Payload
			pkts[i].CaptureLength = len(ip.Payload)
			pkts[i].Length = len(ip.Payload)
			pkts[i].LinkType = LinkTypeRaw
			pkts[i].Interface = 1
		}
	}
	return pkts, []Interface{{LinkType: LinkTypeEthernet, Name: "veth0"}, {LinkType: LinkTypeRaw, Name: "tun0", SnapLen: 65535}}
}

func TestPcapngRoundTrip(t *testing.T) {
	pkts, ifaces := mixedPackets()
	file := writePcapng(t, pkts, ifaces)
	r, format, err := NewReader(bytes.NewReader(file))
	if err != nil || format != FormatPcapng {
		t.Fatalf("NewReader: %v, %v", format, err)
	}
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	samePackets(t, got, pkts, time.Nanosecond)
	gotIfaces := r.(*PcapngReader).Interfaces()
	if len(gotIfaces) != 2 || gotIfaces[0].Name != "veth0" || gotIfaces[1].LinkType != LinkTypeRaw || gotIfaces[1].SnapLen != 65535 || gotIfaces[0].TSResolution != 9 {
		t.Errorf("interfaces: %+v", gotIfaces)
	}
}

func TestPcapngWriterErrors(t *testing.T) {
	w, err := NewPcapngWriter(io.Discard, PcapngWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(Packet{Data: []byte{1}}); err == nil {
		t.Error("packet on an interface that was not added: no error")
	}
	if _, err := w.AddInterface(Interface{LinkType: LinkTypeEthernet}); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(Packet{LinkType: LinkTypeRaw, Data: []byte{1}}); !errors.Is(err, ErrLinkType) {
		t.Errorf("got %v, want ErrLinkType", err)
	}
}

// TestPcapngHandcrafted covers what our writer does not produce: two
// sections in different byte orders, timestamp resolutions and offsets,
// simple and obsolete packet blocks, blocks to skip.
func TestPcapngHandcrafted(t *testing.T) {
	data := []byte{0x60, 0, 0, 0, 0, 0, 6, 64, 9, 9}
	le := &builder{order: binary.LittleEndian}
	le.shb().
		idb(LinkTypeRaw, 0, -1, 0, "").            // interface 0: default µs
		idb(LinkTypeEthernet, 4, 0x80|20, 0, "e"). // interface 1: 2^-20 s
		block(4, []byte{0, 0, 0, 0}).              // name resolution block: skipped
		epb(0, 1700000000_250000, data, 10).
		epb(1, 3<<20|1<<19, data[:4], 64)
	// SPB: captured length is min(original length, snaplen of iface 0).
	le.block(blockSPB, le.body().u32(8).raw(data[:8]).b)
	// ISB and a custom block, skipped.
	le.block(5, le.body().u32(0).u32(0).u32(0).b)
	le.block(0x40000BAD, le.body().u32(32473).raw([]byte("x")).b)
	be := &builder{order: binary.BigEndian}
	be.shb().
		idb(LinkTypeLinuxSLL2, 0, 9, 100, "any"). // ns, +100 s
		epb(0, 1_500_000_000, data, 1000)
	// OPB: interface (2 bytes), drops (2), timestamp, lengths.
	be.block(blockOPB, be.body().u16(0).u16(0).u32(0).u32(7).u32(3).u32(3).raw(data[:3]).b)
	file := append(le.b, be.b...)
	r, err := NewPcapngReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	want := []Packet{
		{Timestamp: time.Unix(1700000000, 250000000), LinkType: LinkTypeRaw, Length: 10, Data: data},
		{Timestamp: time.Unix(3, 500000000), Interface: 1, LinkType: LinkTypeEthernet, Length: 64, Data: data[:4]},
		{Timestamp: time.Time{}, LinkType: LinkTypeRaw, Length: 8, Data: data[:8]},
		{Timestamp: time.Unix(101, 500000000), LinkType: LinkTypeLinuxSLL2, Length: 1000, Data: data},
		{Timestamp: time.Unix(100, 7), LinkType: LinkTypeLinuxSLL2, Length: 3, Data: data[:3]},
	}
	// The SPB has no timestamp.
	if !got[2].Timestamp.IsZero() {
		t.Errorf("SPB timestamp %v, want zero", got[2].Timestamp)
	}
	got[2].Timestamp = time.Time{}
	samePackets(t, got, want, time.Nanosecond)
	if r.Sections() != 2 || r.ByteOrder() != binary.BigEndian {
		t.Errorf("sections %d order %v", r.Sections(), r.ByteOrder())
	}
}

// TestTruncated cuts valid files at every byte: the reader returns every
// packet that is complete before the cut, then ErrTruncated (or io.EOF when
// the cut falls between records), and never anything else.
func TestTruncated(t *testing.T) {
	pkts, ifaces := mixedPackets()
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"pcap", writePcap(t, samplePackets(), false)},
		{"pcapng", writePcapng(t, pkts, ifaces)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, _, err := NewReader(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			all, err := readAll(t, full)
			if err != io.EOF {
				t.Fatal(err)
			}
			// Offsets where a record ends.
			for cut := 0; cut < len(tc.file); cut++ {
				r, _, err := NewReader(bytes.NewReader(tc.file[:cut]))
				if err != nil {
					if !errors.Is(err, ErrTruncated) {
						t.Fatalf("cut %d: open: %v", cut, err)
					}
					continue
				}
				got, err := readAll(t, r)
				if err != io.EOF && !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut %d: %v", cut, err)
				}
				if len(got) > len(all) {
					t.Fatalf("cut %d: %d packets from a prefix of a %d-packet file", cut, len(got), len(all))
				}
				for i := range got {
					if !bytes.Equal(got[i].Data, all[i].Data) {
						t.Fatalf("cut %d: packet %d differs", cut, i)
					}
				}
				if err == io.EOF && r.Offset() != int64(cut) {
					t.Fatalf("cut %d: io.EOF at offset %d", cut, r.Offset())
				}
				// The error is sticky.
				if _, err2 := r.Next(); err2 != err && err != io.EOF {
					t.Fatalf("cut %d: second Next: %v, first %v", cut, err2, err)
				}
			}
		})
	}
}

// TestPcapCorruptResync puts a record header with an absurd length in the
// middle of a file: the reader reports it with its offset, then finds the
// next record and carries on.
func TestPcapCorruptResync(t *testing.T) {
	pkts := samplePackets()
	file := writePcap(t, pkts[:3], false)
	badAt := len(file)
	bad := binary.LittleEndian.AppendUint32(nil, 1)
	bad = binary.LittleEndian.AppendUint32(bad, 2)
	bad = binary.LittleEndian.AppendUint32(bad, 0x7fffffff)
	bad = binary.LittleEndian.AppendUint32(bad, 0x7fffffff)
	bad = append(bad, "garbage!"...)
	file = append(file, bad...)
	rest := writePcap(t, pkts[3:], false)[pcapFileHdrLen:]
	file = append(file, rest...)

	r, err := NewPcapReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if !errors.Is(err, ErrCorrupt) || len(got) != 3 {
		t.Fatalf("got %d packets, err %v; want 3 and ErrCorrupt", len(got), err)
	}
	if want := "record 4 at offset " + itoa(badAt); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not say %q", err, want)
	}
	more, err := readAll(t, r)
	if err != io.EOF {
		t.Fatalf("after resync: %v", err)
	}
	samePackets(t, more, pkts[3:], time.Microsecond)
	if r.Resyncs() != 1 || r.SkippedBytes() != int64(len(bad)-pcapRecordHdrLen) {
		t.Errorf("resyncs %d skipped %d", r.Resyncs(), r.SkippedBytes())
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPcapngCorruptBlock: a block whose trailing length disagrees is
// reported and skipped when a sane block follows; a block length below 12
// stops the reader.
func TestPcapngCorruptBlock(t *testing.T) {
	data := []byte{0x45, 0, 0, 20}
	w := &builder{order: binary.LittleEndian}
	w.shb().idb(LinkTypeRaw, 0, 9, 0, "").epb(0, 1, data, 4)
	badAt := len(w.b)
	w.epb(0, 2, data, 4)
	w.b[len(w.b)-4] ^= 0xff // trailing length no longer matches
	w.epb(0, 3, data, 4)
	w.epb(7, 4, data, 4) // unknown interface
	w.epb(0, 5, data, 4)
	stopAt := len(w.b)
	w.u32(blockEPB).u32(8).u32(8) // length < 12: cannot go on
	w.epb(0, 6, data, 4)

	r, err := NewPcapngReader(bytes.NewReader(w.b))
	if err != nil {
		t.Fatal(err)
	}
	var seen []int64
	var errs []error
	for {
		p, err := r.Next()
		if err == io.EOF {
			t.Fatal("reached EOF past a block length of 8")
		}
		if err != nil {
			errs = append(errs, err)
			if len(errs) > 3 {
				break
			}
			continue
		}
		seen = append(seen, p.Timestamp.UnixNano())
	}
	if want := []int64{1, 3, 5}; !equalInts(seen, want) {
		t.Errorf("timestamps %v, want %v", seen, want)
	}
	for _, e := range errs {
		if !errors.Is(e, ErrCorrupt) {
			t.Errorf("error %v is not ErrCorrupt", e)
		}
	}
	if !bytes.Contains([]byte(errs[0].Error()), []byte("offset "+itoa(badAt))) {
		t.Errorf("first error %q lacks offset %d", errs[0], badAt)
	}
	if !bytes.Contains([]byte(errs[2].Error()), []byte("offset "+itoa(stopAt))) || errs[3] != errs[2] {
		t.Errorf("final error %q (then %q): want offset %d, sticky", errs[2], errs[3], stopAt)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGzipDetected(t *testing.T) {
	pkts, ifaces := mixedPackets()
	for _, tc := range []struct {
		name   string
		file   []byte
		format Format
	}{
		{"pcap", writePcap(t, samplePackets(), true), FormatPcap},
		{"pcapng", writePcapng(t, pkts, ifaces), FormatPcapng},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(tc.file)
			zw.Close()
			r, format, err := NewReader(&z)
			if err != nil || format != tc.format {
				t.Fatalf("NewReader: %v %v", format, err)
			}
			got, err := readAll(t, r)
			if err != io.EOF || len(got) != 7 {
				t.Fatalf("%d packets, %v", len(got), err)
			}
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	for _, in := range [][]byte{[]byte("hello world, not a capture"), {0xd4, 0xc3}, nil} {
		_, _, err := NewReader(bytes.NewReader(in))
		if !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrTruncated) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestReadAllocs checks the steady path allocates nothing per packet.
func TestReadAllocs(t *testing.T) {
	pkts, ifaces := mixedPackets()
	var many []Packet
	for range 50 {
		many = append(many, pkts...) // 350 packets: AllocsPerRun makes 101 calls
	}
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"pcap", writePcap(t, manyEthernet(), false)},
		{"pcapng", writePcapng(t, many, ifaces)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := NewReader(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				p, err := r.Next()
				if err != nil || len(p.Data) == 0 {
					t.Fatal(err)
				}
				if _, err := DecodeLink(p.LinkType, p.Data); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per packet", allocs)
			}
		})
	}
}

// TestPcapngRecorder records packets from interfaces 7 and 3 (one of them
// with two link types) and reads them back with one IDB per pair.
func TestPcapngRecorder(t *testing.T) {
	pkts, _ := mixedPackets()
	for i := range pkts {
		pkts[i].Interface = []int{7, 3}[i%2]
	}
	pkts[4].Interface = 3 // Ethernet on interface 3, which also has raw IP
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec := NewPcapngRecorder(w, 0)
	rec.Name = func(i int) string { return "if" + strconv.Itoa(i) }
	for _, p := range pkts {
		if err := rec.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := NewPcapngReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, r)
	if err != io.EOF {
		t.Fatal(err)
	}
	ifaces := r.Interfaces()
	if len(ifaces) != 3 {
		t.Fatalf("%d interfaces: %+v", len(ifaces), ifaces)
	}
	for i, p := range got {
		ifc := ifaces[p.Interface]
		if want := "if" + strconv.Itoa(pkts[i].Interface); ifc.Name != want || ifc.LinkType != pkts[i].LinkType || p.LinkType != pkts[i].LinkType {
			t.Errorf("packet %d: interface %+v, link type %v; want %s %v", i, ifc, p.LinkType, want, pkts[i].LinkType)
		}
		if !bytes.Equal(p.Data, pkts[i].Data) {
			t.Errorf("packet %d data differs", i)
		}
	}
}

// TestLargePackets reads packets bigger than the reader's buffer (the copy
// path) in both formats, between small ones (the zero-copy path).
func TestLargePackets(t *testing.T) {
	pkts := samplePackets()[:3]
	big := make([]byte, 700<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	pkts = append(pkts, Packet{Timestamp: pkts[0].Timestamp, LinkType: LinkTypeEthernet, Length: len(big), Data: big})
	pkts = append(pkts, samplePackets()[3:]...)
	pkts = append(pkts, Packet{Timestamp: pkts[0].Timestamp, LinkType: LinkTypeEthernet, Length: 300 << 10, Data: big[:300<<10]})
	for _, tc := range []struct {
		name string
		file []byte
	}{
		{"pcap", writePcap(t, pkts, true)},
		{"pcapng", writePcapng(t, pkts, []Interface{{LinkType: LinkTypeEthernet}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := NewReader(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatal(err)
			}
			samePackets(t, got, pkts, time.Nanosecond)
		})
	}
}

// TestAbsurdLengthsBoundedMemory: headers that announce huge records in a
// tiny input cost memory in proportion to the input, not to the claim.
func TestAbsurdLengthsBoundedMemory(t *testing.T) {
	ng := &builder{order: binary.LittleEndian}
	ng.shb().idb(LinkTypeRaw, 0, 9, 0, "").u32(blockEPB).u32(MaxBlockSize - 4).raw(make([]byte, 100))
	pc := &builder{order: binary.LittleEndian}
	pc.pcapHeader(pcapMagicNano, 0, LinkTypeRaw).u32(1).u32(2).u32(MaxPacketSize).u32(MaxPacketSize).raw(make([]byte, 100))
	for _, tc := range []struct {
		name string
		file []byte
	}{{"pcapng", ng.b}, {"pcap", pc.b}} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			r, _, err := NewReader(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = readAll(t, r)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("got %v, want ErrTruncated", err)
			}
			// The 256 KiB read buffer plus a little; not the 1-16 MiB
			// the header claims.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", grew, len(tc.file))
			}
		})
	}
}

// TestTruncatedLargeRecordCount: a record too large for the read buffer,
// cut short after a larger one (so the copy buffer is reused), is reported
// with the number of bytes actually present.
func TestTruncatedLargeRecordCount(t *testing.T) {
	big := make([]byte, 700<<10)
	ts := samplePackets()[0].Timestamp
	pkts := []Packet{
		{Timestamp: ts, LinkType: LinkTypeEthernet, Data: big},
		{Timestamp: ts, LinkType: LinkTypeEthernet, Data: big[:300<<10]},
	}
	const cut = 100 << 10
	for _, tc := range []struct {
		name     string
		file     []byte
		announce int // the last record's or block's length
	}{
		{"pcap", writePcap(t, pkts, false), 300 << 10},
		{"pcapng", writePcapng(t, pkts, []Interface{{LinkType: LinkTypeEthernet}}), 32 + 300<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := NewReader(bytes.NewReader(tc.file[:len(tc.file)-cut]))
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, r)
			if len(got) != 1 || !errors.Is(err, ErrTruncated) {
				t.Fatalf("%d packets, error %v; want 1 and ErrTruncated", len(got), err)
			}
			want := fmt.Sprintf("%d of %d bytes", tc.announce-cut, tc.announce)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		})
	}
}
