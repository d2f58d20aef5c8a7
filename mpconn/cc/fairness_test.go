package cc_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/internal/simnet"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/mpconn/cc"
	"github.com/mptcp-go/mptcp/tcp"
)

var (
	cliA = netip.MustParseAddr("198.18.1.1") // the MPTCP client's first address
	cliB = netip.MustParseAddr("198.18.2.1") // and its second
	srvA = netip.MustParseAddr("198.18.0.1") // the MPTCP server
	srvB = netip.MustParseAddr("198.18.0.2") // its second address
	tcpC = netip.MustParseAddr("198.18.3.1") // the competing TCP flow's sender
	tcpS = netip.MustParseAddr("198.18.0.3") // and receiver
)

// The paths of both scenarios: 10 Mbit/s, 40 ms RTT, a drop-tail queue of
// about one bandwidth-delay product (33 full-size packets). The ACK
// direction jitters by up to 2 ms, so that the flows' packets do not reach
// the queue in lockstep: a simulation without any randomness locks flows
// out of a drop-tail queue by phase alone (Floyd and Jacobson, "On traffic
// phase effects in packet-switched gateways", 1992).
var (
	pathData = emu.Spec{Rate: 10e6, Delay: 20 * time.Millisecond, QueueLimit: 34}
	pathAck  = emu.Spec{Delay: 20 * time.Millisecond, Jitter: 2 * time.Millisecond}
)

// testbed is a simulated network carrying an MPTCP connection and a TCP
// flow, both sending without pause (client to server).
type testbed struct {
	t      testing.TB
	n      *simnet.Net
	routes map[[2]netip.Addr]bool
	cli    *mpHost
	srv    *mpHost
	tcpA   *simnet.Host
	tcpB   *simnet.Host
	// wake is set when a connection or the TCP flow reports readiness:
	// the applications run then.
	wake bool
}

// newTestbed makes the hosts. The MPTCP client runs the coupled
// controller congestion (nil: uncoupled subflows running subflowCC); with
// joins false it keeps to one subflow.
func newTestbed(t testing.TB, seed uint64, congestion mpconn.CongestionFactory, subflowCC string, joins bool) *testbed {
	n := simnet.New(seed)
	tb := &testbed{t: t, n: n, routes: map[[2]netip.Addr]bool{}}
	cfg := mpconn.Config{TCP: tcp.Config{CongestionControl: subflowCC}, DisableJoins: !joins}
	if congestion != nil {
		cfg.Congestion = congestion
	}
	tb.cli = newMPHost(t, n, tb.routes, 1, cfg, cliA, cliB)
	tb.srv = newMPHost(t, n, tb.routes, 2, mpconn.Config{}, srvA, srvB)
	tb.cli.wake, tb.srv.wake = &tb.wake, &tb.wake
	tb.srv.listen = 80
	var err error
	if tb.tcpA, err = n.NewHost(tcpC); err != nil {
		t.Fatal(err)
	}
	if tb.tcpB, err = n.NewHost(tcpS); err != nil {
		t.Fatal(err)
	}
	return tb
}

func (tb *testbed) link(a, b netip.Addr) *simnet.Path {
	p, err := tb.n.Link(a, b, pathData, pathAck)
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.routes[[2]netip.Addr{a, b}], tb.routes[[2]netip.Addr{b, a}] = true, true
	return p
}

func (tb *testbed) share(p *simnet.Path, a, b netip.Addr) {
	if err := tb.n.Share(p, a, b); err != nil {
		tb.t.Fatal(err)
	}
	tb.routes[[2]netip.Addr{a, b}], tb.routes[[2]netip.Addr{b, a}] = true, true
}

// sample is what the two flows delivered by some time.
type sample struct {
	mptcp, tcp int64                 // bytes the receiving applications read
	sub        map[netip.Addr]uint64 // MPTCP data bytes sent, by client address
}

// result is what the two flows delivered between the warm-up and the end.
type result struct {
	mptcp, tcp float64                // Mbit/s
	sub        map[netip.Addr]float64 // share of the MPTCP data sent from each client address
}

// share is the MPTCP connection's share of the total goodput.
func (r result) share() float64 { return r.mptcp / (r.mptcp + r.tcp) }

