package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mptcp-go/mptcp/header"
)

// acceptInput splits gsoPacket's output into the virtio-net header and
// the packet, with an l2-byte Ethernet header (IPv4 or IPv6 EtherType) in
// front of the IP packet when l2 is 14.
func acceptInput(v6 bool, l2, payload int) (h, pkt []byte) {
	b := gsoPacket(v6, make([]byte, payload), 1000, header.TCPFlagACK)
	h = bytes.Clone(b[:vnetHdrLen])
	if l2 > 0 {
		pkt = make([]byte, l2)
		copy(pkt, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
		et := uint16(0x0800)
		if v6 {
			et = 0x86dd
		}
		binary.BigEndian.PutUint16(pkt[l2-2:], et)
	}
	return h, append(pkt, b[vnetHdrLen:]...)
}

func TestAcceptVnet(t *testing.T) {
	type tc struct {
		name    string
		v6      bool
		payload int
		// mod changes the header and the IP packet (after the link header).
		mod     func(h, ip []byte)
		want    PacketFlags
		wantErr bool
		// lenSet says acceptVnet must set the IP length fields (and
		// IPv4 header checksum); everything else comes back unchanged.
		lenSet bool
	}
	gso := func(typ byte) func(h, ip []byte) { return func(h, ip []byte) { h[1] = typ } }
	cases := []tc{
		{name: "gso4 zero total length", payload: 5000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[2], ip[3], ip[10], ip[11] = 0, 0, 0, 0 }},
		{name: "gso4 one-segment total length", payload: 5000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { binary.BigEndian.PutUint16(ip[2:], 1500); ip[10] ^= 0x55 }},
		{name: "gso4 right length, bad header checksum", payload: 3000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[11] ^= 0xff }},
		{name: "gso4 no checksum flags", payload: 3000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { h[0] = 0; ip[2], ip[3] = 0, 0 }},
		{name: "gso4 ECN", payload: 3000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { h[1] = vnetGSOTCPv4 | vnetGSOECN; ip[2], ip[3] = 0, 0 }},
		{name: "gso4 with IP options", payload: 3000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[0] = 0x46; ip[2], ip[3] = 0, 0 }}, // 4 bytes of the TCP header read as options
		{name: "gso4 largest", payload: MaxOffloadPacket - 40, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[2], ip[3] = 0, 0 }},
		{name: "gso6 zero payload length", v6: true, payload: 5000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[4], ip[5] = 0, 0 }},
		{name: "gso6 one-segment payload length", v6: true, payload: 5000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { binary.BigEndian.PutUint16(ip[4:], 1460) }},
		{name: "gso6 no checksum flags", v6: true, payload: 3000, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { h[0] = 0; ip[4], ip[5] = 0, 0 }},
		{name: "gso6 largest", v6: true, payload: MaxOffloadPacket - 20, lenSet: true, want: ChecksumValid,
			mod: func(h, ip []byte) { ip[4], ip[5] = 0, 0 }},

		{name: "plain4 needs csum", payload: 100, want: ChecksumValid, mod: gso(vnetGSONone)},
		{name: "plain6 needs csum", v6: true, payload: 100, want: ChecksumValid, mod: gso(vnetGSONone)},
		{name: "plain4 data valid", payload: 100, want: ChecksumValid,
			mod: func(h, ip []byte) { h[0], h[1] = vnetFlagDataValid, vnetGSONone }},
		{name: "plain6 data valid and needs csum", v6: true, payload: 100, want: ChecksumValid,
			mod: func(h, ip []byte) { h[0], h[1] = vnetFlagDataValid|vnetFlagNeedsCsum, vnetGSONone }},
		{name: "plain4 no flags", payload: 100, want: 0,
			mod: func(h, ip []byte) { h[0], h[1] = 0, vnetGSONone }},
		{name: "plain6 no flags", v6: true, payload: 100, want: 0,
			mod: func(h, ip []byte) { h[0], h[1] = 0, vnetGSONone }},
		{name: "plain no flags, ECN bit", payload: 100, want: 0,
			mod: func(h, ip []byte) { h[0], h[1] = 0, vnetGSOECN }},
		{name: "plain with a wrong length is not touched", payload: 100, want: 0,
			mod: func(h, ip []byte) { h[0], h[1] = 0, vnetGSONone; ip[2], ip[3] = 0, 1 }},

		{name: "gso udp", payload: 3000, wantErr: true, mod: gso(3)},
		{name: "gso udp_l4", payload: 3000, wantErr: true, mod: gso(5)},
		{name: "gso unknown", payload: 3000, wantErr: true, mod: gso(0x7f)},
		{name: "gso6 unknown with ECN", v6: true, payload: 3000, wantErr: true, mod: gso(0x7f | vnetGSOECN)},
		{name: "gso4 says v4, packet is v6", v6: true, payload: 3000, wantErr: true, mod: gso(vnetGSOTCPv4)},
		{name: "gso6 says v6, packet is v4", payload: 3000, wantErr: true, mod: gso(vnetGSOTCPv6)},
		{name: "gso4 udp protocol", payload: 3000, wantErr: true,
			mod: func(h, ip []byte) { ip[9] = 17 }},
		{name: "gso6 udp next header", v6: true, payload: 3000, wantErr: true,
			mod: func(h, ip []byte) { ip[6] = 17 }},
		{name: "gso4 IHL below 5", payload: 3000, wantErr: true,
			mod: func(h, ip []byte) { ip[0] = 0x44 }},
		{name: "gso4 too long", payload: MaxOffloadPacket - 40 + 1, wantErr: true},
		{name: "gso6 too long", v6: true, payload: MaxOffloadPacket - 20 + 1, wantErr: true},
	}
	for _, c := range cases {
		for _, l2 := range []int{0, header.EthernetHeaderLen} {
			h, pkt := acceptInput(c.v6, l2, c.payload)
			if c.mod != nil {
				c.mod(h, pkt[l2:])
			}
			orig := bytes.Clone(pkt)
			f, err := acceptVnet(h, pkt, l2)
			if c.wantErr {
				if err == nil || !errors.Is(err, errVnet) || f != 0 {
					t.Errorf("%s (l2 %d): flags %v, err %v; want an errVnet", c.name, l2, f, err)
				}
				continue
			}
			if err != nil || f != c.want {
				t.Errorf("%s (l2 %d): flags %v, err %v; want %v", c.name, l2, f, err, c.want)
				continue
			}
			if !bytes.Equal(pkt[:l2], orig[:l2]) {
				t.Errorf("%s (l2 %d): link header changed", c.name, l2)
			}
			ip := pkt[l2:]
			if !c.lenSet {
				if !bytes.Equal(pkt, orig) {
					t.Errorf("%s (l2 %d): non-GSO packet changed", c.name, l2)
				}
				continue
			}
			if c.v6 {
				if got := header.IPv6(ip).PayloadLength(); got != len(ip)-header.IPv6HeaderLen {
					t.Errorf("%s (l2 %d): IPv6 payload length %d, packet %d", c.name, l2, got, len(ip))
				}
				// Only the payload length changes.
				if !bytes.Equal(ip[:4], orig[l2:l2+4]) || !bytes.Equal(ip[6:], orig[l2+6:]) {
					t.Errorf("%s (l2 %d): more than the payload length changed", c.name, l2)
				}
				continue
			}
			v4 := header.IPv4(ip)
			if v4.TotalLength() != len(ip) || !v4.Valid() || !v4.ValidChecksum() {
				t.Errorf("%s (l2 %d): total length %d (packet %d), checksum ok %v", c.name, l2, v4.TotalLength(), len(ip), v4.ValidChecksum())
			}
			// Only the total length and the header checksum change.
			o := orig[l2:]
			if !bytes.Equal(ip[:2], o[:2]) || !bytes.Equal(ip[4:10], o[4:10]) || !bytes.Equal(ip[12:], o[12:]) {
				t.Errorf("%s (l2 %d): more than length and checksum changed", c.name, l2)
			}
		}
	}

	// Truncated inputs: never a panic, always an error.
	h, pkt := acceptInput(false, header.EthernetHeaderLen, 3000)
	for _, c := range []struct {
		name string
		h    []byte
		pkt  []byte
		l2   int
	}{
		{"empty header", nil, pkt, 14},
		{"short header", h[:vnetHdrLen-1], pkt, 14},
		{"packet shorter than link header", h, pkt[:13], 14},
		{"link header only", h, pkt[:14], 14},
		{"short IPv4 header", h, pkt[:14+19], 14},
		{"IPv4 header only", h, pkt[:14+20], 14},
		{"no packet", h, nil, 0},
	} {
		f, err := acceptVnet(c.h, bytes.Clone(c.pkt), c.l2)
		if c.name == "IPv4 header only" {
			// A bare IPv4 header of protocol TCP is accepted: the TCP
			// header is the stack's to check.
			continue
		}
		if err == nil || f != 0 {
			t.Errorf("%s: flags %v, err %v; want an error", c.name, f, err)
		}
	}
	h6, pkt6 := acceptInput(true, 0, 3000)
	for _, n := range []int{0, 1, 39} {
		if f, err := acceptVnet(h6, bytes.Clone(pkt6[:n]), 0); err == nil || f != 0 {
			t.Errorf("IPv6 packet of %d bytes: flags %v, err %v; want an error", n, f, err)
		}
	}
}

