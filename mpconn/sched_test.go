package mpconn

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// timedEvent is an action the simulated network runs at a given time
// during a transfer (a path going down, coming back).
type timedEvent struct {
	at time.Duration
	do func()
}

// transferResult is what a transfer saw at the receiver.
type transferResult struct {
	got []byte
	// stall is the longest time without new data read, between the
	// first byte and the last; stallAt when it began.
	stall, stallAt time.Duration
	// start and done: when the transfer started and when its last byte
	// was read.
	start, done time.Duration
}

// transfer is pump with timed events and the receiver's progress
// recorded: it writes data on from and reads on to until all arrived.
func (n *simNet) transfer(from, to *Conn, data []byte, limit time.Duration, events ...timedEvent) transferResult {
	n.t.Helper()
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	off := 0
	deadline := n.now + limit
	res := transferResult{start: n.now}
	last := time.Duration(-1)
	for {
		for off < len(data) {
			w, err := from.Write(data[off:])
			if err != nil {
				n.t.Fatalf("write: %v", err)
			}
			if w == 0 {
				break
			}
			off += w
		}
		for {
			r, err := to.Read(buf)
			if err != nil {
				n.t.Fatalf("read: %v (got %d of %d)", err, got.Len(), len(data))
			}
			if r == 0 {
				break
			}
			got.Write(buf[:r])
			if last >= 0 && n.now-last > res.stall {
				res.stall, res.stallAt = n.now-last, last
			}
			last = n.now
		}
		if got.Len() >= len(data) {
			res.got, res.done = got.Bytes(), n.now
			return res
		}
		stop := deadline
		for len(events) > 0 && events[0].at <= n.now {
			events[0].do()
			events = events[1:]
		}
		if len(events) > 0 {
			stop = min(stop, events[0].at)
		}
		if !n.step(stop) {
			if stop == deadline {
				n.t.Fatalf("transfer stalled at %v: wrote %d/%d, read %d\nsender %+v\nreceiver %+v", n.now, off, len(data), got.Len(), brief(from), brief(to))
			}
			n.now = stop
		}
	}
}

func (n *simNet) setPath(a, b string, f func(p *simPath)) {
	f(n.paths[[2]netip.Addr{addr(a), addr(b)}])
	f(n.paths[[2]netip.Addr{addr(b), addr(a)}])
}

// twoSubflows returns an established connection pair of twoHosts with
// both subflows carrying data.
func twoSubflows(t *testing.T, seed uint64, ccfg, scfg Config) (*simNet, *simHost, *Conn, *Conn) {
	t.Helper()
	n, cli, srv := twoHosts(t, seed, ccfg, scfg)
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool {
		return len(c.Subflows()) == 2 && c.Subflows()[1].fully && len(s.Subflows()) == 2 && s.Subflows()[1].fully
	}) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	return n, cli, c, s
}

func TestParseModeAndScheduler(t *testing.T) {
	for _, name := range []string{"default", "fullmesh", "aggregate", "handover", "interactive", ""} {
		m, err := ParseMode(name)
		if err != nil {
			t.Fatalf("ParseMode(%q): %v", name, err)
		}
		if name == "aggregate" && m != ModeFullmesh || name == "" && m != ModeDefault {
			t.Fatalf("ParseMode(%q) = %v", name, m)
		}
		if name != "" && name != "aggregate" && m.String() != name {
			t.Fatalf("ParseMode(%q).String() = %q", name, m)
		}
	}
	if _, err := ParseMode("turbo"); err == nil {
		t.Fatal("ParseMode accepted an unknown mode")
	}
	for _, name := range SchedulerNames() {
		f, err := SchedulerByName(name)
		if err != nil || f() == nil {
			t.Fatalf("SchedulerByName(%q): %v", name, err)
		}
	}
	if _, err := SchedulerByName("fastest"); err == nil {
		t.Fatal("SchedulerByName accepted an unknown scheduler")
	}
	// Each connection gets its own scheduler (state is not shared).
	f, _ := SchedulerByName("roundrobin")
	if a, b := f(), f(); a == b {
		t.Fatal("the factory returned one RoundRobin for two connections")
	}
}

