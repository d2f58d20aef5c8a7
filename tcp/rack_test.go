package tcp

import (
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// rackNet is a 50 ms RTT path on which the first drops[i] transmissions
// of the data segment with index i (in full segments from the start of
// the transfer) are lost.
func rackNet(t *testing.T, cc string, drops map[int]int) (*testNet, map[int]int) {
	t.Helper()
	n := newTestNet(t, Config{CongestionControl: cc}, Config{})
	n.delay = 25 * time.Millisecond
	n.connect()
	base := n.ep[0].Info().SndNxt
	seg := n.ep[0].segDataMax()
	sent := map[int]int{}
	n.drop = func(to int, s header.TCP) bool {
		if to != 1 || len(s.Payload()) == 0 {
			return false
		}
		i := int(s.Seq()-base) / seg
		sent[i]++
		return sent[i] <= drops[i]
	}
	return n, sent
}

// TestRACKAfterRetransmissionDelivered: when the most recently sent
// delivered segment is a retransmission of low data, original segments
// above it that were sent before it are judged by their send times (RFC
// 8985 §6.2 step 5), not by sequence: the tail of the window, lost in a
// burst, is retransmitted one round trip after the repaired hole instead
// of waiting for the RTO.
func TestRACKAfterRetransmissionDelivered(t *testing.T) {
	drops := map[int]int{4: 1}
	for i := 14; i < 20; i++ {
		drops[i] = 1
	}
	n, _ := rackNet(t, "cubic", drops)
	seg := n.ep[0].segDataMax()
	n.ep[0].ccs.Cwnd = 30 * seg // the whole transfer leaves at once
	data := randomData(20*seg, 9)
	start := n.clock.t
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	st := n.ep[0].Info().Stats
	if el := n.clock.t - start; st.Timeouts != 0 || el > 200*time.Millisecond {
		t.Fatalf("transfer took %v with %d timeouts, %d TLPs", el, st.Timeouts, st.TLPProbes)
	}
}

// TestRACKReorderTimerInRecovery: a lost retransmission is sent again
// when RACK's reordering window expires, also while the RTO timer is
// armed (the reorder timer takes its place, as in Linux), when no later
// ACK would run the loss detection.
func TestRACKReorderTimerInRecovery(t *testing.T) {
	// BBR, so that PRR does not hold the last segment back.
	n, sent := rackNet(t, "bbr", map[int]int{4: 2})
	e := n.ep[0]
	seg := e.segDataMax()
	e.ccs.Cwnd = 30 * seg
	e.rack.reordSeen = true // a non-zero reordering window in recovery
	data := randomData(20*seg, 10)
	if w, _ := e.Write(data[:19*seg]); w != 19*seg {
		t.Fatal("short write")
	}
	// Until segment 4 is retransmitted; then one more segment goes out
	// right after the retransmission: its SACK is the last ACK.
	if !n.runUntil(time.Second, func() bool { return sent[4] == 2 }) {
		t.Fatal("no retransmission")
	}
	if w, _ := e.Write(data[19*seg:]); w != seg {
		t.Fatal("short write")
	}
	start := n.clock.t
	got := make([]byte, 0, len(data))
	buf := make([]byte, len(data))
	n.runUntil(time.Second, func() bool {
		r, _ := n.ep[1].Read(buf)
		got = append(got, buf[:r]...)
		return len(got) == len(data)
	})
	if !sameSHA(got, data) {
		t.Fatalf("received %d of %d bytes", len(got), len(data))
	}
	st := e.Info().Stats
	if el := n.clock.t - start; st.Timeouts != 0 || sent[4] != 3 || el > 150*time.Millisecond {
		t.Fatalf("repaired after %v, segment sent %d times, %d timeouts", el, sent[4], st.Timeouts)
	}
}

// TestSACKWithoutReordering: SACKs for in-order arrivals after a single
// loss are not reordering, wherever the ISS lies (the highest SACKed
// sequence once started at zero, "ahead" of every sequence number for
// half of the ISS space, so every SACK looked like reordering and RACK
// kept a reordering window in each recovery).
func TestSACKWithoutReordering(t *testing.T) {
	for _, iss := range []uint32{0xfffff000, 0x00001000, 0x80001000} {
		n := newTestNet(t, Config{ISS: iss}, Config{})
		// A bottleneck spaces the ACKs: arrivals at one instant would make
		// RACK's tie-break by sequence declare a retransmission lost when
		// new data sent just before it at the same clock reading is SACKed
		// first (a D-SACK then turns on the window legitimately).
		n.delay, n.rate = 10*time.Millisecond, 12.5e6
		n.connect()
		base := n.ep[0].Info().SndNxt
		dropped := false
		n.drop = func(to int, s header.TCP) bool {
			if to == 1 && !dropped && s.Seq() == base+5*uint32(n.ep[0].segDataMax()) {
				dropped = true
				return true
			}
			return false
		}
		data := randomData(200<<10, 11)
		if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
			t.Fatal("data differs")
		}
		if !dropped || n.ep[0].Info().Stats.Recoveries != 1 {
			t.Fatalf("ISS %#x: dropped %v, %d recoveries", iss, dropped, n.ep[0].Info().Stats.Recoveries)
		}
		if n.ep[0].rack.reordSeen {
			t.Fatalf("ISS %#x: reordering detected without reordering: %+v", iss, n.ep[0].Info().Stats)
		}
	}
}

