package mptcp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/stack"
	"github.com/mptcp-go/mptcp/tcp"
)

// rawPeer is a scripted host on its own link to a stack: it writes IPv4
// TCP segments built with our codec and reads what comes back.
type rawPeer struct {
	t    *testing.T
	ep   *link.Pipe
	addr netip.Addr
}

func (p *rawPeer) send(src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, opts []byte) {
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptNOP)
	}
	tl := header.TCPMinHeaderLen + len(opts)
	b := make([]byte, header.IPv4MinHeaderLen+tl)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: header.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()})
	ip.SetChecksum()
	th := header.TCP(b[header.IPv4MinHeaderLen:])
	th.Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack, DataOffset: tl, Flags: flags, Window: 65535})
	copy(th[header.TCPMinHeaderLen:], opts)
	th.SetChecksum(th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src.Addr(), dst.Addr(), uint32(tl))))
	if _, err := p.ep.WritePackets([][]byte{b}); err != nil {
		p.t.Fatal(err)
	}
}

// recv returns the next TCP segment the stack sent to the peer, or false
// after a second.
func (p *rawPeer) recv() (tcp.Segment, bool) {
	type res struct {
		seg tcp.Segment
		ok  bool
	}
	ch := make(chan res, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2048)}
		sizes := []int{0}
		for {
			n, err := p.ep.ReadPackets(bufs, sizes)
			if err != nil || n == 0 {
				ch <- res{}
				return
			}
			ip := header.IPv4(bufs[0][:sizes[0]])
			if !ip.Valid() || ip.Protocol() != header.ProtocolTCP {
				continue
			}
			seg, ok := tcp.ParseSegment(header.TCP(append([]byte(nil), ip.Payload()...)))
			ch <- res{seg, ok}
			return
		}
	}()
	select {
	case r := <-ch:
		return r.seg, r.ok
	case <-time.After(time.Second):
		return tcp.Segment{}, false
	}
}

func mptcpRstReason(seg tcp.Segment) int {
	for it := header.NewTCPOptionIterator(seg.Options); it.Next(); {
		if it.Kind() == header.TCPOptMPTCP {
			if o, err := option.Parse(it.Raw()); err == nil && o.Subtype == option.SubtypeMPTCPRst {
				return int(o.MPTCPRst.Reason)
			}
		}
	}
	return -1
}

func joinSYNOpts(token, nonce uint32) []byte {
	o := option.Option{Subtype: option.SubtypeMPJoin, MPJoin: option.MPJoin{Stage: option.JoinSYN, Token: token, Nonce: nonce, AddrID: 5}}
	b, _ := o.Append(nil)
	return b
}

