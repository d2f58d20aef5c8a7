package stack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// reasmRig is a Stack on a point-to-point pipe whose other end the test
// holds: the test feeds IP packets straight into the stack's input and
// reads what it sends. The reassembler runs on a fake clock.
type reasmRig struct {
	s          *Stack
	n          *nic
	us, them   netip.Addr
	v6         bool
	clock      atomic.Int64 // ns since the Unix epoch
	out        chan []byte
	readerDone chan struct{}
}

func newReasmRig(t testing.TB, v6 bool, opts Options) *reasmRig {
	t.Helper()
	ours, peer := link.NewPipe(link.PipeOptions{MTU: 1500})
	r := &reasmRig{s: New(opts), v6: v6, out: make(chan []byte, 4096), readerDone: make(chan struct{}),
		us: netip.MustParseAddr("198.18.0.2"), them: netip.MustParseAddr("198.18.0.1")}
	if v6 {
		r.us, r.them = netip.MustParseAddr("2001:db8::2"), netip.MustParseAddr("2001:db8::1")
	}
	r.clock.Store(time.Unix(1_000_000, 0).UnixNano())
	r.s.reasm.mu.Lock()
	r.s.reasm.now = func() time.Time { return time.Unix(0, r.clock.Load()) }
	r.s.reasm.mu.Unlock()
	if err := r.s.AddInterface(ours, InterfaceConfig{Name: "p", Addrs: []netip.Prefix{
		netip.MustParsePrefix("198.18.0.2/24"), netip.MustParsePrefix("2001:db8::2/64")}}); err != nil {
		t.Fatal(err)
	}
	r.n = r.s.nics[0]
	go func() {
		defer close(r.readerDone)
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			if _, err := peer.ReadPackets(bufs, sizes); err != nil {
				return
			}
			select {
			case r.out <- append([]byte(nil), bufs[0][:sizes[0]]...):
			default: // nobody reads (fuzzing): drop
			}
		}
	}()
	t.Cleanup(func() {
		r.s.Close()
		peer.Close()
		<-r.readerDone
	})
	return r
}

func (r *reasmRig) advance(d time.Duration) { r.clock.Add(int64(d)) }

// checkInvariants checks the reassembler's books: the lists hold exactly
// the map's datagrams in arrival order, the charges add up and stay
// under the caps, and every datagram's fragments are sorted and disjoint.
func (r *reasmRig) checkInvariants(t testing.TB) {
	t.Helper()
	ra := &r.s.reasm
	ra.mu.Lock()
	defer ra.mu.Unlock()
	count, charged := 0, 0
	for i := range ra.lists {
		var prev *reasmDatagram
		for d := ra.lists[i].head; d != nil; prev, d = d, d.next {
			count++
			charged += d.charged
			if ra.m[d.key] != d || d.prev != prev || d.v6 != (i == 1) {
				t.Fatalf("list and map disagree at %+v", d.key)
			}
			if prev != nil && d.created.Before(prev.created) {
				t.Fatal("list not in arrival order")
			}
			got := 0
			for j, f := range d.frags {
				got += f.end - f.off
				if len(f.data) != f.end-f.off || (j > 0 && d.frags[j-1].end > f.off) || (d.total >= 0 && f.end > d.total) {
					t.Fatalf("fragments %v of %+v", d.frags, d.key)
				}
			}
			if got != d.got || len(d.frags) > maxReasmFrags {
				t.Fatalf("datagram %+v: got %d, fragments add up to %d", d.key, d.got, got)
			}
		}
		if ra.lists[i].tail != prev {
			t.Fatal("list tail is not its last element")
		}
	}
	if count != len(ra.m) || charged != ra.charged || count > maxReasmDatagrams || charged > r.s.opts.ReassemblyMemory {
		t.Fatalf("%d datagrams listed, %d in the map; %d bytes charged, %d counted, cap %d",
			count, len(ra.m), charged, ra.charged, r.s.opts.ReassemblyMemory)
	}
}

func (r *reasmRig) input(pkts ...[]byte) {
	for _, p := range pkts {
		r.s.ipInput(r.n, p, false)
	}
}

// next returns the next packet the stack sent (sendIP writes before it
// returns, so anything sent by an input call is already queued).
func (r *reasmRig) next(t testing.TB) []byte {
	t.Helper()
	select {
	case p := <-r.out:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("stack sent nothing")
		return nil
	}
}

