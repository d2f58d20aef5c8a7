package tcp

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// stateTrace records the states an endpoint goes through.
func stateTrace(n *testNet, i int, d time.Duration) []State {
	var trace []State
	last := n.ep[i].State()
	trace = append(trace, last)
	limit := n.clock.t + d
	for n.step(limit) {
		if s := n.ep[i].State(); s != last {
			trace = append(trace, s)
			last = s
		}
	}
	return trace
}

func equalStates(a, b []State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStateTransitions walks the RFC 9293 §3.3.2 state diagram through
// the opens and closes, checking the exact sequence of states each side
// passes through.
func TestStateTransitions(t *testing.T) {
	tw := 2 * time.Second
	cfg := Config{TimeWait: tw}
	t.Run("passive open", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.ep[1].Listen()
		n.ep[0].Connect()
		if got := stateTrace(n, 1, time.Second); !equalStates(got, []State{StateListen, StateSynReceived, StateEstablished}) {
			t.Fatalf("passive side: %v", got)
		}
		if n.ep[0].State() != StateEstablished {
			t.Fatalf("active side: %v", n.ep[0].State())
		}
	})
	t.Run("active open", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.ep[1].Listen()
		n.ep[0].Connect()
		if n.ep[0].State() != StateSynSent {
			t.Fatalf("after Connect: %v", n.ep[0].State())
		}
		if got := stateTrace(n, 0, time.Second); !equalStates(got, []State{StateSynSent, StateEstablished}) {
			t.Fatalf("active side: %v", got)
		}
	})
	t.Run("simultaneous open", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = 10 * time.Millisecond
		n.ep[0].Connect()
		n.ep[1].Connect()
		var t0, t1 []State
		last0, last1 := n.ep[0].State(), n.ep[1].State()
		t0, t1 = append(t0, last0), append(t1, last1)
		for n.step(n.clock.t + time.Second) {
			if s := n.ep[0].State(); s != last0 {
				t0, last0 = append(t0, s), s
			}
			if s := n.ep[1].State(); s != last1 {
				t1, last1 = append(t1, s), s
			}
		}
		want := []State{StateSynSent, StateSynReceived, StateEstablished}
		if !equalStates(t0, want) || !equalStates(t1, want) {
			t.Fatalf("traces %v / %v", t0, t1)
		}
		data := randomData(100<<10, 3)
		if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
			t.Fatal("data after simultaneous open differs")
		}
	})
	t.Run("active close", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.connect()
		n.ep[0].Close()
		if n.ep[0].State() != StateFinWait1 {
			t.Fatalf("after Close: %v", n.ep[0].State())
		}
		// The passive side closes only when its application does.
		var trace []State
		last := n.ep[0].State()
		trace = append(trace, last)
		for n.step(n.clock.t + 100*time.Millisecond) {
			if s := n.ep[0].State(); s != last {
				trace, last = append(trace, s), s
			}
		}
		if n.ep[1].State() != StateCloseWait {
			t.Fatalf("passive side after FIN: %v", n.ep[1].State())
		}
		if _, err := n.ep[1].Read(make([]byte, 10)); err != io.EOF {
			t.Fatalf("read after FIN: %v", err)
		}
		n.ep[1].Close()
		if n.ep[1].State() != StateLastAck {
			t.Fatalf("passive side after Close: %v", n.ep[1].State())
		}
		last = n.ep[0].State()
		for n.step(n.clock.t + tw + time.Second) {
			if s := n.ep[0].State(); s != last {
				trace, last = append(trace, s), s
			}
		}
		if want := []State{StateFinWait1, StateFinWait2, StateTimeWait, StateClosed}; !equalStates(trace, want) {
			t.Fatalf("active closer: %v, want %v", trace, want)
		}
		if n.ep[1].State() != StateClosed || n.ep[1].Err() != nil || n.ep[0].Err() != nil {
			t.Fatalf("passive closer %v err %v/%v", n.ep[1].State(), n.ep[0].Err(), n.ep[1].Err())
		}
	})
	t.Run("simultaneous close", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = 10 * time.Millisecond
		n.connect()
		n.ep[0].Close()
		n.ep[1].Close()
		var t0 []State
		last := n.ep[0].State()
		t0 = append(t0, last)
		for n.step(n.clock.t + tw + time.Second) {
			if s := n.ep[0].State(); s != last {
				t0, last = append(t0, s), s
			}
		}
		if want := []State{StateFinWait1, StateClosing, StateTimeWait, StateClosed}; !equalStates(t0, want) {
			t.Fatalf("simultaneous close: %v, want %v", t0, want)
		}
		if n.ep[1].State() != StateClosed {
			t.Fatalf("other side %v", n.ep[1].State())
		}
	})
	t.Run("FIN-WAIT-1 to TIME-WAIT on FIN+ACK", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = 10 * time.Millisecond
		n.connect()
		// The passive application closes as soon as it sees EOF, so its
		// FIN acknowledges ours in one segment (FIN-WAIT-1 -> TIME-WAIT
		// directly is allowed when the FIN arrives with the ACK of ours).
		n.ep[0].Close()
		var t0 []State
		last := n.ep[0].State()
		t0 = append(t0, last)
		for n.step(n.clock.t + tw + time.Second) {
			if n.ep[1].State() == StateCloseWait {
				n.ep[1].Close()
			}
			if s := n.ep[0].State(); s != last {
				t0, last = append(t0, s), s
			}
		}
		if t0[len(t0)-1] != StateClosed || t0[len(t0)-2] != StateTimeWait {
			t.Fatalf("trace %v", t0)
		}
	})
	t.Run("half close keeps receiving", func(t *testing.T) {
		n := newTestNet(t, cfg, cfg)
		n.delay = time.Millisecond
		n.connect()
		n.ep[0].CloseWrite()
		n.runFor(100 * time.Millisecond)
		if n.ep[0].State() != StateFinWait2 || n.ep[1].State() != StateCloseWait {
			t.Fatalf("states %v %v", n.ep[0].State(), n.ep[1].State())
		}
		data := randomData(300<<10, 4)
		if got := n.transfer(1, data, time.Minute); !sameSHA(got, data) {
			t.Fatal("data in CLOSE-WAIT differs")
		}
		n.runFor(tw + time.Second)
		if n.ep[0].State() != StateClosed || n.ep[1].State() != StateClosed {
			t.Fatalf("final %v %v", n.ep[0].State(), n.ep[1].State())
		}
	})
}

