package mpconn

import (
	"bytes"
	"testing"
	"time"
)

// TestOutOfOrderReserve: a transfer limited by the peer's window (64 KiB)
// over two subflows of different delays never fills the last two
// segments and 1/64 of that window: data sent beyond a hole waits in the
// peer's out-of-order queue, and a Linux peer whose queue's memory
// reaches its buffer takes nothing more from its subflows, not even the
// segment that fills the hole (sendLimit). Over one subflow, which
// delivers in order, the whole window is used.
func TestOutOfOrderReserve(t *testing.T) {
	for _, tc := range []struct {
		name    string
		joins   bool
		reserve bool
	}{
		{"two-subflows", true, true},
		{"one-subflow", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const window = 64 << 10
			n, _, srv := twoHosts(t, 611, Config{DisableJoins: !tc.joins}, Config{ReceiveBuffer: window})
			c := n.hosts[addr("10.0.1.1")].dial("10.0.1.2:80")
			s := established(t, n, n.hosts[addr("10.0.1.1")], srv, c)
			if tc.joins && !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
				t.Fatalf("no second subflow: %s", brief(c))
			}
			data := randomData(4<<20, 21)
			var got bytes.Buffer
			buf := make([]byte, 64<<10)
			off := 0
			mss := int64(c.Subflows()[0].ep.MSS())
			closest := int64(window) // least room left in the window, at any time
			slack := int64(window)   // the same less the reserve for that window
			for got.Len() < len(data) {
				if off < len(data) {
					w, _ := c.Write(data[off:])
					off += w
				}
				for {
					r, err := s.Read(buf)
					if err != nil {
						t.Fatal(err)
					}
					if r == 0 {
						break
					}
					got.Write(buf[:r])
				}
				if wnd := int64(c.snd.wndEnd - c.snd.una); wnd >= window/2 {
					room := int64(c.snd.wndEnd - c.snd.nxt)
					closest = min(closest, room)
					slack = min(slack, room-(2*mss+wnd/64))
				}
				if !n.step(n.now + time.Minute) {
					t.Fatalf("stalled: %s", brief(c))
				}
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatal("data differs")
			}
			if tc.reserve && slack < 0 {
				t.Fatalf("the data sent came within %d bytes of the window's edge, %d into the reserve of two segments and 1/64 of the window", closest, -slack)
			}
			if !tc.reserve && closest > mss {
				t.Fatalf("one subflow left %d bytes of the window unused", closest)
			}
			t.Logf("closest to the window's edge: %d bytes", closest)
		})
	}
}

// TestAnnouncedWindowHonoured: a subflow never moves its own right edge
// left (in its sequence space), so one of its segments may announce more
// than the connection's window: after the other subflow's data filled
// that window, the window relative to the new DATA_ACK is what this
// subflow offered before, less what it received since. The peer may send
// up to that edge, and the connection must take it
// (tcp.WindowAnnouncer; Linux's rcv_wnd_sent). Before, such data was
// dropped as out of the window and came back only after the sender's
// data-level retransmission timeout: a Linux CUBIC sender to our stack
// over two veths fell from 4.4 Gbit/s to 130-270 Mbit/s (BBR, which the
// labs' kernels ran by default, rarely filled the window to its edge).
func TestAnnouncedWindowHonoured(t *testing.T) {
	const window = 64 << 10
	n, _, c, s := twoSubflows(t, 612, Config{}, Config{ReceiveBuffer: window})
	// The server's reader is away: the window fills with in-order data.
	data := randomData(window, 22)
	for off := 0; off < len(data); {
		w, _ := c.Write(data[off:])
		off += w
		if !n.step(n.now + time.Minute) {
			break
		}
	}
	if !n.runUntil(5*time.Second, func() bool { return s.rcv.buf.n == window }) {
		t.Fatalf("%d bytes buffered, want the whole window", s.rcv.buf.n)
	}
	r := &s.rcv
	edge := r.wndEdge
	// A segment of the second subflow announces 4 KiB more (its own right
	// edge, which it does not move left).
	s.Subflows()[1].AnnouncedWindow(int(edge-r.nxt) + 4096)
	drops := s.env.(*simEnv).h.mib.NoDSSInWindow.Load()
	r.insert(s, edge, make([]byte, 1400))
	if d := s.env.(*simEnv).h.mib.NoDSSInWindow.Load() - drops; d != 0 || len(r.ooo) != 1 {
		t.Fatalf("data within the announced window: %d dropped, out-of-order ranges %v", d, r.ooo)
	}
	// Beyond what was ever announced: still dropped.
	r.insert(s, edge+4096, make([]byte, 1400))
	if d := s.env.(*simEnv).h.mib.NoDSSInWindow.Load() - drops; d != 1 {
		t.Fatalf("data beyond every announced edge: %d dropped, want 1", d)
	}
}
