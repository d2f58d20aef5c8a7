package tcp

import (
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// The receiver's ACK policy: ACK when more than one MSS is unacknowledged
// (a GRO super-segment), window updates after reads by Linux's
// tcp_cleanup_rbuf rule, and deferred ACKs capped at an eighth of the
// receive buffer. The tests inject segments straight into ep[1] (the
// receiver) and look at what it sends back (n.sent[0]); ep[0] only
// provides the timestamps.

// feedData hands the receiver one in-order data segment of size bytes, as
// the peer (or GRO coalescing its segments) would send it.
func feedData(n *testNet, size int) {
	n.t.Helper()
	b := n.ep[1]
	seg := Segment{Seq: b.rcvNxt, Ack: b.sndNxt, Flags: header.TCPFlagACK, Window: 65535,
		Payload: make([]byte, size), Options: header.AppendTimestamps(nil, n.ep[0].tsVal(), b.tsVal())}
	before := b.rcvNxt
	b.HandleSegment(&seg)
	if b.rcvNxt != before+uint32(size) {
		n.t.Fatalf("segment of %d bytes not taken in order: rcvnxt advanced by %d", size, b.rcvNxt-before)
	}
}

// takeSent returns the segments the receiver sent since the last call.
func takeSent(n *testNet) []header.TCP {
	s := n.sent[0]
	n.sent[0] = nil
	return s
}

// wantPureAck checks that segs is exactly one pure ACK acknowledging ack.
func wantPureAck(t *testing.T, what string, segs []header.TCP, ack uint32) header.TCP {
	t.Helper()
	if len(segs) != 1 {
		t.Fatalf("%s: %d segments sent, want one ACK", what, len(segs))
	}
	s := segs[0]
	if s.Flags() != header.TCPFlagACK || len(s.Payload()) != 0 || s.Ack() != ack {
		t.Fatalf("%s: sent flags %v payload %d ack %d, want a pure ACK of %d", what, s.Flags(), len(s.Payload()), s.Ack(), ack)
	}
	return s
}

// TestAckSuperSegment: one in-order segment carrying more than one MSS
// (a GRO super-segment) is ACKed at once, like Linux's
// __tcp_ack_snd_check; a segment of one MSS or less waits for the
// delayed-ACK timer.
func TestAckSuperSegment(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.pump(0, randomData(64<<10, 5), time.Minute, false) // uses up the quick ACKs
	n.runFor(time.Second)
	b := n.ep[1]
	if b.quickAcks != 0 {
		t.Fatalf("%d quick ACKs left after 64 KiB", b.quickAcks)
	}
	if b.delackAt != 0 {
		t.Fatal("delayed ACK pending after the transfer settled")
	}
	mss := b.advMSS()
	if mss != 1460 || b.rcvBuf.free() < 50*mss {
		t.Fatalf("MSS %d, receive buffer free %d", mss, b.rcvBuf.free())
	}
	n.keep = true

	feedData(n, 10*mss)
	wantPureAck(t, "super-segment of 10 MSS", takeSent(n), b.rcvNxt)
	if b.delackAt != 0 {
		t.Fatal("delayed-ACK timer armed after the ACK")
	}

	for _, size := range []int{mss, 100} {
		feedData(n, size)
		if s := takeSent(n); len(s) != 0 {
			t.Fatalf("segment of %d bytes (one MSS %d or less): %d segments sent at once", size, mss, len(s))
		}
		at, ok := b.NextDeadline()
		if !ok || b.delackAt == 0 || at != n.clock.t+b.cfg.DelayedAckTimeout {
			t.Fatalf("segment of %d bytes: delayed ACK at %v (armed %v), want %v", size, at, ok, n.clock.t+b.cfg.DelayedAckTimeout)
		}
		n.clock.t += b.cfg.DelayedAckTimeout - time.Millisecond
		b.HandleTimers()
		if s := takeSent(n); len(s) != 0 {
			t.Fatalf("segment of %d bytes: ACK before the delayed-ACK timer", size)
		}
		n.clock.t += time.Millisecond
		b.HandleTimers()
		wantPureAck(t, "delayed-ACK timer", takeSent(n), b.rcvNxt)
	}

	// The boundary: one byte more than an MSS is ACKed at once.
	feedData(n, mss+1)
	wantPureAck(t, "segment of MSS+1 bytes", takeSent(n), b.rcvNxt)
}

// TestWindowUpdateAfterRead: after the application reads, a window update
// goes out only when the window still announced fell to half the buffer
// or less and the read at least doubles it (Linux's tcp_cleanup_rbuf); a
// closed window that reopens by an MSS is always announced.
func TestWindowUpdateAfterRead(t *testing.T) {
	n := newTestNet(t, Config{}, Config{ReceiveBufferSize: 64 << 10, ReceiveBufferMax: 64 << 10})
	n.delay = time.Millisecond
	n.connect()
	b := n.ep[1]
	if !b.wsOK || b.rcvWS != 1 || b.rcvBuf.cap() != 64<<10 {
		t.Fatalf("window scaling %v shift %d, buffer %d", b.wsOK, b.rcvWS, b.rcvBuf.cap())
	}
	mss := b.advMSS()
	n.keep = true
	buf := make([]byte, 64<<10)
	announced := func() int { return int(b.rcvAdvEdge - b.rcvNxt) }
	// fill receives size bytes and announces the window that is left, as
	// the ACK of the data does.
	fill := func(size int) {
		t.Helper()
		for size > 0 {
			k := min(size, 4*mss)
			feedData(n, k)
			size -= k
		}
		b.SendAck()
		takeSent(n)
		if got, want := announced(), b.rcvWindow(); got != want {
			t.Fatalf("announced %d after the ACK, free %d", got, want)
		}
	}
	read := func(k int) []header.TCP {
		t.Helper()
		if r, err := b.Read(buf[:k]); r != k || err != nil {
			t.Fatalf("read %d: %d %v", k, r, err)
		}
		return takeSent(n)
	}

	// Three quarters of the window still announced: a read sends nothing,
	// though it opens the window by more than two segments.
	fill(16 << 10)
	if s := read(4 << 10); len(s) != 0 {
		t.Fatalf("read of 4 KiB with %d of %d bytes announced: %d segments sent", announced(), b.rcvBuf.cap(), len(s))
	}

	// Fill until at most half the window is announced.
	fill(b.rcvBuf.free() - (b.rcvBuf.cap()/2 - 3000))
	ann := announced()
	if 2*ann > b.rcvBuf.cap() || ann < b.rcvBuf.cap()/4 {
		t.Fatalf("announced %d, want a bit under half of %d", ann, b.rcvBuf.cap())
	}
	// A read that does not double the window sends nothing, even one that
	// opens it by many segments.
	first := ann - 1000
	if s := read(first); len(s) != 0 {
		t.Fatalf("read of %d with %d announced (window then %d): %d segments sent", first, ann, b.rcvWindow(), len(s))
	}
	if 2*ann <= b.rcvWindow() {
		t.Fatal("test setup: window already doubled")
	}
	// Doubling it sends exactly one update with the new window.
	s := wantPureAck(t, "read doubling the window", read(2000), b.rcvNxt)
	w := b.rcvWindow()
	if w < 2*ann {
		t.Fatalf("test setup: window %d not doubled from %d", w, ann)
	}
	if got := int(s.Window()) << b.rcvWS; got != w&^1 {
		t.Fatalf("window update announces %d (field %d), want %d", got, s.Window(), w)
	}
	if announced() != w&^1 {
		t.Fatalf("announced edge %d after the update, want %d", announced(), w)
	}

	// Zero window: the buffer is full and announced so.
	fill(b.rcvBuf.free())
	if announced() != 0 || b.rcvWindow() != 0 {
		t.Fatalf("window not closed: announced %d, free %d", announced(), b.rcvWindow())
	}
	// Less than an MSS read: no update (silly window avoidance) ...
	if s := read(mss - 460); len(s) != 0 {
		t.Fatalf("read of %d bytes into a closed window: %d segments sent", mss-460, len(s))
	}
	// ... one MSS: the stalled sender is told.
	s = wantPureAck(t, "reopening a zero window by one MSS", read(460), b.rcvNxt)
	if got := int(s.Window()) << b.rcvWS; got != mss {
		t.Fatalf("reopened window %d (field %d), want %d", got, s.Window(), mss)
	}
}

// TestDeferAcksCap: with DeferAcks, an ACK that in-order data makes due
// waits for FlushAck, which sends one ACK for the whole batch; but once an
// eighth of the receive buffer is unacknowledged the ACK goes at once.
func TestDeferAcksCap(t *testing.T) {
	const bufSize = 256 << 10
	n := newTestNet(t, Config{}, Config{ReceiveBufferSize: bufSize, ReceiveBufferMax: bufSize})
	n.delay = time.Millisecond
	n.connect()
	b := n.ep[1]
	b.DeferAcks(true)
	mss := b.advMSS()
	limit := b.rcvBuf.cap() / 8
	n.keep = true

	// A batch of due ACKs (two segments, more than one MSS, a
	// super-segment), all under an eighth of the buffer: nothing until
	// FlushAck, then one ACK of everything.
	for _, size := range []int{mss, mss, 100, 10 * mss} {
		feedData(n, size)
	}
	if !b.ackDeferred {
		t.Fatal("no ACK deferred after a batch that makes one due")
	}
	if s := takeSent(n); len(s) != 0 {
		t.Fatalf("%d segments sent before FlushAck", len(s))
	}
	b.FlushAck()
	wantPureAck(t, "FlushAck", takeSent(n), b.rcvNxt)
	b.FlushAck()
	if s := takeSent(n); len(s) != 0 {
		t.Fatalf("second FlushAck sent %d segments", len(s))
	}

	// A burst of segments: the ACK goes out, without FlushAck, with the
	// segment that brings the unacknowledged bytes to exactly an eighth of
	// the buffer, and acknowledges all of them.
	for sent := 0; sent < limit; {
		size := min(mss, limit-sent)
		feedData(n, size)
		sent += size
		s := takeSent(n)
		if sent < limit && len(s) != 0 {
			t.Fatalf("ACK sent after %d bytes, under an eighth of the buffer (%d)", sent, limit)
		}
		if sent == limit {
			wantPureAck(t, "burst reaching an eighth of the buffer", s, b.rcvNxt)
		}
	}
	b.FlushAck()
	if s := takeSent(n); len(s) != 0 {
		t.Fatalf("FlushAck after the capped ACK sent %d segments", len(s))
	}

	// One super-segment of an eighth of the buffer or more: ACKed at once.
	feedData(n, limit+mss)
	wantPureAck(t, "super-segment over an eighth of the buffer", takeSent(n), b.rcvNxt)
}

// TestAnnouncedWindowWithinBuffer: no segment announces more window than
// the receive buffer has, whatever the initial sequence numbers, and a
// receiver that does not read closes the window instead of dropping data.
// The right edge of the announced window used to start at zero: zero is
// "after" any RCV.NXT in the upper half of the sequence space, and an edge
// there is never "after" zero, so the edge never moved and every ACK
// announced the largest window the scale allows (8 MB for a 64 KiB
// buffer) until RCV.NXT wrapped: the sender overran the buffer, the
// excess was dropped and retransmitted after timeouts.
func TestAnnouncedWindowWithinBuffer(t *testing.T) {
	for _, iss := range []uint32{0x80001000, 0xc0000000, 0xfffef000, 0x00001000, 0x7ffff000} {
		cfg := Config{ISS: iss, ReceiveBufferSize: 64 << 10}
		n := newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.keep = true
		n.connect()
		data := randomData(200<<10, 7)
		if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
			t.Fatalf("ISS %#x: data differs", iss)
		}
		for to, segs := range n.sent {
			e := n.ep[1-to]
			for _, s := range segs {
				if s.Flags()&header.TCPFlagSYN != 0 {
					continue
				}
				if w := int(s.Window()) << e.rcvWS; w > e.rcvBuf.cap() {
					t.Fatalf("ISS %#x: side %d announced a window of %d, buffer at most %d", iss, 1-to, w, e.rcvBuf.cap())
				}
			}
		}

		// A receiver that does not read: the sender stops at the window.
		cfg.ReceiveBufferMax = cfg.ReceiveBufferSize
		n = newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.connect()
		n.ep[0].Write(make([]byte, 1<<20))
		n.runFor(5 * time.Second)
		a, b := n.ep[0].Info(), n.ep[1].Info()
		if a.SndWnd != 0 || b.RecvBuffered != 64<<10 || a.Stats.RetransSegs != 0 || a.Stats.ZeroWindowProbes == 0 {
			t.Fatalf("ISS %#x, reader asleep: sender window %d, %d retransmissions (%d timeouts), %d window probes; receiver holds %d",
				iss, a.SndWnd, a.Stats.RetransSegs, a.Stats.Timeouts, a.Stats.ZeroWindowProbes, b.RecvBuffered)
		}
	}
}

// TestWindowScaleCoarserThanBuffer: a receiver whose largest buffer needs
// a window scale (14 for 1 GiB) whose unit (16 KiB) exceeds its initial
// buffer (8 KiB) must still announce an open window. Before, every window
// after the SYN's was free>>14 = 0, and the sender probed a zero window
// forever.
func TestWindowScaleCoarserThanBuffer(t *testing.T) {
	n := newTestNet(t, Config{}, Config{ReceiveBufferSize: 8 << 10, ReceiveBufferMax: 1 << 30})
	n.delay = 10 * time.Millisecond
	n.connect()
	if ws := n.ep[1].rcvWS; ws != 14 {
		t.Fatalf("receiver window scale %d, want 14", ws)
	}
	data := randomData(1<<20, 3)
	if got := n.transfer(0, data, 60*time.Second); !sameSHA(got, data) {
		t.Fatal("data corrupted")
	}
}
