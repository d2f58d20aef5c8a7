package filter

import (
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
)

// verdict is the ground truth about one captured frame, from the
// project's own parsers (capture.DecodeLink and package header), not from
// this package's Match.
type verdict struct {
	tcp     bool  // a TCP segment with a whole header
	keep    bool  // what the filter must do: MPTCP option, or SYN/FIN/RST
	mptcp   bool  // carries TCP option kind 30
	flags   uint8 // TCP flags
	sack    bool  // carries SACK blocks (kind 5)
	ts      bool  // carries timestamps (kind 8)
	subtype uint8 // MPTCP subtype of the first option 30 (RFC 8684 §3)
	doff    int   // TCP header length
	payload int   // TCP payload bytes
	version uint8 // IP version
}

// groundTruth classifies a frame: TCP with option 30, or SYN/FIN/RST.
func groundTruth(lt capture.LinkType, frame []byte) verdict {
	var v verdict
	n, err := capture.DecodeLink(lt, frame)
	if err != nil {
		return v
	}
	var seg header.TCP
	v.version = n.Version
	switch n.Version {
	case 4:
		ip := header.IPv4(n.Payload)
		if !ip.Valid() || ip.Protocol() != 6 || ip.FragmentOffset() != 0 {
			return v
		}
		seg = header.TCP(ip.Payload())
	case 6:
		ip := header.IPv6(n.Payload)
		proto, off, err := ip.UpperLayer()
		if err != nil || proto != 6 {
			return v
		}
		seg = header.TCP(ip[off : header.IPv6HeaderLen+ip.PayloadLength()])
	default:
		return v
	}
	if !seg.Valid() {
		return v
	}
	v.tcp = true
	v.flags = uint8(seg.Flags())
	v.doff = seg.DataOffset()
	v.payload = len(seg.Payload())
	it := header.NewTCPOptionIterator(seg.Options())
	for it.Next() {
		switch it.Kind() {
		case 30:
			if !v.mptcp && len(it.Data()) > 0 {
				v.subtype = it.Data()[0] >> 4
			}
			v.mptcp = true
		case 5:
			v.sack = true
		case 8:
			v.ts = true
		}
	}
	v.keep = v.mptcp || v.flags&flagsFinSynRst != 0
	return v
}