// run starts the MPTCP connection (wantSubflows of them) and the TCP flow
// (congestion control tcpCC) and measures them from warm to end.
func (tb *testbed) run(tcpCC string, wantSubflows int, warm, end time.Duration) result {
	t := tb.t
	wake := func(tcp.Notify) { tb.wake = true }
	c := tb.cli.dial(netip.AddrPortFrom(srvA, 80))
	te, _ := tb.tcpA.Endpoint(netip.AddrPortFrom(tcpC, 5000), netip.AddrPortFrom(tcpS, 5001), tcp.Config{CongestionControl: tcpCC, Notify: wake})
	tr, _ := tb.tcpB.Endpoint(netip.AddrPortFrom(tcpS, 5001), netip.AddrPortFrom(tcpC, 5000), tcp.Config{CongestionControl: tcpCC, Notify: wake})
	if err := tr.Listen(); err != nil {
		t.Fatal(err)
	}
	if err := te.Connect(); err != nil {
		t.Fatal(err)
	}
	if err := tb.n.Run(func() bool {
		return c.State() == mpconn.StateEstablished && len(tb.srv.accepted) == 1 && te.State() == tcp.StateEstablished
	}, 5*time.Second); err != nil {
		t.Fatalf("not established: %v", err)
	}
	ms := newStream(t, "mptcp", c, tb.srv.accepted[0], 1)
	ts := newStream(t, "tcp", tcpConn{te}, tcpConn{tr}, 2)
	snap := func() sample {
		x := sample{mptcp: ms.got, tcp: ts.got, sub: map[netip.Addr]uint64{}}
		for _, sf := range c.Info().Subflows {
			x.sub[sf.Local.Addr()] += sf.DataSent
		}
		return x
	}
	runTo := func(stop time.Duration) {
		tb.wake = true
		if err := tb.n.Run(func() bool {
			if tb.wake {
				tb.wake = false
				ms.pump()
				ts.pump()
			}
			return tb.n.Now() >= stop
		}, stop); err != nil {
			t.Fatal(err)
		}
	}
	runTo(warm)
	a := snap()
	runTo(end)
	b := snap()
	if n := len(c.Subflows()); n != wantSubflows {
		t.Fatalf("the MPTCP connection has %d subflows, want %d", n, wantSubflows)
	}
	d := end - warm
	r := result{mptcp: mbps(b.mptcp-a.mptcp, d), tcp: mbps(b.tcp-a.tcp, d), sub: map[netip.Addr]float64{}}
	var total uint64
	for ad, v := range b.sub {
		total += v - a.sub[ad]
	}
	for ad, v := range b.sub {
		r.sub[ad] = float64(v-a.sub[ad]) / float64(total)
	}
	return r
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) * 8 / d.Seconds() / 1e6 }

// The measurement: 45 s after a 15 s warm-up (slow start and the first
// losses over), simulated in a quarter of a second (six under the race
// detector; the subtests run in parallel).
const (
	warmUp = 15 * time.Second
	runEnd = 60 * time.Second
)

// TestSharedBottleneck shows RFC 6356's first goal (§2, goals 1 and 2):
// an MPTCP connection whose two subflows (from two client addresses) go
// through one bottleneck together with one TCP flow takes no more than
// that TCP flow's share; uncoupled subflows take two flows' shares.
//
// The bounds, checked on seeds 1 to 12 (the test runs seed 1):
//   - one subflow against the TCP flow, the reference: 0.44-0.52 of the
//     bottleneck (half, less a few percent for the DSS options and the
//     short segments at the ends of mappings); want 0.40-0.55;
//   - two uncoupled CUBIC subflows: 0.60-0.67; want two thirds,
//     0.58-0.72;
//   - two coupled subflows (LIA or OLIA; against CUBIC, LIA also against
//     NewReno): 0.37-0.48; want at most 0.52 and at least 0.33. The top
//     is one flow's half plus what RFC 6356 §3 allows: alpha lets two
//     subflows on one path exceed one TCP flow by up to 8% where losses
//     are independent (sqrt(1.75/1.5), TestLIASharedPathIsOneTCP), +0.02
//     on the share. The bottom: a drop-tail queue drops from both
//     subflows at once, so the aggregate halves as a TCP flow would but
//     grows by only half a segment per round (AIMD(1/2, 1/2),
//     sqrt(0.75/1.5) = 0.71 of a TCP flow, a share of 0.41), less the
//     overhead above; below 0.33 the connection would be starved.
func TestSharedBottleneck(t *testing.T) {
	shared := func(t *testing.T, congestion mpconn.CongestionFactory, subflowCC, tcpCC string, subflows int) result {
		tb := newTestbed(t, 1, congestion, subflowCC, subflows > 1)
		p := tb.link(cliA, srvA)
		tb.share(p, cliB, srvA)
		tb.share(p, tcpC, tcpS)
		r := tb.run(tcpCC, subflows, warmUp, runEnd)
		t.Logf("mptcp %.2f Mbit/s, tcp %.2f: mptcp share %.2f (subflows %.0f%% / %.0f%%)", r.mptcp, r.tcp, r.share(), 100*r.sub[cliA], 100*r.sub[cliB])
		return r
	}
	t.Run("reference/one-subflow", func(t *testing.T) {
		t.Parallel()
		if got := shared(t, nil, "cubic", "cubic", 1).share(); got < 0.40 || got > 0.55 {
			t.Fatalf("one MPTCP subflow against one TCP flow takes %.2f, want about half", got)
		}
	})
	t.Run("uncoupled-cubic", func(t *testing.T) {
		t.Parallel()
		if got := shared(t, nil, "cubic", "cubic", 2).share(); got < 0.58 || got > 0.72 {
			t.Fatalf("uncoupled subflows take %.2f of the bottleneck, want about two thirds", got)
		}
	})
	for _, tc := range []struct {
		name  string
		f     mpconn.CongestionFactory
		tcpCC string
	}{
		{"lia/vs-cubic", cc.LIA{}, "cubic"},
		{"olia/vs-cubic", cc.OLIA{}, "cubic"},
		{"lia/vs-reno", cc.LIA{}, "reno"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := shared(t, tc.f, "", tc.tcpCC, 2).share(); got > 0.52 || got < 0.33 {
				t.Fatalf("coupled subflows take %.2f of the bottleneck, want one TCP flow's share: at most 0.52, at least 0.33", got)
			}
		})
	}
}