// TestForgedJoinsOnTheStack: an attacker on another link of the server
// tries to join a live connection with a guessed token, with the right
// token (it travels in the clear) but no keys, and by replaying a SYN.
// Each attempt is refused with MP_TCPRST and counted; the connection's
// data is untouched.
func TestForgedJoinsOnTheStack(t *testing.T) {
	p := newPair(t, mptcp.Config{DisableJoins: true}, mptcp.Config{})
	evilLink, srvEnd := link.NewPipe(link.PipeOptions{})
	if err := p.srv.AddInterface(srvEnd, stack.InterfaceConfig{Name: "evil", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.9.2/24")}}); err != nil {
		t.Fatal(err)
	}
	peer := &rawPeer{t: t, ep: evilLink, addr: netip.MustParseAddr("198.18.9.66")}
	ln, err := p.hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	sinkServer(t, ln, got)
	c, err := p.hcli.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.2:443"))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(1<<20, 51)
	if _, err := c.Write(data[:1<<19]); err != nil {
		t.Fatal(err)
	}
	_, token := c.Info().LocalToken, c.Info().RemoteToken // the server's token: what a join names
	evil := netip.AddrPortFrom(peer.addr, 40000)
	target := netip.MustParseAddrPort("198.18.9.2:443")
	m := p.hsrv.MIB()

	// A guessed token.
	peer.send(evil, target, 1000, 0, header.TCPFlagSYN, joinSYNOpts(token^0xdeadbeef, 1))
	seg, ok := peer.recv()
	if !ok || seg.Flags&header.TCPFlagRST == 0 || mptcpRstReason(seg) != int(option.RstMPTCPError) || m.MPJoinNoTokenFound.Load() != 1 {
		t.Fatalf("guessed token: got %v (flags %v), MPJoinNoTokenFound %d", ok, seg.Flags, m.MPJoinNoTokenFound.Load())
	}

	// The real token, but no keys: the HMAC of the third ACK is made up.
	peer.send(evil, target, 2000, 0, header.TCPFlagSYN, joinSYNOpts(token, 777))
	synack, ok := peer.recv()
	if !ok || synack.Flags != header.TCPFlagSYN|header.TCPFlagACK {
		t.Fatalf("join SYN with the real token: no SYN/ACK (%v)", synack.Flags)
	}
	ackOpt := option.Option{Subtype: option.SubtypeMPJoin, MPJoin: option.MPJoin{Stage: option.JoinACK, HMAC: [20]byte{0xba, 0xd}}}
	opts, _ := ackOpt.Append(nil)
	peer.send(evil, target, 2001, synack.Seq+1, header.TCPFlagACK, opts)
	seg, ok = peer.recv()
	if !ok || seg.Flags&header.TCPFlagRST == 0 || mptcpRstReason(seg) != int(option.RstMPTCPError) || m.MPJoinAckHMacFailure.Load() != 1 {
		t.Fatalf("bad HMAC: got %v (flags %v), MPJoinAckHMacFailure %d", ok, seg.Flags, m.MPJoinAckHMacFailure.Load())
	}

	// The same SYN replayed from another port: the nonce was seen.
	peer.send(netip.AddrPortFrom(peer.addr, 40001), target, 3000, 0, header.TCPFlagSYN, joinSYNOpts(token, 777))
	seg, ok = peer.recv()
	if !ok || seg.Flags&header.TCPFlagRST == 0 || m.MPJoinReplayed.Load() != 1 {
		t.Fatalf("replayed SYN: got %v (flags %v), MPJoinReplayed %d", ok, seg.Flags, m.MPJoinReplayed.Load())
	}

	// The connection goes on as if nothing happened.
	if _, err := c.Write(data[1<<19:]); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes, not the %d sent", len(b), len(data))
	}
	c.Close()
}

// capableSYNOpts is an MP_CAPABLE v1 SYN's option (RFC 8684 §3.1: no key).
func capableSYNOpts() []byte {
	o := option.Option{Subtype: option.SubtypeMPCapable, MPCapable: option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256}}
	b, _ := o.Append(nil)
	return b
}

// synFlood sends MP_CAPABLE SYNs to target from random ports of random
// addresses of 198.18.9.0/24 (none ever completes) until stop is closed,
// and returns how many it sent. What comes back is read and dropped.
func synFlood(p *rawPeer, target netip.AddrPort, stop <-chan struct{}, seed uint64) int {
	r := rand.New(rand.NewPCG(seed, 1))
	go func() {
		bufs := [][]byte{make([]byte, 2048), make([]byte, 2048), make([]byte, 2048), make([]byte, 2048)}
		sizes := make([]int, len(bufs))
		for {
			if _, err := p.ep.ReadPackets(bufs, sizes); err != nil {
				return
			}
		}
	}()
	opts := capableSYNOpts()
	sent := 0
	for {
		select {
		case <-stop:
			return sent
		default:
		}
		for i := 0; i < 64; i++ {
			src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 9, byte(3 + r.IntN(250))}), uint16(1024+r.IntN(64000)))
			p.send(src, target, r.Uint32(), 0, header.TCPFlagSYN, opts)
			sent++
		}
		runtime.Gosched()
	}
}

