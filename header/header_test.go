package header

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Captured from Linux 6.18 on loopback (tcpdump -x): a SYN from
// 127.0.0.1:51948 to 127.0.0.1:45678 with MSS, SACK-permitted, timestamps
// and window scale. The TCP checksum is the partial one of a loopback
// offload; the IPv4 header checksum is real.
const synV4Hex = `4500 003c 76b6 4000 4006 c603 7f00 0001
7f00 0001 caec b26e 5be6 cc15 0000 0000
a002 ffd7 fe30 0000 0204 ffd7 0402 080a
22fe 6b91 0000 0000 0103 030a`

// The IPv6 SYN of the same capture run, ::1.49664 > ::1.45679.
const synV6Hex = `6009 e17a 0028 0640 0000 0000 0000 0000
0000 0000 0000 0001 0000 0000 0000 0000
0000 0000 0000 0001 c200 b26f f525 633a
0000 0000 a002 ffc4 0030 0000 0204 ffc4
0402 080a 97c5 b0f7 0000 0000 0103 030a`

// The third ACK (IPv4) with NOP,NOP,timestamps.
const ackV4Hex = `4500 0034 76b7 4000 4006 c60a 7f00 0001
7f00 0001 caec b26e 5be6 cc16 e37d 293e
8010 0040 fe28 0000 0101 080a 22fe 6b92
5c6e 1149`

func TestChecksumRFC1071(t *testing.T) {
	// RFC 1071 §3 worked example: the sum of 0001 f203 f4f5 f6f7 is ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Fatalf("Checksum = %#04x, want 0xddf2", got)
	}
	// Split at an even boundary gives the same sum.
	if got := Checksum(b[4:], Checksum(b[:4], 0)); got != 0xddf2 {
		t.Fatalf("split Checksum = %#04x, want 0xddf2", got)
	}
}

