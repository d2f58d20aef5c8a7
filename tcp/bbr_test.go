package tcp

import (
	"sort"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// recordingBBR is BBR that keeps every rate sample it was given and its
// mode after each.
type recordingBBR struct {
	BBR
	samples []RateSample
	modes   []BBRMode
	cwnds   []int
	stamps  []time.Duration // when RTprop was last set, before each sample
}

func (r *recordingBBR) OnRateSample(s *CCState, rs *RateSample) {
	r.stamps = append(r.stamps, r.minStamp)
	r.BBR.OnRateSample(s, rs)
	r.samples = append(r.samples, *rs)
	r.modes = append(r.modes, r.mode)
	r.cwnds = append(r.cwnds, s.Cwnd)
}

// modeChanges lists the modes in the order they were entered, with the
// index of the sample that entered each.
func (r *recordingBBR) modeChanges() (modes []BBRMode, at []int) {
	for i, m := range r.modes {
		if len(modes) == 0 || modes[len(modes)-1] != m {
			modes = append(modes, m)
			at = append(at, i)
		}
	}
	return modes, at
}

// bbrNet is a test network whose ep[0] sends with a recording BBR, over
// a bottleneck of rate bytes/s and the one-way delay; the receiver's
// buffer is large enough not to limit the sender.
func bbrNet(t *testing.T, rate float64, delay time.Duration) (*testNet, *recordingBBR) {
	t.Helper()
	n := newTestNet(t, Config{CongestionControl: "bbr"}, Config{ReceiveBufferSize: 16 << 20, ReceiveBufferMax: 16 << 20})
	rec := &recordingBBR{}
	n.ep[0].cc, n.ep[0].rcc = rec, rec
	n.delay, n.rate = delay, rate
	n.connect()
	return n, rec
}

// payloadRate is the rate of TCP payload through the harness bottleneck
// (which counts 40 bytes of IP and link overhead per packet) for full
// segments of endpoint e.
func payloadRate(e *Endpoint, rate float64) float64 {
	seg := e.segDataMax()
	return rate * float64(seg) / float64(seg+header.TCPMinHeaderLen+12+40)
}

// TestRateSamplesMatchBottleneck checks the delivery rate estimator
// against the known bottleneck: once the sender keeps the bottleneck busy,
// every valid sample measures its rate, and none exceeds it.
func TestRateSamplesMatchBottleneck(t *testing.T) {
	const rate = 2.5e6 // 20 Mbit/s
	n, rec := bbrNet(t, rate, 10*time.Millisecond)
	data := randomData(8<<20, 1)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	want := payloadRate(n.ep[0], rate)
	var late []float64
	valid := 0
	for i, s := range rec.samples {
		if s.Delivered < 0 || s.Interval <= 0 {
			continue
		}
		valid++
		if s.Delivered != s.TotalDelivered-s.PriorDelivered {
			t.Fatalf("sample %d: delivered %d, C.delivered %d - P.delivered %d", i, s.Delivered, s.TotalDelivered, s.PriorDelivered)
		}
		bw := float64(s.Delivered) / s.Interval.Seconds()
		if bw > want*1.02 {
			t.Errorf("sample %d: %.0f B/s over %v exceeds the bottleneck's %.0f", i, bw, s.Interval, want)
		}
		if rec.modes[i] == BBRProbeBW && !s.IsAppLimited {
			late = append(late, bw)
		}
	}
	if len(late) < 100 {
		t.Fatalf("%d valid samples, %d in ProbeBW", valid, len(late))
	}
	sort.Float64s(late)
	if med := late[len(late)/2]; med < want*0.97 || med > want*1.01 {
		t.Fatalf("median ProbeBW sample %.0f B/s, bottleneck %.0f", med, want)
	}
}

// TestRateSamplesAppLimited: a sender that writes less than the path
// carries marks its samples application-limited, and they measure the
// application's rate, not the path's.
func TestRateSamplesAppLimited(t *testing.T) {
	const rate = 2.5e6
	n, rec := bbrNet(t, rate, 10*time.Millisecond)
	chunk := randomData(10000, 2) // 10 kB every 20 ms: 0.5 MB/s
	for i := 0; i < 200; i++ {
		if w, _ := n.ep[0].Write(chunk); w != len(chunk) {
			t.Fatalf("write took %d", w)
		}
		n.runFor(20 * time.Millisecond)
		buf := make([]byte, 64<<10)
		for {
			if r, _ := n.ep[1].Read(buf); r == 0 {
				break
			}
		}
	}
	limited, valid := 0, 0
	for _, s := range rec.samples[len(rec.samples)/2:] {
		if s.Delivered < 0 || s.Interval <= 0 {
			continue
		}
		valid++
		if s.IsAppLimited {
			limited++
		}
	}
	if valid == 0 || limited < valid*9/10 {
		t.Fatalf("%d of %d samples app-limited", limited, valid)
	}
	if bw := rec.btlBw.get(); bw > 0.5*payloadRate(n.ep[0], rate) {
		t.Fatalf("BtlBw %.0f from app-limited samples; the application sent 500000 B/s", bw)
	}
}

// TestBBRModel checks BBR's path model and state machine on a clean
// 100 Mbit/s, 40 ms path: Startup ends (full bandwidth reached), Drain
// follows, then ProbeBW; BtlBw is the bottleneck rate and RTprop the
// path's RTT.
func TestBBRModel(t *testing.T) {
	const rate = 12.5e6
	n, rec := bbrNet(t, rate, 20*time.Millisecond)
	data := randomData(24<<20, 3)
	if got := n.transfer(0, data, time.Minute); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	modes, _ := rec.modeChanges()
	if len(modes) < 3 || modes[0] != BBRStartup || modes[1] != BBRDrain || modes[2] != BBRProbeBW {
		t.Fatalf("modes %v, want startup, drain, probe_bw", modes)
	}
	in := n.ep[0].Info()
	want := payloadRate(n.ep[0], rate)
	if bw := in.BBR.BtlBw; bw < want*0.9 || bw > want*1.1 {
		t.Fatalf("BtlBw %.0f B/s, bottleneck %.0f", bw, want)
	}
	path := 40 * time.Millisecond // plus a segment's serialization, 0.12 ms at most
	if m := in.BBR.MinRTT; m < path || m > path+time.Millisecond {
		t.Fatalf("RTprop %v, path RTT %v", m, path)
	}
	if in.BBR.Mode != BBRProbeBW || in.PacingRate < 0.7*want || in.PacingRate > 1.3*want {
		t.Fatalf("at the end: %+v, pacing %.0f", in.BBR, in.PacingRate)
	}
}

// TestBBRPacing checks that a BBR sender transmits in bursts of at most
// one pacing quantum, also when an application write after an idle period
// finds a large window open (unpaced, the whole window would leave at once).
func TestBBRPacing(t *testing.T) {
	const rate = 12.5e6
	n, _ := bbrNet(t, rate, 20*time.Millisecond)
	type burst struct {
		at    time.Duration
		bytes int
		rate  float64
	}
	var bursts []burst
	n.drop = func(to int, s header.TCP) bool {
		if to != 1 || len(s.Payload()) == 0 {
			return false
		}
		r := n.ep[0].Info().PacingRate
		if r == 0 {
			return false // the initial window, before any rate estimate
		}
		if len(bursts) == 0 || bursts[len(bursts)-1].at != n.clock.t {
			bursts = append(bursts, burst{at: n.clock.t, rate: r})
		}
		bursts[len(bursts)-1].bytes += len(s.Payload())
		return false
	}
	n.pump(0, randomData(8<<20, 4), time.Minute, false)
	n.runFor(time.Second) // idle: everything ACKed, cwnd stays open
	if in := n.ep[0].Info(); in.Cwnd < 500<<10 {
		t.Fatalf("cwnd %d after the transfer; the test needs a large one", in.Cwnd)
	}
	before := len(bursts)
	n.pump(0, randomData(1<<20, 5), time.Minute, false)
	if len(bursts)-before < 20 {
		t.Fatalf("1 MB after idle went out in %d bursts", len(bursts)-before)
	}
	seg := n.ep[0].segDataMax()
	for i, b := range bursts {
		if q := pacingQuantum(b.rate, seg); b.bytes > q {
			t.Fatalf("burst %d at %v: %d bytes, quantum %d at %.0f B/s", i, b.at, b.bytes, q, b.rate)
		}
	}
	// Over the paced write, the sending rate stays near the pacing rate.
	tail := bursts[before:]
	total := 0
	for _, b := range tail[:len(tail)-1] {
		total += b.bytes
	}
	el := tail[len(tail)-1].at - tail[0].at
	if r := float64(total) / el.Seconds(); r > 1.3*tail[0].rate {
		t.Fatalf("sent at %.0f B/s, pacing rate %.0f", r, tail[0].rate)
	}
}

// TestBBRProbeRTT: after ten seconds without an RTT sample at or below
// RTprop (the path's delay grew by a millisecond after the first second),
// BBR enters ProbeRTT, holds the window at four segments for at least
// 200 ms and a round trip, and returns to ProbeBW.
func TestBBRProbeRTT(t *testing.T) {
	const rate = 1.25e6 // 10 Mbit/s
	n, rec := bbrNet(t, rate, 10*time.Millisecond)
	grown := false
	var lastMin, entered, exited time.Duration
	data := randomData(20<<20, 6)
	off := 0
	buf := make([]byte, 1<<20)
	start := n.clock.t
	for n.clock.t < start+14*time.Second && exited == 0 {
		for off < len(data) {
			w, _ := n.ep[0].Write(data[off:])
			if w == 0 {
				break
			}
			off += w
		}
		for {
			if r, _ := n.ep[1].Read(buf); r == 0 {
				break
			}
		}
		if !grown && n.clock.t > start+time.Second {
			n.delay += time.Millisecond / 2 // both ways: RTT +1 ms
			grown = true
		}
		k := len(rec.samples)
		if !n.step(start + 14*time.Second) {
			break
		}
		for i := k; i < len(rec.samples); i++ {
			s := &rec.samples[i]
			if rec.modes[i] == BBRProbeRTT {
				if entered == 0 {
					entered, lastMin = s.Now, rec.stamps[i]
				}
				if s.Inflight <= 4*n.ep[0].ccs.MSS && rec.cwnds[i] > 4*n.ep[0].ccs.MSS {
					t.Fatalf("cwnd %d in ProbeRTT", rec.cwnds[i])
				}
			} else if entered != 0 && exited == 0 {
				exited = s.Now
				if rec.modes[i] != BBRProbeBW {
					t.Fatalf("left ProbeRTT for %v", rec.modes[i])
				}
			}
		}
	}
	if entered == 0 || exited == 0 {
		t.Fatalf("ProbeRTT entered at %v, left at %v (last RTprop change %v)", entered, exited, lastMin)
	}
	if d := entered - lastMin; d < 10*time.Second || d > 10*time.Second+200*time.Millisecond {
		t.Fatalf("ProbeRTT %v after the last RTprop sample", d)
	}
	if d := exited - entered; d < 200*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("ProbeRTT lasted %v", d)
	}
}

