package emu

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

var (
	mbCli  = netip.MustParseAddrPort("198.18.1.1:40000")
	mbSrv  = netip.MustParseAddrPort("198.18.1.2:80")
	mbCli6 = netip.MustParseAddrPort("[fd00:198:18:1::1]:40000")
	mbSrv6 = netip.MustParseAddrPort("[fd00:198:18:1::2]:80")
)

// mptcpTrace returns the packets of a synthetic MPTCP connection (real
// MP_CAPABLE, DSS with checksums, a join, DATA_FIN) between cli and srv,
// in wire order, each a fresh copy.
func mptcpTrace(cli, srv netip.AddrPort, data []byte) [][]byte {
	var pkts [][]byte
	c := synth.New(0x0102030405060708, 0x1112131415161718, func(_ time.Time, p []byte) {
		pkts = append(pkts, bytes.Clone(p))
	})
	c.Checksum = true
	s := c.Handshake(cli, srv)
	for off := 0; off < len(data); off += 1000 {
		s.Send(0, data[off:min(off+1000, len(data))])
	}
	s.Send(1, []byte("reply"))
	cli2 := netip.AddrPortFrom(cli.Addr(), cli.Port()+1)
	j := c.Join(cli2, srv, synth.JoinOptions{})
	j.Send(0, []byte("on the join"))
	s.DataFIN(0)
	s.Close()
	return pkts
}

// tcpChecksumOK reports whether the TCP checksum of an IP packet verifies.
func tcpChecksumOK(pkt []byte) bool {
	seg, src, dst, ok := IPTCP(pkt)
	if !ok {
		return false
	}
	return seg.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(len(seg)))) == 0
}

// tcpOffset returns where the TCP header of an IP packet starts (the IP
// length may end before the buffer: link padding).
func tcpOffset(pkt []byte) int {
	if pkt[0]>>4 == 4 {
		return header.IPv4(pkt).HeaderLength()
	}
	_, off, _ := header.IPv6(pkt).UpperLayer()
	return off
}

// mptcpOptions counts the MPTCP options of an IP packet's TCP header.
func mptcpOptions(pkt []byte) int {
	seg, _, _, ok := IPTCP(pkt)
	if !ok {
		return 0
	}
	n := 0
	it := header.NewTCPOptionIterator(seg.Options())
	for it.Next() {
		if it.Kind() == header.TCPOptMPTCP {
			n++
		}
	}
	return n
}

func segClass(pkt []byte) StripSet {
	seg, _, _, _ := IPTCP(pkt)
	for _, c := range []StripSet{StripSYN, StripSYNACK, StripACK, StripData} {
		if c.Matches(seg.Flags(), len(seg.Payload())) {
			return c
		}
	}
	return 0
}