func TestSchedulerPick(t *testing.T) {
	ms := time.Millisecond
	idle := []SchedInfo{
		{ID: 0, SRTT: 30 * ms, Room: 10000, Cwnd: 20000},
		{ID: 1, SRTT: 10 * ms, Room: 10000, Cwnd: 20000},
		{ID: 2, SRTT: 5 * ms, Room: 10000, Cwnd: 20000, Backup: true},
	}
	if got := (MinRTT{}).Pick(idle); got != 1 {
		t.Fatalf("MinRTT picked %d among idle subflows, want the lowest RTT regular one (1)", got)
	}
	// The low-RTT subflow has two windows queued: a byte sent on it
	// arrives after 30 ms, later than on the idle 20 ms one.
	busy := []SchedInfo{
		{ID: 0, SRTT: 20 * ms, Room: 10000, Cwnd: 20000},
		{ID: 1, SRTT: 10 * ms, Room: 10000, Cwnd: 20000, Queued: 40000},
	}
	if got := (MinRTT{}).Pick(busy); got != 0 {
		t.Fatalf("MinRTT picked %d: the fast subflow's queue was ignored", got)
	}
	onlyBackup := []SchedInfo{{ID: 0, SRTT: 10 * ms, Room: 0, Cwnd: 10000}, {ID: 1, SRTT: 50 * ms, Room: 100, Backup: true}}
	if got := (MinRTT{}).Pick(onlyBackup); got != -1 {
		t.Fatalf("MinRTT used the backup (%d) while a regular subflow is usable", got)
	}
	if got := (MinRTT{}).Pick(onlyBackup[1:]); got != 0 {
		t.Fatalf("MinRTT did not use the backup when nothing else is usable: %d", got)
	}
	rr := &RoundRobin{last: -1}
	var order []int
	for range 4 {
		order = append(order, idle[rr.Pick(idle)].ID)
	}
	if !slices.Equal(order, []int{0, 1, 0, 1}) {
		t.Fatalf("RoundRobin order %v", order)
	}
	copies := (Redundant{}).Copies(nil, idle)
	if !slices.Equal(copies, []int{0, 1}) {
		t.Fatalf("Redundant copies %v, want the regular subflows", copies)
	}
	// Interactive waits for the fast path rather than use the slow one,
	// but leaves it while it recovers from a loss.
	full := []SchedInfo{{ID: 0, SRTT: 10 * ms, Room: 0, Cwnd: 10000}, {ID: 1, SRTT: 40 * ms, Room: 9000}}
	if got := (Interactive{}).Pick(full); got != -1 {
		t.Fatalf("Interactive picked %d instead of waiting for the fast path", got)
	}
	full[0].Recovering = true
	if got := (Interactive{}).Pick(full); got != 1 {
		t.Fatalf("Interactive picked %d while the fast path recovers", got)
	}
}

