package tcp

import (
	"bytes"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// sinkHooks takes the receiver's data as an MPTCP layer would
// (DataReceiver), with a window it decides, and optionally bounds
// segments at fixed boundaries (SegmentLimiter).
type sinkHooks struct {
	got      bytes.Buffer
	next     uint32 // sequence number the next ReceiveData must start at
	started  bool
	gaps     int // calls that did not continue the previous one
	wnd, max int
	cell     int    // SegmentLimit boundary every cell bytes from base (0: none)
	base     uint32 // first data sequence number (ISS+1 of the sender)
	rstSeen  []header.TCPFlags
	rstOpt   bool // add an option to RSTs
	inRSTOpt int  // incoming RSTs that carried our option
}

func (h *sinkHooks) OutgoingOptions(seg *SegmentInfo, b []byte) []byte {
	if h.rstOpt && seg.Flags&header.TCPFlagRST != 0 {
		return append(b, header.TCPOptMPTCP, 4, 0x80, 0x02) // MP_TCPRST-like
	}
	return b
}

func (h *sinkHooks) Incoming(seg *SegmentInfo, opts []byte) error {
	if seg.Flags&header.TCPFlagRST != 0 {
		h.rstSeen = append(h.rstSeen, seg.Flags)
		it := header.NewTCPOptionIterator(opts)
		for it.Next() {
			if it.Kind() == header.TCPOptMPTCP {
				h.inRSTOpt++
			}
		}
	}
	return nil
}

func (h *sinkHooks) Event(SubflowEvent) {}

func (h *sinkHooks) ReceiveData(seq uint32, p1, p2 []byte) {
	if h.started && seq != h.next {
		h.gaps++
	}
	h.started = true
	h.got.Write(p1)
	h.got.Write(p2)
	h.next = seq + uint32(len(p1)+len(p2))
}

func (h *sinkHooks) ReceiveWindow() (int, int) { return h.wnd, h.max }

func (h *sinkHooks) SegmentLimit(seq uint32, n int) int {
	if h.cell == 0 {
		return n
	}
	off := int(seq - h.base)
	return h.cell - off%h.cell
}

// sendAll writes data from ep[0] while stepping the network until cond
// holds.
func (n *testNet) sendAll(data []byte, limit time.Duration, cond func() bool) {
	n.t.Helper()
	off := 0
	deadline := n.clock.t + limit
	for !cond() {
		for off < len(data) {
			w, err := n.ep[0].Write(data[off:])
			if err != nil {
				n.t.Fatalf("write: %v", err)
			}
			if w == 0 {
				break
			}
			off += w
		}
		if !n.step(deadline) {
			n.t.Fatalf("stalled at %v: wrote %d of %d; %+v", n.clock.t, off, len(data), n.ep[0].Info())
		}
	}
}

func TestDataReceiverTakesDataInOrder(t *testing.T) {
	sink := &sinkHooks{wnd: 40000, max: 40000}
	n := newTestNet(t, Config{}, Config{Hooks: sink})
	n.delay = 10 * time.Millisecond
	n.jitter = 3 * time.Millisecond // reordering
	n.loss = 0.02
	n.keep = true
	n.connect()
	data := randomData(1<<20, 7)
	n.sendAll(data, 10*time.Minute, func() bool { return sink.got.Len() >= len(data) })
	if !bytes.Equal(sink.got.Bytes(), data) {
		t.Fatalf("the layer got %d bytes, not the %d sent", sink.got.Len(), len(data))
	}
	if sink.gaps != 0 {
		t.Fatalf("%d hand-overs did not continue the previous one", sink.gaps)
	}
	if st := n.ep[1].Info().Stats; st.OutOfOrderSegs == 0 {
		t.Fatal("no out-of-order segment: the test does not exercise the queue")
	}
	if rb := n.ep[1].Info().RecvBuffered; rb != 0 {
		t.Fatalf("receive buffer holds %d bytes; the layer took them all", rb)
	}
	// Every window the receiver announced is the layer's (40000 bytes),
	// never its own larger buffer.
	ws := n.ep[1].Info().RcvWScale
	for _, s := range n.sent[0] {
		if s.Flags()&header.TCPFlagSYN != 0 {
			continue
		}
		if w := int(s.Window()) << ws; w > 40000+(1<<ws) {
			t.Fatalf("announced window %d, the layer's is 40000", w)
		}
	}
	if r, err := n.ep[1].Read(make([]byte, 10)); r != 0 || err != nil {
		t.Fatalf("Read on a DataReceiver connection: %d, %v", r, err)
	}
}

// TestDataReceiverWindowBeyondBuffer: the layer's window (1 MiB: an
// MPTCP connection's, shared by its subflows) is announced whole although
// the endpoint's own buffer is 16 KiB (it holds out-of-order data only),
// and out-of-order data beyond that size is kept, the buffer growing as
// needed up to ReceiveBufferMax. Before, the window was capped at the
// buffer's free space: a connection over 40 ms paths was held to 64 KiB
// in flight.
func TestDataReceiverWindowBeyondBuffer(t *testing.T) {
	sink := &sinkHooks{wnd: 1 << 20, max: 1 << 20}
	n := newTestNet(t, Config{}, Config{Hooks: sink, ReceiveBufferSize: 16 << 10, ReceiveBufferMax: 1 << 20})
	n.delay = 20 * time.Millisecond
	n.loss = 0.01
	n.keep = true
	n.connect()
	data := randomData(4<<20, 11)
	n.sendAll(data, 10*time.Minute, func() bool { return sink.got.Len() >= len(data) })
	if !bytes.Equal(sink.got.Bytes(), data) {
		t.Fatal("data differs")
	}
	ws := n.ep[1].Info().RcvWScale
	largest := 0
	for _, s := range n.sent[0] { // segments from the receiver (as above)
		if s.Flags()&header.TCPFlagSYN == 0 {
			largest = max(largest, int(s.Window())<<ws)
		}
	}
	if largest < 512<<10 {
		t.Fatalf("largest window announced %d: capped by the 16 KiB buffer, not the layer's 1 MiB", largest)
	}
	if st := n.ep[1].Info().Stats; st.OutOfOrderSegs == 0 {
		t.Fatal("no out-of-order segment: the test does not exercise the buffer")
	}
	if inf := n.ep[0].Info(); inf.Stats.RetransSegs > inf.Stats.SegsOut/20 {
		t.Fatalf("%d retransmissions of %d segments: out-of-order data was dropped", inf.Stats.RetransSegs, inf.Stats.SegsOut)
	}
}

func TestDataReceiverWindowUpdate(t *testing.T) {
	sink := &sinkHooks{wnd: 0, max: 64 << 10}
	n := newTestNet(t, Config{}, Config{Hooks: sink})
	n.delay = 5 * time.Millisecond
	n.connect()
	data := randomData(100<<10, 3)
	for off := 0; off < len(data); {
		w, _ := n.ep[0].Write(data[off:])
		if w == 0 {
			break
		}
		off += w
	}
	// The layer's window is closed: nothing is delivered, the sender
	// probes.
	n.runFor(3 * time.Second)
	if sink.got.Len() != 0 {
		t.Fatalf("%d bytes delivered through a closed window", sink.got.Len())
	}
	if n.ep[0].Info().Stats.ZeroWindowProbes == 0 {
		t.Fatal("the sender did not probe the zero window")
	}
	// The layer opens its window and says so: the update goes out now,
	// not at the next probe (which is seconds away after backoff).
	sink.wnd = 64 << 10
	n.ep[1].WindowUpdate()
	n.runFor(200 * time.Millisecond)
	if sink.got.Len() == 0 {
		t.Fatal("no data within 200 ms of the window update")
	}
	n.sendAll(data, time.Minute, func() bool { return sink.got.Len() >= len(data) })
	if !bytes.Equal(sink.got.Bytes(), data) {
		t.Fatal("data differs")
	}
}

func TestSegmentLimiterBoundaries(t *testing.T) {
	const cell = 3000 // two full segments and a short one per cell
	lim := &sinkHooks{cell: cell, base: 0xfffff000 + 1, wnd: 1 << 20, max: 1 << 20}
	n := newTestNet(t, Config{Hooks: lim}, Config{})
	n.delay = 10 * time.Millisecond
	n.loss = 0.03
	n.keep = true
	n.connect()
	data := randomData(600<<10, 5)
	half := len(data) / 2
	if got := n.pump(0, data[:half], 5*time.Minute, false); !bytes.Equal(got, data[:half]) {
		t.Fatal("first half differs")
	}
	// A smaller path MTU splits retransmissions too.
	n.ep[0].SetMTU(1200)
	if got := n.transfer(0, data[half:], 5*time.Minute); !bytes.Equal(got, data[half:]) {
		t.Fatal("second half differs")
	}
	for _, s := range n.sent[1] {
		l := len(s.Payload())
		if l == 0 {
			continue
		}
		first, last := int(s.Seq()-lim.base), int(s.Seq()-lim.base)+l-1
		if first/cell != last/cell {
			t.Fatalf("segment [%d, %d] straddles a boundary every %d bytes", first, last, cell)
		}
	}
	if st := n.ep[0].Info().Stats; st.RetransSegs == 0 {
		t.Fatal("no retransmission: the test does not exercise splitting")
	}
}

func TestResetCarriesHookOptions(t *testing.T) {
	ha, hb := &sinkHooks{rstOpt: true, wnd: 1 << 20, max: 1 << 20}, &sinkHooks{}
	n := newTestNet(t, Config{Hooks: ha}, Config{Hooks: hb})
	n.delay = time.Millisecond
	n.keep = true
	n.connect()
	n.ep[0].Abort()
	n.runFor(time.Second)
	rsts := 0
	for _, s := range n.sent[1] {
		if s.Flags()&header.TCPFlagRST == 0 {
			continue
		}
		rsts++
		if len(s.Options()) != 4 || s.Options()[0] != header.TCPOptMPTCP {
			t.Fatalf("RST options %x, want the hook's 4-byte option", s.Options())
		}
	}
	if rsts != 1 {
		t.Fatalf("%d RSTs sent, want 1", rsts)
	}
	if len(hb.rstSeen) != 1 || hb.inRSTOpt != 1 {
		t.Fatalf("the peer's hooks saw %d RSTs (%d with the option), want 1", len(hb.rstSeen), hb.inRSTOpt)
	}
	if n.ep[1].State() != StateClosed || n.ep[1].Err() != ErrConnectionReset {
		t.Fatalf("peer %v %v after the RST", n.ep[1].State(), n.ep[1].Err())
	}
}

// countingCC wraps CUBIC and counts the ACKs it was told about.
type countingCC struct {
	Cubic
	acks int
}

func (c *countingCC) Name() string { return "counting" }
func (c *countingCC) OnAck(s *CCState, acked int, rtt, now time.Duration) {
	c.acks++
	c.Cubic.OnAck(s, acked, rtt, now)
}

func TestCongestionControlFactory(t *testing.T) {
	var made []*countingCC
	cfg := Config{NewCongestionControl: func() CongestionControl {
		c := &countingCC{}
		made = append(made, c)
		return c
	}}
	n := newTestNet(t, cfg, Config{})
	n.delay = 5 * time.Millisecond
	n.connect()
	data := randomData(200<<10, 9)
	if got := n.transfer(0, data, time.Minute); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if len(made) != 1 || made[0].acks == 0 || n.ep[0].Info().CongestionControl != "counting" {
		t.Fatalf("factory made %d controllers; info says %q", len(made), n.ep[0].Info().CongestionControl)
	}
	for _, name := range []string{"", "cubic", "reno", "bbr"} {
		if err := ValidCongestionControl(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	if err := ValidCongestionControl("vegas"); err == nil {
		t.Error("vegas accepted")
	}
}

func TestOptionOverflowCounted(t *testing.T) {
	h := &overflowHooks{}
	n := newTestNet(t, Config{Hooks: h}, Config{})
	n.keep = true
	n.connect()
	if n.ep[0].Info().Stats.OptionOverflows == 0 {
		t.Fatal("oversized hook options not counted")
	}
	for _, s := range n.sent[1] {
		for it := header.NewTCPOptionIterator(s.Options()); it.Next(); {
			if it.Kind() == header.TCPOptMPTCP {
				t.Fatal("an oversized hook option was sent")
			}
		}
	}
}

type overflowHooks struct{}

func (overflowHooks) OutgoingOptions(seg *SegmentInfo, b []byte) []byte {
	return append(b, append([]byte{header.TCPOptMPTCP, byte(seg.Budget + 4)}, make([]byte, seg.Budget+2)...)...)
}
func (overflowHooks) Incoming(*SegmentInfo, []byte) error { return nil }
func (overflowHooks) Event(SubflowEvent)                  {}

// releasingCC is a Reno that records when the engine released it.
type releasingCC struct {
	Reno
	ep       **Endpoint
	released []State // the endpoint's state at each Release
}

func (c *releasingCC) Release() { c.released = append(c.released, (*c.ep).State()) }

// TestCCReleaser checks that a controller sharing state with others
// (CCReleaser) is released exactly once, when its connection stops sending:
// at TIME-WAIT for the side that closes first, at CLOSED for the other and
// for a connection reset.
func TestCCReleaser(t *testing.T) {
	var eps [2]*Endpoint
	ccs := [2]*releasingCC{{ep: &eps[0]}, {ep: &eps[1]}}
	mk := func(i int) Config {
		return Config{NewCongestionControl: func() CongestionControl { return ccs[i] }}
	}
	n := newTestNet(t, mk(0), mk(1))
	eps[0], eps[1] = n.ep[0], n.ep[1]
	n.delay = 5 * time.Millisecond
	n.connect()
	data := randomData(64<<10, 3)
	if got := n.transfer(0, data, time.Minute); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if len(ccs[0].released)+len(ccs[1].released) != 0 {
		t.Fatalf("released while established: %v %v", ccs[0].released, ccs[1].released)
	}
	n.ep[0].Close()
	n.runFor(time.Second)
	n.ep[1].Close()
	if !n.runUntil(5*time.Minute, func() bool {
		return n.ep[0].State() == StateClosed && n.ep[1].State() == StateClosed
	}) {
		t.Fatalf("not closed: %v %v", n.ep[0].State(), n.ep[1].State())
	}
	if got := ccs[0].released; len(got) != 1 || got[0] != StateTimeWait {
		t.Fatalf("active closer released at %v, want once at TIME-WAIT", got)
	}
	if got := ccs[1].released; len(got) != 1 || got[0] != StateClosed {
		t.Fatalf("passive closer released at %v, want once at CLOSED", got)
	}

	// A reset connection releases its controller too.
	ccs = [2]*releasingCC{{ep: &eps[0]}, {ep: &eps[1]}}
	n = newTestNet(t, mk(0), mk(1))
	eps[0], eps[1] = n.ep[0], n.ep[1]
	n.delay = 5 * time.Millisecond
	n.connect()
	n.ep[0].Abort()
	n.runFor(time.Second)
	for i, c := range ccs {
		if len(c.released) != 1 || c.released[0] != StateClosed {
			t.Fatalf("side %d after a reset released at %v", i, c.released)
		}
	}
}

// announcingSink records the windows the engine reports it announced
// (WindowAnnouncer).
type announcingSink struct {
	sinkHooks
	announced []int
}

func (h *announcingSink) AnnouncedWindow(w int) { h.announced = append(h.announced, w) }

// TestWindowAnnouncer: the engine tells the layer the window each segment
// carries, scaled as on the wire; when the layer's window falls by more
// than the data that arrived, the engine keeps its right edge (it never
// moves left) and so announces more than the layer asked: the layer
// learns it from AnnouncedWindow, not ReceiveWindow.
func TestWindowAnnouncer(t *testing.T) {
	sink := &announcingSink{sinkHooks: sinkHooks{wnd: 256 << 10, max: 256 << 10}}
	n := newTestNet(t, Config{}, Config{Hooks: sink})
	n.delay = 5 * time.Millisecond
	n.keep = true
	n.connect()
	data := randomData(20<<10, 4)
	n.sendAll(data, time.Minute, func() bool { return sink.got.Len() >= len(data) })
	// The layer's window drops to 8 KiB (another subflow filled it): the
	// engine's next ACK still announces what is left of its edge.
	sink.wnd = 8 << 10
	sink.announced = nil
	more := randomData(4<<10, 5)
	n.sendAll(more, time.Minute, func() bool { return sink.got.Len() >= len(data)+len(more) })
	if len(sink.announced) == 0 {
		t.Fatal("no window reported")
	}
	ws := n.ep[1].Info().RcvWScale
	last := n.sent[0][len(n.sent[0])-1]
	if got, want := sink.announced[len(sink.announced)-1], int(last.Window())<<ws; got != want {
		t.Fatalf("reported %d, the last segment announces %d", got, want)
	}
	if got := sink.announced[len(sink.announced)-1]; got <= 8<<10 {
		t.Fatalf("reported %d: the engine shrank its window to the layer's 8 KiB", got)
	}
}
