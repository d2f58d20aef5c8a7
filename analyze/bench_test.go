package analyze

import (
	"flag"
	"net/netip"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// traffic generates a synthetic capture: conns connections of two
// subflows each, run one after another, each carrying perConn bytes from
// server to client in 1400-byte segments with a DATA_ACK every two
// segments, as a bulk download looks on the wire. Packets go to emit.
func traffic(conns int, perConn int, emit func(time.Time, []byte)) {
	trafficGap(conns, perConn, 0, emit)
}

// trafficGap is traffic with a pause between connections.
func trafficGap(conns int, perConn int, gap time.Duration, emit func(time.Time, []byte)) {
	chunk := payload(1400, 99)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for k := range conns {
		c := synth.New(uint64(0x1000+k), uint64(0x2000+k), emit)
		c.Now = now
		c.Step = 5 * time.Microsecond
		port := uint16(10000 + k%50000)
		s1 := c.Handshake(netip.AddrPortFrom(cli1.Addr(), port), srv1)
		s2 := c.Join(netip.AddrPortFrom(cli2.Addr(), port), srv2, synth.JoinOptions{})
		for i := 0; i*1400 < perConn; i++ {
			s := s1
			if i%2 == 1 {
				s = s2
			}
			s.Send(1, chunk)
			if i%2 == 1 {
				for _, x := range []*synth.Subflow{s1, s2} {
					x.SendRaw(0, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: c.DSN[1]})
				}
			}
		}
		s1.DataFIN(1)
		s1.DataFIN(0)
		s1.Close()
		s2.Close()
		now = c.Now.Add(gap)
	}
}

// arena holds pre-generated packets contiguously.
type arena struct {
	buf  []byte
	offs []int
	ts   []time.Time
}

func (ar *arena) emit(ts time.Time, p []byte) {
	ar.offs = append(ar.offs, len(ar.buf))
	ar.buf = append(ar.buf, p...)
	ar.ts = append(ar.ts, ts)
}

func (ar *arena) pkt(i int) []byte {
	end := len(ar.buf)
	if i+1 < len(ar.offs) {
		end = ar.offs[i+1]
	}
	return ar.buf[ar.offs[i]:end]
}

// BenchmarkAnalyze measures the analyzer alone (no capture reading) on a
// bulk MPTCP download over two subflows: packets/s on one core. Each pass
// over the pre-generated packets uses a new Analyzer.
func BenchmarkAnalyze(b *testing.B) {
	for _, hash := range []bool{false, true} {
		name := "nohash"
		if hash {
			name = "sha256"
		}
		b.Run(name, func(b *testing.B) {
			ar := &arena{}
			traffic(20, 4<<20, ar.emit)
			n := len(ar.offs)
			b.SetBytes(int64(len(ar.buf) / n))
			b.ReportAllocs()
			b.ResetTimer()
			var a *Analyzer
			for i := 0; i < b.N; i++ {
				j := i % n
				if j == 0 {
					a = New(Config{Hash: hash})
				}
				a.Packet(ar.ts[j], ar.pkt(j))
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

var benchCapture = flag.String("write-bench-capture", "", "write a synthetic capture of -bench-capture-mb MB of MPTCP traffic to this pcap file and exit")
var benchCaptureMB = flag.Int("bench-capture-mb", 50, "size of the synthetic capture")

// TestWriteBenchCapture writes the synthetic capture used to compare with
// tshark (only when -write-bench-capture is given):
//
//	go test ./analyze -run TestWriteBenchCapture -write-bench-capture /tmp/big.pcap -bench-capture-mb 50
func TestWriteBenchCapture(t *testing.T) {
	if *benchCapture == "" {
		t.Skip("no -write-bench-capture")
	}
	f, err := os.Create(*benchCapture)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perConn := 4 << 20
	conns := max(1, *benchCaptureMB<<20/perConn)
	traffic(conns, perConn, func(ts time.Time, p []byte) {
		if err := w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)}); err != nil {
			t.Fatal(err)
		}
	})
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// peakHeap runs the analyzer over conns connections generated on the fly
// and returns the highest live heap seen and the result.
func peakHeap(conns int) (uint64, *Result) {
	runtime.GC()
	a := New(Config{Hash: true})
	var peak uint64
	var ms runtime.MemStats
	n := 0
	traffic(conns, 2<<20, func(ts time.Time, p []byte) {
		a.Packet(ts, p)
		n++
		if n%2000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	})
	r := a.Finish()
	return peak, r
}

// TestMemoryFlat checks that memory does not grow with the capture: ten
// times the traffic (connections one after another, as in a long capture)
// must not need much more live heap than once.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test skipped in -short mode")
	}
	p1, r1 := peakHeap(5)
	p10, r10 := peakHeap(50)
	t.Logf("peak live heap: %d KiB for %d packets, %d KiB for %d packets", p1>>10, r1.Packets, p10>>10, r10.Packets)
	if len(r10.Connections) != 50 || r10.Connections[49].Streams[1].Bytes == 0 {
		t.Fatalf("the 10x run did not analyze its traffic")
	}
	// The result itself grows with the number of connections (a few KiB
	// each); the streams' buffers must not.
	if p10 > 2*p1+4<<20 {
		t.Errorf("peak heap grew from %d KiB to %d KiB for 10x the traffic", p1>>10, p10>>10)
	}
}

// TestMemoryFlatManyConnections: with OnConnection, finished connections
// are handed over and forgotten, so ten times as many connections (a
// longer capture) need no more memory.
func TestMemoryFlatManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("memory test skipped in -short mode")
	}
	run := func(conns int) (uint64, int) {
		runtime.GC()
		got := 0
		a := New(Config{Hash: true, OnConnection: func(c Connection) {
			if c.Streams[1].Bytes >= 64<<10 && len(c.Subflows) == 2 && len(c.Streams[1].Holes) == 0 {
				got++
			}
		}})
		var peak uint64
		var ms runtime.MemStats
		n := 0
		trafficGap(conns, 64<<10, 10*time.Second, func(ts time.Time, p []byte) {
			a.Packet(ts, p)
			n++
			if n%5000 == 0 {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		})
		if r := a.Finish(); len(r.Connections) != 0 {
			t.Errorf("%d connections kept in the result", len(r.Connections))
		}
		return peak, got
	}
	p1, n1 := run(300)
	p10, n10 := run(3000)
	t.Logf("peak live heap: %d KiB for %d connections, %d KiB for %d", p1>>10, n1, p10>>10, n10)
	if n1 != 300 || n10 != 3000 {
		t.Fatalf("hook saw %d and %d whole connections", n1, n10)
	}
	if p10 > 2*p1+1<<20 {
		t.Errorf("peak heap grew from %d KiB to %d KiB for 10x the connections", p1>>10, p10>>10)
	}
}
