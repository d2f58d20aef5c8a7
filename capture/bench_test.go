package capture

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"
)

// benchPackets returns n Ethernet packets of 66 to 648 bytes.
func benchPackets(n int) []Packet {
	base := samplePackets()
	out := make([]Packet, 0, n)
	for i := range n {
		out = append(out, base[i%len(base)])
	}
	return out
}

// benchRead reads file (10000 packets of raw bytes in all) in a loop; one
// op is one packet.
func benchRead(b *testing.B, file []byte, raw int) {
	b.ReportAllocs()
	b.SetBytes(int64(raw) / 10000)
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
	file := writePcap(b, benchPackets(10000), true)
	benchRead(b, file, len(file))
}

// BenchmarkPcapngRead is BenchmarkPcapRead for pcapng (EPBs).
func BenchmarkPcapngRead(b *testing.B) {
	pkts := benchPackets(10000)
	file := writePcapng(b, pkts, []Interface{{LinkType: LinkTypeEthernet}})
	benchRead(b, file, len(file))
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

// BenchmarkPcapngGzipRead is BenchmarkPcapngRead on a gzip-compressed
// file (decompression included).
func BenchmarkPcapngGzipRead(b *testing.B) {
	file := writePcapng(b, benchPackets(10000), []Interface{{LinkType: LinkTypeEthernet}})
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(file)
	_ = zw.Close()
	benchRead(b, z.Bytes(), len(file))
}
