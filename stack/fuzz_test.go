package stack

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// FuzzStackInput feeds arbitrary frames to a stack that has a listener,
// an established connection and an Ethernet interface (ARP, NDP, ICMP,
// IPv4/IPv6 with extension headers, TCP). Nothing may panic.
func FuzzStackInput(f *testing.F) {
	p := newPair(f, link.TypeEthernet, false)
	c, _ := p.connect(f)
	l, err := p.b.ListenTCP(netip.AddrPortFrom(netip.IPv4Unspecified(), 80))
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	// Seeds: a SYN to the listener, a segment of the connection, an ARP
	// request, an ICMP error about the connection, a truncated header.
	mk := func(src, dst netip.AddrPort, flags header.TCPFlags) []byte {
		fr := make([]byte, 14+20+20)
		header.Ethernet(fr).Encode(header.MAC{2, 0, 0, 0, 0, 2}, header.MAC{2, 0, 0, 0, 0, 1}, header.EtherTypeIPv4)
		header.IPv4(fr[14:]).Encode(&header.IPv4Fields{TotalLength: 40, TTL: 64, Protocol: header.ProtocolTCP, Src: src.Addr(), Dst: dst.Addr()})
		header.IPv4(fr[14:]).SetChecksum()
		header.TCP(fr[34:]).Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: 1, DataOffset: 20, Flags: flags, Window: 100})
		setTCPChecksum(fr[14:], src.Addr(), dst.Addr(), 20)
		return fr
	}
	f.Add(mk(netip.AddrPortFrom(p.addrA, 1234), netip.AddrPortFrom(p.addrB, 80), header.TCPFlagSYN))
	f.Add(mk(c.LocalAddrPort(), c.RemoteAddrPort(), header.TCPFlagACK))
	arp := make([]byte, 14+28)
	header.Ethernet(arp).Encode(header.BroadcastMAC, header.MAC{2, 0, 0, 0, 0, 1}, header.EtherTypeARP)
	header.ARP(arp[14:]).Encode(header.ARPRequest, header.MAC{2, 0, 0, 0, 0, 1}, p.addrA, header.MAC{}, p.addrB)
	f.Add(arp)
	icmp := icmpAbout(c, false, header.ICMPv4DstUnreachable, header.ICMPv4FragNeeded, 1280)
	f.Add(append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}, icmp...))
	f.Add([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd, 0x60})
	// Fragments (IPv4 and IPv6) of a segment of the connection and of an
	// echo request: first, middle, last, atomic.
	eth4 := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0}
	eth6 := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd}
	seg := mk(c.LocalAddrPort(), c.RemoteAddrPort(), header.TCPFlagACK)[14:]
	seg = append(seg, make([]byte, 40)...)
	binary.BigEndian.PutUint16(seg[2:4], uint16(len(seg)))
	header.IPv4(seg).SetChecksum()
	for _, fr := range fragments(seg, 0, 8, 32) {
		f.Add(append(append([]byte(nil), eth4...), fr...))
	}
	echo6 := make([]byte, 40+8+64)
	header.IPv6(echo6).Encode(&header.IPv6Fields{PayloadLength: 72, NextHeader: header.ProtocolICMPv6, HopLimit: 64,
		Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2")})
	header.ICMPv6(echo6[40:]).Encode(header.ICMPv6EchoRequest, 0, 1)
	header.ICMPv6(echo6[40:]).SetChecksum(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"))
	for _, fr := range append(fragments(echo6, 7, 16, 48), fragAt(echo6, 0, 72, false, 8)) {
		f.Add(append(append([]byte(nil), eth6...), fr...))
	}
	// A second interface object with b's addresses, fed only by the fuzz
	// goroutine (the real one belongs to b's reader goroutine).
	sink, _ := link.NewPipe(link.PipeOptions{Type: link.TypeEthernet, QueueLen: 16})
	bNIC := p.b.nics[0]
	n := newNIC(p.b, sink, bNIC.cfg)
	go n.txq.run()
	defer n.txq.close()
	f.Fuzz(func(t *testing.T, frame []byte) {
		n.input(frame, false)
		n.flushDirty()
	})
}

// FuzzReassembly drives the reassembler with fragments the input
// describes, six bytes each: flags (bit 0 IPv6, bit 1 more fragments,
// bit 2 advance the clock by 7 s first, bit 3 run the timer), ID (two
// bits, so datagrams collide), offset in 8-byte units (13 bits), data
// length, fill byte. Fragments are valid IP packets; what they carry is
// arbitrary (some complete echo requests). Nothing may panic, and the
// reassembler's books must stay consistent and within the caps.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 16, 1, 2, 1, 0, 2, 16, 1, 0, 1, 0, 4, 8, 1})
	f.Add([]byte{3, 1, 0, 0, 16, 1, 1, 1, 0, 2, 16, 1, 7, 1, 0, 1, 16, 1, 8, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 0, 0x1f, 0xff, 255, 9, 3, 2, 0, 0, 255, 0, 1, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		// A stack without devices (cheap: no goroutines): replies find
		// no route and are dropped.
		r := &reasmRig{s: New(Options{ReassemblyMemory: 8 << 10})}
		defer r.s.Close()
		us4, us6 := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")
		them4, them6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")
		r.n = &nic{s: r.s, cfg: InterfaceConfig{Addrs: []netip.Prefix{netip.PrefixFrom(us4, 24), netip.PrefixFrom(us6, 64)}}}
		r.s.reasm.now = func() time.Time { return time.Unix(0, r.clock.Load()) }
		for ; len(in) >= 6; in = in[6:] {
			fl, id, off := in[0], uint32(in[1]&3), int(binary.BigEndian.Uint16(in[2:4])&0x1fff)*8
			n := int(in[4])
			if fl&4 != 0 {
				r.advance(7 * time.Second)
			}
			if fl&8 != 0 {
				r.s.reasm.expire()
			}
			data := bytes.Repeat([]byte{in[5]}, n)
			if off == 0 && n >= 8 {
				data[0], data[1] = header.ICMPv4Echo, 0 // a first fragment of an echo request
				if fl&1 != 0 {
					data[0] = header.ICMPv6EchoRequest
				}
			}
			var p []byte
			if fl&1 == 0 {
				p = make([]byte, 20+n)
				header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), ID: uint16(id), TTL: 64,
					Protocol: header.ProtocolICMPv4, Src: them4, Dst: us4, FragOffset: uint16(off)})
				if fl&2 != 0 {
					binary.BigEndian.PutUint16(p[6:8], header.IPv4FlagMF|uint16(off/8))
				}
				header.IPv4(p).SetChecksum()
				copy(p[20:], data)
			} else {
				p = make([]byte, 48+n)
				header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: uint16(8 + n), NextHeader: header.IPv6Fragment,
					HopLimit: 64, Src: them6, Dst: us6})
				header.IPv6FragmentHeader(p[40:]).Encode(header.ProtocolICMPv6, off, fl&2 != 0, id)
				copy(p[48:], data)
			}
			r.input(p)
			r.checkInvariants(t)
		}
	})
}
