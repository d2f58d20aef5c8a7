package filter

import "github.com/mptcp-go/mptcp/capture"

// Match reports whether frame, starting with the link-layer header of l,
// matches the filter (see the package documentation). It is the filter's
// specification written in Go: the BPF program accepts a frame exactly when
// Match returns true, including when the frame is cut short (a read past
// its end rejects it, as in cBPF). It does not allocate.
func Match(l Link, frame []byte) bool {
	_, x, ok := locate(l, frame)
	return ok && mptcpSegment(frame, x)
}

// MatchExpr is the specification of ProgramExpr: the frame is a TCP
// segment that expr (if not nil) matches and, if mptcp, that Match keeps.
func MatchExpr(l Link, frame []byte, expr *Expr, mptcp bool) bool {
	ip, x, ok := locate(l, frame)
	if !ok {
		return false
	}
	if expr != nil {
		m, ok := expr.Match(frame[ip:], x-ip)
		if !ok || !m {
			return false
		}
	}
	return !mptcp || mptcpSegment(frame, x)
}

// ld loads size bytes at off, big-endian; false past the end.
func ld(frame []byte, off, size int) (uint32, bool) {
	if off < 0 || off+size > len(frame) {
		return 0, false
	}
	v := uint32(0)
	for _, b := range frame[off : off+size] {
		v = v<<8 | uint32(b)
	}
	return v, true
}

// locate finds the IP and TCP headers of a frame as the filter does (a
// TCP segment over IPv4 or IPv6, first fragment); ok is false for any
// other frame.
func locate(l Link, frame []byte) (ipOff, tcpOff int, ok bool) {
	ld := func(off, size int) (uint32, bool) {
		if off < 0 || off+size > len(frame) {
			return 0, false
		}
		v := uint32(0)
		for _, b := range frame[off : off+size] {
			v = v<<8 | uint32(b)
		}
		return v, true
	}
	var x int
	var version uint32
	switch l {
	case Raw:
		v, ok := ld(0, 1)
		if !ok {
			return 0, 0, false
		}
		version = v & 0xf0
	case Ethernet, SLL, SLL2:
		etherOff, l3Off := 12, 14
		if l == SLL {
			etherOff, l3Off = 14, 16
		} else if l == SLL2 {
			etherOff, l3Off = 0, 20
		}
		et, ok := ld(etherOff, 2)
		if !ok {
			return 0, 0, false
		}
		for i := 0; ; i++ {
			x = l3Off + 4*i
			if et == capture.EtherTypeIPv4 {
				version = 0x40
				break
			}
			if et == capture.EtherTypeIPv6 {
				version = 0x60
				break
			}
			if i == maxVLANTags || (et != capture.EtherTypeVLAN && et != capture.EtherTypeQinQ && et != capture.EtherTypeQinQ2) {
				return 0, 0, false
			}
			if et, ok = ld(x+2, 2); !ok {
				return 0, 0, false
			}
		}
	default:
		return 0, 0, false
	}
	ipOff = x
	switch version {
	case 0x40:
		b0, ok := ld(x, 1)
		if !ok || b0&0xf0 != 0x40 {
			return 0, 0, false
		}
		if proto, ok := ld(x+9, 1); !ok || proto != 6 {
			return 0, 0, false
		}
		if frag, ok := ld(x+6, 2); !ok || frag&0x1fff != 0 {
			return 0, 0, false
		}
		ihl := int(b0&0x0f) * 4
		if ihl < 20 {
			return 0, 0, false
		}
		x += ihl
	case 0x60:
		b0, ok := ld(x, 1)
		if !ok || b0&0xf0 != 0x60 {
			return 0, 0, false
		}
		nh, ok := ld(x+6, 1)
		if !ok {
			return 0, 0, false
		}
		x += 40
		for range maxIPv6Ext {
			if nh == 6 {
				break
			}
			switch nh {
			case 0, 43, 60:
				if nh, ok = ld(x, 1); !ok {
					return 0, 0, false
				}
				n, ok := ld(x+1, 1)
				if !ok {
					return 0, 0, false
				}
				x += int(n+1) * 8
			case 44:
				off, ok := ld(x+2, 2)
				if !ok || off&0xfff8 != 0 {
					return 0, 0, false
				}
				if nh, ok = ld(x, 1); !ok {
					return 0, 0, false
				}
				x += 8
			default:
				return 0, 0, false
			}
		}
		if nh != 6 {
			return 0, 0, false
		}
	default:
		return 0, 0, false
	}
	return ipOff, x, true
}

// mptcpSegment is the TCP part of Match: SYN, FIN or RST, or an MPTCP
// option in the option list of the TCP header at x.
func mptcpSegment(frame []byte, x int) bool {
	ld := func(off, size int) (uint32, bool) { return ld(frame, off, size) }
	flags, ok := ld(x+13, 1)
	if !ok {
		return false
	}
	if flags&flagsFinSynRst != 0 {
		return true
	}
	doff, _ := ld(x+12, 1) // in bounds: x+13 is
	end := x + int(doff&0xf0)>>2
	if end <= x+20 {
		return false
	}
	for p, step := x+20, 0; step < optionSteps && p < end; step++ {
		kind, ok := ld(p, 1)
		if !ok {
			return false
		}
		switch kind {
		case kindMPTCP:
			return true
		case kindNOP:
			p++
			continue
		case kindEOL:
			return false
		}
		if p+1 >= end {
			return false
		}
		n, ok := ld(p+1, 1)
		if !ok || n < 2 {
			return false
		}
		p += int(n)
	}
	return false
}