// TestCongestionBalancing shows RFC 6356's third goal (§2, "balance
// congestion"): of two equal paths, one shared with a TCP flow, a coupled
// connection moves its traffic to the other. Uncoupled subflows each take
// what a TCP flow would, half of the shared path and all of the free one:
// two thirds of the connection's data on the free path (65-70% on seeds 1
// to 12), and the TCP flow keeps half its path (4.4-5.5 Mbit/s of 10). LIA
// moves most of the connection to the free path (79-89% on seeds 1-7; 83-88%
// while the subflows' 64 KiB buffers still capped the connection's receive
// window, which tcp's DataReceiver now lets them announce whole; a path's window
// goes as 1/p rather than TCP's 1/sqrt(p), RFC 6356 §4, so the shared
// path keeps some), OLIA nearly all of it (90-97%: it is Pareto-optimal,
// the TCP flow gets its path back). The TCP flow then gets 7.7-9.4 Mbit/s
// (want at least 6.5), and the connection never less than the free path
// alone would give (9.7-11.3; want 85% of the 9.5 a TCP flow gets there).
func TestCongestionBalancing(t *testing.T) {
	balance := func(t *testing.T, congestion mpconn.CongestionFactory, subflowCC string) result {
		tb := newTestbed(t, 1, congestion, subflowCC, true)
		busy := tb.link(cliA, srvA)
		tb.share(busy, tcpC, tcpS)
		tb.link(cliB, srvB)
		r := tb.run("cubic", 2, warmUp, runEnd)
		t.Logf("mptcp %.2f Mbit/s (%.0f%% on the free path), tcp %.2f", r.mptcp, 100*r.sub[cliB], r.tcp)
		return r
	}
	t.Run("uncoupled-cubic", func(t *testing.T) {
		t.Parallel()
		r := balance(t, nil, "cubic")
		if f := r.sub[cliB]; f < 0.6 || f > 0.75 {
			t.Fatalf("uncoupled: %.0f%% of the data on the free path, want about two thirds", 100*f)
		}
		if r.tcp > 6 {
			t.Fatalf("the TCP flow gets %.2f Mbit/s of its path shared with an uncoupled subflow, want about half", r.tcp)
		}
	})
	for _, tc := range []struct {
		name string
		f    mpconn.CongestionFactory
		free float64 // least share of the data on the free path
	}{
		{"lia", cc.LIA{}, 0.75},
		{"olia", cc.OLIA{}, 0.88},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := balance(t, tc.f, "")
			if f := r.sub[cliB]; f < tc.free {
				t.Fatalf("%.0f%% of the data on the free path, want at least %.0f%% (uncoupled: about two thirds)", 100*f, 100*tc.free)
			}
			if r.tcp < 6.5 {
				t.Fatalf("the TCP flow on the shared path gets %.2f Mbit/s: the path was not left to it (uncoupled: about 5)", r.tcp)
			}
			if r.mptcp < 0.85*9.5 {
				t.Fatalf("the connection gets %.2f Mbit/s, less than the free path alone", r.mptcp)
			}
		})
	}
}