func naiveChecksum(b []byte, initial uint16) uint16 {
	s := uint32(initial)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func TestChecksumMatchesNaive(t *testing.T) {
	b := make([]byte, 1500)
	for i := range b {
		b[i] = byte(i*7 + i>>3)
	}
	for n := 0; n <= len(b); n += 37 {
		for _, init := range []uint16{0, 1, 0xffff, 0x1234} {
			if got, want := Checksum(b[:n], init), naiveChecksum(b[:n], init); got != want {
				t.Fatalf("len %d init %#x: got %#x want %#x", n, init, got, want)
			}
		}
	}
}

func TestChecksumUpdate16(t *testing.T) {
	h := IPv4(mustHex(t, synV4Hex))
	old := h.TotalLength()
	h.SetTotalLength(100)
	upd := ChecksumUpdate16(h.Checksum(), uint16(old), 100)
	h.SetChecksum()
	if upd != h.Checksum() {
		t.Fatalf("incremental %#x != recomputed %#x", upd, h.Checksum())
	}
}

func TestIPv4Captured(t *testing.T) {
	b := IPv4(mustHex(t, synV4Hex))
	if !b.Valid() || !b.ValidChecksum() {
		t.Fatalf("Valid=%v ValidChecksum=%v", b.Valid(), b.ValidChecksum())
	}
	lo := netip.MustParseAddr("127.0.0.1")
	checks := []struct {
		name      string
		got, want any
	}{
		{"HeaderLength", b.HeaderLength(), 20},
		{"TotalLength", b.TotalLength(), 60},
		{"ID", b.ID(), uint16(0x76b6)},
		{"DF", b.DF(), true},
		{"IsFragment", b.IsFragment(), false},
		{"TTL", b.TTL(), uint8(64)},
		{"Protocol", b.Protocol(), ProtocolTCP},
		{"Src", b.SrcAddr(), lo},
		{"Dst", b.DstAddr(), lo},
		{"Payload", len(b.Payload()), 40},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestIPv4EncodeRoundTrip(t *testing.T) {
	b := make(IPv4, 40)
	f := IPv4Fields{TOS: 2, TotalLength: 40, ID: 7, Flags: IPv4FlagDF, TTL: 64, Protocol: ProtocolTCP,
		Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")}
	b.Encode(&f)
	b.SetChecksum()
	if !b.Valid() || !b.ValidChecksum() {
		t.Fatal("encoded header invalid")
	}
	if b.SrcAddr() != f.Src || b.DstAddr() != f.Dst || b.TOS() != 2 || !b.DF() || b.ID() != 7 {
		t.Fatalf("round trip mismatch: %x", []byte(b))
	}
}

func TestIPv4Invalid(t *testing.T) {
	good := mustHex(t, synV4Hex)
	tests := []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"short", func(b []byte) []byte { return b[:19] }},
		{"version6", func(b []byte) []byte { b[0] = 0x65; return b }},
		{"ihl4", func(b []byte) []byte { b[0] = 0x44; return b }},
		{"ihl beyond total", func(b []byte) []byte { b[0] = 0x4f; b[3] = 40; return b }},
		{"total beyond buffer", func(b []byte) []byte { b[3] = 61; return b }},
		{"truncated frame", func(b []byte) []byte { return b[:50] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := IPv4(tt.mod(append([]byte(nil), good...)))
			if b.Valid() {
				t.Fatal("Valid() = true")
			}
			if b.Payload() != nil {
				t.Fatal("Payload of invalid packet not nil")
			}
		})
	}
}

func TestIPv6Captured(t *testing.T) {
	b := IPv6(mustHex(t, synV6Hex))
	if !b.Valid() {
		t.Fatal("not valid")
	}
	if b.PayloadLength() != 40 || b.NextHeader() != ProtocolTCP || b.HopLimit() != 64 ||
		b.SrcAddr() != netip.IPv6Loopback() || b.FlowLabel() != 0x9e17a {
		t.Fatalf("fields: len %d nh %d hl %d src %v fl %#x", b.PayloadLength(), b.NextHeader(), b.HopLimit(), b.SrcAddr(), b.FlowLabel())
	}
	p, off, err := b.UpperLayer()
	if err != nil || p != ProtocolTCP || off != 40 {
		t.Fatalf("UpperLayer = %d %d %v", p, off, err)
	}
	tcp := TCP(b[off:])
	if !tcp.Valid() || tcp.SrcPort() != 49664 || tcp.DstPort() != 45679 {
		t.Fatal("tcp fields")
	}
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	build := func(next uint8, ext []byte, upper []byte) IPv6 {
		b := make(IPv6, IPv6HeaderLen, IPv6HeaderLen+len(ext)+len(upper))
		b.Encode(&IPv6Fields{PayloadLength: uint16(len(ext) + len(upper)), NextHeader: next, HopLimit: 64, Src: src, Dst: dst})
		b = append(b, ext...)
		return append(b, upper...)
	}
	tcp := make([]byte, 20)
	tcp[12] = 5 << 4
	hbh := []byte{IPv6DestOptions, 0, 1, 4, 0, 0, 0, 0}                       // hop-by-hop -> dest opts, PadN
	dopt := []byte{IPv6Routing, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 16 bytes -> routing
	rt := []byte{IPv6Fragment, 0, 0, 0, 0, 0, 0, 0}
	fragFirst := []byte{IPv6AH, 0, 0, 0x01, 0, 0, 0, 1} // offset 0, M=1 -> AH
	ah := []byte{ProtocolTCP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	chain := append(append(append(append(append([]byte{}, hbh...), dopt...), rt...), fragFirst...), ah...)
	fragLater := []byte{ProtocolTCP, 0, 0, 0x08, 0, 0, 0, 1}
	tests := []struct {
		name    string
		pkt     IPv6
		proto   uint8
		off     int
		wantErr error
	}{
		{"plain", build(ProtocolTCP, nil, tcp), ProtocolTCP, 40, nil},
		{"full chain", build(IPv6HopByHop, chain, tcp), ProtocolTCP, 40 + len(chain), nil},
		{"later fragment", build(IPv6Fragment, fragLater, tcp), 0, 0, ErrFragment},
		{"no next", build(IPv6NoNextHeader, nil, nil), IPv6NoNextHeader, 40, ErrNoUpperLayer},
		{"truncated ext", build(IPv6HopByHop, hbh[:4], nil), 0, 0, ErrTruncated},
		{"ext len past end", build(IPv6HopByHop, []byte{ProtocolTCP, 3, 0, 0, 0, 0, 0, 0}, nil), 0, 0, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, off, err := tt.pkt.UpperLayer()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (p != tt.proto || off != tt.off) {
				t.Fatalf("got %d@%d, want %d@%d", p, off, tt.proto, tt.off)
			}
		})
	}
}

func TestIPv6UpperLayerOrFragment(t *testing.T) {
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	build := func(next uint8, ext ...[]byte) IPv6 {
		var pl []byte
		for _, e := range ext {
			pl = append(pl, e...)
		}
		b := make(IPv6, IPv6HeaderLen, IPv6HeaderLen+len(pl))
		b.Encode(&IPv6Fields{PayloadLength: uint16(len(pl)), NextHeader: next, HopLimit: 64, Src: src, Dst: dst})
		return append(b, pl...)
	}
	tcp := make([]byte, 20)
	hbh := []byte{IPv6Fragment, 0, 1, 4, 0, 0, 0, 0}
	first := make([]byte, IPv6FragmentHeaderLen)
	IPv6FragmentHeader(first).Encode(ProtocolTCP, 0, true, 0xdeadbeef)
	later := make([]byte, IPv6FragmentHeaderLen)
	IPv6FragmentHeader(later).Encode(ProtocolTCP, 1448, false, 7)
	tests := []struct {
		name    string
		pkt     IPv6
		proto   uint8
		off     int
		wantErr error
	}{
		{"plain", build(ProtocolTCP, tcp), ProtocolTCP, 40, nil},
		{"first fragment", build(IPv6Fragment, first, tcp), IPv6Fragment, 40, nil},
		{"later fragment", build(IPv6Fragment, later, tcp), IPv6Fragment, 40, nil},
		{"after hop-by-hop", build(IPv6HopByHop, hbh, later, tcp), IPv6Fragment, 48, nil},
		{"truncated fragment header", build(IPv6Fragment, first[:4]), 0, 0, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, off, err := tt.pkt.UpperLayerOrFragment()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (p != tt.proto || off != tt.off) {
				t.Fatalf("got %d@%d, want %d@%d", p, off, tt.proto, tt.off)
			}
		})
	}
	// UpperLayer still skips a first fragment's header and stops at a later one.
	if p, off, err := build(IPv6Fragment, first, tcp).UpperLayer(); err != nil || p != ProtocolTCP || off != 48 {
		t.Fatalf("UpperLayer of a first fragment: %d@%d %v", p, off, err)
	}
	if _, _, err := build(IPv6Fragment, later, tcp).UpperLayer(); !errors.Is(err, ErrFragment) {
		t.Fatalf("UpperLayer of a later fragment: %v", err)
	}
}

func TestIPv6FragmentHeader(t *testing.T) {
	// RFC 8200 §4.5 layout: next header, reserved, offset<<3 | res | M, ID.
	b := IPv6FragmentHeader([]byte{ProtocolTCP, 0, 0x05, 0xa9, 0x12, 0x34, 0x56, 0x78})
	if !b.Valid() || b.NextHeader() != ProtocolTCP || b.FragmentOffset() != 181*8 || !b.More() || b.ID() != 0x12345678 {
		t.Fatalf("decoded next %d offset %d more %v id %#x", b.NextHeader(), b.FragmentOffset(), b.More(), b.ID())
	}
	e := make(IPv6FragmentHeader, IPv6FragmentHeaderLen)
	e.Encode(ProtocolTCP, 181*8, true, 0x12345678)
	if string(e) != string([]byte{ProtocolTCP, 0, 0x05, 0xa8 | 1, 0x12, 0x34, 0x56, 0x78}) {
		t.Fatalf("encoded % x", []byte(e))
	}
	e.Encode(ProtocolICMPv6, 65528, false, 1)
	if e.FragmentOffset() != 65528 || e.More() || e.NextHeader() != ProtocolICMPv6 || e.ID() != 1 {
		t.Fatalf("round trip % x", []byte(e))
	}
	if IPv6FragmentHeader(make([]byte, 7)).Valid() {
		t.Fatal("7 bytes valid")
	}
}

func TestTCPCaptured(t *testing.T) {
	ip := IPv4(mustHex(t, synV4Hex))
	b := TCP(ip.Payload())
	if !b.Valid() {
		t.Fatal("invalid")
	}
	if b.SrcPort() != 51948 || b.DstPort() != 45678 || b.Seq() != 1541852181 || b.Ack() != 0 ||
		b.DataOffset() != 40 || b.Flags() != TCPFlagSYN || b.Window() != 65495 || len(b.Payload()) != 0 {
		t.Fatalf("fields: %d %d %d %d %d %v %d", b.SrcPort(), b.DstPort(), b.Seq(), b.Ack(), b.DataOffset(), b.Flags(), b.Window())
	}
	var o TCPOptions
	if err := ParseTCPOptions(b.Options(), &o); err != nil {
		t.Fatal(err)
	}
	want := TCPOptions{MSS: 65495, WindowScale: 10, SACKPermitted: true, HasTimestamps: true, TSVal: 587099025}
	if o != want {
		t.Fatalf("options = %+v, want %+v", o, want)
	}
	ack := TCP(IPv4(mustHex(t, ackV4Hex)).Payload())
	if err := ParseTCPOptions(ack.Options(), &o); err != nil {
		t.Fatal(err)
	}
	if ack.Flags() != TCPFlagACK || !o.HasTimestamps || o.TSVal != 587099026 || o.TSEcr != 1550717257 || o.WindowScale != -1 {
		t.Fatalf("ack options %+v", o)
	}
}

func TestTCPBuildChecksumRoundTrip(t *testing.T) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.1.1")
	opts := make([]byte, 0, 40)
	opts = AppendMSS(opts, 1460)
	opts = AppendSACKPermitted(opts)
	opts = AppendTimestamps(opts, 1, 2)
	opts = AppendNOP(opts, 1)
	opts = AppendWindowScale(opts, 7)
	opts = PadOptions(opts)
	if len(opts) != 20 {
		t.Fatalf("options length %d", len(opts))
	}
	payload := []byte("hello, odd")
	seg := make(TCP, 20+len(opts)+len(payload))
	seg.Encode(&TCPFields{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, DataOffset: 20 + len(opts), Flags: TCPFlagSYN | TCPFlagACK, Window: 5})
	copy(seg[20:], opts)
	copy(seg[20+len(opts):], payload)
	for _, pair := range [][2]netip.Addr{{src, dst}, {netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")}} {
		ps := PseudoHeaderChecksum(ProtocolTCP, pair[0], pair[1], uint32(len(seg)))
		seg.SetChecksum(0)
		seg.SetChecksum(seg.CalculateChecksum(ps))
		if seg.CalculateChecksum(ps) != 0 {
			t.Fatalf("checksum does not verify for %v", pair)
		}
		seg[len(seg)-1] ^= 1
		if seg.CalculateChecksum(ps) == 0 {
			t.Fatal("corruption not detected")
		}
		seg[len(seg)-1] ^= 1
	}
	var o TCPOptions
	if err := ParseTCPOptions(seg.Options(), &o); err != nil {
		t.Fatal(err)
	}
	if o.MSS != 1460 || o.WindowScale != 7 || !o.SACKPermitted || o.TSVal != 1 || o.TSEcr != 2 {
		t.Fatalf("%+v", o)
	}
	if string(seg.Payload()) != string(payload) || seg.Flags().String() != "SYN|ACK" {
		t.Fatal("payload or flags")
	}
}

func TestTCPOptionIterator(t *testing.T) {
	sack := AppendSACK(nil, []SACKBlock{{1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10}})
	tests := []struct {
		name    string
		opts    []byte
		kinds   []uint8
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"nops", []byte{1, 1, 1}, nil, false},
		{"eol stops", []byte{1, 0, 2, 4, 5, 0xb4}, nil, false},
		{"mss", []byte{2, 4, 5, 0xb4}, []uint8{2}, false},
		{"sack 4 max", sack, []uint8{5}, false},
		{"mptcp", []byte{30, 4, 0x10, 0x01, 1, 1}, []uint8{30}, false},
		{"missing length", []byte{2}, nil, true},
		{"length 0", []byte{2, 0, 0, 0}, nil, true},
		{"length 1", []byte{8, 1}, nil, true},
		{"overrun", []byte{8, 10, 0, 0}, nil, true},
		{"good then bad", []byte{4, 2, 3, 9}, []uint8{4}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kinds []uint8
			it := NewTCPOptionIterator(tt.opts)
			for it.Next() {
				kinds = append(kinds, it.Kind())
				if int(it.Raw()[1]) != len(it.Raw()) || len(it.Data()) != len(it.Raw())-2 {
					t.Fatalf("raw/data mismatch")
				}
			}
			if (it.Err() != nil) != tt.wantErr || (tt.wantErr && !errors.Is(it.Err(), ErrBadOption)) {
				t.Fatalf("err = %v", it.Err())
			}
			if string(kinds) != string(tt.kinds) {
				t.Fatalf("kinds %v, want %v", kinds, tt.kinds)
			}
		})
	}
	var o TCPOptions
	if err := ParseTCPOptions(sack, &o); err != nil || o.NumSACK != 4 || o.SACK[3] != (SACKBlock{7, 8}) {
		t.Fatalf("sack parse: %v %+v", err, o)
	}
	// Window scale above 14 is clamped (RFC 7323 §2.3); wrong-length known options are ignored.
	if err := ParseTCPOptions([]byte{3, 3, 20, 2, 3, 1, 1, 1}, &o); err != nil || o.WindowScale != 14 || o.MSS != 0 {
		t.Fatalf("clamp: %v %+v", err, o)
	}
}

