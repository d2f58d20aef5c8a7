//go:build linux

package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"golang.org/x/sys/unix"
)

// vethNS makes a namespace holding a veth pair "a"/"b" (up, IPv6 off so the
// kernel sends nothing of its own) and removes it when the test ends.
func vethNS(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	ns := fmt.Sprintf("afp%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	sh("ip", "-n", ns, "link", "add", "name", "a", "type", "veth", "peer", "name", "b")
	sh("ip", "-n", ns, "link", "set", "dev", "a", "up")
	sh("ip", "-n", ns, "link", "set", "dev", "b", "up")
	return ns
}

// inNS runs fn with the thread inside namespace ns.
func inNS(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot restore network namespace: " + err.Error())
		}
	}()
	fn()
}

func openPair(t testing.TB) (a, b *AFPacket) {
	return openPairOpt(t, AFPacketOptions{Promisc: true})
}

func openPairOpt(t testing.TB, opt AFPacketOptions) (a, b *AFPacket) {
	ns := vethNS(t)
	inNS(t, ns, func() {
		var err error
		if a, err = OpenAFPacket("a", opt); err != nil {
			t.Fatal(err)
		}
		if b, err = OpenAFPacket("b", opt); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// frame builds an Ethernet frame of size bytes with an experimental
// EtherType and seq in the payload.
func frame(size, seq int) []byte {
	f := make([]byte, size)
	copy(f[0:6], []byte{0x02, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x88b5) // IEEE local experimental
	binary.BigEndian.PutUint32(f[14:], uint32(seq))
	return f
}

// readOurs reads frames until it has n of our EtherType or times out.
func readOurs(t testing.TB, e *AFPacket, n int, bufSize int) [][]byte {
	t.Helper()
	var got [][]byte
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	sizes := make([]int, 64)
	deadline := time.AfterFunc(5*time.Second, func() { e.Close() })
	defer deadline.Stop()
	for len(got) < n {
		k, err := e.ReadPackets(bufs, sizes)
		if err != nil {
			t.Fatalf("ReadPackets after %d frames: %v", len(got), err)
		}
		for i := range k {
			if sizes[i] >= 14 && binary.BigEndian.Uint16(bufs[i][12:]) == 0x88b5 {
				got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
			}
		}
	}
	return got
}

func TestAFPacketRoundTrip(t *testing.T) {
	a, b := openPair(t)
	if a.MTU() != 1500 || a.LinkType() != TypeEthernet {
		t.Errorf("MTU %d type %v", a.MTU(), a.LinkType())
	}
	const n = 300
	var pkts [][]byte
	for i := range n {
		pkts = append(pkts, frame(60+i%1400, i))
	}
	// More than one sendmmsg batch in one call.
	if k, err := a.WritePackets(pkts); err != nil || k != n {
		t.Fatalf("WritePackets = %d, %v", k, err)
	}
	got := readOurs(t, b, n, 2048)
	for i, f := range got {
		if !bytes.Equal(f, pkts[i]) {
			t.Fatalf("frame %d differs (len %d vs %d)", i, len(f), len(pkts[i]))
		}
	}
	// PACKET_IGNORE_OUTGOING: a never sees its own frames; b's frames
	// reach a.
	if _, err := b.WritePackets([][]byte{frame(100, 9999)}); err != nil {
		t.Fatal(err)
	}
	back := readOurs(t, a, 1, 2048)
	if seq := binary.BigEndian.Uint32(back[0][14:]); seq != 9999 {
		t.Errorf("a read its own frame %d instead of b's", seq)
	}
}

func TestAFPacketTruncates(t *testing.T) {
	a, b := openPair(t)
	if _, err := a.WritePackets([][]byte{frame(1000, 1)}); err != nil {
		t.Fatal(err)
	}
	got := readOurs(t, b, 1, 200)
	if len(got[0]) != 200 {
		t.Errorf("read %d bytes into a 200-byte buffer", len(got[0]))
	}
}

func TestAFPacketOversizeRefused(t *testing.T) {
	a, _ := openPair(t)
	n, err := a.WritePackets([][]byte{frame(100, 1), frame(3000, 2), frame(100, 3)})
	if err == nil || n != 1 {
		t.Errorf("WritePackets with a frame over the MTU = %d, %v; want 1 and an error", n, err)
	}
}

func TestAFPacketCloseUnblocksRead(t *testing.T) {
	a, _ := openPair(t)
	done := make(chan error, 1)
	go func() {
		bufs := [][]byte{make([]byte, 2048)}
		_, err := a.ReadPackets(bufs, make([]int, 1))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock ReadPackets")
	}
	if _, err := a.WritePackets([][]byte{frame(60, 1)}); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
}

func TestAFPacketNoAllocs(t *testing.T) {
	a, b := openPair(t)
	pkts := [][]byte{frame(1514, 1), frame(1514, 2), frame(1514, 3), frame(1514, 4)}
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, 64)
	got := 0
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.WritePackets(pkts); err != nil {
			t.Fatal(err)
		}
		for want := got + len(pkts); got < want; {
			n, err := b.ReadPackets(bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write+read batch", allocs)
	}
}

func TestOpenAFPacketNoInterface(t *testing.T) {
	if _, err := OpenAFPacket("no-such-if0", AFPacketOptions{}); err == nil {
		t.Fatal("opened a missing interface")
	}
}

// BenchmarkAFPacketVeth measures raw AF_PACKET throughput across a veth
// pair with 1514-byte frames (one sender, one receiver goroutine).
func BenchmarkAFPacketVeth(b *testing.B) {
	a, c := openPair(b)
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = frame(1514, i)
	}
	recvd := make(chan int)
	go func() {
		bufs := make([][]byte, 64)
		for i := range bufs {
			bufs[i] = make([]byte, 2048)
		}
		sizes := make([]int, 64)
		total := 0
		for {
			n, err := c.ReadPackets(bufs, sizes)
			if err != nil {
				recvd <- total
				return
			}
			total += n
		}
	}()
	b.SetBytes(1514)
	b.ReportAllocs()
	start := time.Now()
	for sent := 0; sent < b.N; {
		k := min(len(batch), b.N-sent)
		n, err := a.WritePackets(batch[:k])
		sent += n
		if err != nil {
			sent++ // ENOBUFS: the frame is lost, go on
		}
	}
	time.Sleep(20 * time.Millisecond)
	el := time.Since(start)
	c.Close()
	total := <-recvd
	b.ReportMetric(float64(total)/el.Seconds(), "rx-pkts/s")
}

func TestAFPacketDrops(t *testing.T) {
	ns := vethNS(t)
	var a, b *AFPacket
	inNS(t, ns, func() {
		var err error
		if a, err = OpenAFPacket("a", AFPacketOptions{}); err != nil {
			t.Fatal(err)
		}
		// A tiny receive buffer that nobody reads overflows at once.
		if b, err = OpenAFPacket("b", AFPacketOptions{Promisc: true, SocketBuffer: 4096}); err != nil {
			t.Fatal(err)
		}
	})
	defer a.Close()
	defer b.Close()
	if d := b.Drops(); d != 0 {
		t.Fatalf("drops before traffic: %d", d)
	}
	batch := [][]byte{frame(1514, 1), frame(1514, 2), frame(1514, 3), frame(1514, 4)}
	for range 100 {
		a.WritePackets(batch)
	}
	d1 := b.Drops()
	if d1 == 0 || d1 > 400 {
		t.Fatalf("drops after 400 unread frames: %d", d1)
	}
	// Accumulated across reads of the (resetting) kernel counter.
	for range 10 {
		a.WritePackets(batch)
	}
	if d2 := b.Drops(); d2 <= d1 {
		t.Errorf("drops went from %d to %d after 40 more frames", d1, d2)
	}
}

// ethSegments is segments (one TCP flow's run, last one short with PSH)
// as Ethernet frames.
func ethSegments(v6 bool, count, mss, lastLen int) [][]byte {
	et := []byte{0x08, 0x00}
	if v6 {
		et = []byte{0x86, 0xdd}
	}
	var out [][]byte
	for _, p := range segments(v6, count, mss, lastLen) {
		f := append([]byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}, et...)
		out = append(out, append(f, p...))
	}
	return out
}

// TestAFPacketOffload sends a run of TCP segments through a veth pair
// with PACKET_VNET_HDR on both sockets: the writer must hand the kernel
// one TSO super-frame, veth carries it whole, and the reader must split
// it back into the same segments (IPv4 ID and header checksum aside)
// with complete checksums. Frames that are not TCP pass unchanged.
func TestAFPacketOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			a, b := openPairOpt(t, AFPacketOptions{Promisc: true, Offload: true})
			mss := 1448
			if v6 {
				mss = 1428
			}
			segs := ethSegments(v6, 30, mss, 333)
			pkts := append([][]byte{frame(100, 1)}, segs...)
			pkts = append(pkts, frame(200, 2))
			if n, err := a.WritePackets(pkts); err != nil || n != len(pkts) {
				t.Fatalf("WritePackets = %d, %v", n, err)
			}
			if w, _ := a.GSOCounts(); w != 1 {
				t.Fatalf("%d super-frames written, want 1", w)
			}
			bufs := make([][]byte, 64)
			for i := range bufs {
				bufs[i] = make([]byte, 1600)
			}
			sizes := make([]int, 64)
			var got [][]byte
			stop := time.AfterFunc(5*time.Second, func() { b.Close() })
			defer stop.Stop()
			for len(got) < len(pkts) {
				k, err := b.ReadPackets(bufs, sizes)
				if err != nil {
					t.Fatalf("ReadPackets after %d frames: %v", len(got), err)
				}
				for i := range k {
					got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
				}
			}
			if _, r := b.GSOCounts(); r != 1 {
				t.Errorf("%d super-frames read, want 1 (veth segmented the run?)", r)
			}
			if len(got) != len(pkts) {
				t.Fatalf("read %d frames, sent %d", len(got), len(pkts))
			}
			for i, f := range got {
				want := pkts[i]
				if i > 0 && i <= len(segs) && !v6 {
					// IPv4 ID and header checksum are renumbered.
					if !header.IPv4(f[14:]).ValidChecksum() {
						t.Fatalf("frame %d: bad IPv4 header checksum", i)
					}
					f, want = append(f[:14:14], f[34:]...), append(want[:14:14], want[34:]...)
				}
				if !bytes.Equal(f, want) {
					t.Fatalf("frame %d differs (len %d vs %d)", i, len(f), len(want))
				}
			}
		})
	}
}