// TestSchedulersPlaceData runs one transfer per scheduler over two paths
// (10 ms and 30 ms, 1 MB/s each) and checks where the data went.
func TestSchedulersPlaceData(t *testing.T) {
	share := map[string]float64{}
	redundant := uint64(0)
	for _, name := range []string{"minrtt", "roundrobin", "redundant", "interactive"} {
		f, _ := SchedulerByName(name)
		n, _, c, s := twoSubflows(t, 401, Config{NewScheduler: f}, Config{})
		n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.rate = 1 << 20 })
		n.setPath("10.0.2.1", "10.0.2.2", func(p *simPath) { p.rate = 1 << 20 })
		data := randomData(4<<20, 9)
		if r := n.transfer(c, s, data, 2*time.Minute); !bytes.Equal(r.got, data) {
			t.Fatalf("%s: data differs", name)
		}
		in := c.Info()
		a, b := in.Subflows[0].DataSent, in.Subflows[1].DataSent
		share[name] = float64(a) / float64(a+b)
		if name == "redundant" {
			redundant = in.BytesRedundant
		}
		t.Logf("%-11s wifi %7d cellular %7d (%.2f on wifi) redundant %d", name, a, b, share[name], in.BytesRedundant)
	}
	// Aggregating schedulers use both paths; interactive keeps to wifi.
	for _, name := range []string{"minrtt", "roundrobin"} {
		if share[name] < 0.3 || share[name] > 0.8 {
			t.Errorf("%s put %.2f of the data on wifi: not aggregating", name, share[name])
		}
	}
	// Interactive leaves wifi only while it recovers from a loss (here
	// its queue overflowing).
	if share["interactive"] < 0.8 || share["interactive"] < share["minrtt"]+0.2 {
		t.Errorf("interactive put %.2f on wifi (minrtt %.2f): not keeping to the low-latency path", share["interactive"], share["minrtt"])
	}
	// Redundant: the slower path carries copies of what it can before
	// the faster one has it acknowledged.
	if redundant < 1<<20 {
		t.Errorf("redundant sent only %d bytes twice of 4 MiB", redundant)
	}
}

// TestRedundantMasksLoss: 8 KB requests, ten a second, over wifi (20 ms
// RTT, 10% loss each way) and cellular (60 ms, clean). MinRTT sends each
// on wifi and waits when a loss must be repaired; Redundant sends each on
// both, and its p99 stays close to what the clean path alone gives.
func TestRedundantMasksLoss(t *testing.T) {
	lat := map[string][]time.Duration{}
	cellOnly := func() Scheduler { return onlyOn{id: 1} }
	for _, name := range []string{"minrtt", "redundant", "cellular-only"} {
		f, _ := SchedulerByName(name)
		if name == "cellular-only" {
			f = cellOnly
		}
		n, _, c, s := twoSubflows(t, 402, Config{NewScheduler: f}, Config{})
		n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.loss = 0.1 })
		for i := range 200 {
			msg := randomData(8<<10, uint64(i))
			r := n.transfer(c, s, msg, time.Minute)
			if !bytes.Equal(r.got, msg) {
				t.Fatalf("%s: message %d differs", name, i)
			}
			lat[name] = append(lat[name], r.done-r.start)
			n.runFor(100*time.Millisecond - (r.done - r.start))
		}
		slices.Sort(lat[name])
	}
	p := func(name string, q float64) time.Duration { return lat[name][int(q*float64(len(lat[name])-1))] }
	for _, name := range []string{"minrtt", "redundant", "cellular-only"} {
		t.Logf("%-13s p50 %v p99 %v max %v", name, p(name, 0.5), p(name, 0.99), p(name, 1))
	}
	if p("redundant", 0.99) > p("cellular-only", 0.99)*3/2 {
		t.Errorf("redundant p99 %v, the clean path alone %v: the clean copies did not mask the losses", p("redundant", 0.99), p("cellular-only", 0.99))
	}
	if p("redundant", 0.99) >= p("minrtt", 0.99) {
		t.Errorf("redundant p99 %v not below minrtt's %v", p("redundant", 0.99), p("minrtt", 0.99))
	}
	if p("redundant", 0.5) > p("minrtt", 0.5)*5/4 {
		t.Errorf("redundant p50 %v, minrtt's %v: redundancy made the common case slower", p("redundant", 0.5), p("minrtt", 0.5))
	}
}