func TestTCPInvalid(t *testing.T) {
	for _, b := range []TCP{nil, make(TCP, 19), func() TCP { b := make(TCP, 20); b[12] = 4 << 4; return b }(),
		func() TCP { b := make(TCP, 20); b[12] = 6 << 4; return b }()} {
		if b.Valid() || b.Options() != nil || b.Payload() != nil {
			t.Fatalf("%x: Valid/Options/Payload on invalid", []byte(b))
		}
	}
}

func TestEthernetARP(t *testing.T) {
	src := MAC{2, 0, 0, 0, 0, 1}
	f := make(Ethernet, EthernetHeaderLen+ARPLen)
	f.Encode(BroadcastMAC, src, EtherTypeARP)
	a := ARP(f.Payload())
	sip, tip := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a.Encode(ARPRequest, src, sip, MAC{}, tip)
	if !f.Valid() || f.Dst() != BroadcastMAC || f.Src() != src || f.Type() != EtherTypeARP {
		t.Fatal("ethernet fields")
	}
	if !a.Valid() || a.Op() != ARPRequest || a.SenderHW() != src || a.SenderIP() != sip || a.TargetIP() != tip || a.TargetHW() != (MAC{}) {
		t.Fatal("arp fields")
	}
	if src.String() != "02:00:00:00:00:01" || !BroadcastMAC.IsMulticast() || src.IsMulticast() {
		t.Fatal("MAC helpers")
	}
	a[5] = 16
	if a.Valid() {
		t.Fatal("ARP with IPv6 length accepted")
	}
	if ARP(make([]byte, 27)).Valid() || Ethernet(make([]byte, 13)).Valid() || Ethernet(nil).Payload() != nil {
		t.Fatal("short accepted")
	}
}

