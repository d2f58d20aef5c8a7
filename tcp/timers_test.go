package tcp

import (
	"errors"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

func TestSynRetransmitBackoffAndTimeout(t *testing.T) {
	n := newTestNet(t, Config{SynRetries: 3}, Config{})
	var times []time.Duration
	n.drop = func(to int, s header.TCP) bool {
		if s.Flags()&header.TCPFlagSYN != 0 {
			times = append(times, n.clock.t)
		}
		return true
	}
	start := n.clock.t
	n.ep[0].Connect()
	n.runFor(time.Minute)
	// RFC 6298 §2.1 / §5.5: initial RTO 1 s, doubled on each expiry.
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second}
	if len(times) != len(want) {
		t.Fatalf("SYNs at %v", times)
	}
	for i := range want {
		if times[i]-start != want[i] {
			t.Fatalf("SYN %d at %v, want %v", i, times[i]-start, want[i])
		}
	}
	if n.ep[0].State() != StateClosed || !errors.Is(n.ep[0].Err(), ErrTimeout) {
		t.Fatalf("%v %v", n.ep[0].State(), n.ep[0].Err())
	}
}

func TestRTOBackoffAndRecovery(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = 20 * time.Millisecond
	n.connect()
	var rtx []time.Duration
	black := true
	n.drop = func(to int, s header.TCP) bool {
		if to == 1 && len(s.Payload()) > 0 {
			rtx = append(rtx, n.clock.t)
			return black
		}
		return false
	}
	n.ep[0].Write([]byte("hello"))
	n.runFor(3 * time.Second)
	// First transmission, then a probe/RTO and doubling intervals.
	if len(rtx) < 4 {
		t.Fatalf("transmissions at %v", rtx)
	}
	for i := 3; i < len(rtx); i++ {
		d1, d2 := rtx[i-1]-rtx[i-2], rtx[i]-rtx[i-1]
		if d2 != 2*d1 {
			t.Fatalf("interval %v after %v: not doubled (%v)", d2, d1, rtx)
		}
	}
	if n.ep[0].Info().Stats.Timeouts == 0 {
		t.Fatal("no timeouts counted")
	}
	black = false
	buf := make([]byte, 10)
	if !n.runUntil(20*time.Second, func() bool { return n.ep[1].Readable() }) {
		t.Fatal("never delivered after the path healed")
	}
	if k, _ := n.ep[1].Read(buf); string(buf[:k]) != "hello" {
		t.Fatalf("read %q", buf[:k])
	}
	n.runFor(time.Second)
	if in := n.ep[0].Info(); in.InFlight != 0 || in.InRecovery {
		t.Fatalf("after recovery: %+v", in)
	}
}

func TestDataRetriesTimeout(t *testing.T) {
	n := newTestNet(t, Config{DataRetries: 3, MaxRTO: 2 * time.Second}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.drop = func(to int, s header.TCP) bool { return true }
	n.ep[0].Write([]byte("lost forever"))
	n.runFor(time.Minute)
	if !errors.Is(n.ep[0].Err(), ErrTimeout) {
		t.Fatalf("err %v state %v", n.ep[0].Err(), n.ep[0].State())
	}
}

func TestZeroWindowProbe(t *testing.T) {
	n := newTestNet(t, Config{}, Config{ReceiveBufferSize: 16 << 10, ReceiveBufferMax: 16 << 10})
	n.delay = 5 * time.Millisecond
	n.connect()
	data := randomData(200<<10, 9)
	off, _ := n.ep[0].Write(data)
	n.runFor(2 * time.Second)
	in := n.ep[0].Info()
	if in.SndWnd != 0 || n.ep[1].Info().RecvBuffered != 16<<10 {
		t.Fatalf("window not closed: snd wnd %d, buffered %d", in.SndWnd, n.ep[1].Info().RecvBuffered)
	}
	n.runFor(10 * time.Second)
	if p := n.ep[0].Info().Stats.ZeroWindowProbes; p < 3 {
		t.Fatalf("%d zero-window probes in 10 s", p)
	}
	if n.ep[0].State() != StateEstablished {
		t.Fatal("connection dropped while probing")
	}
	// The application reads: the window reopens and the transfer completes.
	got := n.pump(1, nil, 0, false) // nothing to send from 1; just set up
	_ = got
	first := make([]byte, off)
	k := 0
	for k < off {
		r, err := n.ep[1].Read(first[k:])
		if err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			if !n.step(n.clock.t + time.Minute) {
				t.Fatalf("stalled after %d bytes", k)
			}
		}
		k += r
	}
	rest := n.pump(0, data[off:], time.Minute, false)
	if !sameSHA(append(first, rest...), data) {
		t.Fatal("data differs after the window reopened")
	}
}

