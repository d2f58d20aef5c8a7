package stack

import (
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// icmpAbout builds an ICMP error packet from router to the local end of
// c, quoting the start of a segment c sent.
func icmpAbout(c *Conn, v6 bool, typ, code uint8, mtu uint32) []byte {
	local, remote := c.LocalAddrPort(), c.RemoteAddrPort()
	tcpHdr := make([]byte, 20)
	header.TCP(tcpHdr).Encode(&header.TCPFields{SrcPort: local.Port(), DstPort: remote.Port(), DataOffset: 20, Flags: header.TCPFlagACK})
	router := remote.Addr()
	if !v6 {
		inner := make([]byte, 20+len(tcpHdr))
		header.IPv4(inner).Encode(&header.IPv4Fields{TotalLength: 1500, TTL: 1, Protocol: header.ProtocolTCP, Src: local.Addr(), Dst: remote.Addr()})
		copy(inner[20:], tcpHdr)
		m := make([]byte, 8+len(inner))
		header.ICMPv4(m).Encode(typ, code, mtu)
		copy(m[8:], inner)
		header.ICMPv4(m).SetChecksum()
		pkt := make([]byte, 20+len(m))
		header.IPv4(pkt).Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), TTL: 64, Protocol: header.ProtocolICMPv4, Src: router, Dst: local.Addr()})
		header.IPv4(pkt).SetChecksum()
		copy(pkt[20:], m)
		return pkt
	}
	inner := make([]byte, 40+len(tcpHdr))
	header.IPv6(inner).Encode(&header.IPv6Fields{PayloadLength: 1460, NextHeader: header.ProtocolTCP, HopLimit: 1, Src: local.Addr(), Dst: remote.Addr()})
	copy(inner[40:], tcpHdr)
	m := make([]byte, 8+len(inner))
	header.ICMPv6(m).Encode(typ, code, mtu)
	copy(m[8:], inner)
	header.ICMPv6(m).SetChecksum(router, local.Addr())
	pkt := make([]byte, 40+len(m))
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(len(m)), NextHeader: header.ProtocolICMPv6, HopLimit: 64, Src: router, Dst: local.Addr()})
	copy(pkt[40:], m)
	return pkt
}

// TestICMPPacketTooBig checks PMTU discovery (RFC 1191, RFC 8201): an
// ICMP "fragmentation needed" / "packet too big" shrinks the connection's
// segments, and data still flows.
func TestICMPPacketTooBig(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		p := newPair(t, link.TypeIP, v6)
		c, s := p.connect(t)
		before := c.Info().MSS
		typ, code, mtu := header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded, uint32(1280)
		if v6 {
			typ, code, mtu = header.ICMPv6PacketTooBig, 0, 1280
		}
		p.a.ipInput(p.a.nics[0], icmpAbout(c, v6, typ, code, mtu), false)
		after := c.Info().MSS
		wantMax := 1280 - 40
		if v6 {
			wantMax = 1280 - 60
		}
		if after >= before || after > wantMax {
			t.Fatalf("v6=%v: MSS %d -> %d after PTB 1280", v6, before, after)
		}
		go c.Write(randBytes(1<<20, 3))
		buf := make([]byte, 1<<20)
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		for got := 0; got < len(buf); {
			n, err := s.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
}

// TestICMPEcho checks that the stack answers pings (RFC 1122 §3.2.2.6).
func TestICMPEcho(t *testing.T) {
	p := newPair(t, link.TypeIP, false)
	// An echo request to b must produce an echo reply; observe it as a
	// counter on a (the reply arrives there).
	m := make([]byte, 16)
	header.ICMPv4(m).Encode(header.ICMPv4Echo, 0, 0x12340001)
	header.ICMPv4(m).SetChecksum()
	p.a.sendIP(nil, p.addrA, p.addrB, header.ProtocolICMPv4, m)
	deadline := time.Now().Add(5 * time.Second)
	for p.a.Stats().ICMPInMsgs.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no echo reply")
		}
		time.Sleep(time.Millisecond)
	}
	if p.b.Stats().ICMPOutMsgs.Load() != 1 {
		t.Fatalf("b sent %d ICMP messages", p.b.Stats().ICMPOutMsgs.Load())
	}
}