// expectNothingSent checks that no packet is queued.
func (r *reasmRig) expectNothingSent(t testing.TB) {
	t.Helper()
	select {
	case p := <-r.out:
		t.Fatalf("stack sent %d bytes: % x", len(p), p[:min(len(p), 64)])
	case <-time.After(20 * time.Millisecond):
	}
}

// echoRequest builds an ICMP echo request from them to us with IP ID id
// (IPv4) carrying payload.
func (r *reasmRig) echoRequest(id uint16, payload []byte) []byte {
	m := make([]byte, 8+len(payload))
	copy(m[8:], payload)
	if !r.v6 {
		header.ICMPv4(m).Encode(header.ICMPv4Echo, 0, uint32(id)<<16|7)
		header.ICMPv4(m).SetChecksum()
		p := make([]byte, 20+len(m))
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), ID: id, TTL: 64,
			Protocol: header.ProtocolICMPv4, Src: r.them, Dst: r.us})
		header.IPv4(p).SetChecksum()
		copy(p[20:], m)
		return p
	}
	header.ICMPv6(m).Encode(header.ICMPv6EchoRequest, 0, uint32(id)<<16|7)
	header.ICMPv6(m).SetChecksum(r.them, r.us)
	p := make([]byte, 40+len(m))
	header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: uint16(len(m)), NextHeader: header.ProtocolICMPv6,
		HopLimit: 64, Src: r.them, Dst: r.us})
	copy(p[40:], m)
	return p
}

// fragAt makes the fragment [off, end) of the data of the unfragmented
// packet pkt (no options or extension headers), written independently of
// the stack's own fragmenting code. id is the IPv6 identification (IPv4
// keeps pkt's).
func fragAt(pkt []byte, off, end int, more bool, id uint32) []byte {
	if pkt[0]>>4 == 4 {
		f := make([]byte, 20+end-off)
		copy(f, pkt[:20])
		copy(f[20:], pkt[20+off:20+end])
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		w := uint16(off/8) & 0x1fff
		if more {
			w |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:8], w)
		header.IPv4(f).SetChecksum()
		return f
	}
	f := make([]byte, 48+end-off)
	copy(f, pkt[:40])
	binary.BigEndian.PutUint16(f[4:6], uint16(8+end-off))
	f[6] = 44
	f[40] = pkt[6]
	w := uint16(off) &^ 7
	if more {
		w |= 1
	}
	binary.BigEndian.PutUint16(f[42:44], w)
	binary.BigEndian.PutUint32(f[44:48], id)
	copy(f[48:], pkt[40+off:40+end])
	return f
}

// fragments cuts pkt's data at the given offsets (multiples of 8).
func fragments(pkt []byte, id uint32, cuts ...int) [][]byte {
	hl := 20
	if pkt[0]>>4 == 6 {
		hl = 40
	}
	n := len(pkt) - hl
	var out [][]byte
	prev := 0
	for _, c := range append(cuts, n) {
		out = append(out, fragAt(pkt, prev, c, c < n, id))
		prev = c
	}
	return out
}

// checkEchoReply checks that p is an echo reply from us to them carrying
// payload.
func (r *reasmRig) checkEchoReply(t testing.TB, p []byte, payload []byte) {
	t.Helper()
	var m []byte
	if !r.v6 {
		ip := header.IPv4(p)
		if !ip.Valid() || ip.Protocol() != header.ProtocolICMPv4 || ip.IsFragment() || ip.DstAddr() != r.them {
			t.Fatalf("not a whole ICMP packet to %v: % x", r.them, p[:min(len(p), 40)])
		}
		m = ip.Payload()
		if header.ICMPv4(m).Type() != header.ICMPv4EchoReply || !header.ICMPv4(m).ValidChecksum() {
			t.Fatalf("not an echo reply: % x", m[:min(len(m), 16)])
		}
	} else {
		ip := header.IPv6(p)
		if !ip.Valid() || ip.NextHeader() != header.ProtocolICMPv6 || ip.DstAddr() != r.them {
			t.Fatalf("not a whole ICMPv6 packet to %v: % x", r.them, p[:min(len(p), 48)])
		}
		m = ip.Payload()
		if header.ICMPv6(m).Type() != header.ICMPv6EchoReply || !header.ICMPv6(m).ValidChecksum(r.us, r.them) {
			t.Fatalf("not an echo reply: % x", m[:min(len(m), 16)])
		}
	}
	if !bytes.Equal(m[8:], payload) {
		t.Fatalf("echo reply payload differs: %d bytes, want %d", len(m)-8, len(payload))
	}
}