func TestEthernetNetwork(t *testing.T) {
	frame := func(types ...uint16) Ethernet {
		f := make(Ethernet, EthernetHeaderLen, 64)
		f.Encode(BroadcastMAC, MAC{2}, types[0])
		for _, ty := range types[1:] {
			f = append(f, 0x0f, 0xff, byte(ty>>8), byte(ty)) // TCI, then the next type
		}
		return append(f, 0x45)
	}
	for _, c := range []struct {
		name  string
		f     Ethernet
		ty    uint16
		off   int
		valid bool
	}{
		{"untagged", frame(EtherTypeIPv4), EtherTypeIPv4, 14, true},
		{"802.1Q", frame(EtherTypeVLAN, EtherTypeIPv6), EtherTypeIPv6, 18, true},
		{"QinQ", frame(EtherTypeQinQ, EtherTypeVLAN, EtherTypeIPv4), EtherTypeIPv4, 22, true},
		{"9100", frame(EtherTypeQinQ2, EtherTypeARP), EtherTypeARP, 18, true},
		{"short", Ethernet(make([]byte, 13)), 0, 0, false},
		{"tag cut", frame(EtherTypeVLAN)[:16], 0, 0, false},
		{"too many tags", frame(EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN,
			EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN, EtherTypeVLAN, EtherTypeIPv4), 0, 0, false},
	} {
		ty, off, ok := c.f.Network()
		if ok != c.valid || ty != c.ty || off != c.off {
			t.Errorf("%s: Network() = %#x, %d, %v; want %#x, %d, %v", c.name, ty, off, ok, c.ty, c.off, c.valid)
		}
	}
}