// TestAFPacketOffloadNoAllocs checks that coalescing on write and
// splitting on read allocate nothing.
func TestAFPacketOffloadNoAllocs(t *testing.T) {
	a, b := openPairOpt(t, AFPacketOptions{Promisc: true, Offload: true})
	segs := ethSegments(false, 20, 1448, 1448)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 64)
	got := 0
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.WritePackets(segs); err != nil {
			t.Fatal(err)
		}
		for want := got + len(segs); got < want; {
			n, err := b.ReadPackets(bufs, sizes)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per write+read batch", allocs)
	}
	w, _ := a.GSOCounts()
	if _, r := b.GSOCounts(); w == 0 || w != r {
		t.Errorf("super-frames written %d, read %d", w, r)
	}
}

// TestAFPacketOffloadSmallBatch reads a super-frame with fewer buffers
// than it has segments: the reader must fail cleanly (drop it) rather
// than overrun, and a super-frame that does not fit after other frames
// must wait for the next call, not be lost.
func TestAFPacketOffloadSmallBatch(t *testing.T) {
	a, b := openPairOpt(t, AFPacketOptions{Promisc: true, Offload: true})
	segs := ethSegments(false, 10, 1000, 1000)
	if _, err := a.WritePackets(append([][]byte{frame(60, 1)}, segs...)); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 10)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 10)
	stop := time.AfterFunc(5*time.Second, func() { b.Close() })
	defer stop.Stop()
	n, err := b.ReadPackets(bufs, sizes)
	if err != nil || n != 1 || sizes[0] != 60 {
		t.Fatalf("first read: %d frames (%d bytes), %v; want the 60-byte frame alone", n, sizes[0], err)
	}
	n, err = b.ReadPackets(bufs, sizes)
	if err != nil || n != 10 {
		t.Fatalf("second read: %d frames, %v; want the 10 segments", n, err)
	}
	// Too big for the buffers at all: dropped; the next frame still comes.
	if _, err := a.WritePackets(append(ethSegments(false, 12, 1000, 1000), frame(70, 2))); err != nil {
		t.Fatal(err)
	}
	n, err = b.ReadPackets(bufs, sizes)
	if err != nil || n != 1 || sizes[0] != 70 {
		t.Fatalf("third read: %d frames (%d bytes), %v; want only the 70-byte frame", n, sizes[0], err)
	}
}