func (r *reasmRig) checkHeld(t testing.TB, datagrams, charged int) {
	t.Helper()
	d, c := r.s.reasm.held()
	if d != datagrams || (charged >= 0 && c != charged) {
		t.Fatalf("reassembler holds %d datagrams, %d bytes; want %d, %d", d, c, datagrams, charged)
	}
}

func families(t *testing.T, f func(t *testing.T, v6 bool)) {
	t.Run("ipv4", func(t *testing.T) { f(t, false) })
	t.Run("ipv6", func(t *testing.T) { f(t, true) })
}

// TestReassemblyOrders sends a fragmented echo request in various orders,
// with duplicates: exactly one reply with the right bytes, nothing held.
func TestReassemblyOrders(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		payload := randBytes(1000, 9)
		cuts := []int{8, 200, 512, 520, 800} // data = 8 + 1000 bytes: 6 fragments
		orders := map[string]func(pkt []byte, fs [][]byte, rnd *rand.Rand) [][]byte{
			"in order": func(_ []byte, fs [][]byte, _ *rand.Rand) [][]byte { return fs },
			"reverse": func(_ []byte, fs [][]byte, _ *rand.Rand) [][]byte {
				out := make([][]byte, len(fs))
				for i, f := range fs {
					out[len(fs)-1-i] = f
				}
				return out
			},
			"random": func(_ []byte, fs [][]byte, rnd *rand.Rand) [][]byte {
				out := append([][]byte(nil), fs...)
				rnd.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
				return out
			},
			"duplicates": func(_ []byte, fs [][]byte, rnd *rand.Rand) [][]byte {
				out := append([][]byte(nil), fs...)
				out = append(out[:len(out)-1], fs[0], fs[2], fs[2], fs[len(fs)-1]) // last one last
				rnd.Shuffle(len(out)-1, func(i, j int) { out[i], out[j] = out[j], out[i] })
				return out
			},
			"contained duplicate": func(pkt []byte, fs [][]byte, _ *rand.Rand) [][]byte {
				// [8,200) then [16,104) with the same bytes: a duplicate.
				return append([][]byte{fs[1], fragAt(pkt, 16, 104, true, 77)}, fs...)
			},
		}
		for name, order := range orders {
			t.Run(name, func(t *testing.T) {
				for seed := uint64(0); seed < 5; seed++ {
					r := newReasmRig(t, v6, Options{})
					pkt := r.echoRequest(1234, payload)
					fs := order(pkt, fragments(pkt, 77, cuts...), rand.New(rand.NewPCG(seed, 3)))
					for i, f := range fs {
						if r.s.stats.IPReasmOKs.Load() != 0 {
							t.Fatalf("reassembled after %d of %d fragments", i, len(fs))
						}
						r.input(f)
					}
					if ok, reqds := r.s.stats.IPReasmOKs.Load(), r.s.stats.IPReasmReqds.Load(); ok != 1 || reqds != uint64(len(fs)) {
						t.Fatalf("ReasmOKs %d ReasmReqds %d (sent %d fragments)", ok, reqds, len(fs))
					}
					r.checkEchoReply(t, r.next(t), payload)
					r.expectNothingSent(t)
					r.checkHeld(t, 0, 0)
					if r.s.stats.IPReasmFails.Load() != 0 {
						t.Fatalf("ReasmFails %d", r.s.stats.IPReasmFails.Load())
					}
				}
			})
		}
	})
}