func TestICMPv4(t *testing.T) {
	b := make(ICMPv4, 8+28)
	b.Encode(ICMPv4DstUnreachable, ICMPv4FragNeeded, 1400)
	b.SetChecksum()
	if !b.Valid() || !b.ValidChecksum() || b.MTU() != 1400 || b.Code() != ICMPv4FragNeeded || len(b.Payload()) != 28 {
		t.Fatal("icmpv4")
	}
	b[10] = 1
	if b.ValidChecksum() {
		t.Fatal("corruption undetected")
	}
	if ICMPv4(make([]byte, 7)).Valid() || ICMPv4(nil).Payload() != nil {
		t.Fatal("short accepted")
	}
}

func TestNDP(t *testing.T) {
	src, target := netip.MustParseAddr("fe80::1"), netip.MustParseAddr("2001:db8::42")
	mac := MAC{2, 0, 0, 0, 0, 9}
	ns := make(NDPNeighbor, NDPNSLen+8)
	ns.EncodeNS(target, mac)
	dst := SolicitedNodeMulticast(target)
	if dst != netip.MustParseAddr("ff02::1:ff00:42") {
		t.Fatalf("solicited-node %v", dst)
	}
	ICMPv6(ns).SetChecksum(src, dst)
	if !ICMPv6(ns).ValidChecksum(src, dst) || ICMPv6(ns).ValidChecksum(src, target) {
		t.Fatal("ns checksum")
	}
	if !ns.Valid() || ns.TargetAddr() != target || ICMPv6(ns).Type() != ICMPv6NeighborSolicit {
		t.Fatal("ns fields")
	}
	if m, ok := ns.LinkAddrOption(NDPOptSourceLinkAddr); !ok || m != mac {
		t.Fatal("source LL option")
	}
	if _, ok := ns.LinkAddrOption(NDPOptTargetLinkAddr); ok {
		t.Fatal("target LL option found in NS")
	}
	na := make(NDPNeighbor, NDPNALen+8)
	na.EncodeNA(NDPNAFlagSolicited|NDPNAFlagOverride, target, mac)
	if na.NAFlags() != NDPNAFlagSolicited|NDPNAFlagOverride {
		t.Fatal("na flags")
	}
	if m, ok := na.LinkAddrOption(NDPOptTargetLinkAddr); !ok || m != mac {
		t.Fatal("target LL option")
	}
	na[25] = 0 // zero-length option must not loop or panic
	if _, ok := na.LinkAddrOption(NDPOptTargetLinkAddr); ok {
		t.Fatal("zero-length option accepted")
	}
	if IPv6MulticastMAC(dst.As16()) != (MAC{0x33, 0x33, 0xff, 0, 0, 0x42}) {
		t.Fatal("multicast mac")
	}
	ptb := make(ICMPv6, 8)
	ptb.Encode(ICMPv6PacketTooBig, 0, 1280)
	if ptb.MTU() != 1280 {
		t.Fatal("ptb mtu")
	}
}