// TestStallShortWhenPathDies: wifi (10 ms) dies mid-transfer; the data
// it held is sent again on cellular (30 ms RTT) as soon as wifi goes
// quiet for a few of its RTT variations, well before Linux's two RTOs.
// The longest time without new data at the receiver stays under three
// round trips of the surviving path plus the detection time.
func TestStallShortWhenPathDies(t *testing.T) {
	for _, mode := range []Mode{ModeDefault, ModeHandover} {
		t.Run(mode.String(), func(t *testing.T) {
			n, cli, c, s := twoSubflows(t, 403, Config{Mode: mode}, Config{})
			// Queues of 30 ms (an AQM's target): with deep drop-tail
			// queues every path's RTT is mostly its own backlog.
			n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.rate, p.qlim = 2<<20, 30*time.Millisecond })
			n.setPath("10.0.2.1", "10.0.2.2", func(p *simPath) { p.rate, p.qlim = 1<<20, 30*time.Millisecond })
			data := randomData(6<<20, 10)
			down := n.now + time.Second
			r := n.transfer(c, s, data, 2*time.Minute, timedEvent{at: down, do: func() {
				n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.down = true })
			}})
			if !bytes.Equal(r.got, data) {
				t.Fatal("data differs")
			}
			in := c.Info()
			t.Logf("stall %v at %v (wifi down at %v), done after %v; wifi %d cellular %d; stale %d, retrans %d",
				r.stall, r.stallAt-r.start, down-r.start, r.done-r.start, in.Subflows[0].DataSent, in.Subflows[1].DataSent,
				cli.mib.SubflowStale.Load(), in.BytesRetrans)
			if cli.mib.SubflowStale.Load() == 0 {
				t.Fatal("wifi was never deemed stale")
			}
			if r.stall > 3*30*time.Millisecond+60*time.Millisecond {
				t.Errorf("stall %v: longer than 3 RTTs of cellular plus the detection", r.stall)
			}
			if mode == ModeHandover && in.Subflows[1].DataSent < 1<<20 {
				t.Errorf("handover: cellular carried only %d bytes", in.Subflows[1].DataSent)
			}
		})
	}
}

// TestHandoverModeAndReturn: in handover mode the client's join is a
// backup (MP_JOIN B flag): cellular carries nothing while wifi works,
// takes over when wifi dies, and the data returns to wifi when it comes
// back.
func TestHandoverModeAndReturn(t *testing.T) {
	n, cli, c, s := twoSubflows(t, 404, Config{Mode: ModeHandover}, Config{})
	if got := c.Info().Mode; got != "handover" {
		t.Fatalf("Info().Mode %q", got)
	}
	srvMIB := &s.env.(*simEnv).h.mib
	if srvMIB.MPJoinSynBackupRx.Load() != 1 {
		t.Fatalf("the handover join did not ask for backup (MPJoinSynBackupRx %d)", srvMIB.MPJoinSynBackupRx.Load())
	}
	data := randomData(3<<20, 11)
	if r := n.transfer(c, s, data[:1<<20], time.Minute); !bytes.Equal(r.got, data[:1<<20]) {
		t.Fatal("data differs")
	}
	if sent := c.Info().Subflows[1].DataSent; sent != 0 {
		t.Fatalf("cellular carried %d bytes while wifi worked", sent)
	}
	n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.down = true })
	if r := n.transfer(c, s, data[1<<20:2<<20], time.Minute); !bytes.Equal(r.got, data[1<<20:2<<20]) {
		t.Fatal("data during the outage differs")
	}
	cell := c.Info().Subflows[1].DataSent
	if cell == 0 {
		t.Fatal("cellular never took over")
	}
	// Wifi returns: its next retransmission is acknowledged, the subflow
	// is no longer stale and the data goes back to it.
	n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.down = false })
	if !n.runUntil(time.Minute, func() bool { return !c.Subflows()[0].stale }) {
		t.Fatalf("wifi still stale after it came back: %s", brief(c))
	}
	wifiBefore := c.Info().Subflows[0].DataSent
	if r := n.transfer(c, s, data[2<<20:], time.Minute); !bytes.Equal(r.got, data[2<<20:]) {
		t.Fatal("data after wifi's return differs")
	}
	in := c.Info()
	if wifiAfter := in.Subflows[0].DataSent - wifiBefore; wifiAfter < 900<<10 {
		t.Fatalf("after wifi's return it carried %d of 1 MiB (cellular %d more)", wifiAfter, in.Subflows[1].DataSent-cell)
	}
	_ = cli
}