// TestReassemblyOverlap: a fragment that overlaps another (partly, or on
// the same range with other bytes) drops the whole datagram, for IPv6 as
// RFC 5722 requires and for IPv4 by our policy; the rest of it arriving
// later delivers nothing.
func TestReassemblyOverlap(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		for _, tc := range []struct {
			name string
			bad  func(pkt []byte) []byte
		}{
			{"partial", func(pkt []byte) []byte { return fragAt(pkt, 96, 304, true, 5) }},
			{"same range other bytes", func(pkt []byte) []byte {
				f := fragAt(pkt, 8, 200, true, 5)
				f[len(f)-1] ^= 0xff
				if !v6 {
					header.IPv4(f).SetChecksum()
				}
				return f
			}},
			{"into the last", func(pkt []byte) []byte { return fragAt(pkt, 792, 1000, true, 5) }},
			{"around one", func(pkt []byte) []byte { return fragAt(pkt, 0, 512, true, 5) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := newReasmRig(t, v6, Options{})
				pkt := r.echoRequest(99, randBytes(1000, 10))
				fs := fragments(pkt, 5, 8, 200, 512, 800) // [0,8) [8,200) [200,512) [512,800) [800,1008)
				r.input(fs[0], fs[1], fs[4])
				r.input(tc.bad(pkt))
				if r.s.stats.IPReasmFails.Load() != 1 {
					t.Fatalf("ReasmFails %d after the overlap", r.s.stats.IPReasmFails.Load())
				}
				r.checkHeld(t, 0, 0)
				r.input(fs[2], fs[3])
				if got := r.s.stats.IPReasmOKs.Load(); got != 0 {
					t.Fatalf("overlapping datagram delivered (ReasmOKs %d)", got)
				}
				r.expectNothingSent(t)
				r.checkHeld(t, 1, -1) // fs[2], fs[3] wait for a start that never comes
			})
		}
	})
}

// TestReassemblyTimeout: without its last fragment nothing is delivered;
// at the timeout (30 s IPv4, 60 s IPv6 on the fake clock) the datagram is
// freed and, since its first fragment came, answered with Time Exceeded
// code 1 quoting that fragment.
func TestReassemblyTimeout(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{})
		pkt := r.echoRequest(4321, randBytes(1000, 12))
		fs := fragments(pkt, 8, 8, 200, 512, 800)
		r.input(fs[:len(fs)-1]...)
		r.expectNothingSent(t)
		r.checkHeld(t, 1, -1)
		timeout := 30 * time.Second
		if v6 {
			timeout = 60 * time.Second
		}
		r.advance(timeout - time.Millisecond)
		r.s.reasm.expire()
		r.checkHeld(t, 1, -1)
		r.advance(time.Millisecond)
		r.s.reasm.expire()
		r.checkHeld(t, 0, 0)
		if r.s.stats.IPReasmTimeout.Load() != 1 || r.s.stats.IPReasmFails.Load() != 1 {
			t.Fatalf("ReasmTimeout %d ReasmFails %d", r.s.stats.IPReasmTimeout.Load(), r.s.stats.IPReasmFails.Load())
		}
		p := r.next(t)
		if !v6 {
			ip := header.IPv4(p)
			m := header.ICMPv4(ip.Payload())
			if ip.DstAddr() != r.them || ip.SrcAddr() != r.us || m.Type() != header.ICMPv4TimeExceeded || m.Code() != 1 || !m.ValidChecksum() {
				t.Fatalf("not a Time Exceeded code 1: % x", p)
			}
			if !bytes.Equal(m.Payload(), fs[0][:28]) {
				t.Fatalf("quote % x, want the first fragment's header and 8 bytes % x", m.Payload(), fs[0][:28])
			}
		} else {
			ip := header.IPv6(p)
			m := header.ICMPv6(ip.Payload())
			if ip.DstAddr() != r.them || ip.NextHeader() != header.ProtocolICMPv6 || m.Type() != header.ICMPv6TimeExceeded ||
				m.Code() != 1 || !m.ValidChecksum(r.us, r.them) {
				t.Fatalf("not a Time Exceeded code 1: % x", p[:min(len(p), 64)])
			}
			if !bytes.Equal(m.Payload(), fs[0]) {
				t.Fatalf("quote is not the first fragment")
			}
		}
		// The last fragment now starts a new datagram: nothing delivered.
		r.input(fs[len(fs)-1])
		if r.s.stats.IPReasmOKs.Load() != 0 {
			t.Fatal("datagram delivered after its timeout")
		}
	})
}

// TestReassemblyTimeoutWithoutFirst: no Time Exceeded without the first
// fragment (RFC 792, RFC 4443 §3.3); a fragment arriving after the
// deadline expires the old datagram too (no timer needed).
func TestReassemblyTimeoutWithoutFirst(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{ReassemblyTimeout: 5 * time.Second, ReassemblyTimeout6: 5 * time.Second})
		pkt := r.echoRequest(1, randBytes(1000, 13))
		fs := fragments(pkt, 9, 8, 200, 512, 800)
		r.input(fs[1:]...)
		r.advance(5 * time.Second)
		other := fragments(r.echoRequest(2, randBytes(100, 1)), 10, 64)
		r.input(other[1]) // expires the first datagram on the way in
		r.checkHeld(t, 1, -1)
		if r.s.stats.IPReasmTimeout.Load() != 1 || r.s.stats.ICMPOutMsgs.Load() != 0 {
			t.Fatalf("ReasmTimeout %d ICMPOutMsgs %d", r.s.stats.IPReasmTimeout.Load(), r.s.stats.ICMPOutMsgs.Load())
		}
		r.expectNothingSent(t)
	})
}