// TestBBRRandomLoss compares BBR and CUBIC on the same lossy path (100
// Mbit/s, 50 ms RTT, 1% random loss both ways): BBR does not read random
// loss as congestion and keeps most of the bottleneck, CUBIC collapses.
func TestBBRRandomLoss(t *testing.T) {
	const rate, size = 12.5e6, 16 << 20
	goodput := map[string]float64{}
	for _, cc := range []string{"bbr", "cubic"} {
		n := newTestNet(t, Config{CongestionControl: cc}, Config{CongestionControl: cc})
		n.delay, n.rate = 25*time.Millisecond, rate
		n.connect()
		n.loss = 0.01
		data := randomData(size, 7)
		start := n.clock.t
		if got := n.transfer(0, data, 10*time.Minute); !sameSHA(got, data) {
			t.Fatalf("%s: data differs", cc)
		}
		in := n.ep[0].Info()
		goodput[cc] = float64(size) / (n.clock.t - start).Seconds() / payloadRate(n.ep[0], rate)
		t.Logf("%s: %.2f of the bottleneck, %d retransmissions, %d timeouts", cc, goodput[cc], in.Stats.RetransSegs, in.Stats.Timeouts)
	}
	if goodput["bbr"] < 0.6 || goodput["bbr"] < 5*goodput["cubic"] {
		t.Fatalf("goodput relative to the bottleneck: bbr %.2f, cubic %.2f", goodput["bbr"], goodput["cubic"])
	}
}

