package header

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

func seedHex(s string) []byte {
	b, _ := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "").Replace(s))
	return b
}

// FuzzIPv4TCP parses arbitrary bytes as IPv4 carrying TCP, the path the
// stack and the analyzer take for every received packet. Nothing may
// panic, and what the views return must stay inside the input.
func FuzzIPv4TCP(f *testing.F) {
	f.Add(seedHex(synV4Hex))
	f.Add(seedHex(ackV4Hex))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv4(b)
		_ = ip.Options()
		if !ip.Valid() {
			if ip.Payload() != nil {
				t.Fatal("payload of invalid packet")
			}
			return
		}
		_ = ip.ValidChecksum()
		_, _, _ = ip.SrcAddr(), ip.DstAddr(), ip.FragmentOffset()
		p := ip.Payload()
		if len(p) != ip.TotalLength()-ip.HeaderLength() {
			t.Fatalf("payload %d, total %d, header %d", len(p), ip.TotalLength(), ip.HeaderLength())
		}
		checkTCP(t, TCP(p))
	})
}

// FuzzIPv6TCP walks arbitrary bytes as IPv6 with extension headers.
func FuzzIPv6TCP(f *testing.F) {
	f.Add(seedHex(synV6Hex))
	f.Add(append(seedHex(synV6Hex)[:6:6], 0, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		ip := IPv6(b)
		_ = ip.Payload()
		if p, fo, err := ip.UpperLayerOrFragment(); err == nil && p == IPv6Fragment {
			if fo < IPv6HeaderLen || fo+IPv6FragmentHeaderLen > IPv6HeaderLen+ip.PayloadLength() {
				t.Fatalf("fragment header at %d out of range", fo)
			}
			fh := IPv6FragmentHeader(b[fo:])
			_, _, _, _ = fh.NextHeader(), fh.FragmentOffset(), fh.More(), fh.ID()
		}
		proto, off, err := ip.UpperLayer()
		if err != nil {
			return
		}
		if off < IPv6HeaderLen || off > IPv6HeaderLen+ip.PayloadLength() {
			t.Fatalf("upper layer offset %d out of range", off)
		}
		if proto == ProtocolTCP {
			checkTCP(t, TCP(b[off:IPv6HeaderLen+ip.PayloadLength()]))
		}
	})
}

func checkTCP(t *testing.T, tcp TCP) {
	opts := tcp.Options()
	pl := tcp.Payload()
	if !tcp.Valid() {
		if opts != nil || pl != nil {
			t.Fatal("options or payload of invalid segment")
		}
		return
	}
	if len(opts)+len(pl)+TCPMinHeaderLen != len(tcp) {
		t.Fatalf("options %d + payload %d + 20 != %d", len(opts), len(pl), len(tcp))
	}
	_, _, _ = tcp.Seq(), tcp.Flags().String(), tcp.Window()
	var o TCPOptions
	_ = ParseTCPOptions(opts, &o)
	if o.NumSACK > MaxSACKBlocks || o.WindowScale > TCPMaxWindowScale {
		t.Fatalf("parsed %+v", o)
	}
}

// FuzzTCPOptions checks the option iterator on arbitrary option bytes and
// that what it yields re-encodes to the same bytes.
func FuzzTCPOptions(f *testing.F) {
	f.Add(TCP(IPv4(seedHex(synV4Hex)).Payload()).Options())
	f.Add(AppendSACK(AppendNOP(nil, 2), []SACKBlock{{1, 2}, {3, 4}}))
	f.Add([]byte{30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{2, 0})
	f.Add(AppendFastOpen(AppendFastOpen(nil, nil), []byte{1, 2, 3, 4, 5, 6, 7, 8}))
	f.Add([]byte{34, 3, 1})
	f.Fuzz(func(t *testing.T, opts []byte) {
		it := NewTCPOptionIterator(opts)
		total := 0
		for it.Next() {
			raw := it.Raw()
			if raw[0] != it.Kind() || int(raw[1]) != len(raw) || len(it.Data()) != len(raw)-2 {
				t.Fatalf("raw %x kind %d data %x", raw, it.Kind(), it.Data())
			}
			total += len(raw)
		}
		if total > len(opts) {
			t.Fatalf("yielded %d bytes of %d", total, len(opts))
		}
		var o TCPOptions
		_ = ParseTCPOptions(opts, &o)
		if n := o.FastOpenCookieLen; n != 0 && (n < TCPFastOpenCookieMin || n > TCPFastOpenCookieMax) || n != 0 && !o.FastOpen {
			t.Fatalf("Fast Open cookie of %d bytes (option %v)", n, o.FastOpen)
		}
	})
}

// FuzzLinkAndICMP covers the Ethernet, ARP and NDP views.
func FuzzLinkAndICMP(f *testing.F) {
	arp := make([]byte, EthernetHeaderLen+ARPLen)
	Ethernet(arp).Encode(BroadcastMAC, MAC{2}, EtherTypeARP)
	f.Add(arp)
	ns := make([]byte, EthernetHeaderLen+NDPNSLen+8)
	NDPNeighbor(ns[EthernetHeaderLen:]).EncodeNS(netip.AddrFrom16(seedIP6()), MAC{2})
	f.Add(ns)
	f.Fuzz(func(t *testing.T, b []byte) {
		e := Ethernet(b)
		p := e.Payload()
		if !e.Valid() {
			return
		}
		_, _, _ = e.Dst(), e.Src(), e.Type()
		if et, off, ok := e.Network(); ok && (off < EthernetHeaderLen || off > len(b) || (off-EthernetHeaderLen)%4 != 0) {
			t.Fatalf("Network: type %#x at bad offset %d of %d", et, off, len(b))
		}
		if a := ARP(p); a.Valid() {
			_, _, _, _, _ = a.Op(), a.SenderHW(), a.SenderIP(), a.TargetHW(), a.TargetIP()
		}
		n := NDPNeighbor(p)
		_ = n.Options()
		_, _ = n.LinkAddrOption(NDPOptSourceLinkAddr)
		if n.Valid() {
			_ = n.TargetAddr()
		}
		_ = ICMPv4(p).Payload()
		_ = ICMPv6(p).Payload()
	})
}

func seedIP6() (a [16]byte) {
	a[0], a[1], a[15] = 0x20, 0x01, 1
	return a
}