// FuzzSplitVnetFrame feeds arbitrary frames with virtio-net headers, as
// AF_PACKET with PACKET_VNET_HDR hands them over, to the splitter: it must
// not panic, and what it returns must fit the buffers.
func FuzzSplitVnetFrame(f *testing.F) {
	for _, v6 := range []bool{false, true} {
		segs := ethSegments(v6, 3, 1000, 500)
		n, iphl, hl := coalesceFrames(segs, 14)
		buf := make([]byte, afpacketVnetFrame)
		w := buildGSOFrame(buf, segs[:n], 14, iphl, hl)
		f.Add(buf[:w])
		f.Add(append(make([]byte, vnetHdrLen), segs[2]...))
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 8)
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := splitVnetFrame(b, 14, bufs, sizes)
		if err == nil && (n < 1 || n > vnetSegments(b, 14)) {
			t.Fatalf("%d packets, vnetSegments says %d", n, vnetSegments(b, 14))
		}
		for i := range n {
			if sizes[i] > len(bufs[i]) || sizes[i] < 14 {
				t.Fatalf("packet %d: size %d", i, sizes[i])
			}
		}
	})
}

// BenchmarkAFPacketVethTCP measures AF_PACKET throughput across a veth
// pair for one TCP flow's MSS-sized segments (batches of 64), with and
// without PACKET_VNET_HDR: with offload each batch goes out as one or two
// TSO super-frames and is split again on read.
func BenchmarkAFPacketVethTCP(b *testing.B) {
	for _, offload := range []bool{false, true} {
		b.Run(fmt.Sprintf("offload=%v", offload), func(b *testing.B) {
			a, c := openPairOpt(b, AFPacketOptions{Promisc: true, Offload: offload})
			segs := ethSegments(false, 64, 1448, 1448)
			recvd := make(chan int)
			go func() {
				bufs := make([][]byte, 64)
				for i := range bufs {
					bufs[i] = make([]byte, 2048)
				}
				sizes := make([]int, 64)
				total := 0
				for {
					n, err := c.ReadPackets(bufs, sizes)
					if err != nil {
						recvd <- total
						return
					}
					total += n
				}
			}()
			b.SetBytes(1448)
			b.ReportAllocs()
			start := time.Now()
			for sent := 0; sent < b.N; {
				k := min(len(segs), b.N-sent)
				n, err := a.WritePackets(segs[:k])
				sent += n
				if err != nil {
					sent++ // ENOBUFS: the frame is lost, go on
				}
			}
			time.Sleep(20 * time.Millisecond)
			el := time.Since(start)
			c.Close()
			total := <-recvd
			b.ReportMetric(float64(total)/el.Seconds(), "rx-segs/s")
		})
	}
}