// TestBBRRecoveryWindow checks the window rules around a loss episode
// (tcp_bbr.c's bbr_set_cwnd_to_recover_or_restore): packet conservation
// in the first round of recovery, no multiplicative decrease, and the
// window from before recovery restored when it ends.
func TestBBRRecoveryWindow(t *testing.T) {
	b := &BBR{}
	s := CCState{Cwnd: 10 * mss, Ssthresh: 1 << 30, MSS: mss}
	now := time.Second
	delivered := int64(0)
	sample := func(acked, inflight int, rec bool) {
		now += time.Millisecond
		delivered += int64(acked)
		b.OnRateSample(&s, &RateSample{Delivered: int64(acked) * 10, Interval: 10 * time.Millisecond,
			PriorDelivered: delivered - int64(acked)*10, RTT: 10 * time.Millisecond, AckedSacked: acked,
			PriorInflight: inflight + acked, Inflight: inflight, TotalDelivered: delivered, DeliveredTime: now,
			SRTT: 10 * time.Millisecond, MinRTT: 10 * time.Millisecond, InRecovery: rec, Now: now})
	}
	for range 50 {
		sample(2*mss, s.Cwnd-2*mss, false)
	}
	before := s.Cwnd
	if before < 50*mss {
		t.Fatalf("cwnd %d after growth", before)
	}
	b.OnCongestion(&s, s.Cwnd, now)
	sample(2*mss, before/2, true)
	if s.Cwnd != before/2+2*mss {
		t.Fatalf("first ACK of recovery: cwnd %d, want inflight+acked %d", s.Cwnd, before/2+2*mss)
	}
	sample(mss, before/2, true)
	if s.Cwnd != before/2+2*mss {
		t.Fatalf("packet conservation: cwnd %d, want %d", s.Cwnd, before/2+2*mss)
	}
	sample(2*mss, before/2, false)
	if s.Cwnd < before {
		t.Fatalf("after recovery cwnd %d, before it %d", s.Cwnd, before)
	}
}