// TestSYNFloodBounded: a flood of MP_CAPABLE SYNs from forged sources at
// an MPTCP listener (RFC 4987). Before, half-open connections shared the
// accept backlog (128) and waited out their SYN/ACK retransmissions
// (about two minutes): after 128 forged SYNs no real client got in.
// Now the half-open table (stack.Options.MaxHalfOpen) recycles its oldest
// entry for each new SYN: the host holds at most that many handshakes,
// and real clients connect and transfer intact data during the flood.
func TestSYNFloodBounded(t *testing.T) {
	const maxHalf = stack.DefaultMaxHalfOpen
	cli, srv := stack.New(stack.Options{}), stack.New(stack.Options{})
	t.Cleanup(func() { cli.Close(); srv.Close() })
	a, b := link.NewPipe(link.PipeOptions{})
	if err := cli.AddInterface(a, stack.InterfaceConfig{Name: "wifi", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.1/24")}}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddInterface(b, stack.InterfaceConfig{Name: "wifi", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.2/24")}}); err != nil {
		t.Fatal(err)
	}
	evilLink, srvEnd := link.NewPipe(link.PipeOptions{})
	if err := srv.AddInterface(srvEnd, stack.InterfaceConfig{Name: "evil", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.9.2/24")}}); err != nil {
		t.Fatal(err)
	}
	hcli, err := mptcp.NewHost(cli, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hsrv, err := mptcp.NewHost(srv, mptcp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peer := &rawPeer{t: t, ep: evilLink, addr: netip.MustParseAddr("198.18.9.66")}
	stop := make(chan struct{})
	sentCh := make(chan int, 1)
	go func() { sentCh <- synFlood(peer, netip.MustParseAddrPort("198.18.9.2:443"), stop, 61) }()
	st := srv.Stats()
	for st.TCPOutSegs.Load() < 4*maxHalf { // the table is full and recycling
		time.Sleep(time.Millisecond)
	}
	sent, stopped := 0, false
	stopFlood := func() {
		if !stopped {
			stopped = true
			close(stop)
			sent = <-sentCh
		}
	}
	defer stopFlood() // before the stacks close under the flooder
	// A real client gets in unless the flood recycles its half-open
	// connection before its third ACK is read (RFC 4987 §3.4): the odds are
	// the table's size against the SYNs the server reads in a round trip.
	// Count the tries.
	maxConns, ok, tries := 0, 0, 0
	for ; ok < 5 && tries < 25; tries++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := hcli.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:443"))
		cancel()
		if err != nil {
			t.Logf("dial %d during the flood: %v", tries, err)
			continue
		}
		if c.Fallback() {
			t.Fatalf("dial %d: fell back to TCP", tries)
		}
		data := randomBytes(64<<10, uint64(70+tries))
		go c.Write(data)
		got := make([]byte, len(data))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadFull(c, got)
		c.Close()
		maxConns = max(maxConns, hsrv.NumConns())
		if err != nil {
			t.Logf("echo %d during the flood: %v", tries, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("echo %d: other bytes came back", tries)
		}
		ok++
	}
	if ok < 5 {
		t.Fatalf("%d of %d connections during the flood worked (%d half-open given up)", ok, tries, st.HalfOpenEvicted.Load())
	}
	stopFlood()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d SYNs sent, %d half-open given up, at most %d connections on the server, %d of %d real connections worked; heap %d -> %d KiB",
		sent, st.HalfOpenEvicted.Load(), maxConns, ok, tries, before.HeapAlloc>>10, after.HeapAlloc>>10)
	if st.HalfOpenEvicted.Load() == 0 {
		t.Fatal("nothing was given up: the flood did not fill the table")
	}
	if maxConns > maxHalf+8 {
		t.Fatalf("%d connections on the server, half-open bound %d", maxConns, maxHalf)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB during the flood", grew>>20)
	}
}

// TestRSTStormOnTheStack: a blind attacker who knows the 4-tuples of a
// live connection's subflows (not their sequence numbers) sends
// thousands of RSTs with random sequence numbers, and some inside the
// receive window but not at RCV.NXT, while data flows. RFC 5961 §3.2: only
// a RST at exactly RCV.NXT resets; one in the window gets a challenge
// ACK, one outside is dropped. No subflow ends, the data arrives intact.
func TestRSTStormOnTheStack(t *testing.T) {
	p := newPair(t, mptcp.Config{}, mptcp.Config{})
	// The attacker writes onto the paths' links (as a host sharing them),
	// with the client's addresses; it reads nothing.
	peers := map[netip.Addr]*rawPeer{}
	for i, l := range p.cliLinks {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i + 1), 1})
		peers[a] = &rawPeer{t: t, ep: l, addr: a}
	}
	ln, err := p.hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvConn := make(chan *mptcp.Conn, 1)
	go func() {
		c, err := ln.AcceptMPTCP()
		if err != nil {
			srvConn <- nil
			return
		}
		srvConn <- c
	}()
	c, err := p.hcli.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.2:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-srvConn
	if s == nil {
		t.Fatal("accept failed")
	}
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Info().Subflows) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no second subflow")
		}
		time.Sleep(time.Millisecond)
	}
	data := randomBytes(4<<20, 52)
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	got := make(chan []byte, 1)
	go func() {
		s.SetReadDeadline(time.Now().Add(60 * time.Second))
		b, err := io.ReadAll(s)
		if err != nil {
			t.Errorf("server read: %v", err)
		}
		got <- b
	}()
	r := rand.New(rand.NewPCG(53, 1))
	blind, inWindow := 0, 0
	for round := 0; round < 20; round++ {
		for _, sf := range s.Info().Subflows {
			// From the client's address and port, to the server's.
			for i := 0; i < 250; i++ {
				peers[sf.Remote.Addr()].send(sf.Remote, sf.Local, r.Uint32(), 0, header.TCPFlagRST, nil)
				blind++
			}
			if w := sf.TCP.RcvWnd; w > 2 {
				for i := 0; i < 10; i++ {
					peers[sf.Remote.Addr()].send(sf.Remote, sf.Local, sf.TCP.RcvNxt+1+uint32(r.IntN(w-1)), 0, header.TCPFlagRST, nil)
					inWindow++
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := <-got
	if !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes, not the %d sent", len(b), len(data))
	}
	in := s.Info()
	challenges := uint64(0)
	for _, sf := range append(in.Subflows, in.Closed...) {
		challenges += sf.TCP.Stats.ChallengeACKs
	}
	t.Logf("%d blind RSTs, %d in the window: %d challenge ACKs, %d subflows closed", blind, inWindow, challenges, in.SubflowsClosed)
	if in.SubflowsClosed != 0 || len(in.Subflows) != 2 {
		t.Fatalf("%d subflows closed by forged RSTs (%d left)", in.SubflowsClosed, len(in.Subflows))
	}
	if challenges == 0 {
		t.Fatal("no challenge ACK for the RSTs in the window")
	}
}

// TestMaxConnections: a host at Config.MaxConnections drops further SYNs
// (the client's dial times out) and refuses dials; a place frees when a
// connection is gone.
func TestMaxConnections(t *testing.T) {
	quick := mptcp.Config{DisableJoins: true}
	quick.TCP.TimeWait = 100 * time.Millisecond
	srvCfg := quick
	srvCfg.MaxConnections = 1
	p := newPair(t, quick, srvCfg)
	ln, err := p.hsrv.Listen(netip.MustParseAddrPort("0.0.0.0:443"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *mptcp.Conn, 4)
	go func() {
		for {
			c, err := ln.AcceptMPTCP()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(d time.Duration) (*mptcp.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return p.hcli.Dial(ctx, netip.MustParseAddrPort("198.18.1.2:443"))
	}
	c1, err := dial(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s1 := <-accepted
	if _, err := dial(500 * time.Millisecond); err == nil {
		t.Fatal("a second connection to a host limited to one")
	}
	if p.hsrv.ConnLimitDrops() == 0 || p.hsrv.NumConns() != 1 {
		t.Fatalf("ConnLimitDrops %d, NumConns %d", p.hsrv.ConnLimitDrops(), p.hsrv.NumConns())
	}
	if _, err := p.hsrv.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.1:9")); !errors.Is(err, mptcp.ErrTooManyConnections) {
		t.Fatalf("dial from the full host: %v", err)
	}
	c1.Close()
	s1.Close()
	<-s1.Done()
	c2, err := dial(10 * time.Second)
	if err != nil {
		t.Fatalf("after the first connection ended: %v", err)
	}
	c2.Close()
}