func TestResets(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.ep[0].Connect()
		// Answer the SYN as a closed port would (RFC 9293 §3.10.7.1).
		syn := <-func() chan header.TCP {
			c := make(chan header.TCP, 1)
			n.drop = func(to int, s header.TCP) bool {
				if to == 1 {
					select {
					case c <- s:
					default:
					}
				}
				return true
			}
			n.ep[0].HandleTimers()
			n.clock.t += 2 * time.Second
			n.ep[0].HandleTimers()
			return c
		}()
		rst := Segment{Seq: 0, Ack: syn.Seq() + 1, Flags: header.TCPFlagRST | header.TCPFlagACK}
		n.ep[0].HandleSegment(&rst)
		if n.ep[0].State() != StateClosed || !errors.Is(n.ep[0].Err(), ErrConnectionRefused) {
			t.Fatalf("%v %v", n.ep[0].State(), n.ep[0].Err())
		}
	})
	for _, st := range []State{StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait} {
		t.Run("peer reset in "+st.String(), func(t *testing.T) {
			n := newTestNet(t, Config{}, Config{})
			n.delay = time.Millisecond
			n.connect()
			switch st {
			case StateFinWait1:
				n.drop = func(to int, s header.TCP) bool { return to == 1 }
				n.ep[0].Close()
			case StateFinWait2:
				n.ep[0].CloseWrite()
				n.runFor(50 * time.Millisecond)
			case StateCloseWait:
				n.ep[1].CloseWrite()
				n.runFor(50 * time.Millisecond)
			}
			n.drop = nil
			if n.ep[0].State() != st {
				t.Fatalf("setup reached %v", n.ep[0].State())
			}
			n.ep[1].Abort()
			n.runFor(50 * time.Millisecond)
			if n.ep[0].State() != StateClosed || !errors.Is(n.ep[0].Err(), ErrConnectionReset) {
				t.Fatalf("after peer abort: %v %v", n.ep[0].State(), n.ep[0].Err())
			}
			if _, err := n.ep[0].Write([]byte("x")); !errors.Is(err, ErrConnectionReset) {
				t.Fatalf("write after reset: %v", err)
			}
			if !errors.Is(n.ep[1].Err(), ErrConnectionAborted) {
				t.Fatalf("aborter err %v", n.ep[1].Err())
			}
		})
	}
	t.Run("RST out of window is challenged", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.delay = time.Millisecond
		n.connect()
		n.keep = true
		in := n.ep[0].Info()
		rst := Segment{Seq: in.RcvNxt + 5, Flags: header.TCPFlagRST}
		n.ep[0].HandleSegment(&rst)
		if n.ep[0].State() != StateEstablished || n.ep[0].Info().Stats.ChallengeACKs != 1 {
			t.Fatalf("in-window inexact RST: %v, challenges %d", n.ep[0].State(), n.ep[0].Info().Stats.ChallengeACKs)
		}
		last := n.sent[1][len(n.sent[1])-1]
		if last.Flags() != header.TCPFlagACK || last.Ack() != in.RcvNxt {
			t.Fatalf("challenge ACK %v ack %d", last.Flags(), last.Ack())
		}
		far := Segment{Seq: in.RcvNxt + 1<<30, Flags: header.TCPFlagRST}
		n.ep[0].HandleSegment(&far)
		if n.ep[0].State() != StateEstablished {
			t.Fatal("out-of-window RST accepted")
		}
		syn := Segment{Seq: in.RcvNxt, Flags: header.TCPFlagSYN}
		n.ep[0].HandleSegment(&syn)
		if n.ep[0].State() != StateEstablished || n.ep[0].Info().Stats.ChallengeACKs != 2 {
			t.Fatal("SYN in ESTABLISHED not challenged")
		}
		exact := Segment{Seq: in.RcvNxt, Flags: header.TCPFlagRST}
		n.ep[0].HandleSegment(&exact)
		if n.ep[0].State() != StateClosed {
			t.Fatal("exact RST ignored")
		}
	})
	t.Run("close with unread data sends RST", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.delay = time.Millisecond
		n.connect()
		n.ep[1].Write([]byte("unread"))
		n.runFor(50 * time.Millisecond)
		n.ep[0].Close()
		n.runFor(50 * time.Millisecond)
		if !errors.Is(n.ep[1].Err(), ErrConnectionReset) || n.ep[0].State() != StateClosed {
			t.Fatalf("%v %v", n.ep[1].Err(), n.ep[0].State())
		}
	})
	t.Run("data after full close gets RST", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.delay = time.Millisecond
		n.connect()
		n.ep[0].Close()
		n.runFor(50 * time.Millisecond)
		if n.ep[0].State() != StateFinWait2 {
			t.Fatalf("state %v", n.ep[0].State())
		}
		n.ep[1].Write([]byte("late"))
		n.runFor(50 * time.Millisecond)
		if !errors.Is(n.ep[1].Err(), ErrConnectionReset) {
			t.Fatalf("sender of late data: %v %v", n.ep[1].State(), n.ep[1].Err())
		}
	})
	t.Run("ACK in LISTEN gets RST", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.keep = true
		n.ep[1].Listen()
		ack := Segment{Seq: 5, Ack: 1234, Flags: header.TCPFlagACK}
		n.ep[1].HandleSegment(&ack)
		if len(n.sent[0]) != 1 || n.sent[0][0].Flags() != header.TCPFlagRST || n.sent[0][0].Seq() != 1234 {
			t.Fatalf("reply %v", n.sent[0])
		}
		if n.ep[1].State() != StateListen {
			t.Fatal("left LISTEN")
		}
	})
	t.Run("bad ACK in SYN-SENT gets RST", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.keep = true
		n.ep[0].Connect()
		bad := Segment{Seq: 9, Ack: 77, Flags: header.TCPFlagSYN | header.TCPFlagACK}
		n.ep[0].HandleSegment(&bad)
		last := n.sent[1][len(n.sent[1])-1]
		if last.Flags() != header.TCPFlagRST || last.Seq() != 77 || n.ep[0].State() != StateSynSent {
			t.Fatalf("reply %v seq %d state %v", last.Flags(), last.Seq(), n.ep[0].State())
		}
	})
	t.Run("RST in SYN-RECEIVED", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.drop = func(to int, s header.TCP) bool { return to == 0 } // SYN-ACK lost
		n.ep[1].Listen()
		n.ep[0].Connect()
		n.runFor(10 * time.Millisecond)
		if n.ep[1].State() != StateSynReceived {
			t.Fatalf("state %v", n.ep[1].State())
		}
		rst := Segment{Seq: n.ep[1].Info().RcvNxt, Flags: header.TCPFlagRST}
		n.ep[1].HandleSegment(&rst)
		if n.ep[1].State() != StateClosed {
			t.Fatalf("state %v", n.ep[1].State())
		}
	})
}