// TestLossBasedNotPaced: CUBIC and Reno never pace (the pacing state
// stays untouched) and report no pacing rate.
func TestLossBasedNotPaced(t *testing.T) {
	for _, cc := range []string{"cubic", "reno"} {
		el, n := bbrRun(t, cc, 12.5e6, 10*time.Millisecond, 0, 4<<20)
		e := n.ep[0]
		if e.rcc != nil || e.pace != (pacing{}) || e.Info().PacingRate != 0 {
			t.Fatalf("%s paced: %+v", cc, e.pace)
		}
		_ = el
	}
	if NewCongestionControl("bbr").Name() != "bbr" {
		t.Fatal(`NewCongestionControl("bbr")`)
	}
}

// bbrRun transfers size bytes from ep[0] over a path of rate bytes/s,
// one-way delay and random loss, and returns the simulated time taken.
func bbrRun(t *testing.T, cc string, rate float64, delay time.Duration, loss float64, size int) (time.Duration, *testNet) {
	t.Helper()
	n := newTestNet(t, Config{CongestionControl: cc}, Config{CongestionControl: cc})
	n.delay, n.rate = delay, rate
	n.connect()
	n.loss = loss
	data := randomData(size, 3)
	start := n.clock.t
	if got := n.transfer(0, data, 10*time.Minute); !sameSHA(got, data) {
		t.Fatalf("%s: received %d of %d bytes, content differs", cc, len(got), len(data))
	}
	return n.clock.t - start, n
}

// TestBBRReceiveWindowLimited: a peer whose window can no longer grow (no
// window scaling: 64 KiB) below BBR's Startup window, on a path with a
// 15 ms drop-tail queue. Samples limited by such a window measure the
// path, so Startup must end and the window settle at the model's, not
// keep the queue overflowing round after round. (Before: every sample
// was app-limited, BBR stayed in Startup for the whole transfer and
// retransmitted 29% of its segments; CUBIC under 1%.)
func TestBBRReceiveWindowLimited(t *testing.T) {
	n := newTestNet(t, Config{CongestionControl: "bbr", DisableWindowScale: true}, Config{DisableWindowScale: true})
	n.rate, n.delay = 1e6, 10*time.Millisecond // BDP 20 KB, under the 64 KiB window
	n.drop = func(to int, seg header.TCP) bool {
		return to == 1 && n.busy[1]-n.clock.t > 15*time.Millisecond
	}
	n.connect()
	data := randomData(4<<20, 5)
	if got := n.transfer(0, data, 120*time.Second); !sameSHA(got, data) {
		t.Fatal("data corrupted")
	}
	in := n.ep[0].Info()
	if in.BBR.Mode == BBRStartup || in.BBR.Mode == BBRDrain {
		t.Errorf("BBR still in %v after %d rounds", in.BBR.Mode, in.BBR.Rounds)
	}
	if r := float64(in.Stats.RetransSegs) / float64(in.Stats.SegsOut); r > 0.05 {
		t.Errorf("retransmitted %.1f%% of the segments (%d of %d)", 100*r, in.Stats.RetransSegs, in.Stats.SegsOut)
	}
}

// TestBBRIdleRestartNoProbeRTT: a sender idle for longer than the RTprop
// window does not enter ProbeRTT on the first ACK after it restarts: that
// ACK's RTT sample refreshes the expired RTprop (tcp_bbr.c's idle_restart).
// Before, every transfer after 10 s of idleness was held to four segments
// for 200 ms and a round trip.
func TestBBRIdleRestartNoProbeRTT(t *testing.T) {
	n, rec := bbrNet(t, 1.25e6, 10*time.Millisecond)
	for i := 0; i < 3; i++ {
		data := randomData(1<<20, uint64(i))
		k := len(rec.samples)
		if got := n.pump(0, data, 60*time.Second, false); !sameSHA(got, data) {
			t.Fatal("data corrupted")
		}
		if i > 0 {
			for j := k; j < len(rec.samples); j++ {
				if rec.modes[j] == BBRProbeRTT {
					t.Fatalf("transfer %d after %v idle: ProbeRTT at sample %d of %d", i, 11*time.Second, j-k, len(rec.samples)-k)
				}
			}
			if rec.BBR.minStamp < rec.samples[k].Now {
				t.Fatalf("RTprop not refreshed after the idle period")
			}
		}
		n.runFor(11 * time.Second) // idle: RTprop expires
	}
}