// TestFullmeshMode: the client opens a subflow from each of its addresses
// to each of the server's (two addresses each side, the second
// announced): four subflows where the default opens three.
func TestFullmeshMode(t *testing.T) {
	for _, tc := range []struct {
		mode Mode
		want int
	}{{ModeDefault, 3}, {ModeFullmesh, 4}} {
		n := newSimNet(t, 405)
		cli := n.addHost("client", Config{Mode: tc.mode}, "10.0.1.1", "10.0.2.1")
		srv := n.addHost("server", Config{}, "10.0.1.2", "10.0.2.2")
		srv.listen = 80
		// Both client addresses reach both server addresses.
		for _, a := range []string{"10.0.1.1", "10.0.2.1"} {
			for _, b := range []string{"10.0.1.2", "10.0.2.2"} {
				n.link(a, b, 10*time.Millisecond, 0)
			}
		}
		c := cli.dial("10.0.1.2:80")
		s := established(t, n, cli, srv, c)
		n.runFor(5 * time.Second)
		var pairs []string
		for _, sf := range c.Subflows() {
			if sf.fully {
				pairs = append(pairs, fmt.Sprintf("%v->%v", sf.io.Local().Addr(), sf.io.Remote().Addr()))
			}
		}
		if len(pairs) != tc.want {
			t.Fatalf("%v: %d subflows %v, want %d", tc.mode, len(pairs), pairs, tc.want)
		}
		data := randomData(1<<20, 12)
		if r := n.transfer(c, s, data, time.Minute); !bytes.Equal(r.got, data) {
			t.Fatalf("%v: data differs", tc.mode)
		}
	}
}

// TestOpportunisticRetransmission: a small receive window (128 KiB)
// shared by a fast path (10 ms) and a slow one (200 ms): data sent on
// the slow path holds the window up and the fast path idles. The
// default scheduler sends the blocking chunk again on the fast path and
// halves the slow path's window; the plain one does not.
func TestOpportunisticRetransmission(t *testing.T) {
	goodput := map[string]float64{}
	for _, name := range []string{"minrtt-plain", "minrtt"} {
		f, _ := SchedulerByName(name)
		n, cli, srv := twoHosts(t, 406, Config{NewScheduler: f}, Config{ReceiveBuffer: 128 << 10})
		n.setPath("10.0.2.1", "10.0.2.2", func(p *simPath) { p.delay = 100 * time.Millisecond })
		c := cli.dial("10.0.1.2:80")
		s := established(t, n, cli, srv, c)
		if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
			t.Fatalf("no second subflow")
		}
		data := randomData(8<<20, 13)
		r := n.transfer(c, s, data, 5*time.Minute)
		if !bytes.Equal(r.got, data) {
			t.Fatalf("%s: data differs", name)
		}
		in := c.Info()
		goodput[name] = float64(len(data)) / (r.done - r.start).Seconds()
		t.Logf("%-12s %.2f MB/s in %v: opportunistic %d bytes, %d penalties, slow path %d bytes",
			name, goodput[name]/1e6, r.done-r.start, in.BytesOpportunistic, in.Penalized, in.Subflows[1].DataSent)
		if name == "minrtt" && (in.BytesOpportunistic == 0 || in.Penalized == 0) {
			t.Fatalf("no opportunistic retransmission (%d bytes, %d penalties)", in.BytesOpportunistic, in.Penalized)
		}
		if name == "minrtt-plain" && in.BytesOpportunistic != 0 {
			t.Fatalf("minrtt-plain retransmitted %d bytes opportunistically", in.BytesOpportunistic)
		}
	}
	if goodput["minrtt"] < 1.2*goodput["minrtt-plain"] {
		t.Errorf("opportunistic retransmission gained little: %.2f vs %.2f MB/s", goodput["minrtt"]/1e6, goodput["minrtt-plain"]/1e6)
	}
}

// onlyOn is a scheduler a user might write: everything on one subflow.
type onlyOn struct{ id int }