// TestReassemblyTooLarge: a fragment reaching past 65535 bytes (IPv4
// total length, IPv6 payload length) drops the datagram.
func TestReassemblyTooLarge(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{})
		pkt := r.echoRequest(3, randBytes(1000, 14))
		fs := fragments(pkt, 11, 8, 200)
		r.input(fs[0], fs[1])
		// Offset 65528 (the largest), 16 bytes: past 65535 either way.
		big := fragAt(append(pkt, make([]byte, 65600)...), 65528, 65544, false, 11)
		r.input(big)
		r.checkHeld(t, 0, 0)
		if r.s.stats.IPReasmFails.Load() != 1 {
			t.Fatalf("ReasmFails %d", r.s.stats.IPReasmFails.Load())
		}
		// Just fitting is fine: a last fragment ending at exactly 65535.
		limit := 65535 - 20
		if v6 {
			limit = 65535
		}
		limit &^= 7
		r.input(fs[0], fragAt(append(pkt, make([]byte, 65600)...), limit-8, limit, false, 11))
		r.checkHeld(t, 1, -1)
	})
}

// TestReassemblyTooLargeWithOptions: the reassembled datagram takes the
// first fragment's header; with options it may pass 65535 bytes where
// every fragment on its own fits. It is dropped.
func TestReassemblyTooLargeWithOptions(t *testing.T) {
	r := newReasmRig(t, false, Options{})
	pkt := r.echoRequest(8, randBytes(65504, 19)) // total 65532: fits with a 20-byte header
	var cuts []int
	for c := 1480; c < 65512; c += 1480 {
		cuts = append(cuts, c)
	}
	fs := fragments(pkt, 0, cuts...)
	// The first fragment gets a 24-byte header (four NOP options).
	f0 := make([]byte, 24+len(fs[0])-20)
	copy(f0, fs[0][:20])
	f0[0] = 0x46
	copy(f0[20:24], []byte{1, 1, 1, 1})
	copy(f0[24:], fs[0][20:])
	binary.BigEndian.PutUint16(f0[2:4], uint16(len(f0)))
	header.IPv4(f0).SetChecksum()
	fs[0] = f0
	r.input(fs...)
	if r.s.stats.IPReasmOKs.Load() != 0 || r.s.stats.IPReasmFails.Load() != 1 {
		t.Fatalf("ReasmOKs %d ReasmFails %d", r.s.stats.IPReasmOKs.Load(), r.s.stats.IPReasmFails.Load())
	}
	r.checkHeld(t, 0, 0)
}

// TestReassemblyBadLength: a middle fragment whose data is not a multiple
// of 8 is dropped alone (IPInHdrErrors); the datagram still completes
// with proper fragments.
func TestReassemblyBadLength(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{})
		payload := randBytes(1000, 15)
		pkt := r.echoRequest(4, payload)
		fs := fragments(pkt, 12, 8, 200, 512, 800)
		r.input(fs[0])
		hdrErrs := r.s.stats.IPInHdrErrors.Load()
		r.input(fragAt(pkt, 8, 20, true, 12)) // 12 bytes, M=1
		if r.s.stats.IPInHdrErrors.Load() != hdrErrs+1 {
			t.Fatal("non-multiple-of-8 middle fragment not counted as a header error")
		}
		r.input(fs[1:]...)
		r.checkEchoReply(t, r.next(t), payload)
		if r.s.stats.IPReasmFails.Load() != 0 {
			t.Fatalf("ReasmFails %d", r.s.stats.IPReasmFails.Load())
		}
	})
}

