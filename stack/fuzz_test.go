package stack

import (
	"net/netip"
	"testing"

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
