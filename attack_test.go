package mptcp_test

import (
	"bytes"
	"context"
	"io"
	"net/netip"
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