// TestSACKAfterLostACKNotReordering: when the ACK that SACKed a segment
// is lost, the next ACK reports it in an older block after a newer block
// above it; that is not reordering (the segment was sent and received
// before the newer one).
func TestSACKAfterLostACKNotReordering(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay, n.rate = 10*time.Millisecond, 12.5e6
	n.connect()
	base := n.ep[0].Info().SndNxt
	seg := uint32(n.ep[0].segDataMax())
	var o header.TCPOptions
	lostACK := false
	n.drop = func(to int, s header.TCP) bool {
		if to == 1 {
			return s.Seq() == base+5*seg && len(s.Payload()) > 0 && n.ep[0].Info().Stats.RetransSegs == 0 ||
				s.Seq() == base+8*seg && len(s.Payload()) > 0 && n.ep[0].Info().Stats.RetransSegs < 2
		}
		// The ACK that first SACKs segment 7 (one block, 6-7).
		header.ParseTCPOptions(s.Options(), &o)
		if !lostACK && o.NumSACK == 1 && o.SACK[0].End == base+8*seg {
			lostACK = true
			return true
		}
		return false
	}
	data := randomData(100<<10, 12)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	if !lostACK {
		t.Fatal("the ACK was not dropped")
	}
	if n.ep[0].rack.reordSeen {
		t.Fatalf("reordering detected without reordering: %+v", n.ep[0].Info().Stats)
	}
}

// TestRACKRTTFromNewlyDelivered: RACK.rtt comes from data newly delivered
// by an ACK (RFC 8985 §6.2 step 2), not from records SACKed earlier that
// the ACK now covers cumulatively. Before, the ACK of a repaired hole
// left RACK.rtt at the time since the old transmission of the highest
// SACKed segment (two round trips here), which that ACK's loss detection
// and reorder timer then used.
func TestRACKRTTFromNewlyDelivered(t *testing.T) {
	n, sent := rackNet(t, "cubic", map[int]int{4: 1})
	e := n.ep[0]
	seg := e.segDataMax()
	e.ccs.Cwnd = 30 * seg
	data := randomData(20*seg, 9)
	if w, _ := e.Write(data); w != len(data) {
		t.Fatal("short write")
	}
	rtt := 2 * n.delay
	if !n.runUntil(time.Second, func() bool { return e.sndUna == e.sndNxt }) {
		t.Fatal("transfer did not complete")
	}
	if sent[4] != 2 {
		t.Fatalf("segment 4 sent %d times", sent[4])
	}
	if e.rack.rtt > rtt+rtt/10 {
		t.Fatalf("RACK.rtt %v after the repair, path RTT %v", e.rack.rtt, rtt)
	}
}
