package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
)

// fuzzReader reads packets until an error, checking the invariants every
// reader keeps whatever the input: no panic, errors are io.EOF or wrap a
// sentinel, CaptureLength == len(Data), bounded packet count.
func fuzzReader(t *testing.T, data []byte) {
	r, _, err := NewReader(bytes.NewReader(data))
	if err != nil {
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrUnknownFormat) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open: unexpected error %v", err)
		}
		return
	}
	for i := 0; i < 1+len(data); i++ {
		p, err := r.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			continue // after a reported corruption the reader may go on
		}
		gz := len(data) > 1 && data[0] == 0x1f && data[1] == 0x8b
		if p.CaptureLength != len(p.Data) || (!gz && len(p.Data) > len(data)) || len(p.Data) > MaxBlockSize {
			t.Fatalf("caplen %d, data %d, input %d", p.CaptureLength, len(p.Data), len(data))
		}
		_, _ = DecodeLink(p.LinkType, p.Data)
	}
}

// realSample returns the first n packets of the committed real capture
// (kernel MPTCP between namespaces) and the decompressed file itself.
func realSample(f *testing.F, n int) ([]Packet, []byte) {
	raw, err := os.ReadFile("testdata/mptcp-sample.pcapng.gz")
	if err != nil {
		f.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		f.Fatal(err)
	}
	file, err := io.ReadAll(zr)
	if err != nil {
		f.Fatal(err)
	}
	r, err := NewPcapngReader(bytes.NewReader(file))
	if err != nil {
		f.Fatal(err)
	}
	var pkts []Packet
	for len(pkts) < n {
		p, err := r.Next()
		if err != nil {
			f.Fatal(err)
		}
		p.Data = bytes.Clone(p.Data)
		p.Interface = 0
		pkts = append(pkts, p)
	}
	return pkts, file
}

func FuzzPcapReader(f *testing.F) {
	real, _ := realSample(f, 12)
	f.Add(writePcap(f, real, true))
	f.Add(writePcap(f, samplePackets()[:3], false))
	f.Add(writePcap(f, samplePackets()[:2], true))
	be := &builder{order: binary.BigEndian}
	be.pcapHeader(pcapMagicNano, 0xffffffff, LinkTypeLinuxSLL).pcapRecord(1, 2, []byte{1, 2, 3}, 3).pcapRecord(1, 2, nil, 0xffffffff)
	f.Add(be.b)
	le := &builder{order: binary.LittleEndian}
	le.pcapHeader(pcapMagicMicro, 65535, LinkTypeEthernet).u32(1).u32(2).u32(0xfffffff0).u32(0xfffffff0).pcapRecord(1, 3, []byte{4}, 1)
	f.Add(le.b)
	f.Fuzz(fuzzReader)
}

func FuzzPcapngReader(f *testing.F) {
	_, file := realSample(f, 1)
	f.Add(file[:min(len(file), 16<<10)]) // real blocks, cut mid-block
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(file[:min(len(file), 4<<10)])
	_ = zw.Close()
	f.Add(z.Bytes())
	pkts, ifaces := mixedPackets()
	f.Add(writePcapng(f, pkts[:3], ifaces))
	le := &builder{order: binary.LittleEndian}
	le.shb().idb(LinkTypeRaw, 4, 0x80|30, 5, "x").epb(0, 1, []byte{0x45, 0, 0}, 3)
	le.block(blockSPB, le.body().u32(100).raw([]byte{0x60, 1, 2, 3, 4}).b)
	le.block(blockOPB, le.body().u16(0).u16(0).u32(0).u32(7).u32(3).u32(3).raw([]byte{1, 2, 3}).b)
	be := &builder{order: binary.BigEndian}
	be.shb().idb(LinkTypeEthernet, 0, 200, 0, "").epb(0, 1<<40, ethernet(EtherTypeIPv4, []byte{0x45}), 15)
	f.Add(append(le.b, be.b...))
	bad := &builder{order: binary.LittleEndian}
	bad.shb().u32(blockEPB).u32(0xfffffff0).u32(0)
	f.Add(bad.b)
	f.Fuzz(fuzzReader)
}

func FuzzDecodeLink(f *testing.F) {
	real, _ := realSample(f, 8)
	for _, p := range real {
		f.Add(uint16(p.LinkType), p.Data)
	}
	ip4 := tcpSegment([4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, 1, 2, 0x02, nil, nil)
	for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw, LinkTypeNull, LinkTypeLoop, LinkTypeIPv6} {
		f.Add(uint16(lt), ethernet(EtherTypeIPv4, ip4, 1, 2))
		f.Add(uint16(lt), ip4)
	}
	f.Add(uint16(LinkTypeEthernet), ethernet(EtherTypeVLAN, nil))
	f.Fuzz(func(t *testing.T, lt uint16, frame []byte) {
		n, err := DecodeLink(LinkType(lt), frame)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrLinkType) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n.Offset < 0 || n.Offset > len(frame) || len(n.Payload) != len(frame)-n.Offset {
			t.Fatalf("offset %d payload %d frame %d", n.Offset, len(n.Payload), len(frame))
		}
		if (n.Version == 4) != (n.EtherType == EtherTypeIPv4) || (n.Version == 6) != (n.EtherType == EtherTypeIPv6) {
			t.Fatalf("version %d with EtherType %#x", n.Version, n.EtherType)
		}
	})
}
