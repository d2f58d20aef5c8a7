package link

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mptcp-go/mptcp/header"
)

// gsoPacket builds a virtio-net GSO packet as the kernel hands it to a
// TUN: one TCP segment with len(payload) bytes and a partial checksum.
func gsoPacket(v6 bool, payload []byte, mss int, flags header.TCPFlags) []byte {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	iphl := 20
	gso := byte(vnetGSOTCPv4)
	if v6 {
		src, dst = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
		iphl, gso = 40, vnetGSOTCPv6
	}
	b := make([]byte, vnetHdrLen+iphl+20+len(payload))
	pkt := b[vnetHdrLen:]
	if v6 {
		header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(20 + len(payload)), NextHeader: header.ProtocolTCP, HopLimit: 64, Src: src, Dst: dst})
	} else {
		header.IPv4(pkt).Encode(&header.IPv4Fields{TotalLength: uint16(len(pkt)), ID: 100, Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.ProtocolTCP, Src: src, Dst: dst})
		header.IPv4(pkt).SetChecksum()
	}
	th := header.TCP(pkt[iphl:])
	th.Encode(&header.TCPFields{SrcPort: 5000, DstPort: 6000, Seq: 0xfffffff0, Ack: 7, DataOffset: 20, Flags: flags, Window: 100})
	copy(th[20:], payload)
	// Partial checksum: the pseudo-header sum (length of one segment is
	// what Linux puts for GSO; the splitter recomputes everything anyway).
	binary.BigEndian.PutUint16(th[16:], header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(th))))
	b[0] = vnetFlagNeedsCsum
	b[1] = gso
	binary.LittleEndian.PutUint16(b[2:], uint16(iphl+20))
	binary.LittleEndian.PutUint16(b[4:], uint16(mss))
	binary.LittleEndian.PutUint16(b[6:], uint16(iphl))
	binary.LittleEndian.PutUint16(b[8:], 16)
	return b
}

func TestSplitVnetGSO(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		payload := make([]byte, 3*1000+123)
		for i := range payload {
			payload[i] = byte(i)
		}
		b := gsoPacket(v6, payload, 1000, header.TCPFlagACK|header.TCPFlagPSH|header.TCPFlagFIN|header.TCPFlagCWR)
		bufs := make([][]byte, 8)
		for i := range bufs {
			bufs[i] = make([]byte, 1600)
		}
		sizes := make([]int, 8)
		n, err := splitVnet(b, bufs, sizes)
		if err != nil || n != 4 {
			t.Fatalf("v6=%v: %d packets, %v", v6, n, err)
		}
		var got []byte
		for i := 0; i < n; i++ {
			p := bufs[i][:sizes[i]]
			var th header.TCP
			var src, dst netip.Addr
			if v6 {
				ip := header.IPv6(p)
				if !ip.Valid() || ip.PayloadLength() != len(p)-40 {
					t.Fatalf("packet %d: bad IPv6 header", i)
				}
				th, src, dst = header.TCP(ip.Payload()), ip.SrcAddr(), ip.DstAddr()
			} else {
				ip := header.IPv4(p)
				if !ip.Valid() || !ip.ValidChecksum() || ip.ID() != uint16(100+i) {
					t.Fatalf("packet %d: bad IPv4 header (id %d)", i, ip.ID())
				}
				th, src, dst = header.TCP(ip.Payload()), ip.SrcAddr(), ip.DstAddr()
			}
			ps := header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(th)))
			if th.CalculateChecksum(ps) != 0 {
				t.Fatalf("packet %d: TCP checksum wrong", i)
			}
			if th.Seq() != 0xfffffff0+uint32(i*1000) {
				t.Fatalf("packet %d: seq %#x", i, th.Seq())
			}
			last := i == n-1
			if f := th.Flags(); f.Has(header.TCPFlagFIN) != last || f.Has(header.TCPFlagPSH) != last || f.Has(header.TCPFlagCWR) != (i == 0) {
				t.Fatalf("packet %d: flags %v", i, f)
			}
			got = append(got, th.Payload()...)
		}
		if string(got) != string(payload) {
			t.Fatal("payload differs after split")
		}
	}
}

func TestSplitVnetPartialChecksum(t *testing.T) {
	b := gsoPacket(false, []byte("hello"), 1000, header.TCPFlagACK)
	b[1] = vnetGSONone
	bufs, sizes := [][]byte{make([]byte, 1600)}, make([]int, 1)
	n, err := splitVnet(b, bufs, sizes)
	if err != nil || n != 1 {
		t.Fatal(n, err)
	}
	ip := header.IPv4(bufs[0][:sizes[0]])
	th := header.TCP(ip.Payload())
	if th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, ip.SrcAddr(), ip.DstAddr(), uint32(len(th)))) != 0 {
		t.Fatal("completed checksum does not verify")
	}
}