// FuzzAcceptVnet feeds arbitrary virtio-net headers and packets to
// acceptVnet: it must not panic; an accepted GSO packet must have IP
// length fields for the whole packet (and a valid IPv4 header checksum)
// and ChecksumValid; an accepted other packet must come back unchanged.
func FuzzAcceptVnet(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		for _, l2 := range []int{0, 14} {
			h, pkt := acceptInput(v6, l2, 3000)
			f.Add(h, pkt, l2 == 14)
			h[1] = vnetGSONone
			f.Add(h, pkt, l2 == 14)
		}
	}
	f.Fuzz(func(t *testing.T, h, pkt []byte, eth bool) {
		l2 := 0
		if eth {
			l2 = header.EthernetHeaderLen
		}
		orig := bytes.Clone(pkt)
		fl, err := acceptVnet(h, pkt, l2)
		if err != nil {
			if !errors.Is(err, errVnet) || fl != 0 {
				t.Fatalf("flags %v with error %v", fl, err)
			}
			return
		}
		if fl&^ChecksumValid != 0 {
			t.Fatalf("unknown flags %v", fl)
		}
		switch h[1] &^ vnetGSOECN {
		case vnetGSONone:
			if !bytes.Equal(pkt, orig) {
				t.Fatal("non-GSO packet changed")
			}
			if want := h[0]&(vnetFlagNeedsCsum|vnetFlagDataValid) != 0; (fl == ChecksumValid) != want {
				t.Fatalf("flags %v for virtio-net flags %#x", fl, h[0])
			}
		case vnetGSOTCPv4:
			ip := header.IPv4(pkt[l2:])
			if fl != ChecksumValid || ip.TotalLength() != len(ip) || !ip.Valid() || !ip.ValidChecksum() || ip.Protocol() != header.ProtocolTCP {
				t.Fatalf("accepted IPv4 GSO packet: flags %v, total length %d of %d", fl, ip.TotalLength(), len(ip))
			}
		case vnetGSOTCPv6:
			ip := header.IPv6(pkt[l2:])
			if fl != ChecksumValid || !ip.Valid() || ip.PayloadLength()+header.IPv6HeaderLen != len(ip) || ip.NextHeader() != header.ProtocolTCP {
				t.Fatalf("accepted IPv6 GSO packet: flags %v, payload length %d of %d", fl, ip.PayloadLength(), len(ip))
			}
		default:
			t.Fatalf("accepted GSO type %d", h[1])
		}
	})
}