func TestAllocs(t *testing.T) {
	pkt := mustHex(t, synV4Hex)
	v6 := mustHex(t, synV6Hex)
	var o TCPOptions
	n := testing.AllocsPerRun(100, func() {
		ip := IPv4(pkt)
		if !ip.Valid() {
			t.Fatal("invalid")
		}
		_ = ip.SrcAddr()
		tcp := TCP(ip.Payload())
		_ = tcp.Seq()
		_ = ParseTCPOptions(tcp.Options(), &o)
		_, _, _ = IPv6(v6).UpperLayer()
		_ = Checksum(pkt, 0)
		_ = PseudoHeaderChecksum(ProtocolTCP, ip.SrcAddr(), ip.DstAddr(), 40)
	})
	if n != 0 {
		t.Fatalf("%v allocations per parse", n)
	}
	buf := make([]byte, 0, 40)
	n = testing.AllocsPerRun(100, func() {
		b := AppendTimestamps(buf[:0], 1, 2)
		b = AppendSACK(b, o.SACK[:2])
		_ = PadOptions(b)
	})
	if n != 0 {
		t.Fatalf("%v allocations per option build", n)
	}
}

func BenchmarkChecksum1500(b *testing.B) {
	buf := make([]byte, 1500)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf, 0)
	}
}

// TestParseFastOpen: a Fast Open option (RFC 7413 §4.1.1) is a cookie
// request with length 2, a cookie with 4 to 16 bytes; other lengths are
// ignored.
func TestParseFastOpen(t *testing.T) {
	for _, tc := range []struct {
		opts   []byte
		ok     bool
		cookie []byte
	}{
		{[]byte{34, 2}, true, nil},
		{AppendFastOpen(nil, []byte{1, 2, 3, 4, 5, 6, 7, 8}), true, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{AppendFastOpen(nil, make([]byte, 16)), true, make([]byte, 16)},
		{[]byte{34, 3, 1}, false, nil},
		{AppendFastOpen(nil, make([]byte, 17)), false, nil},
	} {
		var o TCPOptions
		if err := ParseTCPOptions(tc.opts, &o); err != nil {
			t.Fatalf("%x: %v", tc.opts, err)
		}
		if o.FastOpen != tc.ok || string(o.FastOpenCookie[:o.FastOpenCookieLen]) != string(tc.cookie) {
			t.Errorf("%x: Fast Open %v cookie %x, want %v %x", tc.opts, o.FastOpen, o.FastOpenCookie[:o.FastOpenCookieLen], tc.ok, tc.cookie)
		}
	}
}