// TestReassemblyMemoryCap: beyond Options.ReassemblyMemory the oldest
// datagrams are dropped; the newest still completes.
func TestReassemblyMemoryCap(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		const frag = 1000
		per := frag + fragOverhead // a non-first fragment's charge
		r := newReasmRig(t, v6, Options{ReassemblyMemory: 3*per + per/2})
		var pkts [][]byte
		for id := uint16(1); id <= 5; id++ {
			pkt := r.echoRequest(id, randBytes(1200, uint64(id)))
			pkts = append(pkts, pkt)
			r.input(fragAt(pkt, 8, 8+frag, true, uint32(id)))
		}
		r.checkHeld(t, 3, 3*per) // 1 and 2 evicted
		if r.s.stats.IPReasmFails.Load() != 2 {
			t.Fatalf("ReasmFails %d", r.s.stats.IPReasmFails.Load())
		}
		complete := func(pkt []byte, id uint16) {
			r.input(fragAt(pkt, 0, 8, true, uint32(id)), fragAt(pkt, 8+frag, len(pkt)-r.hl(), false, uint32(id)))
		}
		complete(pkts[0], 1) // evicted: its middle is gone
		if r.s.stats.IPReasmOKs.Load() != 0 {
			t.Fatal("evicted datagram delivered")
		}
		complete(pkts[4], 5)
		if r.s.stats.IPReasmOKs.Load() != 1 {
			t.Fatal("newest datagram not delivered")
		}
		r.checkEchoReply(t, r.next(t), pkts[4][r.hl()+8:])
	})
}

func (r *reasmRig) hl() int {
	if r.v6 {
		return 40
	}
	return 20
}

// TestReassemblyDatagramCap: at most maxReasmDatagrams in progress, the
// oldest go first.
func TestReassemblyDatagramCap(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{})
		const n = maxReasmDatagrams + 100
		pkts := make([][]byte, n)
		for i := range pkts {
			pkts[i] = r.echoRequest(uint16(i), randBytes(16, uint64(i)))
			r.input(fragAt(pkts[i], 8, 16, true, uint32(i)))
		}
		r.checkHeld(t, maxReasmDatagrams, -1)
		if r.s.stats.IPReasmFails.Load() != 100 {
			t.Fatalf("ReasmFails %d", r.s.stats.IPReasmFails.Load())
		}
		r.input(fragAt(pkts[0], 0, 8, true, 0), fragAt(pkts[0], 16, 24, false, 0))
		if r.s.stats.IPReasmOKs.Load() != 0 {
			t.Fatal("evicted datagram delivered")
		}
		r.input(fragAt(pkts[n-1], 0, 8, true, n-1), fragAt(pkts[n-1], 16, 24, false, n-1))
		if r.s.stats.IPReasmOKs.Load() != 1 {
			t.Fatal("newest datagram not delivered")
		}
	})
}

// TestReassemblyAtomicFragment: an IPv6 packet with a Fragment header of
// offset 0 and M=0 is processed as a whole packet, without state.
func TestReassemblyAtomicFragment(t *testing.T) {
	r := newReasmRig(t, true, Options{})
	payload := randBytes(300, 16)
	pkt := r.echoRequest(5, payload)
	r.input(fragAt(pkt, 0, len(pkt)-40, false, 42))
	r.checkEchoReply(t, r.next(t), payload)
	r.checkHeld(t, 0, 0)
	if r.s.stats.IPReasmOKs.Load() != 1 {
		t.Fatalf("ReasmOKs %d", r.s.stats.IPReasmOKs.Load())
	}
	// It does not disturb a datagram in progress with the same ID.
	other := r.echoRequest(6, randBytes(300, 17))
	r.input(fragAt(other, 0, 104, true, 42))
	r.input(fragAt(pkt, 0, len(pkt)-40, false, 42))
	r.checkEchoReply(t, r.next(t), payload)
	r.input(fragAt(other, 104, len(other)-40, false, 42))
	r.checkEchoReply(t, r.next(t), other[48:])
}