func TestKeepalive(t *testing.T) {
	cfg := Config{Keepalive: true, KeepaliveIdle: 10 * time.Second, KeepaliveInterval: time.Second, KeepaliveCount: 3}
	n := newTestNet(t, cfg, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.runFor(time.Minute)
	if n.ep[0].State() != StateEstablished {
		t.Fatalf("answered keepalives still dropped the connection: %v %v", n.ep[0].State(), n.ep[0].Err())
	}
	n.drop = func(int, header.TCP) bool { return true }
	n.runFor(time.Minute)
	if !errors.Is(n.ep[0].Err(), ErrTimeout) {
		t.Fatalf("unanswered keepalives: %v %v", n.ep[0].State(), n.ep[0].Err())
	}
}

func TestDelayedAck(t *testing.T) {
	n := newTestNet(t, Config{}, Config{DelayedAckTimeout: 100 * time.Millisecond})
	n.delay = time.Millisecond
	n.connect()
	// Use up the quick ACKs of the connection start.
	data := randomData(64<<10, 5)
	n.pump(0, data, time.Minute, false)
	n.runFor(time.Second)
	n.keep = true
	n.ep[1].quickAcks = 0
	n.ep[0].Write([]byte("x"))
	n.runFor(50 * time.Millisecond)
	if len(n.sent[0]) != 0 {
		t.Fatalf("ACK after 50 ms despite 100 ms delayed-ACK timer: %d segments", len(n.sent[0]))
	}
	n.runFor(60 * time.Millisecond)
	if len(n.sent[0]) != 1 {
		t.Fatalf("%d ACKs after the delayed-ACK timer", len(n.sent[0]))
	}
}

func TestDeferAcksOnePerBatch(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = time.Millisecond
	n.connect()
	n.pump(0, randomData(64<<10, 5), time.Minute, false) // past the quick ACKs
	n.runFor(time.Second)
	b := n.ep[1]
	b.DeferAcks(true)
	n.keep = true
	in := b.Info()
	payload := make([]byte, 1000)
	for i := 0; i < 10; i++ {
		seg := Segment{Seq: in.RcvNxt + uint32(i*1000), Ack: in.SndNxt, Flags: header.TCPFlagACK, Window: 1000, Payload: payload,
			Options: header.AppendTimestamps(nil, n.ep[0].tsVal(), 0)}
		b.HandleSegment(&seg)
	}
	if len(n.sent[0]) != 0 {
		t.Fatalf("%d ACKs before FlushAck", len(n.sent[0]))
	}
	b.FlushAck()
	if len(n.sent[0]) != 1 || n.sent[0][0].Ack() != in.RcvNxt+10000 {
		t.Fatalf("after FlushAck: %d ACKs", len(n.sent[0]))
	}
}

// TestTailLossProbe drops the last segment of a flight: the probe (RFC
// 8985 §7) repairs it well before the RTO, and the loss it repaired
// lowers cwnd (§7.4).
func TestTailLossProbe(t *testing.T) {
	n := newTestNet(t, Config{}, Config{})
	n.delay = 20 * time.Millisecond
	n.connect()
	n.pump(0, randomData(100<<10, 1), time.Minute, false) // RTT samples
	n.runFor(time.Second)
	dropped := false
	n.drop = func(to int, s header.TCP) bool {
		if to == 1 && len(s.Payload()) > 0 && len(s.Payload()) < 1000 && !dropped {
			dropped = true
			return true
		}
		return false
	}
	start := n.clock.t
	n.ep[0].Write(make([]byte, 3000+500))
	n.ep[0].Write(nil)
	var done time.Duration
	buf := make([]byte, 8000)
	got := 0
	for got < 3500 && n.step(n.clock.t+10*time.Second) {
		k, _ := n.ep[1].Read(buf)
		got += k
		if got >= 3500 && done == 0 {
			done = n.clock.t - start
		}
	}
	n.runFor(time.Second) // let the ACK of the probe reach the sender
	st := n.ep[0].Info().Stats
	if !dropped || st.TLPProbes == 0 || st.Timeouts != 0 {
		t.Fatalf("dropped %v, probes %d, timeouts %d", dropped, st.TLPProbes, st.Timeouts)
	}
	if done > 400*time.Millisecond {
		t.Fatalf("tail loss repaired after %v", done)
	}
	if st.TLPRecoveries != 1 {
		t.Fatalf("TLP recoveries %d: %+v", st.TLPRecoveries, st)
	}
}