func TestStripClasses(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 300)
	for _, addrs := range [][2]netip.AddrPort{{mbCli, mbSrv}, {mbCli6, mbSrv6}} {
		for _, set := range []StripSet{StripSYN, StripSYNACK, StripACK, StripData, StripSYNACK | StripData, StripAll} {
			m := NewMiddlebox(Spec{Strip: set})
			var wantSegs, wantOpts uint64
			for i, orig := range mptcpTrace(addrs[0], addrs[1], data) {
				pkt := bytes.Clone(orig)
				n := mptcpOptions(orig)
				if !m.Process(pkt) {
					t.Fatalf("%v: packet %d dropped", set, i)
				}
				if len(pkt) != len(orig) {
					t.Fatalf("%v: packet %d changed length", set, i)
				}
				if !tcpChecksumOK(pkt) {
					t.Fatalf("%v: packet %d: TCP checksum broken", set, i)
				}
				selected := set&segClass(orig) != 0
				switch {
				case selected && mptcpOptions(pkt) != 0:
					t.Errorf("%v: packet %d (%v) kept its MPTCP options", set, i, segClass(orig))
				case !selected && !bytes.Equal(pkt, orig):
					t.Errorf("%v: packet %d (%v) changed", set, i, segClass(orig))
				}
				if selected && n > 0 {
					wantSegs++
					wantOpts += uint64(n)
					// Only option bytes and the checksum may change, to NOPs.
					seg, _, _, _ := IPTCP(pkt)
					ipHdr := tcpOffset(pkt)
					for k := range pkt {
						if pkt[k] != orig[k] && pkt[k] != header.TCPOptNOP && k != ipHdr+16 && k != ipHdr+17 {
							t.Fatalf("%v: packet %d byte %d: %#x -> %#x", set, i, k, orig[k], pkt[k])
						}
						if pkt[k] != orig[k] && (k < ipHdr+20 && k != ipHdr+16 && k != ipHdr+17 || k >= ipHdr+seg.DataOffset()) {
							t.Fatalf("%v: packet %d: byte %d outside the options changed", set, i, k)
						}
					}
				}
			}
			if st := m.Stats(); st.Stripped != wantSegs || st.StrippedOptions != wantOpts || st.Rewritten != 0 {
				t.Errorf("%v: stats %+v, want %d segments %d options", set, st, wantSegs, wantOpts)
			}
			if wantSegs == 0 {
				t.Errorf("%v: the trace has no segment of the class", set)
			}
		}
	}
}

// TestStripKeepsOtherOptions: MSS, SACK-permitted, timestamps around the
// MPTCP option survive; only kind 30's bytes become NOPs.
func TestStripKeepsOtherOptions(t *testing.T) {
	opts := header.AppendMSS(nil, 1460)
	opts = header.AppendSACKPermitted(opts)
	opts = header.AppendTimestamps(opts, 7, 0)
	opts = append(opts, 30, 12, 0x01, 0x81, 1, 2, 3, 4, 5, 6, 7, 8) // MP_CAPABLE v1 with a key
	opts = header.AppendWindowScale(opts, 7)
	opts = header.PadOptions(opts)
	pkt := synth.Packet(nil, mbSrv, mbCli, 1000, 2000, header.TCPFlagSYN|header.TCPFlagACK, opts, nil)
	m := NewMiddlebox(Spec{Strip: StripSYNACK})
	m.Process(pkt)
	seg, _, _, _ := IPTCP(pkt)
	var o header.TCPOptions
	if err := header.ParseTCPOptions(seg.Options(), &o); err != nil {
		t.Fatal(err)
	}
	if o.HasMPTCP || o.MSS != 1460 || !o.SACKPermitted || !o.HasTimestamps || o.TSVal != 7 || o.WindowScale != 7 {
		t.Fatalf("options after strip: %+v", o)
	}
	if seg.DataOffset() != 20+len(opts) || !tcpChecksumOK(pkt) {
		t.Fatal("header length or checksum changed")
	}
}