func (o onlyOn) Pick(subs []SchedInfo) int {
	for i := range subs {
		if subs[i].ID == o.id && subs[i].Room > 0 {
			return i
		}
	}
	return -1
}

func TestPluggedInScheduler(t *testing.T) {
	n, _, c, s := twoSubflows(t, 407, Config{NewScheduler: func() Scheduler { return onlyOn{id: 1} }}, Config{})
	data := randomData(1<<20, 14)
	if r := n.transfer(c, s, data, time.Minute); !bytes.Equal(r.got, data) {
		t.Fatal("data differs")
	}
	in := c.Info()
	// The initial subflow carried only what went before the join.
	if in.Subflows[1].DataSent != uint64(len(data)) || in.Subflows[0].DataSent != 0 {
		t.Fatalf("a scheduler keeping to subflow 1: wifi %d cellular %d", in.Subflows[0].DataSent, in.Subflows[1].DataSent)
	}
}

// TestLossyPathNotStale: a path with 2% loss still delivers while TCP
// repairs its losses (a retransmission restarts the oldest segment's
// clock): it must not be deemed stale, and it carries a fair part of the
// data.
func TestLossyPathNotStale(t *testing.T) {
	n, cli, c, s := twoSubflows(t, 408, Config{}, Config{})
	n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.rate, p.loss, p.qlim = 2<<20, 0.02, 30*time.Millisecond })
	n.setPath("10.0.2.1", "10.0.2.2", func(p *simPath) { p.rate, p.qlim = 2<<20, 30*time.Millisecond })
	data := randomData(8<<20, 17)
	r := n.transfer(c, s, data, 2*time.Minute)
	if !bytes.Equal(r.got, data) {
		t.Fatal("data differs")
	}
	in := c.Info()
	lossy := float64(in.Subflows[0].DataSent) / float64(in.Subflows[0].DataSent+in.Subflows[1].DataSent)
	t.Logf("lossy path carried %.0f%%, stale %d times, %.2f MB/s", 100*lossy, cli.mib.SubflowStale.Load(), float64(len(data))/(r.done-r.start).Seconds()/1e6)
	if st := cli.mib.SubflowStale.Load(); st != 0 {
		t.Errorf("the lossy but working path was deemed stale %d times", st)
	}
	if lossy < 0.2 {
		t.Errorf("the lossy path carried %.0f%% of the data", 100*lossy)
	}
}

// TestStarvedProcessNotStale: the sending process does not run for 60
// or 150 ms (a loaded machine) while its paths and its peer work; the
// ACKs that came in meanwhile wait in the interfaces' queues, and the
// stall timer runs before the readers deliver them (simNet.pause). The
// paths lose nothing (no queue to overflow): only the pauses could make
// a path look dead. A timer that fires that late is not
// evidence of a dead path: no subflow is deemed stale and nothing is
// reinjected. (Before, every path looked dead and the data went to
// whatever subflow the check reached last.)
func TestStarvedProcessNotStale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		starve time.Duration
	}{{"starved-60ms", 60 * time.Millisecond}, {"starved-150ms", 150 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			n, cli, c, s := twoSubflows(t, 409, Config{}, Config{})
			data := randomData(4<<20, 18)
			starts := []time.Duration{200 * time.Millisecond, 500 * time.Millisecond, 800 * time.Millisecond}
			var events []timedEvent
			for _, at := range starts {
				events = append(events, timedEvent{at: n.now + at, do: func() { n.pause(cli, tc.starve) }})
			}
			r := n.transfer(c, s, data, time.Minute, events...)
			if !bytes.Equal(r.got, data) {
				t.Fatal("data differs")
			}
			if st, re := cli.mib.SubflowStale.Load(), cli.mib.MPTCPRetrans.Load(); st != 0 || re != 0 {
				t.Errorf("after %d pauses of %v: %d subflows deemed stale, %d reinjections", len(starts), tc.starve, st, re)
			}
		})
	}
}