func TestTimeWaitReACKsFIN(t *testing.T) {
	n := newTestNet(t, Config{TimeWait: 10 * time.Second}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.ep[0].Close()
	n.runFor(10 * time.Millisecond)
	n.ep[1].Close()
	n.runFor(10 * time.Millisecond)
	if n.ep[0].State() != StateTimeWait {
		t.Fatalf("state %v", n.ep[0].State())
	}
	n.keep = true
	in := n.ep[0].Info()
	fin := Segment{Seq: in.RcvNxt - 1, Ack: in.SndNxt, Flags: header.TCPFlagFIN | header.TCPFlagACK}
	n.clock.t += 5 * time.Second
	n.ep[0].HandleSegment(&fin)
	if len(n.sent[1]) != 1 || n.sent[1][0].Flags() != header.TCPFlagACK {
		t.Fatalf("no ACK for retransmitted FIN: %v", n.sent[1])
	}
	// 2MSL restarts: still in TIME-WAIT 6 s later, closed after 10.
	n.clock.t += 6 * time.Second
	n.ep[0].HandleTimers()
	if n.ep[0].State() != StateTimeWait {
		t.Fatal("TIME-WAIT not restarted")
	}
	n.clock.t += 5 * time.Second
	n.ep[0].HandleTimers()
	if n.ep[0].State() != StateClosed {
		t.Fatalf("state %v", n.ep[0].State())
	}
}

func TestCloseBeforeEstablished(t *testing.T) {
	t.Run("SYN-SENT to CLOSED", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.drop = func(int, header.TCP) bool { return true }
		n.ep[0].Connect()
		n.ep[0].Close()
		if n.ep[0].State() != StateClosed {
			t.Fatalf("state %v", n.ep[0].State())
		}
		if _, ok := n.ep[0].NextDeadline(); ok {
			t.Fatal("timers still armed after close in SYN-SENT")
		}
	})
	t.Run("LISTEN to CLOSED", func(t *testing.T) {
		n := newTestNet(t, Config{}, Config{})
		n.ep[1].Listen()
		n.ep[1].Close()
		if n.ep[1].State() != StateClosed {
			t.Fatalf("state %v", n.ep[1].State())
		}
	})
	t.Run("SYN-RECEIVED to FIN-WAIT-1", func(t *testing.T) {
		n := newTestNet(t, Config{TimeWait: time.Second}, Config{TimeWait: time.Second})
		n.delay = 10 * time.Millisecond
		n.ep[1].Listen()
		n.ep[0].Connect()
		if !n.runUntil(time.Second, func() bool { return n.ep[1].State() == StateSynReceived }) {
			t.Fatal("no SYN-RECEIVED")
		}
		n.ep[1].Close() // RFC 9293 §3.10.4: FIN after the handshake completes
		var trace []State
		last := n.ep[1].State()
		trace = append(trace, last)
		for n.step(n.clock.t + 5*time.Second) {
			if n.ep[0].State() == StateCloseWait {
				n.ep[0].Close()
			}
			if s := n.ep[1].State(); s != last {
				trace, last = append(trace, s), s
			}
		}
		want := []State{StateSynReceived, StateFinWait1, StateFinWait2, StateTimeWait, StateClosed}
		if !equalStates(trace, want) {
			t.Fatalf("trace %v, want %v", trace, want)
		}
	})
}

// TestSimultaneousOpenSynAckCompletes: in a simultaneous open each side's
// SYN-ACK completes the other's open (RFC 9293 §3.5 figure 8, line 6), as
// Linux does; no extra ACK is needed. Pure ACKs are dropped here, so an
// engine that took the SYN-ACK for an old duplicate (and only ACKed it)
// stays in SYN-RECEIVED until its SYN-ACK is retransmitted a second later.
// The conformance scenario tcp/simultaneous-open found this against Linux.
func TestSimultaneousOpenSynAckCompletes(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = 10 * time.Millisecond
	n.drop = func(_ int, seg header.TCP) bool {
		return seg.Flags() == header.TCPFlagACK && len(seg.Payload()) == 0
	}
	n.ep[0].Connect()
	n.ep[1].Connect()
	n.runFor(500 * time.Millisecond)
	for i, ep := range n.ep {
		if ep.State() != StateEstablished {
			t.Errorf("side %d: %v after the SYN-ACKs crossed, want ESTABLISHED", i, ep.State())
		}
	}
}