// FuzzCoalesceFrames coalesces arbitrary Ethernet frames as the AF_PACKET
// writer does and splits the result again: it must not panic, and a run
// it accepts must split back into as many frames.
func FuzzCoalesceFrames(f *testing.F) {
	segs := ethSegments(true, 3, 1000, 500)
	f.Add(segs[0], segs[1], segs[2])
	buf := make([]byte, afpacketVnetFrame)
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 64)
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		run := [][]byte{a, b, c}
		n, iphl, hl := coalesceFrames(run, 14)
		if n < 2 {
			return
		}
		w := buildGSOFrame(buf, run[:n], 14, iphl, hl)
		k, err := splitVnetFrame(buf[:w], 14, bufs, sizes)
		// Every split frame is as long as the run's first one.
		if (err != nil || k != n) && len(run[0]) <= len(bufs[0]) {
			t.Fatalf("run of %d split into %d: %v", n, k, err)
		}
	})
}

// TestAFPacketOffloadWithoutTSO writes a run of segments on a veth whose
// segmentation offloads are off, so Offload is safe whatever the
// interface's settings: through the qdisc bypass (which drops what the
// device cannot take whole) the writer must not coalesce; through the
// qdisc it coalesces and the kernel segments in software. Either way the
// reader, offered no super-frame, returns the segments as they were sent.
func TestAFPacketOffloadWithoutTSO(t *testing.T) {
	for _, qdisc := range []bool{false, true} {
		t.Run(fmt.Sprintf("qdisc=%v", qdisc), func(t *testing.T) { testAFPacketOffloadWithoutTSO(t, qdisc) })
	}
}

