package tcp

import (
	"bytes"
	"container/heap"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// manualClock is the fake clock of the engine tests.
type manualClock struct{ t time.Duration }

func (c *manualClock) Now() time.Duration { return c.t }

// wirePkt is a segment in flight on the fake network.
type wirePkt struct {
	at   time.Duration
	seq  int // tie-break: FIFO for equal times
	to   int // 0 = endpoint a, 1 = endpoint b
	data []byte
}

type pktHeap []*wirePkt

func (h pktHeap) Len() int { return len(h) }
func (h pktHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h pktHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pktHeap) Push(x any)   { *h = append(*h, x.(*wirePkt)) }
func (h *pktHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// testNet connects two endpoints through a simulated path with delay,
// loss, reordering and a bottleneck rate, all driven by a manual clock.
type testNet struct {
	t      testing.TB
	clock  manualClock
	ep     [2]*Endpoint
	q      pktHeap
	n      int
	delay  time.Duration // one-way
	jitter time.Duration // uniform extra delay (reorders)
	loss   float64
	rate   float64 // bytes per second at the bottleneck, 0 = unlimited
	busy   [2]time.Duration
	rng    *rand.Rand
	// drop, if set, decides per packet (direction, TCP segment).
	drop func(to int, seg header.TCP) bool
	// ce, if set, marks a delivered segment Congestion Experienced.
	ce func(to int, seg header.TCP) bool
	// log of segments sent toward each side.
	sent [2][]header.TCP
	keep bool
}

type netOut struct {
	n  *testNet
	to int
}

func (o netOut) OutputSegment(hdr, p1, p2 []byte) {
	b := make([]byte, 0, len(hdr)+len(p1)+len(p2))
	b = append(append(append(b, hdr...), p1...), p2...)
	o.n.send(o.to, b)
}

func (n *testNet) send(to int, b []byte) {
	if n.keep {
		n.sent[to] = append(n.sent[to], header.TCP(b))
	}
	if n.drop != nil && n.drop(to, header.TCP(b)) {
		return
	}
	if n.loss > 0 && n.rng.Float64() < n.loss {
		return
	}
	at := n.clock.t
	if n.rate > 0 {
		start := max(at, n.busy[to])
		n.busy[to] = start + time.Duration(float64(len(b)+40)/n.rate*float64(time.Second))
		at = n.busy[to]
	}
	at += n.delay
	if n.jitter > 0 {
		at += time.Duration(n.rng.Int64N(int64(n.jitter)))
	}
	n.n++
	heap.Push(&n.q, &wirePkt{at: at, seq: n.n, to: to, data: b})
}

func newTestNet(t testing.TB, ca, cb Config) *testNet {
	n := &testNet{t: t, rng: rand.New(rand.NewPCG(1, 2))}
	n.clock.t = time.Second
	ca.LocalPort, ca.RemotePort = 1000, 2000
	cb.LocalPort, cb.RemotePort = 2000, 1000
	if ca.ISS == 0 {
		ca.ISS = 0xfffff000 // exercise sequence wrap
	}
	if cb.ISS == 0 {
		cb.ISS = 0x7ffff000
	}
	n.ep[0] = New(ca, &n.clock, netOut{n, 1})
	n.ep[1] = New(cb, &n.clock, netOut{n, 0})
	return n
}

// step delivers the next packet or fires the next timer, whichever is
// first, not beyond limit. It reports false when nothing is left to do.
func (n *testNet) step(limit time.Duration) bool {
	next := time.Duration(-1)
	if len(n.q) > 0 {
		next = n.q[0].at
	}
	for _, e := range n.ep {
		if d, ok := e.NextDeadline(); ok && (next < 0 || d < next) {
			next = d
		}
	}
	if next < 0 || next > limit {
		return false
	}
	if next > n.clock.t {
		n.clock.t = next
	}
	if len(n.q) > 0 && n.q[0].at <= n.clock.t {
		p := heap.Pop(&n.q).(*wirePkt)
		seg, ok := ParseSegment(header.TCP(p.data))
		if !ok {
			n.t.Fatalf("invalid segment on the wire: %x", p.data)
		}
		if n.ce != nil && n.ce(p.to, header.TCP(p.data)) {
			seg.CE = true
		}
		n.ep[p.to].HandleSegment(&seg)
		return true
	}
	for _, e := range n.ep {
		if d, ok := e.NextDeadline(); ok && d <= n.clock.t {
			e.HandleTimers()
		}
	}
	return true
}

// runFor runs the simulation for d of simulated time.
func (n *testNet) runFor(d time.Duration) {
	limit := n.clock.t + d
	for n.step(limit) {
	}
	n.clock.t = max(n.clock.t, limit)
}

// runUntil steps until cond holds or the simulated deadline passes.
func (n *testNet) runUntil(d time.Duration, cond func() bool) bool {
	limit := n.clock.t + d
	for !cond() {
		if !n.step(limit) {
			return cond()
		}
	}
	return true
}

func (n *testNet) connect() {
	n.t.Helper()
	if err := n.ep[1].Listen(); err != nil {
		n.t.Fatal(err)
	}
	if err := n.ep[0].Connect(); err != nil {
		n.t.Fatal(err)
	}
	if !n.runUntil(30*time.Second, func() bool {
		return n.ep[0].State() == StateEstablished && n.ep[1].State() == StateEstablished
	}) {
		n.t.Fatalf("handshake did not complete: %v %v", n.ep[0].State(), n.ep[1].State())
	}
}

// transfer sends data from ep[from] to the other side and returns what
// the receiver read, pumping the application on both sides.
func (n *testNet) transfer(from int, data []byte, limit time.Duration) []byte {
	n.t.Helper()
	return n.pump(from, data, limit, true)
}

// pump writes data from ep[from] and reads on the other side until EOF
// (closeWrite) or until all of data arrived (!closeWrite).
func (n *testNet) pump(from int, data []byte, limit time.Duration, closeWrite bool) []byte {
	n.t.Helper()
	src, dst := n.ep[from], n.ep[1-from]
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	off := 0
	closed := false
	deadline := n.clock.t + limit
	for {
		for off < len(data) {
			w, err := src.Write(data[off:])
			if err != nil {
				n.t.Fatalf("write: %v", err)
			}
			if w == 0 {
				break
			}
			off += w
		}
		if off == len(data) && !closed && closeWrite {
			src.CloseWrite()
			closed = true
		}
		for {
			r, err := dst.Read(buf)
			got.Write(buf[:r])
			if err == io.EOF {
				return got.Bytes()
			}
			if err != nil {
				n.t.Fatalf("read: %v (got %d of %d)", err, got.Len(), len(data))
			}
			if r == 0 {
				break
			}
		}
		if !closeWrite && got.Len() == len(data) {
			return got.Bytes()
		}
		if !n.step(deadline) {
			n.t.Fatalf("transfer stalled at %v: sent %d/%d, received %d; %+v / %+v", n.clock.t, off, len(data), got.Len(), src.Info(), dst.Info())
		}
	}
}

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0xabcdef))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

func sameSHA(a, b []byte) bool { return sha256.Sum256(a) == sha256.Sum256(b) }
