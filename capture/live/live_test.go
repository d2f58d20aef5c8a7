//go:build linux

package live

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/capture/filter"
	"github.com/mptcp-go/mptcp/capture/internal/nstest"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// openIn opens a handle inside a namespace.
func openIn(t *testing.T, ns *nstest.NS, ctx context.Context, cfg Config) *Handle {
	t.Helper()
	var h *Handle
	if err := ns.Do(func() (err error) {
		h, err = Open(ctx, cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// collected is what a capture goroutine saw.
type collected struct {
	total, match, mptcp, plainData int
	ifindexes                      map[int]bool
	err                            error
	bad                            []byte // first packet the filter should have dropped
}

// collect reads h until ctx ends, classifying packets with filter.Match.
func collect(h *Handle, l filter.Link) *collected {
	c := &collected{ifindexes: map[int]bool{}}
	for {
		p, err := h.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
				c.err = err
			}
			return c
		}
		c.total++
		c.ifindexes[p.Interface] = true
		if p.CaptureLength != len(p.Data) || p.Length < p.CaptureLength {
			c.err = errors.New("inconsistent lengths")
		}
		if filter.Match(l, p.Data) {
			c.match++
			if hasMPTCPOption(l, p.Data) {
				c.mptcp++
			}
		} else if c.bad == nil {
			c.bad = append([]byte(nil), p.Data...)
		}
	}
}

// hasMPTCPOption reports whether a matching packet matched because of an
// MPTCP option and not only because of its flags: the filter applied to
// the packet with SYN/FIN/RST cleared.
func hasMPTCPOption(l filter.Link, data []byte) bool {
	n, err := capture.DecodeLink(l.LinkType(), data)
	if err != nil {
		return false
	}
	ip := n.Payload
	off := 0
	switch n.Version {
	case 4:
		off = int(ip[0]&0xf) * 4
	case 6:
		off = 40
	}
	if len(ip) < off+14 {
		return false
	}
	cp := append([]byte(nil), data...)
	cp[n.Offset+off+13] &^= 0x07
	return filter.Match(l, cp)
}

// TestLiveMPTCPFilter attaches the MPTCP filter to a kernel socket and
// checks, against an unfiltered capture of the same traffic, that the
// kernel keeps exactly the packets filter.Match keeps: MPTCP and plain TCP
// connections run in namespaces while both handles capture.
func TestLiveMPTCPFilter(t *testing.T) {
	nstest.Require(t)
	pair := nstest.NewPair(t)
	for _, tc := range []struct {
		name   string
		cfg    Config
		link   filter.Link
		ifaces int
	}{
		{"ethernet-path1", Config{Interface: pair.Iface(1)}, filter.Ethernet, 1},
		{"cooked-all", Config{}, filter.Raw, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			capCtx, stop := context.WithCancel(ctx)
			fcfg := tc.cfg
			fcfg.MPTCPFilter = true
			filtered := openIn(t, pair.Server, capCtx, fcfg)
			all := openIn(t, pair.Server, capCtx, tc.cfg)
			if filtered.LinkType() != tc.link.LinkType() {
				t.Fatalf("link type %v, want %v", filtered.LinkType(), tc.link.LinkType())
			}
			var wg sync.WaitGroup
			var fres, ares *collected
			wg.Add(2)
			go func() { defer wg.Done(); fres = collect(filtered, tc.link) }()
			go func() { defer wg.Done(); ares = collect(all, tc.link) }()

			res, err := pair.Transfer(ctx, 5001, true, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if !res.MPTCP {
				t.Error("the MPTCP connection fell back to TCP")
			}
			if _, err := pair.Transfer(ctx, 5002, false, 1<<20); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // let the ring hand over its last block
			stop()
			wg.Wait()
			for _, c := range []*collected{fres, ares} {
				if c.err != nil {
					t.Fatal(c.err)
				}
			}
			fs, err := filtered.Stats()
			if err != nil {
				t.Fatal(err)
			}
			as, _ := all.Stats()
			t.Logf("filtered: %d packets (%d with an MPTCP option), stats %+v; unfiltered: %d packets, %d match, stats %+v",
				fres.total, fres.mptcp, fs, ares.total, ares.match, as)
			if fres.bad != nil {
				t.Errorf("the kernel filter let through a packet Match rejects: %x", fres.bad)
			}
			if fs.Drops != 0 || as.Drops != 0 {
				t.Skipf("ring drops (%d, %d) make the comparison meaningless", fs.Drops, as.Drops)
			}
			if fres.total != ares.match {
				t.Errorf("kernel filter kept %d packets; Match keeps %d of the unfiltered %d", fres.total, ares.match, ares.total)
			}
			// The plain TCP transfer (about 1500 segments) must be gone
			// but for its SYN/FIN/RST segments.
			if fres.mptcp < 500 || ares.total-fres.total < 1000 {
				t.Errorf("traffic too thin to mean anything: %d MPTCP packets, %d of %d kept", fres.mptcp, fres.total, ares.total)
			}
			if fs.Packets != uint64(fres.total) {
				t.Errorf("kernel counted %d packets, we read %d", fs.Packets, fres.total)
			}
			if len(fres.ifindexes) != tc.ifaces {
				t.Errorf("packets from %d interfaces, want %d", len(fres.ifindexes), tc.ifaces)
			}
		})
	}
}

// TestLiveCancel checks that a blocked Next returns when the context is
// cancelled, and that Close unblocks it too.
func TestLiveCancel(t *testing.T) {
	nstest.Require(t)
	ns := nstest.New(t, "livec")
	ctx, cancel := context.WithCancel(context.Background())
	h := openIn(t, ns, ctx, Config{Interface: "lo", MPTCPFilter: true})
	done := make(chan error, 1)
	go func() { _, err := h.Next(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after cancel")
	}

	h2 := openIn(t, ns, context.Background(), Config{Interface: "lo"})
	go func() { _, err := h2.Next(); done <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if _, err := h2.Stats(); !errors.Is(err, ErrClosed) {
		t.Errorf("Stats after Close: %v", err)
	}
}

// TestAttachRejectsBadFilter: the kernel's checker refuses a program with
// a backward-looking scratch read; Open reports it.
func TestAttachRejectsBadFilter(t *testing.T) {
	nstest.Require(t)
	ns := nstest.New(t, "liveb")
	err := ns.Do(func() error {
		// ld M[0] before any st: rejected by the classic BPF checker.
		_, err := Open(context.Background(), Config{Interface: "lo", Filter: []bpf.RawInstruction{{Op: 0x60, K: 0}, {Op: 0x16}}})
		return err
	})
	if err == nil {
		t.Fatal("kernel accepted a filter that reads uninitialized scratch memory")
	}
}

// TestLiveDrops fills a tiny ring without reading it: the kernel drops
// packets and Stats reports them; what was not dropped can still be read.
func TestLiveDrops(t *testing.T) {
	nstest.Require(t)
	pair := nstest.NewPair(t)
	rctx, rcancel := context.WithCancel(context.Background())
	defer rcancel()
	h := openIn(t, pair.Server, rctx, Config{Interface: pair.Iface(1), BlockSize: 16 << 10, Blocks: 2, BlockTimeout: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pair.Transfer(ctx, 5003, false, 2<<20); err != nil {
		t.Fatal(err)
	}
	// Read what the ring holds, until the link is quiet.
	time.AfterFunc(500*time.Millisecond, rcancel)
	read := 0
	for {
		if _, err := h.Next(); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			break
		}
		read++
	}
	st, err := h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stats %+v, read %d", st, read)
	if st.Drops == 0 || st.Packets <= st.Drops {
		t.Errorf("stats %+v: want drops from a 32 KiB ring", st)
	}
	if uint64(read) != st.Packets-st.Drops {
		t.Errorf("read %d packets; kernel kept %d", read, st.Packets-st.Drops)
	}
}

// TestLiveNextAllocs checks that Next allocates nothing while packets are
// waiting in the ring.
func TestLiveNextAllocs(t *testing.T) {
	nstest.Require(t)
	pair := nstest.NewPair(t)
	h := openIn(t, pair.Server, context.Background(), Config{Interface: pair.Iface(1), BlockTimeout: 5 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pair.Transfer(ctx, 5004, false, 512<<10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // every block retired
	st, err := h.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets < 300 || st.Drops != 0 {
		t.Fatalf("stats %+v: want >= 300 packets in the ring, no drops", st)
	}
	allocs := testing.AllocsPerRun(200, func() {
		p, err := h.Next()
		if err != nil || len(p.Data) == 0 || p.LinkType != capture.LinkTypeEthernet {
			t.Fatalf("Next: %+v, %v", p, err)
		}
		if _, err := capture.DecodeLink(p.LinkType, p.Data); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet", allocs)
	}
}

// TestLiveSnapLen: Config.SnapLen caps what Next returns even without a
// filter (the kernel then copies whole packets into the ring).
func TestLiveSnapLen(t *testing.T) {
	nstest.Require(t)
	pair := nstest.NewPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	capCtx, stop := context.WithCancel(ctx)
	const snap = 100
	h := openIn(t, pair.Server, capCtx, Config{Interface: pair.Iface(1), SnapLen: snap})
	var (
		wg                  sync.WaitGroup
		n, long, maxCap     int
		lengthsInconsistent bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			p, err := h.Next()
			if err != nil {
				return
			}
			n++
			maxCap = max(maxCap, p.CaptureLength)
			if p.Length > snap {
				long++
			}
			if p.CaptureLength != len(p.Data) || p.Length < p.CaptureLength {
				lengthsInconsistent = true
			}
		}
	}()
	if _, err := pair.Transfer(ctx, 5003, false, 256<<10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the ring hand over its last block
	stop()
	wg.Wait()
	if long == 0 {
		t.Fatalf("%d packets, none longer than %d bytes", n, snap)
	}
	if maxCap > snap {
		t.Errorf("captured %d bytes of a packet with SnapLen %d", maxCap, snap)
	}
	if lengthsInconsistent {
		t.Error("CaptureLength, len(Data) and Length inconsistent")
	}
}

// TestLiveRestoresVLAN: a frame received with an 802.1Q tag (which the
// kernel moves out of the frame into metadata, skb_vlan_untag, before any
// packet socket sees it) is captured with its tag back in place, as it was
// on the wire, and the MPTCP filter still applies. The tagged frames are
// sent raw on one end of a veth pair and captured on the other.
func TestLiveRestoresVLAN(t *testing.T) {
	nstest.Require(t, "ip")
	a, b := nstest.New(t, "vla"), nstest.New(t, "vlb")
	a.Run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", b.Name)
	a.Run("ip", "link", "set", "v0", "up")
	b.Run("ip", "link", "set", "v1", "up")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	h := openIn(t, b, ctx, Config{Interface: "v1", MPTCPFilter: true})
	// An IPv4 TCP SYN in a frame tagged VLAN 7 (priority 3).
	frame := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0x60, 0x07, 0x08, 0x00,
		0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 7, 1, 198, 18, 7, 2,
		0x9c, 0x40, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	var fd int
	if err := a.Do(func() error {
		ifc, err := net.InterfaceByName("v0")
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifc.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got := make(chan capture.Packet, 1)
	go func() {
		for {
			p, err := h.Next()
			if err != nil {
				close(got)
				return
			}
			if len(p.Data) >= 14 {
				p.Data = append([]byte(nil), p.Data...)
				got <- p
				return
			}
		}
	}()
	var p capture.Packet
	for done := false; !done; {
		if _, err := unix.Write(fd, frame); err != nil {
			t.Fatal(err)
		}
		select {
		case q, ok := <-got:
			if !ok {
				t.Fatal("capture ended without the frame")
			}
			p, done = q, true
		case <-time.After(100 * time.Millisecond): // the handle may not be reading yet: send again
		case <-ctx.Done():
			t.Fatal("no frame captured")
		}
	}
	n, err := capture.DecodeLink(p.LinkType, p.Data)
	if err != nil || n.Version != 4 || n.VLANs != 1 || n.VLAN != 7 || !bytes.Equal(p.Data, frame) {
		t.Fatalf("captured %x (%v), want the frame as sent %x", p.Data, err, frame)
	}
	if p.CaptureLength != len(p.Data) || p.Length != len(frame) {
		t.Fatalf("lengths: caplen %d len %d data %d", p.CaptureLength, p.Length, len(p.Data))
	}
	if !filter.Match(filter.Ethernet, p.Data) {
		t.Fatalf("restored frame does not match the filter")
	}
}