func testAFPacketOffloadWithoutTSO(t *testing.T, qdisc bool) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("needs ethtool")
	}
	ns := vethNS(t)
	for _, dev := range []string{"a", "b"} {
		if out, err := exec.Command("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off").CombinedOutput(); err != nil {
			t.Fatalf("ethtool: %v: %s", err, out)
		}
	}
	var a, b *AFPacket
	inNS(t, ns, func() {
		var err error
		if a, err = OpenAFPacket("a", AFPacketOptions{Promisc: true, Offload: true, UseQdisc: qdisc}); err != nil {
			t.Fatal(err)
		}
		if b, err = OpenAFPacket("b", AFPacketOptions{Promisc: true, Offload: true}); err != nil {
			t.Fatal(err)
		}
	})
	defer a.Close()
	defer b.Close()
	segs := ethSegments(true, 10, 1428, 100)
	if n, err := a.WritePackets(segs); err != nil || n != len(segs) {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	want := uint64(0)
	if qdisc {
		want = 1
	}
	if w, _ := a.GSOCounts(); w != want {
		t.Fatalf("%d super-frames written, want %d", w, want)
	}
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = make([]byte, 1600)
	}
	sizes := make([]int, 64)
	stop := time.AfterFunc(5*time.Second, func() { b.Close() })
	defer stop.Stop()
	var got [][]byte
	for len(got) < len(segs) {
		k, err := b.ReadPackets(bufs, sizes)
		if err != nil {
			t.Fatalf("ReadPackets after %d frames: %v", len(got), err)
		}
		for i := range k {
			got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
		}
	}
	if _, r := b.GSOCounts(); r != 0 {
		t.Errorf("%d super-frames read on a veth without GSO", r)
	}
	for i, f := range got {
		if !bytes.Equal(f, segs[i]) {
			t.Fatalf("segment %d differs (len %d vs %d)", i, len(f), len(segs[i]))
		}
	}
}

// TestSplitVnetFramePadded completes the partial checksum of a short
// Ethernet frame that carries link-layer padding: the sum must cover the
// IP packet only, and the padding must not be handed up.
func TestSplitVnetFramePadded(t *testing.T) {
	seg := ethSegments(false, 1, 1000, 6)[0] // 14 + 20 + 32 + 6 bytes
	ip := header.IPv4(seg[14:])
	th := header.TCP(ip.Payload())
	// As the kernel hands it: the pseudo-header sum in the field.
	th.SetChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, ip.SrcAddr(), ip.DstAddr(), uint32(len(th))))
	v := make([]byte, vnetHdrLen)
	v[0] = vnetFlagNeedsCsum
	binary.LittleEndian.PutUint16(v[6:], 14+20)
	binary.LittleEndian.PutUint16(v[8:], 16)
	b := append(append(v, seg...), 0xde, 0xad, 0xbe, 0xef)
	bufs, sizes := [][]byte{make([]byte, 1600)}, make([]int, 1)
	n, err := splitVnetFrame(b, 14, bufs, sizes)
	if err != nil || n != 1 || sizes[0] != len(seg) {
		t.Fatalf("split = %d frames of %d bytes, %v; want 1 of %d", n, sizes[0], err, len(seg))
	}
	gip := header.IPv4(bufs[0][14:sizes[0]])
	gth := header.TCP(gip.Payload())
	if gth.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, gip.SrcAddr(), gip.DstAddr(), uint32(len(gth)))) != 0 {
		t.Fatal("completed checksum does not verify")
	}
}
