package mpconn

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// rewriteOption calls f on every MPTCP option of subtype sub in seg (its
// raw bytes, in place) and returns seg.
func rewriteOption(seg []byte, sub option.Subtype, f func(raw []byte)) []byte {
	t := header.TCP(seg)
	hl := t.DataOffset()
	if hl < header.TCPMinHeaderLen || hl > len(seg) {
		return seg
	}
	for it := header.NewTCPOptionIterator(seg[header.TCPMinHeaderLen:hl]); it.Next(); {
		if it.Kind() != header.TCPOptMPTCP {
			continue
		}
		raw := it.Raw()
		if len(raw) >= 3 && option.Subtype(raw[2]>>4) == sub {
			f(raw)
		}
	}
	return seg
}

// TestForgedDataAckIgnored: a middlebox (or an attacker in the path)
// rewrites the server's DATA_ACKs to acknowledge data never sent, 16 MiB
// ahead. The client must ignore them (RFC 8684 §3.3.2: a DATA_ACK is
// only taken for data sent), lose no unsent data and finish intact.
func TestForgedDataAckIgnored(t *testing.T) {
	n, cli, srv := twoHosts(t, 501, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	forged := 0
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		if src.Addr() != addr("10.0.1.2") || forged >= 50 {
			return seg
		}
		return rewriteOption(seg, option.SubtypeDSS, func(raw []byte) {
			flags := raw[3]
			if flags&uint8(option.DSSDataACK) == 0 {
				return
			}
			if flags&uint8(option.DSSDataACK8) != 0 {
				v := binary.BigEndian.Uint64(raw[4:12])
				binary.BigEndian.PutUint64(raw[4:12], v+16<<20)
			} else {
				v := binary.BigEndian.Uint32(raw[4:8])
				binary.BigEndian.PutUint32(raw[4:8], v+16<<20)
			}
			forged++
		})
	}
	data := randomData(4<<20, 21)
	if got := n.pump(c, s, data, 2*time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if forged == 0 {
		t.Fatal("no DATA_ACK was forged: the test does not exercise the check")
	}
	n.runFor(2 * time.Second) // the last real DATA_ACKs
	if in := c.Info(); in.SndUna != in.SndNxt || in.BytesAcked != uint64(len(data)) {
		t.Fatalf("after %d forged DATA_ACKs: acked %d of %d, una %x nxt %x", forged, in.BytesAcked, len(data), in.SndUna, in.SndNxt)
	}
}

// TestForgedAddAddrDropped: ADD_ADDRs whose HMAC does not verify (an
// attacker who does not know the keys, RFC 8684 §3.4.1) are counted and
// dropped: no join goes to the announced address, nothing is echoed.
func TestForgedAddAddrDropped(t *testing.T) {
	n, cli, srv := twoHosts(t, 502, Config{}, Config{})
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		return rewriteOption(seg, option.SubtypeAddAddr, func(raw []byte) {
			if raw[2]&0x01 == 0 && len(raw) >= 16 { // not an echo: it has an HMAC
				raw[len(raw)-1] ^= 0x5a
			}
		})
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	n.runFor(5 * time.Second)
	if cli.mib.AddAddrDrop.Load() == 0 || cli.mib.AddAddr.Load() != 0 || cli.mib.EchoAddTx.Load() != 0 {
		t.Fatalf("AddAddrDrop %d AddAddr %d EchoAddTx %d", cli.mib.AddAddrDrop.Load(), cli.mib.AddAddr.Load(), cli.mib.EchoAddTx.Load())
	}
	for _, sf := range c.Subflows() {
		if sf.io.Remote().Addr() == addr("10.0.2.2") {
			t.Fatalf("a subflow to the forged announcement: %v", sf.io.Remote())
		}
	}
	data := randomData(1<<20, 22)
	if got := n.pump(c, s, data, time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}

// TestAddAddrFloodBounded: a peer announcing address after address (valid
// HMACs: a peer may) gets MaxAddAddr of them used and the rest dropped;
// the client opens at most MaxSubflows subflows.
func TestAddAddrFloodBounded(t *testing.T) {
	n := newSimNet(t, 503)
	cli := n.addHost("client", Config{MaxAddAddr: 3, MaxSubflows: 4}, "10.0.1.1")
	var extra []string
	for i := 0; i < 20; i++ {
		extra = append(extra, netip.AddrFrom4([4]byte{10, 0, 9, byte(10 + i)}).String())
	}
	srv := n.addHost("server", Config{}, append([]string{"10.0.1.2"}, extra...)...)
	srv.listen = 80
	n.link("10.0.1.1", "10.0.1.2", 10*time.Millisecond, 0)
	for _, a := range extra {
		n.link("10.0.1.1", a, 10*time.Millisecond, 0)
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	n.runFor(30 * time.Second)
	if got := cli.mib.AddAddr.Load(); got != 20 {
		t.Logf("ADD_ADDRs verified: %d", got)
	}
	if len(c.pm.remotes)-1 > 3 {
		t.Fatalf("%d announced addresses kept, limit 3", len(c.pm.remotes)-1)
	}
	if cli.mib.AddAddrDrop.Load() == 0 {
		t.Fatal("nothing dropped past the limit")
	}
	if len(c.Subflows()) > 4 {
		t.Fatalf("%d subflows, limit 4", len(c.Subflows()))
	}
	data := randomData(1<<20, 23)
	if got := n.pump(c, s, data, time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}

// TestSoak: many connections over two paths whose conditions change at
// random (down and up, loss, reordering by delay changes) for several
// simulated minutes; every byte checked, and the heap back where it was
// once they are gone (no goroutines: the engine has none). SOAK_SECONDS
// (simulated, 60 by default) makes it longer.
func TestSoak(t *testing.T) {
	simSecs := 60
	if v, err := strconv.Atoi(os.Getenv("SOAK_SECONDS")); err == nil && v > 0 {
		simSecs = v
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	func() {
		n, cli, srv := twoHosts(t, 504, Config{}, Config{})
		const conns = 12
		type pair struct {
			c, s      *Conn
			data, got []byte
			off       int
		}
		var ps []*pair
		for i := 0; i < conns; i++ {
			c := cli.dial("10.0.1.2:80")
			if !n.runUntil(10*time.Second, func() bool { return c.State() == StateEstablished && len(srv.accepted) == i+1 }) {
				t.Fatalf("connection %d: %v", i, c.State())
			}
			ps = append(ps, &pair{c: c, s: srv.accepted[i], data: randomData(256<<10+i*4096, uint64(600+i))})
		}
		rng := n.rng
		paths := [][2]string{{"10.0.1.1", "10.0.1.2"}, {"10.0.2.1", "10.0.2.2"}}
		for _, p := range paths {
			n.setPath(p[0], p[1], func(sp *simPath) { sp.rate = 2 << 20 })
		}
		buf := make([]byte, 64<<10)
		rounds := 0
		end := n.now + time.Duration(simSecs)*time.Second
		next := n.now
		for n.now < end {
			if n.now >= next {
				// Change one path: down (never both), up, lossy or clean,
				// slower or faster.
				p := paths[rng.IntN(2)]
				other := paths[0]
				if p == other {
					other = paths[1]
				}
				switch rng.IntN(4) {
				case 0:
					if !n.paths[[2]netipAddr{addr(other[0]), addr(other[1])}].down {
						n.setPath(p[0], p[1], func(sp *simPath) { sp.down = true })
					}
				case 1:
					n.setPath(p[0], p[1], func(sp *simPath) { sp.down = false })
				case 2:
					n.setPath(p[0], p[1], func(sp *simPath) { sp.loss = float64(rng.IntN(10)) / 100 })
				case 3:
					n.setPath(p[0], p[1], func(sp *simPath) { sp.delay = time.Duration(5+rng.IntN(60)) * time.Millisecond })
				}
				next = n.now + time.Duration(200+rng.IntN(1800))*time.Millisecond
			}
			for _, p := range ps {
				for p.off < len(p.data) {
					w, err := p.c.Write(p.data[p.off:])
					if err != nil {
						t.Fatalf("write: %v", err)
					}
					if w == 0 {
						break
					}
					p.off += w
				}
				for {
					r, err := p.s.Read(buf)
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					if r == 0 {
						break
					}
					p.got = append(p.got, buf[:r]...)
				}
				if len(p.got) == len(p.data) {
					// Done: verify and start the next round on the same
					// connection.
					if !bytes.Equal(p.got, p.data) {
						t.Fatal("data differs")
					}
					p.got, p.off = p.got[:0], 0
					rounds++
				}
			}
			if lim := min(next, end); !n.step(lim) {
				n.now = lim
			}
		}
		t.Logf("%d transfers of about 256 KiB checked over %d simulated seconds", rounds, simSecs)
		if rounds < conns {
			t.Fatalf("only %d transfers completed", rounds)
		}
		for _, p := range ps {
			p.c.Abort()
			p.s.Abort()
		}
		n.runFor(5 * time.Second)
		for _, p := range ps {
			if p.c.State() != StateClosed || p.s.State() != StateClosed {
				t.Fatalf("after abort: %v / %v", p.c.State(), p.s.State())
			}
		}
		cli.conns, srv.conns, srv.accepted = nil, nil, nil
	}()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("heap before %d KiB, after %d KiB", before.HeapAlloc>>10, after.HeapAlloc>>10)
	if after.HeapAlloc > before.HeapAlloc+8<<20 {
		t.Fatalf("heap grew by %d KiB over the soak", (after.HeapAlloc-before.HeapAlloc)>>10)
	}
}
