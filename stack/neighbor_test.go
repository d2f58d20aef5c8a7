package stack

import (
	"bytes"
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// neighborNIC returns a stack with one Ethernet interface on a pipe whose
// far end nobody reads (its queue drops what overflows), and that
// interface's nic with a fake clock the test moves.
func neighborNIC(t *testing.T, v6 bool) (*Stack, *nic, *time.Time) {
	t.Helper()
	pa, _ := link.NewPipe(link.PipeOptions{Type: link.TypeEthernet, QueueLen: 4096})
	s := New(Options{NeighborReachable: 30 * time.Second})
	pfx := netip.MustParsePrefix("198.18.0.1/24")
	if v6 {
		pfx = netip.MustParsePrefix("2001:db8::1/64")
	}
	if err := s.AddInterface(pa, InterfaceConfig{Name: "a", MAC: header.MAC{2, 0, 0, 0, 0, 1}, Addrs: []netip.Prefix{pfx}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := s.nics[0]
	clock := time.Unix(1e9, 0)
	n.nmu.Lock()
	n.now = func() time.Time { return clock }
	n.nmu.Unlock()
	return s, n, &clock
}

// requests is how many ARP requests or neighbour solicitations s sent.
func requests(s *Stack) uint64 { return s.stats.ARPOut.Load() + s.stats.NDPOut.Load() }

func TestNeighborLifecycle(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		name := "arp"
		if v6 {
			name = "ndp"
		}
		t.Run(name, func(t *testing.T) {
			s, n, clock := neighborNIC(t, v6)
			set := func(d time.Duration) {
				n.nmu.Lock()
				*clock = clock.Add(d)
				n.nmu.Unlock()
			}
			peer := netip.MustParseAddr("198.18.0.2")
			if v6 {
				peer = netip.MustParseAddr("2001:db8::2")
			}
			pkt := []byte{0x45, 0, 0, 20}
			macs := []header.MAC{{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 3}}

			// INCOMPLETE: the first packet queues and asks; more within a
			// second queue without asking again.
			if _, ok := n.resolve(peer, pkt); ok {
				t.Fatal("unknown neighbour resolved")
			}
			n.resolve(peer, pkt)
			if got := requests(s); got != 1 {
				t.Fatalf("requests after two packets in a second: %d, want 1", got)
			}
			// Three unanswered requests, one a second, then the entry
			// and its queued packets are given up.
			set(1100 * time.Millisecond)
			n.resolve(peer, pkt)
			set(1100 * time.Millisecond)
			n.resolve(peer, pkt)
			if got := requests(s); got != 3 {
				t.Fatalf("requests after 2.2 s: %d, want 3", got)
			}
			drops := s.stats.LinkDrops.Load()
			set(1100 * time.Millisecond)
			n.resolve(peer, pkt)
			if got := s.stats.LinkDrops.Load() - drops; got != 4 {
				t.Fatalf("queued packets dropped with the unanswered entry: %d, want 4", got)
			}
			n.nmu.Lock()
			nb := n.neigh[peer]
			fresh := nb != nil && !nb.resolved && nb.probes == 1 && len(nb.pending) == 1
			n.nmu.Unlock()
			if !fresh {
				t.Fatal("after giving up, the next packet does not start a fresh resolution")
			}

			// An answer resolves it (REACHABLE): used with no request.
			n.learn(peer, macs[0], false)
			req := requests(s)
			set(29 * time.Second)
			if mac, ok := n.resolve(peer, pkt); !ok || mac != macs[0] {
				t.Fatalf("reachable entry: %v %v", mac, ok)
			}
			if requests(s) != req {
				t.Fatal("a reachable entry was re-resolved")
			}
			// STALE: still used, while a request confirms it.
			set(2 * time.Second)
			if mac, ok := n.resolve(peer, pkt); !ok || mac != macs[0] {
				t.Fatalf("stale entry not used: %v %v", mac, ok)
			}
			if requests(s) != req+1 {
				t.Fatal("a stale entry was not re-resolved")
			}
			// The neighbour answers with a new MAC: followed, reachable again.
			n.learn(peer, macs[1], false)
			set(time.Second)
			if mac, _ := n.resolve(peer, pkt); mac != macs[1] {
				t.Fatalf("MAC after the new answer: %v, want %v", mac, macs[1])
			}
			if requests(s) != req+1 {
				t.Fatal("a confirmed entry was re-resolved")
			}
			// Stale again and never answered: three requests, then gone.
			set(31 * time.Second)
			for i := 0; i < 3; i++ {
				if _, ok := n.resolve(peer, pkt); !ok {
					t.Fatalf("stale entry dropped after %d requests", i)
				}
				set(1100 * time.Millisecond)
			}
			if _, ok := n.resolve(peer, pkt); ok {
				t.Fatal("a neighbour that answered none of 3 requests is still used")
			}
		})
	}
}

func TestNeighborCacheBounded(t *testing.T) {
	s, n, _ := neighborNIC(t, false)
	base := netip.MustParseAddr("10.0.0.0").As4()
	addr := func(i int) netip.Addr {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		return netip.AddrFrom4(a)
	}
	// ARP requests for our address from made-up senders: each is
	// answered, but the cache stops growing at its bound.
	me := netip.MustParseAddr("198.18.0.1")
	for i := 0; i < 2*maxNeighbors; i++ {
		a := make(header.ARP, header.ARPLen)
		a.Encode(header.ARPRequest, header.MAC{2, 9, 0, 0, byte(i >> 8), byte(i)}, addr(i), header.MAC{}, me)
		n.arpInput(a)
	}
	n.nmu.Lock()
	size := len(n.neigh)
	n.nmu.Unlock()
	if size != maxNeighbors {
		t.Fatalf("cache after %d requests from distinct senders: %d entries, want %d", 2*maxNeighbors, size, maxNeighbors)
	}
	if got := s.stats.ARPOut.Load(); got != 2*maxNeighbors {
		t.Fatalf("replies: %d, want %d", got, 2*maxNeighbors)
	}
	// An advertisement nobody asked for creates nothing (RFC 4861 §7.2.5).
	n.learn(netip.MustParseAddr("2001:db8::99"), header.MAC{2, 1, 1, 1, 1, 1}, false)
	n.nmu.Lock()
	_, made := n.neigh[netip.MustParseAddr("2001:db8::99")]
	n.nmu.Unlock()
	if made {
		t.Fatal("an unsolicited advertisement created an entry")
	}
}

// macSwapRelay forwards frames between two pipe ends and, once swapped,
// plays a host that changed its MAC (a failover to a standby NIC): frames
// from the b side get src MAC newMAC (ARP sender too), frames to newMAC
// are delivered to b as to oldMAC, and frames still sent to oldMAC are
// lost, as a switch loses them once the old port is gone.
type macSwapRelay struct {
	oldMAC, newMAC header.MAC
	swapped        atomic.Bool
	lostToOld      atomic.Uint64
}

func (r *macSwapRelay) run(from, to link.Endpoint, fromB bool, wg *sync.WaitGroup) {
	defer wg.Done()
	bufs := [][]byte{make([]byte, 2048)}
	sizes := []int{0}
	for {
		if _, err := from.ReadPackets(bufs, sizes); err != nil {
			return
		}
		f := bufs[0][:sizes[0]]
		e := header.Ethernet(f)
		if r.swapped.Load() {
			if fromB {
				if e.Src() == r.oldMAC {
					copy(f[6:12], r.newMAC[:])
				}
				if e.Type() == header.EtherTypeARP && bytes.Equal(f[14+8:14+14], r.oldMAC[:]) {
					copy(f[14+8:14+14], r.newMAC[:])
				}
			} else {
				switch e.Dst() {
				case r.oldMAC:
					r.lostToOld.Add(1)
					continue
				case r.newMAC:
					copy(f[0:6], r.oldMAC[:])
				}
			}
		}
		to.WritePackets([][]byte{f})
	}
}

// TestNeighborFollowsMACChange moves data while the peer's MAC changes
// under it: the stale entry is re-resolved and the transfer completes.
func TestNeighborFollowsMACChange(t *testing.T) {
	a1, a2 := link.NewPipe(link.PipeOptions{Type: link.TypeEthernet})
	b1, b2 := link.NewPipe(link.PipeOptions{Type: link.TypeEthernet})
	r := &macSwapRelay{oldMAC: header.MAC{2, 0, 0, 0, 0, 2}, newMAC: header.MAC{2, 0, 0, 0, 0, 0x22}}
	var wg sync.WaitGroup
	wg.Add(2)
	go r.run(a2, b1, false, &wg)
	go r.run(b1, a2, true, &wg)
	sa := New(Options{NeighborReachable: 200 * time.Millisecond})
	sb := New(Options{})
	ap, bp := netip.MustParsePrefix("198.18.0.1/24"), netip.MustParsePrefix("198.18.0.2/24")
	if err := sa.AddInterface(a1, InterfaceConfig{Name: "a", MAC: header.MAC{2, 0, 0, 0, 0, 1}, Addrs: []netip.Prefix{ap}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddInterface(b2, InterfaceConfig{Name: "b", MAC: r.oldMAC, Addrs: []netip.Prefix{bp}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sa.Close()
		sb.Close()
		a2.Close()
		b1.Close()
		wg.Wait()
	}()
	l, err := sb.ListenTCP(netip.AddrPortFrom(bp.Addr(), 0))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.AcceptTCP()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var buf bytes.Buffer
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		buf.ReadFrom(c)
		got <- buf.Bytes()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sa.DialTCP(ctx, netip.AddrPort{}, l.AddrPort())
	if err != nil {
		t.Fatal(err)
	}
	data := randBytes(4<<20, 9)
	c.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(data[:1<<20]); err != nil {
		t.Fatal(err)
	}
	r.swapped.Store(true)
	if _, err := c.Write(data[1<<20:]); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("received %d bytes, want the %d sent, byte for byte", len(b), len(data))
	}
	n := sa.nics[0]
	n.nmu.Lock()
	mac := n.neigh[bp.Addr()].mac
	n.nmu.Unlock()
	if mac != r.newMAC {
		t.Fatalf("neighbour MAC after the change: %v, want %v", mac, r.newMAC)
	}
	t.Logf("frames lost to the old MAC before re-resolution: %d", r.lostToOld.Load())
}
