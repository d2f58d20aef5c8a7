package tcp

import (
	"container/heap"

	"github.com/mptcp-go/mptcp/header"
	"testing"
	"time"
)

func TestTransferImpairedPaths(t *testing.T) {
	tests := []struct {
		name   string
		delay  time.Duration
		jitter time.Duration
		loss   float64
		rate   float64
		cc     string
		noSACK bool
		size   int
	}{
		{"1% loss 50ms", 25 * time.Millisecond, 0, 0.01, 12.5e6, "cubic", false, 2 << 20},
		{"5% loss 100ms", 50 * time.Millisecond, 0, 0.05, 12.5e6, "cubic", false, 1 << 20},
		{"reorder", 10 * time.Millisecond, 5 * time.Millisecond, 0, 12.5e6, "cubic", false, 2 << 20},
		{"reorder and loss reno", 25 * time.Millisecond, 3 * time.Millisecond, 0.02, 12.5e6, "reno", false, 1 << 20},
		{"loss without SACK", 25 * time.Millisecond, 0, 0.02, 12.5e6, "reno", true, 1 << 20},
		{"200ms rtt 3% loss", 100 * time.Millisecond, 0, 0.03, 12.5e6, "cubic", false, 1 << 20},
	}
	for _, tt := range tests {
		for _, from := range []int{0, 1} {
			t.Run(tt.name, func(t *testing.T) {
				n := newTestNet(t, Config{CongestionControl: tt.cc, DisableSACK: tt.noSACK}, Config{CongestionControl: tt.cc})
				n.delay, n.jitter, n.rate = tt.delay, tt.jitter, tt.rate
				n.connect()
				n.loss = tt.loss
				data := randomData(tt.size, uint64(from)+7)
				start := n.clock.t
				got := n.transfer(from, data, 10*time.Minute)
				if !sameSHA(got, data) {
					t.Fatalf("received %d of %d bytes, content differs", len(got), len(data))
				}
				in := n.ep[from].Info()
				el := n.clock.t - start
				t.Logf("from %d: %v simulated, %.1f Mbit/s, retrans %d timeouts %d recoveries %d tlp %d cwnd %d srtt %v",
					from, el, float64(len(data))*8/el.Seconds()/1e6, in.Stats.RetransSegs, in.Stats.Timeouts,
					in.Stats.Recoveries, in.Stats.TLPProbes, in.Cwnd, in.SRTT)
			})
		}
	}
}

func TestDSACKReportsDuplicates(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.pump(0, randomData(10000, 1), time.Second, false)
	n.keep = true
	in := n.ep[1].Info()
	dup := Segment{Seq: in.RcvNxt - 1000, Ack: n.ep[1].Info().SndNxt, Flags: 0x10, Payload: make([]byte, 500)}
	n.ep[1].HandleSegment(&dup)
	if len(n.sent[0]) != 1 {
		t.Fatalf("%d replies to a duplicate", len(n.sent[0]))
	}
	var o header.TCPOptions
	header.ParseTCPOptions(n.sent[0][0].Options(), &o)
	if o.NumSACK != 1 || o.SACK[0] != (header.SACKBlock{Start: in.RcvNxt - 1000, End: in.RcvNxt - 500}) {
		t.Fatalf("D-SACK %+v", o)
	}
}

// TestReorderingAdaptsAndUndoes delays one segment in twenty by more than
// RACK's initial reordering window: the spurious retransmissions come back
// as D-SACKs, which widen the window and undo the cwnd reductions.
func TestReorderingAdaptsAndUndoes(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = 10 * time.Millisecond // no bottleneck queue: only the late segments reorder
	n.connect()
	k := 0
	n.drop = func(to int, s header.TCP) bool {
		if to == 1 && len(s.Payload()) > 0 {
			k++
			if k%20 == 0 {
				// Deliver late instead of dropping: re-inject after 8 ms.
				b := append([]byte(nil), s...)
				n.n++
				heap.Push(&n.q, &wirePkt{at: n.clock.t + n.delay + 8*time.Millisecond, seq: n.n, to: to, data: b})
				return true
			}
		}
		return false
	}
	data := randomData(8<<20, 5)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	st := n.ep[0].Info().Stats
	t.Logf("%+v", st)
	if st.DSACKs == 0 || st.SpuriousUndos == 0 {
		t.Fatalf("no D-SACK handling: %+v", st)
	}
	if st.RetransSegs > 60 {
		t.Fatalf("%d spurious retransmissions: reordering window did not adapt", st.RetransSegs)
	}
}

