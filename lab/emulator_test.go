package lab

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
)

// These tests measure the emulator with kernel TCP and UDP through real
// veths: what a user of the lab gets. They need root and are sized to run
// in a few seconds each.

// listenTCP listens on the server's path-1 address inside the server
// namespace.
func listenTCP(t testing.TB, l *Lab, mptcp bool) net.Listener {
	t.Helper()
	return listenTCPAt(t, l, l.ServerAddr(1), mptcp)
}

// listenTCPAt listens on addr inside the server namespace.
func listenTCPAt(t testing.TB, l *Lab, addr netip.Addr, mptcp bool) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := l.Do(Server, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(mptcp)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", net.JoinHostPort(addr.String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialTCP connects from the client namespace.
func dialTCP(t testing.TB, l *Lab, addr string, mptcp bool) net.Conn {
	t.Helper()
	var c net.Conn
	if err := l.Do(Client, func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		d.SetMultipathTCP(mptcp)
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestEmulatedRTT checks that the emulator applies the configured delay,
// once and never less: every RTT through 2x25 ms is at least 50 ms, and
// the median is below 75 ms (a delay applied twice gives 100 ms). How
// close the median comes to 50 ms is a measure of the emulator and of the
// machine's load together (under a load of 10 on 2 cores, late goroutine
// wake-ups of the emulator, the echo server and the client add 5 to 10 ms:
// a ±10% test failed 4 runs in 20 that way): that target is
// BenchmarkEmulatedRTT's.
func TestEmulatedRTT(t *testing.T) {
	needRoot(t)
	const oneWay = 25 * time.Millisecond
	rtts := emulatedRTTs(t, oneWay, 31)
	med := rtts[len(rtts)/2]
	t.Logf("RTT through 2x%v: min %v median %v max %v", oneWay, rtts[0], med, rtts[len(rtts)-1])
	if rtts[0] < 2*oneWay {
		t.Errorf("an RTT of %v is shorter than the configured delay", rtts[0])
	}
	if med >= 3*oneWay {
		t.Errorf("median RTT %v: the delay (2x%v) is applied more than once", med, oneWay)
	}
}

// BenchmarkEmulatedRTT reports the median RTT through 2x25 ms of emulated
// delay and its excess over 50 ms (the target: within 10%, 5 ms, on an
// idle machine).
func BenchmarkEmulatedRTT(b *testing.B) {
	needRoot(b)
	const oneWay = 25 * time.Millisecond
	var meds []time.Duration
	for range b.N {
		rtts := emulatedRTTs(b, oneWay, 31)
		meds = append(meds, rtts[len(rtts)/2])
	}
	sort.Slice(meds, func(i, j int) bool { return meds[i] < meds[j] })
	med := meds[len(meds)/2]
	b.ReportMetric(float64(med)/1e6, "median-ms")
	b.ReportMetric(float64(med-2*oneWay)/1e6, "excess-ms")
}

// emulatedRTTs measures n-1 TCP echo round trips (the first is dropped)
// through a lab path with oneWay of delay each way, sorted.
func emulatedRTTs(t testing.TB, oneWay time.Duration, n int) []time.Duration {
	t.Helper()
	l := startLab(t, testConfig(t, Symmetric("wifi", LinkSpec{Delay: oneWay})))
	ln := listenTCP(t, l, false)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c := dialTCP(t, l, ln.Addr().String(), false)
	buf := make([]byte, 64)
	var rtts []time.Duration
	for i := range n {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		if i > 0 { // the first may include ARP-free but cold paths
			rtts = append(rtts, time.Since(start))
		}
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts
}

// TestEmulatedThroughput checks that the emulator shapes to the configured
// rate: a TCP transfer through a 20 Mbit/s link never gets more than the
// rate allows (5% for measurement), and gets at least three quarters of
// it in one of three attempts (a rate applied twice, or not at all, is
// far off either way). How close it comes to the rate depends on the CPU
// the sender, the receiver and the emulator get on a shared machine (a
// ±5% test failed 1 run in 20 under a load of 10 even with three
// attempts: 17.9, 18.0 and 16.8 of 19.1 Mbit/s): that target is
// BenchmarkEmulatedThroughput's.
func TestEmulatedThroughput(t *testing.T) {
	needRoot(t)
	const rate = 20e6
	l := startLab(t, testConfig(t, Symmetric("wifi", LinkSpec{Rate: rate, Delay: 5 * time.Millisecond})))
	ln := listenTCP(t, l, false)
	// The rate counts whole Ethernet frames: each 1514-byte frame carries
	// 1448 bytes of TCP payload (20 IP + 32 TCP with timestamps + 14).
	want := rate * 1448 / 1514
	best := 0.0
	for attempt := 1; attempt <= 3; attempt++ {
		goodput := tcpGoodput(t, l, ln, 4*time.Second)
		st, _ := l.EmulatorStats(1)
		t.Logf("attempt %d: goodput %.2f Mbit/s, want %.2f (link %.0f Mbit/s of frames); queue high %d, drops %d",
			attempt, goodput/1e6, want/1e6, rate/1e6, st.AtoB.QueueHigh, st.AtoB.Dropped())
		if goodput > 1.05*want {
			t.Errorf("goodput %.2f Mbit/s is more than the link's %.2f", goodput/1e6, want/1e6)
		}
		best = max(best, goodput)
		if goodput >= 0.95*want {
			break
		}
	}
	if best < 0.75*want {
		t.Errorf("best goodput %.2f Mbit/s of %.2f in 3 attempts", best/1e6, want/1e6)
	}
}

// BenchmarkEmulatedThroughput reports TCP goodput through a 20 Mbit/s
// emulated link and its shortfall (the target: within 5% on an idle
// machine).
func BenchmarkEmulatedThroughput(b *testing.B) {
	needRoot(b)
	const rate = 20e6
	want := rate * 1448 / 1514
	l := startLab(b, testConfig(b, Symmetric("wifi", LinkSpec{Rate: rate, Delay: 5 * time.Millisecond})))
	ln := listenTCP(b, l, false)
	var got []float64
	for range b.N {
		got = append(got, tcpGoodput(b, l, ln, 4*time.Second))
	}
	sort.Float64s(got)
	med := got[len(got)/2]
	b.ReportMetric(med/1e6, "goodput-Mbit/s")
	b.ReportMetric(100*(want-med)/want, "shortfall-%")
}

// tcpGoodput sends over one TCP connection from client to server for d and
// returns the receiver's goodput in bits/s after the first second (slow
// start), up to the last byte.
func tcpGoodput(t testing.TB, l *Lab, ln net.Listener, d time.Duration) float64 {
	t.Helper()
	type mark struct {
		at time.Time
		n  int64
	}
	marks := make(chan []mark, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			marks <- nil
			return
		}
		defer c.Close()
		var ms []mark
		var total int64
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			total += int64(n)
			ms = append(ms, mark{time.Now(), total})
			if err != nil {
				marks <- ms
				return
			}
		}
	}()
	c := dialTCP(t, l, ln.Addr().String(), false)
	chunk := make([]byte, 64<<10)
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	ms := <-marks
	if len(ms) < 10 {
		t.Fatalf("only %d reads", len(ms))
	}
	first := ms[0].at.Add(time.Second)
	i := sort.Search(len(ms), func(i int) bool { return !ms[i].at.Before(first) })
	a, b := ms[i], ms[len(ms)-1]
	return float64(b.n-a.n) * 8 / b.at.Sub(a.at).Seconds()
}

// udpProbes sets up a UDP receiver in the server namespace that records
// the sequence numbers it gets, and a sender in the client namespace.
type udpProbes struct {
	send *net.UDPConn
	recv *net.UDPConn
	mu   sync.Mutex
	got  map[uint32]time.Time
	done chan struct{}
}

func newUDPProbes(t testing.TB, l *Lab, path int) *udpProbes {
	t.Helper()
	p := &udpProbes{got: map[uint32]time.Time{}, done: make(chan struct{})}
	if err := l.Do(Server, func() error {
		var err error
		p.recv, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.ServerAddr(path), 0)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Do(Client, func() error {
		var err error
		p.send, err = net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(l.ClientAddr(path), 0)),
			p.recv.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.send.Close(); p.recv.Close(); <-p.done })
	go func() {
		defer close(p.done)
		buf := make([]byte, 1500)
		for {
			n, err := p.recv.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				p.mu.Lock()
				p.got[binary.BigEndian.Uint32(buf)] = time.Now()
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *udpProbes) sendSeq(seq uint32) error {
	var b [64]byte
	binary.BigEndian.PutUint32(b[:], seq)
	_, err := p.send.Write(b[:])
	return err
}

func (p *udpProbes) has(seq uint32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.got[seq]
	return ok
}

// warmUp sends probes with sequence numbers from 1<<31 until one arrives,
// so ARP is resolved before the measurement starts.
func (p *udpProbes) warmUp(t testing.TB) {
	t.Helper()
	for i := uint32(0); i < 100; i++ {
		p.sendSeq(1<<31 + i)
		time.Sleep(20 * time.Millisecond)
		if p.has(1<<31 + i) {
			return
		}
	}
	t.Fatal("no warm-up probe arrived")
}

func TestEmulatedLoss(t *testing.T) {
	needRoot(t)
	const loss, n = 0.05, 2000
	l := startLab(t, testConfig(t, PathSpec{Name: "wifi", Up: LinkSpec{Loss: loss}}))
	p := newUDPProbes(t, l, 1)
	p.warmUp(t)
	before, _ := l.EmulatorStats(1)
	for i := range uint32(n) {
		if err := p.sendSeq(i); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // stay below socket buffer limits
		}
	}
	time.Sleep(200 * time.Millisecond)
	lost := 0
	for i := range uint32(n) {
		if !p.has(i) {
			lost++
		}
	}
	after, _ := l.EmulatorStats(1)
	dropped := after.AtoB.DroppedLoss - before.AtoB.DroppedLoss
	// Binomial bounds: mean n*p = 100, sd = 9.7; 4.5 sd.
	sd := math.Sqrt(n * loss * (1 - loss))
	t.Logf("lost %d of %d probes (want %.0f ± %.1f); emulator counted %d", lost, n, n*loss, 4.5*sd, dropped)
	if math.Abs(float64(lost)-n*loss) > 4.5*sd {
		t.Errorf("lost %d of %d at %.0f%% loss", lost, n, loss*100)
	}
	if int(dropped) != lost {
		t.Errorf("emulator counted %d losses, receiver saw %d", dropped, lost)
	}
}

func TestEmulatedOutage(t *testing.T) {
	needRoot(t)
	spec := LinkSpec{Delay: 2 * time.Millisecond, Events: []emu.Event{emu.Down(time.Second), emu.Up(3 * time.Second)}}
	l := startLab(t, testConfig(t, Symmetric("wifi", spec)))
	p := newUDPProbes(t, l, 1)
	p.warmUp(t)
	start := l.EmulatorStart(1)
	if time.Since(start) > 800*time.Millisecond {
		t.Skipf("setup took %v, too late to probe before the outage", time.Since(start))
	}
	sentAt := map[uint32]time.Duration{}
	for seq := uint32(0); time.Since(start) < 4*time.Second; seq++ {
		sentAt[seq] = time.Since(start)
		if err := p.sendSeq(seq); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	const eps = 25 * time.Millisecond
	var firstLost, lastLost time.Duration = -1, -1
	for seq, at := range sentAt {
		got := p.has(seq)
		switch {
		case at < time.Second-eps || at > 3*time.Second+eps:
			if !got {
				t.Errorf("probe sent at %v (outside the outage) was lost", at)
			}
		case at > time.Second+eps && at < 3*time.Second-eps:
			if got {
				t.Errorf("probe sent at %v (inside the outage) arrived", at)
			}
		}
		if !got {
			if firstLost < 0 || at < firstLost {
				firstLost = at
			}
			lastLost = max(lastLost, at)
		}
	}
	t.Logf("outage scheduled 1s..3s; probes lost from %v to %v (%d probes)", firstLost, lastLost, len(sentAt))
	st, _ := l.EmulatorStats(1)
	if st.AtoB.Down || st.AtoB.DroppedDown == 0 {
		t.Errorf("emulator stats after the outage: %+v", st.AtoB)
	}
}