// TestReassemblyNDPIgnored: NDP that comes fragmented, even as an atomic
// fragment, is ignored (RFC 6980); the same solicitation whole is answered.
func TestReassemblyNDPIgnored(t *testing.T) {
	r := newReasmRig(t, true, Options{})
	sink, _ := link.NewPipe(link.PipeOptions{Type: link.TypeEthernet, QueueLen: 16})
	n := newNIC(r.s, sink, InterfaceConfig{Name: "e", MAC: header.MAC{2, 0, 0, 0, 0, 2}, Addrs: r.n.cfg.Addrs})
	m := make([]byte, header.NDPNSLen+8)
	header.NDPNeighbor(m).EncodeNS(r.us, header.MAC{2, 0, 0, 0, 0, 9})
	header.ICMPv6(m).SetChecksum(r.them, r.us)
	pkt := make([]byte, 40+len(m))
	header.IPv6(pkt).Encode(&header.IPv6Fields{PayloadLength: uint16(len(m)), NextHeader: header.ProtocolICMPv6, HopLimit: 255, Src: r.them, Dst: r.us})
	copy(pkt[40:], m)
	r.s.ipInput(n, fragAt(pkt, 0, len(m), false, 1), false)
	for _, f := range fragments(pkt, 2, 8) {
		r.s.ipInput(n, f, false)
	}
	if r.s.stats.NDPIn.Load() != 0 || r.s.stats.IPReasmOKs.Load() != 2 {
		t.Fatalf("fragmented NDP processed: NDPIn %d, ReasmOKs %d", r.s.stats.NDPIn.Load(), r.s.stats.IPReasmOKs.Load())
	}
	r.s.ipInput(n, pkt, false)
	if r.s.stats.NDPIn.Load() != 1 {
		t.Fatal("whole NDP solicitation not processed")
	}
}

// TestFragmentedEchoReply: the reply to a reassembled echo request larger
// than the MTU leaves in fragments (sendIP), which join up to the reply.
func TestFragmentedEchoReply(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		r := newReasmRig(t, v6, Options{})
		payload := randBytes(3000, 18)
		pkt := r.echoRequest(7, payload)
		r.input(fragments(pkt, 13, 1024, 2048)...)
		if r.s.stats.IPFragOKs.Load() != 1 {
			t.Fatalf("FragOKs %d", r.s.stats.IPFragOKs.Load())
		}
		k := int(r.s.stats.IPFragCreates.Load())
		var fs [][]byte
		for range k {
			fs = append(fs, r.next(t))
		}
		whole := joinFragments(t, fs)
		r.checkEchoReply(t, whole, payload)
	})
}

// joinFragments reassembles fragments simply (test-side): each must fit
// the 1500-byte MTU, carry no DF, and together cover the datagram once.
func joinFragments(t testing.TB, fs [][]byte) []byte {
	t.Helper()
	var hdr, data []byte
	total := -1
	for _, f := range fs {
		if len(f) > 1500 {
			t.Fatalf("fragment of %d bytes", len(f))
		}
		var off, hl int
		var more bool
		if f[0]>>4 == 4 {
			ip := header.IPv4(f)
			if !ip.Valid() || !ip.ValidChecksum() || ip.DF() {
				t.Fatalf("bad IPv4 fragment % x", f[:20])
			}
			off, more, hl = ip.FragmentOffset(), ip.MoreFragments(), 20
			if off == 0 {
				hdr = append([]byte(nil), f[:20]...)
			}
		} else {
			if f[6] != 44 {
				t.Fatalf("IPv6 fragment without Fragment header")
			}
			fh := header.IPv6FragmentHeader(f[40:])
			off, more, hl = fh.FragmentOffset(), fh.More(), 48
			if off == 0 {
				hdr = append([]byte(nil), f[:40]...)
				hdr[6] = fh.NextHeader()
			}
		}
		end := off + len(f) - hl
		if len(data) < end {
			data = append(data, make([]byte, end-len(data))...)
		}
		copy(data[off:], f[hl:])
		if !more {
			total = end
		}
	}
	if hdr == nil || total != len(data) {
		t.Fatalf("fragments incomplete: first %v, total %d of %d", hdr != nil, total, len(data))
	}
	p := append(hdr, data...)
	if p[0]>>4 == 4 {
		binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
		binary.BigEndian.PutUint16(p[6:8], 0)
		header.IPv4(p).SetChecksum()
	} else {
		binary.BigEndian.PutUint16(p[4:6], uint16(len(data)))
	}
	return p
}

// fragRelay forwards packets between two pipes, cutting every packet that
// carries TCP data into 2 to 4 fragments at random multiples of 8, sent
// in random order, sometimes with a duplicate.
type fragRelay struct {
	fragmented, whole atomic.Int64
	wg                sync.WaitGroup
}

