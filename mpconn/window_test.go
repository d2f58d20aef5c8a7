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
