package stack

import (
	"net/netip"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/tcp"
)

// tcpInput demultiplexes a TCP segment (RFC 9293 §3.10.7): to its flow;
// a SYN for no flow to the SYN tap, then to the listener of its address
// (or of the unspecified address); anything else is answered with RST
// (§3.10.7.1).
func (s *Stack) tcpInput(n *nic, src, dst netip.Addr, b []byte, tos uint8, csumOK bool) {
	s.stats.TCPInSegs.Add(1)
	th := header.TCP(b)
	if !th.Valid() {
		s.stats.TCPInErrs.Add(1)
		return
	}
	if !csumOK {
		ps := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(b)))
		if th.CalculateChecksum(ps) != 0 {
			s.stats.TCPInErrs.Add(1)
			return
		}
	}
	seg, _ := tcp.ParseSegment(th)
	seg.CE = tos&ecnMask == ecnCE
	k := connKey{netip.AddrPortFrom(dst, th.DstPort()), netip.AddrPortFrom(src, th.SrcPort())}
	s.mu.RLock()
	f := s.flows[k]
	var tap SYNHandler
	var l *listenEntry
	if f == nil {
		tap = s.synTap
		l = s.listeners[k.local]
		if l == nil {
			unspec := netip.IPv4Unspecified()
			if dst.Is6() {
				unspec = netip.IPv6Unspecified()
			}
			l = s.listeners[netip.AddrPortFrom(unspec, k.local.Port())]
		}
	}
	s.mu.RUnlock()
	if f != nil {
		f.deliver(n, &seg)
		return
	}
	if seg.Flags&(header.TCPFlagSYN|header.TCPFlagACK|header.TCPFlagRST) == header.TCPFlagSYN {
		v := SYNPass
		if tap != nil {
			f, v = tap(k.local, k.remote, &seg)
		}
		if v == SYNPass && l != nil {
			f, v = l.h(k.local, k.remote, &seg)
		}
		switch v {
		case SYNDeliver:
			if f != nil {
				f.deliver(n, &seg)
			}
			return
		case SYNDrop:
			return
		}
	}
	s.ReplyRST(k.local, k.remote, &seg, nil)
}