func TestECN(t *testing.T) {
	t.Run("negotiation", func(t *testing.T) {
		for _, tc := range []struct{ a, b, want bool }{{true, true, true}, {true, false, false}, {false, true, false}} {
			n := newTestNet(t, Config{ECN: tc.a}, Config{ECN: tc.b})
			n.connect()
			if n.ep[0].ECNCapable() != tc.want || n.ep[1].ECNCapable() != tc.want {
				t.Fatalf("ECN %v/%v: negotiated %v/%v", tc.a, tc.b, n.ep[0].ECNCapable(), n.ep[1].ECNCapable())
			}
		}
	})
	t.Run("CE marks reduce the window without retransmissions", func(t *testing.T) {
		n := newTestNet(t, Config{ECN: true}, Config{ECN: true})
		n.delay, n.rate = 10*time.Millisecond, 12.5e6
		n.connect()
		k := 0
		n.ce = func(to int, s header.TCP) bool {
			if to == 1 && len(s.Payload()) > 0 {
				k++
				return k%200 == 0
			}
			return false
		}
		n.keep = true
		data := randomData(4<<20, 9)
		if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
			t.Fatal("data differs")
		}
		st := n.ep[0].Info().Stats
		if st.ECNReductions == 0 || st.RetransSegs != 0 {
			t.Fatalf("reductions %d retransmissions %d", st.ECNReductions, st.RetransSegs)
		}
		var cwr, ece int
		for _, s := range n.sent[1] {
			if s.Flags()&header.TCPFlagCWR != 0 {
				cwr++
			}
		}
		for _, s := range n.sent[0] {
			if s.Flags()&header.TCPFlagECE != 0 {
				ece++
			}
		}
		if cwr == 0 || ece == 0 || uint64(cwr) > st.ECNReductions {
			t.Fatalf("CWR %d ECE %d reductions %d", cwr, ece, st.ECNReductions)
		}
	})
}

// TestNoRTTSampleAcrossRetransmission: a cumulative ACK that covers
// retransmitted data gives no RTT sample, also not from original segments
// above the repaired hole (Linux's FLAG_RETRANS_DATA_ACKED): the receiver
// had those long before and sent the ACK when the retransmission arrived.
// Without SACK, after an RTO whose retransmission fills the hole, their
// age includes the timeout: SRTT and RTTVAR grew with each timeout, and
// so did the next RTO (on a lossy path up to MaxRTO, with RTT samples of
// 30 s on a 90 ms path). Here a 50 ms path came out with SRTT 87.5 ms and
// RTTVAR 81 ms after one timeout.
func TestNoRTTSampleAcrossRetransmission(t *testing.T) {
	n := newTestNet(t, Config{DisableSACK: true}, Config{})
	n.delay = 25 * time.Millisecond
	n.connect()
	e := n.ep[0]
	base := e.Info().SndNxt
	seg := e.segDataMax()
	sent := map[int]int{}
	n.drop = func(to int, s header.TCP) bool {
		if to != 1 || len(s.Payload()) == 0 {
			return false
		}
		i := int(s.Seq()-base) / seg
		sent[i]++
		return i == 4 && sent[i] <= 2 // the fast retransmission is lost too
	}
	e.ccs.Cwnd = 30 * seg
	data := randomData(20*seg, 9)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	n.runFor(time.Second) // the last ACK
	in := e.Info()
	if in.Stats.Timeouts != 1 || in.SndUna != in.SndNxt {
		t.Fatalf("%d timeouts, %d bytes unacknowledged", in.Stats.Timeouts, in.SndNxt-in.SndUna)
	}
	if rtt := 2 * n.delay; in.SRTT > rtt+rtt/10 || in.RTTVar > rtt/2 {
		t.Fatalf("SRTT %v, RTTVAR %v on a %v path", in.SRTT, in.RTTVar, rtt)
	}
}
