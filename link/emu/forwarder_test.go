package emu

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link"
)

// memEnd is one end of an in-memory wire: what is written to it is read
// from its peer. Test-only; it copies every packet.
type memEnd struct {
	in     chan []byte
	peer   *memEnd
	closed chan struct{}
	once   sync.Once
	// failEvery makes every n-th write fail (n > 0) with errRefused.
	failEvery int
	writes    int
	// lt is the link type the end reports (TypeIP if zero).
	lt link.Type
}

var errRefused = errors.New("refused")

func newWire() (*memEnd, *memEnd) {
	a := &memEnd{in: make(chan []byte, 4096), closed: make(chan struct{})}
	b := &memEnd{in: make(chan []byte, 4096), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (e *memEnd) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	var p []byte
	select {
	case p = <-e.in:
	case <-e.closed:
		return 0, link.ErrClosed
	}
	n := 0
	for {
		sizes[n] = copy(bufs[n], p)
		n++
		if n == len(bufs) {
			return n, nil
		}
		select {
		case p = <-e.in:
		default:
			return n, nil
		}
	}
}

func (e *memEnd) WritePackets(pkts [][]byte) (int, error) {
	for i, p := range pkts {
		e.writes++
		if e.failEvery > 0 && e.writes%e.failEvery == 0 {
			return i, errRefused
		}
		select {
		case e.peer.in <- append([]byte(nil), p...):
		case <-e.closed:
			return i, link.ErrClosed
		}
	}
	return len(pkts), nil
}

func (e *memEnd) MTU() int { return 1500 }
func (e *memEnd) LinkType() link.Type {
	if e.lt != 0 {
		return e.lt
	}
	return link.TypeIP
}
func (e *memEnd) Close() error { e.once.Do(func() { close(e.closed) }); return nil }
func (e *memEnd) recv(t testing.TB, timeout time.Duration) ([]byte, bool) {
	t.Helper()
	select {
	case p := <-e.in:
		return p, true
	case <-time.After(timeout):
		return nil, false
	}
}

// setup returns host ends h1, h2 joined through a started forwarder.
func setup(t testing.TB, ab, ba Spec) (h1, h2 *memEnd, f *Forwarder) {
	t.Helper()
	h1, a := newWire()
	b, h2 := newWire()
	f, err := New(a, b, ab, ba, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h1, h2, f
}

func seqPkt(i int) []byte {
	p := make([]byte, 100)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

func TestForwarderPassThroughKeepsOrder(t *testing.T) {
	h1, h2, f := setup(t, Spec{}, Spec{})
	const n = 1000
	go func() {
		for i := range n {
			h1.WritePackets([][]byte{seqPkt(i)})
		}
	}()
	for i := range n {
		p, ok := h2.recv(t, 5*time.Second)
		if !ok {
			t.Fatalf("packet %d never arrived", i)
		}
		if got := int(binary.BigEndian.Uint32(p)); got != i {
			t.Fatalf("packet %d arrived as %d", i, got)
		}
	}
	// And back.
	h2.WritePackets([][]byte{seqPkt(7)})
	if p, ok := h1.recv(t, 5*time.Second); !ok || binary.BigEndian.Uint32(p) != 7 {
		t.Fatalf("reverse direction: %v %v", p, ok)
	}
	// Counters are updated just after the write returns.
	var st Stats
	for range 100 {
		if st = f.Stats(); st.BtoA.Forwarded == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if st.AtoB.Forwarded != n || st.AtoB.ForwardedBytes != n*100 || st.BtoA.Forwarded != 1 || st.AtoB.Dropped() != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestForwarderDelay(t *testing.T) {
	const delay = 30 * ms
	h1, h2, _ := setup(t, Spec{Delay: delay, Jitter: 2 * ms}, Spec{})
	var worst time.Duration
	for i := range 20 {
		start := time.Now()
		h1.WritePackets([][]byte{seqPkt(i)})
		if _, ok := h2.recv(t, 2*time.Second); !ok {
			t.Fatalf("packet %d lost", i)
		}
		el := time.Since(start)
		if el < delay-2*ms {
			t.Fatalf("packet %d took %v, less than delay-jitter", i, el)
		}
		worst = max(worst, el)
	}
	// Generous upper bound: the machine is shared; exact timing is the
	// Shaper's job and is tested there.
	if worst > delay+200*ms {
		t.Errorf("worst one-way time %v for delay %v", worst, delay)
	}
}

func TestForwarderDelayedOrderAndDrops(t *testing.T) {
	h1, h2, f := setup(t, Spec{Delay: 5 * ms, Jitter: 4 * ms, Loss: 0.2}, Spec{})
	const n = 2000
	go func() {
		for i := range n {
			h1.WritePackets([][]byte{seqPkt(i)})
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	last, got := -1, 0
	for {
		p, ok := h2.recv(t, 500*time.Millisecond)
		if !ok {
			break
		}
		s := int(binary.BigEndian.Uint32(p))
		if s <= last {
			t.Fatalf("packet %d after %d: order broken without reordering", s, last)
		}
		last = s
		got++
	}
	st := f.Stats().AtoB
	if st.Received != n || uint64(got) != st.Forwarded || st.Forwarded+st.DroppedLoss != n {
		t.Errorf("received %d forwarded %d (got %d) lost %d, want %d in", st.Received, st.Forwarded, got, st.DroppedLoss, n)
	}
	if !binomialOK(int(st.DroppedLoss), n, 0.2, 5) {
		t.Errorf("lost %d of %d at 20%%", st.DroppedLoss, n)
	}
}

func TestForwarderSetDownAndEvents(t *testing.T) {
	h1, h2, f := setup(t, Spec{Events: []Event{Down(0), Up(150 * ms)}}, Spec{})
	h1.WritePackets([][]byte{seqPkt(1)})
	if _, ok := h2.recv(t, 50*time.Millisecond); ok {
		t.Fatal("packet crossed a link that is down")
	}
	time.Sleep(time.Until(f.StartTime().Add(160 * ms)))
	h1.WritePackets([][]byte{seqPkt(2)})
	if _, ok := h2.recv(t, 2*time.Second); !ok {
		t.Fatal("packet lost after the up event")
	}
	f.SetDown(true)
	h1.WritePackets([][]byte{seqPkt(3)})
	h2.WritePackets([][]byte{seqPkt(4)})
	if _, ok := h2.recv(t, 50*time.Millisecond); ok {
		t.Fatal("a->b crossed after SetDown")
	}
	if _, ok := h1.recv(t, 10*time.Millisecond); ok {
		t.Fatal("b->a crossed after SetDown")
	}
	st := f.Stats()
	if st.AtoB.DroppedDown != 2 || st.BtoA.DroppedDown != 1 || !st.AtoB.Down {
		t.Errorf("stats = %+v", st)
	}
}

func TestForwarderSkipsRefusedWrites(t *testing.T) {
	h1, a := newWire()
	b, h2 := newWire()
	b.failEvery = 3
	f, err := New(a, b, Spec{Delay: ms}, Spec{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	defer f.Close()
	for i := range 9 {
		h1.WritePackets([][]byte{seqPkt(i)})
	}
	got := 0
	for {
		if _, ok := h2.recv(t, 300*time.Millisecond); !ok {
			break
		}
		got++
	}
	st := f.Stats().AtoB
	if got != 6 || st.DroppedTxError != 3 || st.Forwarded != 6 {
		t.Errorf("got %d, stats %+v; want 6 delivered, 3 tx errors", got, st)
	}
}

func TestForwarderDropsOversize(t *testing.T) {
	h1, h2, f := setup(t, Spec{}, Spec{})
	h1.WritePackets([][]byte{make([]byte, 4000), seqPkt(1)})
	p, ok := h2.recv(t, 2*time.Second)
	if !ok || len(p) != 100 {
		t.Fatalf("got %d bytes, %v; want only the 100-byte packet", len(p), ok)
	}
	if _, ok := h2.recv(t, 50*time.Millisecond); ok {
		t.Fatal("the oversize packet was forwarded")
	}
	if st := f.Stats().AtoB; st.DroppedOversize != 1 || st.Forwarded != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestForwarderCloseUnblocks(t *testing.T) {
	_, a := newWire()
	b, _ := newWire()
	f, err := New(a, b, Spec{}, Spec{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	done := make(chan error)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked")
	}
	if f.Close() != nil {
		t.Fatal("second Close failed")
	}
}

func TestNewRejectsBadSpec(t *testing.T) {
	a, b := newWire()
	if _, err := New(a, b, Spec{Loss: 2}, Spec{}, Options{}); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("New with loss 2: %v", err)
	}
}

// genEnd is a benchmark source that produces full-size frames as fast as
// they are read, and a sink that counts what is written; neither copies.
type genEnd struct {
	left    atomic.Int64
	got     atomic.Int64
	want    int64
	done    chan struct{}
	closed  chan struct{}
	once    sync.Once
	doneOne sync.Once
	size    int
	more    chan struct{}
	// A source with a sink offers at most window packets more than the
	// sink has taken, like a sender limited by its congestion window.
	sink     *genEnd
	src      *genEnd
	window   int64
	produced atomic.Int64
}

func newGen(size int, want int64) *genEnd {
	return &genEnd{size: size, want: want, closed: make(chan struct{}), done: make(chan struct{}),
		more: make(chan struct{}, 1)}
}

// add makes n more packets available to read.
func (g *genEnd) add(n int64) {
	g.left.Add(n)
	select {
	case g.more <- struct{}{}:
	default:
	}
}

func (g *genEnd) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	n := int64(len(bufs))
	for g.left.Load() <= 0 || g.sink != nil && g.produced.Load()-g.sink.got.Load() >= g.window {
		select {
		case <-g.more:
		case <-g.closed:
			return 0, link.ErrClosed
		}
	}
	for {
		rem := g.left.Load()
		take := min(rem, n)
		if g.left.CompareAndSwap(rem, rem-take) {
			n = take
			break
		}
	}
	for i := range n {
		sizes[i] = g.size
	}
	g.produced.Add(n)
	return int(n), nil
}

func (g *genEnd) WritePackets(pkts [][]byte) (int, error) {
	if g.got.Add(int64(len(pkts))) >= g.want {
		g.doneOne.Do(func() { close(g.done) })
	}
	if g.src != nil {
		select {
		case g.src.more <- struct{}{}:
		default:
		}
	}
	return len(pkts), nil
}

func (g *genEnd) MTU() int            { return 1500 }
func (g *genEnd) LinkType() link.Type { return link.TypeEthernet }
func (g *genEnd) Close() error        { g.once.Do(func() { close(g.closed) }); return nil }

// BenchmarkEmulatorForward measures the forwarder's own cost for 1514-byte
// Ethernet frames (1500-byte packets): pass-through, and through the
// release queue with a delay and a rate far above what it reaches.
func BenchmarkEmulatorForward(b *testing.B) {
	for _, bc := range []struct {
		name string
		spec Spec
	}{
		{"passthrough", Spec{}},
		{"delay1ms", Spec{Delay: ms}},
		{"rate100gbit+delay1ms+loss0.1%", Spec{Rate: 100e9, Delay: ms, Loss: 0.001, QueueLimit: 100000}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			const size = 1514
			want := int64(b.N)
			if bc.spec.Loss > 0 {
				want = int64(float64(b.N) * (1 - bc.spec.Loss - 0.01))
			}
			src, sink := newGen(size, 0), newGen(size, max(want, 1))
			src.sink, sink.src, src.window = sink, src, 16384
			src.add(int64(b.N))
			f, err := New(src, sink, bc.spec, Spec{}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(size)
			b.ResetTimer()
			start := time.Now()
			f.Start()
			<-sink.done
			el := time.Since(start)
			b.StopTimer()
			f.Close()
			pps := float64(sink.got.Load()) / el.Seconds()
			b.ReportMetric(pps, "pkts/s")
			b.ReportMetric(pps*size*8/1e9, "Gbit/s")
		})
	}
}

func TestForwarderAllocs(t *testing.T) {
	src, sink := newGen(1514, 0), newGen(1514, 1<<62)
	f, err := New(src, sink, Spec{Delay: 100 * time.Microsecond, Rate: 100e9, QueueLimit: 100000}, Spec{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Start()
	defer f.Close()
	// Warm up the buffer pool and heap, then count allocations while
	// batches flow through the release queue.
	push := func(n int64) {
		target := sink.got.Load() + n
		src.add(n)
		for sink.got.Load() < target {
			time.Sleep(50 * time.Microsecond)
		}
	}
	push(20000)
	allocs := testing.AllocsPerRun(20, func() { push(5000) })
	// Per packet: allow a few allocations per run of 5000 packets (timers,
	// the scheduler), never one per packet.
	if allocs > 50 {
		t.Errorf("%v allocations per 5000 packets", allocs)
	}
}