func FuzzSplitVnet(f *testing.F) {
	f.Add(gsoPacket(false, make([]byte, 2500), 1000, header.TCPFlagACK))
	f.Add(gsoPacket(true, make([]byte, 100), 1000, header.TCPFlagACK))
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 64)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = splitVnet(b, bufs, sizes)
	})
}

// segments builds count consecutive TCP segments of one flow as our stack
// emits them (with timestamps), the last one short and with PSH.
func segments(v6 bool, count, mss, lastLen int) [][]byte {
	src, dst := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.1")
	iphl := 20
	if v6 {
		src, dst, iphl = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1"), 40
	}
	opts := header.AppendTimestamps(header.AppendNOP(nil, 2), 1, 2)
	var out [][]byte
	seq := uint32(0xfffff000)
	for i := 0; i < count; i++ {
		n := mss
		f := header.TCPFlagACK
		if i == count-1 {
			n, f = lastLen, f|header.TCPFlagPSH
		}
		p := make([]byte, iphl+20+len(opts)+n)
		if v6 {
			header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: uint16(len(p) - 40), NextHeader: header.ProtocolTCP, HopLimit: 64, Src: src, Dst: dst})
		} else {
			header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), ID: uint16(500 + i), Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.ProtocolTCP, Src: src, Dst: dst})
			header.IPv4(p).SetChecksum()
		}
		th := header.TCP(p[iphl:])
		th.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 80, Seq: seq, Ack: 99, DataOffset: 20 + len(opts), Flags: f, Window: 512})
		copy(th[20:], opts)
		for k := range n {
			th[20+len(opts)+k] = byte(i + k)
		}
		th.SetChecksum(th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(th)))))
		seq += uint32(n)
		out = append(out, p)
	}
	return out
}

// TestGSORoundTrip coalesces segments into a super-packet and splits it
// again the way the kernel would: the segments must come back intact.
func TestGSORoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		segs := segments(v6, 20, 1448, 700)
		n, iphl, hl := coalesceTCP(segs)
		if n != 20 {
			t.Fatalf("v6=%v: coalesced %d of 20", v6, n)
		}
		buf := make([]byte, vnetHdrLen+65535)
		w := buildGSO(buf, segs, iphl, hl)
		bufs := make([][]byte, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 1600)
		}
		sizes := make([]int, 64)
		k, err := splitVnet(buf[:w], bufs, sizes)
		if err != nil || k != 20 {
			t.Fatalf("v6=%v: split into %d, %v", v6, k, err)
		}
		for i := 0; i < k; i++ {
			got, want := bufs[i][:sizes[i]], segs[i]
			if !v6 {
				// The IPv4 ID and header checksum are renumbered.
				got, want = got[20:], want[20:]
			}
			if string(got) != string(want) {
				t.Fatalf("v6=%v: segment %d differs", v6, i)
			}
		}
	}
	// Runs break at a flow change, a gap, a different option, a FIN.
	segs := segments(false, 6, 1000, 1000)
	header.TCP(segs[3][20:]).SetSeq(header.TCP(segs[3][20:]).Seq() + 1)
	if n, _, _ := coalesceTCP(segs); n != 3 {
		t.Fatalf("gap: run of %d", n)
	}
	segs = segments(false, 6, 1000, 1000)
	segs[2][20+20+4] ^= 1 // TSval differs
	if n, _, _ := coalesceTCP(segs); n != 2 {
		t.Fatalf("option change: run of %d", n)
	}
	segs = segments(false, 2, 1000, 1000)
	header.TCP(segs[0][20:]).SetFlags(header.TCPFlagACK | header.TCPFlagFIN)
	if n, _, _ := coalesceTCP(segs); n != 1 {
		t.Fatalf("FIN: run of %d", n)
	}
}

func FuzzCoalesce(f *testing.F) {
	segs := segments(false, 3, 1000, 500)
	f.Add(segs[0], segs[1], segs[2])
	buf := make([]byte, vnetHdrLen+65535)
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		run := [][]byte{a, b, c}
		n, iphl, hl := coalesceTCP(run)
		if n > 1 {
			buildGSO(buf, run[:n], iphl, hl)
		}
	})
}
