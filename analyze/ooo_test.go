package analyze

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
)

// TestOOOListMatchesSorted: random insertions (in place of gaps) and pops
// keep the list sorted and equal to a plain sorted reference.
func TestOOOListMatchesSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var l oooList
	var ref []uint64
	for step := range 20000 {
		if r.IntN(5) == 0 && !l.empty() {
			if l.first().off != ref[0] {
				t.Fatalf("step %d: first %d, want %d", step, l.first().off, ref[0])
			}
			l.popFirst()
			ref = ref[1:]
			continue
		}
		off := uint64(r.IntN(1 << 20))
		i, found := slices.BinarySearch(ref, off)
		if found {
			continue
		}
		p := l.search(off)
		if g := l.at(p); g != nil && g.off <= off {
			t.Fatalf("step %d: search(%d) found a segment covering it", step, off)
		}
		l.insert(p, oooSeg{off: off, data: make([]byte, 1)})
		ref = slices.Insert(ref, i, off)
	}
	var got []uint64
	l.each(func(g *oooSeg) bool { got = append(got, g.off); return true })
	if !slices.Equal(got, ref) || l.n != len(ref) {
		t.Fatalf("list has %d segments, reference %d", len(got), len(ref))
	}
}

// TestOutOfOrderAnyOrder: a connection whose segments arrive reversed,
// shuffled, or shuffled with every segment twice is rebuilt whole, and
// nothing stays buffered.
func TestOutOfOrderAnyOrder(t *testing.T) {
	for _, order := range []string{"reversed", "shuffled", "shuffled-twice"} {
		rec := &recorder{}
		c := synth.New(0x3131, 0x3232, rec.emit)
		s := c.Handshake(cli1, srv1)
		d := payload(300000, 5)
		type seg struct{ off, n int }
		var segs []seg
		r := rand.New(rand.NewPCG(6, 7))
		for off := 0; off < len(d); {
			n := min(1+r.IntN(200), len(d)-off)
			segs = append(segs, seg{off, n})
			off += n
		}
		switch order {
		case "reversed":
			slices.Reverse(segs)
		default:
			r.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
			if order == "shuffled-twice" {
				segs = append(segs, segs...)
				r.Shuffle(len(segs), func(i, j int) { segs[i], segs[j] = segs[j], segs[i] })
			}
		}
		seq0, dsn0 := s.Seq[0], c.DSN[0]
		for _, g := range segs {
			b := d[g.off : g.off+g.n]
			s.Seq[0] = seq0 + uint32(g.off)
			s.SendRaw(0, 0x10, b, s.Mapping(0, dsn0+uint64(g.off), b, false))
		}
		a := New(Config{Hash: true})
		for i := range rec.pkts {
			a.Packet(rec.ts[i], rec.pkts[i])
		}
		if a.Buffered() != 0 {
			t.Errorf("%s: %d bytes still held after the last segment", order, a.Buffered())
		}
		res := a.Finish()
		st := res.Connections[0].Streams[0]
		if st.SHA256 != sha(d) || len(st.Holes) != 0 || len(st.Conflicts) != 0 {
			t.Errorf("%s: %d bytes, holes %v, conflicts %v", order, st.Bytes, st.Holes, st.Conflicts)
		}
	}
}

// BenchmarkOutOfOrderReverse: segments arriving last first, each waiting
// for all before it (the cost per segment must not grow with their
// number).
func BenchmarkOutOfOrderReverse(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		rec := &recorder{}
		hostileGens["reverse"](n, rec.emit)
		b.Run(itoa(n), func(b *testing.B) {
			for range b.N {
				a := New(Config{})
				for i := range rec.pkts {
					a.Packet(rec.ts[i], rec.pkts[i])
				}
				a.Finish()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/segment")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestMaxBufferCountsMemory: Config.MaxBuffer bounds the memory held for
// out-of-order data, not its payload bytes: 200,000 one-byte segments in
// reverse order (each waiting for all before it) under a 2 MB cap keep
// the live heap near 2 MB, and what was given up is a memory hole.
func TestMaxBufferCountsMemory(t *testing.T) {
	c := synth.New(0x3535, 0x3636, nil)
	var pkts [][]byte
	c.Emit = func(_ time.Time, p []byte) { pkts = append(pkts, slices.Clone(p)) }
	s := c.Handshake(cli1, srv1)
	const n = 200000
	d := payload(n, 11)
	seq0, dsn0 := s.Seq[0], c.DSN[0]
	for i := n - 1; i >= 0; i-- {
		s.Seq[0] = seq0 + uint32(i)
		s.SendRaw(0, 0x10, d[i:i+1], s.Mapping(0, dsn0+uint64(i), d[i:i+1], false))
	}
	const limit = 2 << 20
	a := New(Config{MaxBuffer: limit})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, uint64(0)
	for i, p := range pkts {
		a.Packet(c.Now, p)
		if a.Buffered() > limit {
			t.Fatalf("buffered %d > %d", a.Buffered(), limit)
		}
		if i%20000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	pkts = nil
	r := a.Finish()
	grew := int64(peak) - int64(base)
	t.Logf("peak live heap %d KiB above the start (cap %d KiB)", grew>>10, limit>>10)
	if grew > 3*limit {
		t.Errorf("live heap grew by %d KiB with a %d KiB cap", grew>>10, limit>>10)
	}
	st := r.Connections[0].Streams[0]
	if st.DroppedBytes == 0 || !hasFinding(r.Connections[0].Findings, CodeMemoryCap) {
		t.Errorf("nothing reported dropped: %+v", st)
	}
}