func TestRewriteOnce(t *testing.T) {
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, addrs := range [][2]netip.AddrPort{{mbCli, mbSrv}, {mbCli6, mbSrv6}} {
		for _, pos := range []uint64{1, 999, 1000, 1001, 4096, 5000, 5001} {
			m := NewMiddlebox(Spec{Rewrite: pos})
			// Every flow of the trace (both directions of the initial
			// subflow, the join) starts with a SYN the middlebox sees, so
			// each flow long enough gets its pos-th byte changed, once.
			offset := map[flowKey]uint64{}
			var want uint64
			for i, orig := range mptcpTrace(addrs[0], addrs[1], data) {
				first, again := bytes.Clone(orig), bytes.Clone(orig)
				m.Process(first)
				m.Process(again) // a retransmission of the same segment
				if !tcpChecksumOK(first) || !tcpChecksumOK(again) {
					t.Fatalf("rewrite=%d: packet %d: TCP checksum broken", pos, i)
				}
				if !bytes.Equal(again, orig) {
					t.Fatalf("rewrite=%d: packet %d: the retransmission changed too", pos, i)
				}
				seg, src, dst, _ := IPTCP(orig)
				k := flowKey{netip.AddrPortFrom(src, seg.SrcPort()), netip.AddrPortFrom(dst, seg.DstPort())}
				n := uint64(len(seg.Payload()))
				at := -1
				if seg.Flags()&header.TCPFlagSYN == 0 && pos > offset[k] && pos <= offset[k]+n {
					at = int(pos - offset[k] - 1)
					want++
				}
				offset[k] += n
				got, _, _, _ := IPTCP(first)
				for j := range seg.Payload() {
					w := seg.Payload()[j]
					if j == at {
						w ^= RewriteMask
					}
					if got.Payload()[j] != w {
						t.Fatalf("rewrite=%d: packet %d byte %d: %#x, want %#x", pos, i, j, got.Payload()[j], w)
					}
				}
				if at < 0 && !bytes.Equal(first, orig) {
					t.Fatalf("rewrite=%d: packet %d changed", pos, i)
				}
			}
			if st := m.Stats(); st.Rewritten != want || st.Stripped != 0 {
				t.Errorf("rewrite=%d: stats %+v, want %d rewritten", pos, st, want)
			}
			if pos <= uint64(len(data)) && want == 0 {
				t.Errorf("rewrite=%d: nothing to rewrite in the trace", pos)
			}
		}
	}
}

// TestRewriteNewConnections: every connection that starts with a SYN seen
// by the middlebox gets its byte changed; one it never saw start does not.
func TestRewriteNewConnections(t *testing.T) {
	m := NewMiddlebox(Spec{Rewrite: 3})
	data := []byte("abcdefgh")
	for i := range 3 {
		cli := netip.AddrPortFrom(mbCli.Addr(), uint16(41000+i))
		isn := uint32(0xfffffffe - i) // wraps inside the stream
		syn := synth.Packet(nil, cli, mbSrv, isn, 0, header.TCPFlagSYN, nil, nil)
		m.Process(syn)
		pkt := synth.Packet(nil, cli, mbSrv, isn+1, 1, header.TCPFlagACK, nil, data)
		m.Process(pkt)
		seg, _, _, _ := IPTCP(pkt)
		if p := seg.Payload(); p[2] != 'c'^RewriteMask || !bytes.Equal(p[:2], data[:2]) || !bytes.Equal(p[3:], data[3:]) || !tcpChecksumOK(pkt) {
			t.Fatalf("connection %d: payload %q", i, p)
		}
	}
	// Mid-stream: no SYN seen.
	pkt := synth.Packet(nil, netip.AddrPortFrom(mbCli.Addr(), 5), mbSrv, 1, 1, header.TCPFlagACK, nil, data)
	orig := bytes.Clone(pkt)
	m.Process(pkt)
	if !bytes.Equal(pkt, orig) {
		t.Fatal("a connection never seen starting was rewritten")
	}
	// The reverse direction of a known connection is another flow.
	rev := synth.Packet(nil, mbSrv, netip.AddrPortFrom(mbCli.Addr(), 41000), 1, 1, header.TCPFlagACK, nil, data)
	orig = bytes.Clone(rev)
	m.Process(rev)
	if !bytes.Equal(rev, orig) {
		t.Fatal("the reverse direction was rewritten")
	}
	if st := m.Stats(); st.Rewritten != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRewriteFlowCap: the flow table forgets the oldest connection beyond
// its cap instead of growing.
func TestRewriteFlowCap(t *testing.T) {
	m := NewMiddlebox(Spec{Rewrite: 1})
	port := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 16), byte(i >> 8)}), uint16(i))
	}
	for i := range maxMiddleboxFlows + 10 {
		m.Process(synth.Packet(nil, port(i), mbSrv, 100, 0, header.TCPFlagSYN, nil, nil))
	}
	if len(m.flows) != maxMiddleboxFlows || len(m.ring) != maxMiddleboxFlows {
		t.Fatalf("%d flows, %d in ring", len(m.flows), len(m.ring))
	}
	old := synth.Packet(nil, port(0), mbSrv, 101, 1, header.TCPFlagACK, nil, []byte("x"))
	m.Process(old)
	recent := synth.Packet(nil, port(maxMiddleboxFlows+9), mbSrv, 101, 1, header.TCPFlagACK, nil, []byte("x"))
	m.Process(recent)
	if st := m.Stats(); st.Rewritten != 1 {
		t.Fatalf("rewritten %d, want only the recent connection", st.Rewritten)
	}
}

