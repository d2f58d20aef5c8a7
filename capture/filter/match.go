package filter

import "github.com/mptcp-go/mptcp/capture"

// Match reports whether frame, starting with the link-layer header of l,
// matches the filter (see the package documentation). It is the filter's
// specification written in Go: the BPF program accepts a frame exactly when
// Match returns true, including when the frame is cut short (a read past
// its end rejects it, as in cBPF). It does not allocate.
func Match(l Link, frame []byte) bool {
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
			return false
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
			return false
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
				return false
			}
			if et, ok = ld(x+2, 2); !ok {
				return false
			}
		}
	default:
		return false
	}
	switch version {
	case 0x40:
		b0, ok := ld(x, 1)
		if !ok || b0&0xf0 != 0x40 {
			return false
		}
		if proto, ok := ld(x+9, 1); !ok || proto != 6 {
			return false
		}
		if frag, ok := ld(x+6, 2); !ok || frag&0x1fff != 0 {
			return false
		}
		ihl := int(b0&0x0f) * 4
		if ihl < 20 {
			return false
		}
		x += ihl
	case 0x60:
		b0, ok := ld(x, 1)
		if !ok || b0&0xf0 != 0x60 {
			return false
		}
		nh, ok := ld(x+6, 1)
		if !ok {
			return false
		}
		x += 40
		for range maxIPv6Ext {
			if nh == 6 {
				break
			}
			switch nh {
			case 0, 43, 60:
				if nh, ok = ld(x, 1); !ok {
					return false
				}
				n, ok := ld(x+1, 1)
				if !ok {
					return false
				}
				x += int(n+1) * 8
			case 44:
				off, ok := ld(x+2, 2)
				if !ok || off&0xfff8 != 0 {
					return false
				}
				if nh, ok = ld(x, 1); !ok {
					return false
				}
				x += 8
			default:
				return false
			}
		}
		if nh != 6 {
			return false
		}
	default:
		return false
	}
	// TCP header at x.
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
