package capture

import (
	"bytes"
	"io"
	"testing"
)

// benchFile returns a capture of n wire-sized Ethernet packets.
func benchPackets(n int) []Packet {
	base := samplePackets()
	out := make([]Packet, 0, n)
	for i := range n {
		out = append(out, base[i%len(base)])
	}
	return out
}

func benchRead(b *testing.B, file []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(file)) / 10000)
	rd := bytes.NewReader(file)
	r, _, err := NewReader(rd)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		p, err := r.Next()
		if err == io.EOF {
			b.StopTimer()
			rd.Reset(file)
			r, _, _ = NewReader(rd)
			b.StartTimer()
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeLink(p.LinkType, p.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPcapRead reads (and link-decodes) packets; one op is one packet.
func BenchmarkPcapRead(b *testing.B) {
	benchRead(b, writePcap(b, benchPackets(10000), true))
}

// BenchmarkPcapngRead is BenchmarkPcapRead for pcapng (EPBs).
func BenchmarkPcapngRead(b *testing.B) {
	pkts := benchPackets(10000)
	benchRead(b, writePcapng(b, pkts, []Interface{{LinkType: LinkTypeEthernet}}))
}

func BenchmarkDecodeLink(b *testing.B) {
	frame := ethernet(EtherTypeIPv4, tcpSegment([4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 1, 2, 2, nil, nil), 7)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeLink(LinkTypeEthernet, frame); err != nil {
			b.Fatal(err)
		}
	}
}