func (fr *fragRelay) run(from, to *link.Pipe, seed uint64) {
	fr.wg.Add(1)
	go func() {
		defer fr.wg.Done()
		rnd := rand.New(rand.NewPCG(seed, 5))
		bufs, sizes := make([][]byte, 64), make([]int, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		var id uint32
		for {
			k, err := from.ReadPackets(bufs, sizes)
			if err != nil {
				return
			}
			var out [][]byte
			for i := range k {
				p := bufs[i][:sizes[i]]
				hl, proto := 20, p[9]
				if p[0]>>4 == 6 {
					hl, proto = 40, p[6]
				}
				if proto != header.ProtocolTCP || len(p) <= hl+int(header.TCP(p[hl:]).DataOffset()) {
					fr.whole.Add(1)
					out = append(out, p)
					continue
				}
				fr.fragmented.Add(1)
				id++
				n := len(p) - hl
				var cuts []int
				for c := 8 * (1 + rnd.IntN(8)); c < n && len(cuts) < 3; c += 8 * (1 + rnd.IntN((n/8)/2+1)) {
					cuts = append(cuts, c)
				}
				if len(cuts) == 0 {
					cuts = []int{8}
				}
				fs := fragments(p, id, cuts...)
				if rnd.IntN(4) == 0 {
					fs = append(fs, fs[rnd.IntN(len(fs))])
				}
				rnd.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
				out = append(out, fs...)
			}
			if _, err := to.WritePackets(out); err != nil {
				return
			}
		}
	}()
}

// TestReassemblyTCPTransfer runs a TCP transfer both ways between two
// stacks through a relay that fragments every data segment: the data
// must arrive byte-exact, all of it through reassembled datagrams.
func TestReassemblyTCPTransfer(t *testing.T) {
	families(t, func(t *testing.T, v6 bool) {
		pa, ra := link.NewPipe(link.PipeOptions{MTU: 1500})
		rb, pb := link.NewPipe(link.PipeOptions{MTU: 1500})
		p := &pair{a: New(Options{}), b: New(Options{})}
		ap, bp := netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.18.0.2/24")
		if v6 {
			ap, bp = netip.MustParsePrefix("2001:db8::1/64"), netip.MustParsePrefix("2001:db8::2/64")
		}
		p.addrA, p.addrB = ap.Addr(), bp.Addr()
		if err := p.a.AddInterface(pa, InterfaceConfig{Name: "a", Addrs: []netip.Prefix{ap}}); err != nil {
			t.Fatal(err)
		}
		if err := p.b.AddInterface(pb, InterfaceConfig{Name: "b", Addrs: []netip.Prefix{bp}}); err != nil {
			t.Fatal(err)
		}
		var fr fragRelay
		fr.run(ra, rb, 1)
		fr.run(rb, ra, 2)
		t.Cleanup(func() {
			p.a.Close()
			p.b.Close()
			ra.Close()
			rb.Close()
			fr.wg.Wait()
		})
		c, s := p.connect(t)
		up, down := randBytes(1<<20, 21), randBytes(256<<10, 22)
		var wg sync.WaitGroup
		var gotUp, gotDown []byte
		var errUp, errDown error
		wg.Add(2)
		go func() { defer wg.Done(); gotUp, errUp = io.ReadAll(s) }()
		go func() { defer wg.Done(); gotDown, errDown = io.ReadAll(c) }()
		go func() { c.Write(up); c.CloseWrite() }()
		go func() { s.Write(down); s.CloseWrite() }()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			c.Abort()
			s.Abort()
			<-done
			t.Fatalf("transfer stalled: %d/%d up, %d/%d down", len(gotUp), len(up), len(gotDown), len(down))
		}
		if errUp != nil || errDown != nil {
			t.Fatal(errUp, errDown)
		}
		if sha256.Sum256(gotUp) != sha256.Sum256(up) || sha256.Sum256(gotDown) != sha256.Sum256(down) {
			t.Fatalf("content differs: %d/%d %d/%d", len(gotUp), len(up), len(gotDown), len(down))
		}
		okB, okA := p.b.Stats().IPReasmOKs.Load(), p.a.Stats().IPReasmOKs.Load()
		t.Logf("relay fragmented %d segments, passed %d whole; reassembled %d at b, %d at a; fails %d/%d",
			fr.fragmented.Load(), fr.whole.Load(), okB, okA, p.b.Stats().IPReasmFails.Load(), p.a.Stats().IPReasmFails.Load())
		if okB < uint64(len(up)/1500) || okA < uint64(len(down)/1500) {
			t.Fatalf("too few datagrams reassembled: %d at b, %d at a", okB, okA)
		}
		c.Close()
		s.Close()
	})
}