// withExtensionHeaders inserts a hop-by-hop and a destination-options
// header (8 bytes each, PadN) before the TCP header of an IPv6 packet.
func withExtensionHeaders(pkt []byte) []byte {
	ip := header.IPv6(pkt)
	ext := []byte{
		header.IPv6DestOptions, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop: next dest-opts, PadN 4
		header.ProtocolTCP, 0, 1, 4, 0, 0, 0, 0, // destination options: next TCP
	}
	out := append(bytes.Clone(pkt[:header.IPv6HeaderLen]), ext...)
	out = append(out, pkt[header.IPv6HeaderLen:]...)
	out[6] = header.IPv6HopByHop
	header.IPv6(out).SetPayloadLength(uint16(ip.PayloadLength() + len(ext)))
	return out
}

// vlanFrame wraps an IP packet in Ethernet with the given VLAN tags.
func vlanFrame(pkt []byte, tags ...uint16) []byte {
	f := make([]byte, header.EthernetHeaderLen, 64+len(pkt))
	et := header.EtherTypeIPv4
	if pkt[0]>>4 == 6 {
		et = header.EtherTypeIPv6
	}
	first := et
	if len(tags) > 0 {
		first = tags[0]
	}
	header.Ethernet(f).Encode(header.MAC{2, 0, 0, 0, 0, 2}, header.MAC{2, 0, 0, 0, 0, 1}, first)
	for i := range tags {
		next := et
		if i+1 < len(tags) {
			next = tags[i+1]
		}
		f = binary.BigEndian.AppendUint16(f, 100+uint16(i))
		f = binary.BigEndian.AppendUint16(f, next)
	}
	return append(f, pkt...)
}

func TestMiddleboxFramesAndExtensionHeaders(t *testing.T) {
	synack := func(cli, srv netip.AddrPort) []byte {
		for _, p := range mptcpTrace(cli, srv, []byte("x")) {
			if segClass(p) == StripSYNACK {
				return p
			}
		}
		t.Fatal("no SYN/ACK")
		return nil
	}
	ext := withExtensionHeaders(synack(mbCli6, mbSrv6))
	if !tcpChecksumOK(ext) || mptcpOptions(ext) != 1 {
		t.Fatal("bad test packet")
	}
	for _, c := range []struct {
		name  string
		frame []byte
		ip    int // offset of the IP packet
	}{
		{"ipv4 untagged", vlanFrame(synack(mbCli, mbSrv)), 14},
		{"ipv4 802.1Q", vlanFrame(synack(mbCli, mbSrv), header.EtherTypeVLAN), 18},
		{"ipv6 QinQ", vlanFrame(synack(mbCli6, mbSrv6), header.EtherTypeQinQ, header.EtherTypeVLAN), 22},
		{"ipv6 extension headers", vlanFrame(ext, header.EtherTypeVLAN), 18},
	} {
		m := NewMiddlebox(Spec{Strip: StripSYNACK})
		m.ProcessFrame(c.frame)
		if pkt := c.frame[c.ip:]; mptcpOptions(pkt) != 0 || !tcpChecksumOK(pkt) || m.Stats().Stripped != 1 {
			t.Errorf("%s: options %d, checksum %v, stats %+v", c.name, mptcpOptions(pkt), tcpChecksumOK(pkt), m.Stats())
		}
	}
	// Not IP, not TCP, or a non-first fragment: untouched.
	arp := make([]byte, 42)
	header.Ethernet(arp).Encode(header.BroadcastMAC, header.MAC{2}, header.EtherTypeARP)
	frag := synack(mbCli, mbSrv)
	binary.BigEndian.PutUint16(frag[6:], 0x0001) // fragment offset 8
	header.IPv4(frag).SetChecksum()
	udp := synack(mbCli, mbSrv)
	udp[9] = header.ProtocolUDP
	for _, f := range [][]byte{arp, vlanFrame(frag), vlanFrame(udp), {1, 2, 3}} {
		orig := bytes.Clone(f)
		m := NewMiddlebox(Spec{Strip: StripAll, Rewrite: 1})
		if !m.ProcessFrame(f) || !bytes.Equal(f, orig) {
			t.Errorf("%x changed", orig)
		}
	}
}

// FuzzMiddlebox: on any packet the middleboxes never panic, never change
// the length, change only what they may (MPTCP option bytes to NOPs, the
// checksum field, one payload byte) and keep a valid TCP checksum valid.
func FuzzMiddlebox(f *testing.F) {
	for _, p := range mptcpTrace(mbCli, mbSrv, bytes.Repeat([]byte{0xa5}, 2500)) {
		f.Add(p, uint8(StripAll), uint16(3))
	}
	for _, p := range mptcpTrace(mbCli6, mbSrv6, []byte("hello")) {
		f.Add(withExtensionHeaders(p), uint8(StripSYNACK|StripData), uint16(1))
	}
	f.Add([]byte{0x45}, uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, pkt []byte, strip uint8, rewrite uint16) {
		spec := Spec{Strip: StripSet(strip) & StripAll, Rewrite: uint64(rewrite)}
		m := NewMiddlebox(spec)
		if m == nil {
			return
		}
		orig := bytes.Clone(pkt)
		valid := tcpChecksumOK(orig)
		// Learn the connection from a SYN first, so rewrite can act.
		if seg, src, dst, ok := IPTCP(orig); ok {
			syn := synth.Packet(nil, netip.AddrPortFrom(src, seg.SrcPort()), netip.AddrPortFrom(dst, seg.DstPort()),
				seg.Seq()-1-uint32(rewrite%8), 0, header.TCPFlagSYN, nil, nil)
			if src.Is4() == (len(syn) > 0 && syn[0]>>4 == 4) {
				m.Process(syn)
			}
		}
		m.Process(pkt)
		if len(pkt) != len(orig) {
			t.Fatal("length changed")
		}
		if valid && !tcpChecksumOK(pkt) {
			t.Fatalf("valid checksum broken:\n%x\n%x", orig, pkt)
		}
		seg, _, _, ok := IPTCP(orig)
		if !ok {
			if !bytes.Equal(pkt, orig) {
				t.Fatal("a packet without a TCP segment changed")
			}
			return
		}
		ipHdr := tcpOffset(orig)
		payloadChanged := 0
		for k := range pkt {
			if pkt[k] == orig[k] {
				continue
			}
			switch {
			case k == ipHdr+16 || k == ipHdr+17: // checksum
			case k >= ipHdr+20 && k < ipHdr+seg.DataOffset() && pkt[k] == header.TCPOptNOP:
			case k >= ipHdr+seg.DataOffset() && pkt[k] == orig[k]^RewriteMask:
				payloadChanged++
			default:
				t.Fatalf("byte %d changed %#x -> %#x", k, orig[k], pkt[k])
			}
		}
		if payloadChanged > 1 {
			t.Fatalf("%d payload bytes changed", payloadChanged)
		}
		if st := m.Stats(); st.Rewritten != uint64(payloadChanged) {
			t.Fatalf("stats %+v, %d bytes changed", st, payloadChanged)
		}
	})
}

// TestForwarderMiddlebox runs a synthetic MPTCP connection through a
// Forwarder whose directions strip MP_CAPABLE from the SYN/ACK and rewrite
// the 1500th byte of the client's stream, over bare IP and over Ethernet
// with a VLAN tag.
func TestForwarderMiddlebox(t *testing.T) {
	for _, ethernet := range []bool{false, true} {
		h1, a := newWire()
		b, h2 := newWire()
		if ethernet {
			a.lt, b.lt = link.TypeEthernet, link.TypeEthernet
		}
		f, err := New(a, b, Spec{Rewrite: 1500}, Spec{Strip: StripSYNACK}, Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		f.Start()
		data := bytes.Repeat([]byte{0x11}, 3000)
		var synacks, rewritten int
		for _, p := range mptcpTrace(mbCli, mbSrv, data) {
			seg, src, _, _ := IPTCP(p)
			from, to := h1, h2
			if src == mbSrv.Addr() {
				from, to = h2, h1
			}
			off := 0
			if ethernet {
				p, off = vlanFrame(p, header.EtherTypeVLAN), 18
			}
			from.WritePackets([][]byte{p})
			got, ok := to.recv(t, 5*time.Second)
			if !ok {
				t.Fatal("packet lost")
			}
			ip := got[off:]
			if !tcpChecksumOK(ip) || len(got) != len(p) {
				t.Fatal("forwarded packet damaged")
			}
			if segClass(ip) == StripSYNACK {
				synacks++
				if mptcpOptions(ip) != 0 {
					t.Error("SYN/ACK kept MP_CAPABLE")
				}
			} else if mptcpOptions(ip) == 0 && seg.Flags()&header.TCPFlagRST == 0 {
				t.Errorf("%v segment lost its options", seg.Flags())
			}
			if gs, _, _, _ := IPTCP(ip); bytes.Contains(gs.Payload(), []byte{0x11 ^ RewriteMask}) {
				rewritten++
			}
		}
		st := f.Stats()
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if synacks != 2 || rewritten != 1 {
			t.Errorf("ethernet %v: %d SYN/ACKs, %d rewritten segments", ethernet, synacks, rewritten)
		}
		if st.BtoA.Stripped != 2 || st.AtoB.Rewritten != 1 || st.AtoB.Stripped != 0 || st.BtoA.Rewritten != 0 {
			t.Errorf("ethernet %v: stats a->b %+v b->a %+v", ethernet, st.AtoB.MiddleboxStats, st.BtoA.MiddleboxStats)
		}
	}
}

// BenchmarkMiddlebox measures a middlebox on a 1500-byte data segment with
// a DSS option: stripping it (restored each time), and the rewrite's flow
// lookup on a connection already rewritten.
func BenchmarkMiddlebox(b *testing.B) {
	var data []byte
	for _, p := range mptcpTrace(mbCli, mbSrv, bytes.Repeat([]byte{1}, 3000)) {
		if seg, _, _, _ := IPTCP(p); len(seg.Payload()) >= 1000 && mptcpOptions(p) > 0 {
			data = p
			break
		}
	}
	syn := mptcpTrace(mbCli, mbSrv, nil)[0]
	for _, bc := range []struct {
		name string
		spec Spec
	}{{"strip=data", Spec{Strip: StripData}}, {"rewrite", Spec{Rewrite: 1}}, {"strip=synack", Spec{Strip: StripSYNACK}}} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewMiddlebox(bc.spec)
			m.Process(bytes.Clone(syn))
			pkt := bytes.Clone(data)
			m.Process(pkt)
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				copy(pkt[20:80], data[20:80]) // header and options back
				m.Process(pkt)
			}
		})
	}
}

func TestMiddleboxAllocs(t *testing.T) {
	pkts := mptcpTrace(mbCli, mbSrv, bytes.Repeat([]byte{1}, 3000))
	m := NewMiddlebox(Spec{Strip: StripAll, Rewrite: 2000})
	for _, p := range pkts {
		m.Process(bytes.Clone(p))
	}
	buf := make([]byte, 2048)
	if a := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			m.Process(buf[:copy(buf, p)])
		}
	}); a != 0 {
		t.Errorf("%v allocations per trace", a)
	}
}
