//go:build linux

package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"golang.org/x/sys/unix"
)

// offloadStreamLen is how much the kernel sends in the offload tests:
// enough for its congestion window to grow to 64 KiB super-packets.
const offloadStreamLen = 1 << 20

// streamData is the deterministic stream the kernel sends.
func streamData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// netnsAdd creates a uniquely named namespace, removed at cleanup (on
// every exit path, as the cleanup is registered before anything else can
// fail).
func netnsAdd(t testing.TB, prefix string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	ns := fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	return ns
}

func mustRun(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func needIPv6(t testing.TB) {
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		t.Skip("IPv6 is disabled in this kernel")
	}
}

// flowAddrs are the kernel sender's and the receiver's addresses.
func flowAddrs(v6 bool) (snd, rcv netip.Addr, plen int) {
	if v6 {
		return netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"), 64
	}
	return netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), 24
}

// tcpOf returns the IP packet's TCP segment if p (a bare IP packet) is
// TCP from src to dst, or nil; it is an error if the IP length field does
// not cover the packet exactly, as ReadPacketsOffload promises, or if an
// IPv4 header checksum is wrong.
func tcpOf(p []byte, v6 bool, src, dst netip.Addr) (header.TCP, error) {
	if v6 {
		if len(p) < header.IPv6HeaderLen || p[0]>>4 != 6 {
			return nil, nil
		}
		ip := header.IPv6(p)
		if ip.NextHeader() != header.ProtocolTCP || ip.SrcAddr() != src || ip.DstAddr() != dst {
			return nil, nil
		}
		if !ip.Valid() || ip.PayloadLength()+header.IPv6HeaderLen != len(p) {
			return nil, fmt.Errorf("IPv6 payload length %d for a %d-byte packet", ip.PayloadLength(), len(p))
		}
		return header.TCP(ip.Payload()), nil
	}
	ip := header.IPv4(p)
	if len(p) < header.IPv4MinHeaderLen || p[0]>>4 != 4 || ip.Protocol() != header.ProtocolTCP || ip.SrcAddr() != src || ip.DstAddr() != dst {
		return nil, nil
	}
	if ip.TotalLength() != len(p) || !ip.Valid() {
		return nil, fmt.Errorf("IPv4 total length %d for a %d-byte packet", ip.TotalLength(), len(p))
	}
	if !ip.ValidChecksum() {
		return nil, fmt.Errorf("IPv4 header checksum wrong in a %d-byte packet", len(p))
	}
	return header.TCP(ip.Payload()), nil
}

// doNS runs fn with the thread inside namespace ns; unlike inNS it may
// run on any goroutine (it reports instead of failing the test).
func doNS(ns string, fn func()) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return err
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("cannot restore network namespace: " + err.Error())
		}
	}()
	fn()
	return nil
}

// streamCheck collects one TCP flow's segments and checks them against
// the bytes the kernel sent.
type streamCheck struct {
	data    []byte
	isn     uint32
	synSeen bool
	ranges  [][2]int // [start, end) offsets of data seen
	finSeen bool
	big     int // packets longer than the MTU
	maxLen  int
}

// add checks one segment: its payload must be the sent bytes at its
// sequence number.
func (s *streamCheck) add(th header.TCP, ipLen, mtu int) error {
	if !th.Valid() {
		return fmt.Errorf("bad TCP header in a %d-byte packet", ipLen)
	}
	s.maxLen = max(s.maxLen, ipLen)
	if ipLen > mtu {
		s.big++
	}
	if th.Flags().Has(header.TCPFlagSYN) {
		s.isn, s.synSeen = th.Seq(), true
		return nil
	}
	if !s.synSeen {
		return errors.New("segment before the SYN")
	}
	off := int(th.Seq() - s.isn - 1)
	pl := th.Payload()
	if len(pl) > 0 {
		if off < 0 || off+len(pl) > len(s.data) {
			return fmt.Errorf("segment at offset %d of %d bytes is outside the %d-byte stream", off, len(pl), len(s.data))
		}
		if !bytes.Equal(pl, s.data[off:off+len(pl)]) {
			return fmt.Errorf("segment at offset %d (%d bytes, packet %d bytes) is not what the kernel sent", off, len(pl), ipLen)
		}
		s.ranges = append(s.ranges, [2]int{off, off + len(pl)})
	}
	if th.Flags().Has(header.TCPFlagFIN) {
		if off+len(pl) != len(s.data) {
			return fmt.Errorf("FIN at offset %d, stream is %d bytes", off+len(pl), len(s.data))
		}
		s.finSeen = true
	}
	return nil
}

// covered is how many bytes from the start of the stream were seen.
func (s *streamCheck) covered() int {
	slices.SortFunc(s.ranges, func(a, b [2]int) int { return a[0] - b[0] })
	end := 0
	for _, r := range s.ranges {
		if r[0] > end {
			break
		}
		end = max(end, r[1])
	}
	return end
}

func (s *streamCheck) done() bool { return s.finSeen && s.covered() == len(s.data) }

// TestAFPacketReadOffload has the kernel send a TCP stream over a veth
// pair with TSO/GSO/GRO on, from one namespace to a listener in another,
// and reads what arrives on the listener's side through an AF_PACKET
// endpoint with Offload: the kernel's super-frames must come whole (longer
// than the MTU), with ChecksumValid, IP length fields for the whole
// packet and a valid IPv4 header checksum, and their payloads, placed by
// sequence number, must be exactly the bytes sent.
func TestAFPacketReadOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) { testAFPacketReadOffload(t, v6) })
	}
}

func testAFPacketReadOffload(t *testing.T, v6 bool) {
	if v6 {
		needIPv6(t)
	}
	snd, rcv, plen := flowAddrs(v6)
	nsS := netnsAdd(t, "afos")
	nsR := netnsAdd(t, "afor")
	mustRun(t, "ip", "-n", nsS, "link", "add", "name", "a", "type", "veth", "peer", "name", "b", "netns", nsR)
	mustRun(t, "ip", "-n", nsS, "addr", "add", netip.PrefixFrom(snd, plen).String(), "dev", "a", "nodad")
	mustRun(t, "ip", "-n", nsR, "addr", "add", netip.PrefixFrom(rcv, plen).String(), "dev", "b", "nodad")
	if _, err := exec.LookPath("ethtool"); err == nil {
		mustRun(t, "ip", "netns", "exec", nsS, "ethtool", "-K", "a", "tso", "on", "gso", "on", "gro", "on")
		mustRun(t, "ip", "netns", "exec", nsR, "ethtool", "-K", "b", "tso", "on", "gso", "on", "gro", "on")
	} else {
		t.Log("no ethtool: veth's default offloads (TSO and GSO on)")
	}
	for _, c := range [][]string{{nsS, "lo"}, {nsS, "a"}, {nsR, "lo"}, {nsR, "b"}} {
		mustRun(t, "ip", "-n", c[0], "link", "set", "dev", c[1], "up")
	}

	var e *AFPacket
	var ln net.Listener
	inNS(t, nsR, func() {
		var err error
		if e, err = OpenAFPacket("b", AFPacketOptions{Offload: true, SocketBuffer: 32 << 20}); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", netip.AddrPortFrom(rcv, 0).String()); err != nil {
			e.Close()
			t.Fatal(err)
		}
	})
	defer e.Close()
	defer ln.Close()
	if _, r := e.GSOCounts(); r != 0 {
		t.Fatalf("%d super-frames read before any traffic", r)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	// The kernel's receiver: reads everything.
	data := streamData(offloadStreamLen)
	recvd := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			recvd <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		recvd <- int(n)
	}()

	// Our reader, started before the kernel connects so it sees the SYN.
	type result struct {
		s     *streamCheck
		flags PacketFlags // of the super-frames, ORed
		err   error
	}
	res := make(chan result, 1)
	ready := make(chan struct{})
	go func() {
		s := &streamCheck{data: data}
		var flagsBig PacketFlags
		bufs := make([][]byte, 16)
		for i := range bufs {
			bufs[i] = make([]byte, header.EthernetHeaderLen+MaxOffloadPacket)
		}
		sizes := make([]int, len(bufs))
		flags := make([]PacketFlags, len(bufs))
		close(ready)
		et := uint16(0x0800)
		if v6 {
			et = 0x86dd
		}
		for !s.done() {
			n, err := e.ReadPacketsOffload(bufs, sizes, flags)
			if err != nil {
				res <- result{s: s, err: err}
				return
			}
			for i := range n {
				f := bufs[i][:sizes[i]]
				if binary.BigEndian.Uint16(f[12:14]) != et {
					continue
				}
				th, err := tcpOf(f[header.EthernetHeaderLen:], v6, snd, rcv)
				if err != nil {
					res <- result{s: s, err: err}
					return
				}
				if th == nil || th.DstPort() != uint16(port) {
					continue
				}
				ipLen := len(f) - header.EthernetHeaderLen
				if ipLen > e.MTU() {
					if flags[i]&ChecksumValid == 0 {
						res <- result{s: s, err: fmt.Errorf("super-frame of %d bytes without ChecksumValid", len(f))}
						return
					}
					flagsBig |= flags[i]
				}
				if err := s.add(th, ipLen, e.MTU()); err != nil {
					res <- result{s: s, err: err}
					return
				}
			}
		}
		res <- result{s: s, flags: flagsBig}
	}()
	<-ready

	var c net.Conn
	inNS(t, nsS, func() {
		var err error
		if c, err = net.DialTimeout("tcp", netip.AddrPortFrom(rcv, uint16(port)).String(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatalf("kernel write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	select {
	case n := <-recvd:
		if n != len(data) {
			t.Fatalf("kernel receiver got %d bytes of %d", n, len(data))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("kernel receiver did not finish")
	}

	stop := time.AfterFunc(5*time.Second, func() { e.Close() })
	defer stop.Stop()
	r := <-res
	s := r.s
	if r.err != nil {
		t.Fatalf("after %d of %d bytes (FIN %v, %d super-frames, kernel drops %d): %v",
			s.covered(), len(data), s.finSeen, s.big, e.Drops(), r.err)
	}
	_, read := e.GSOCounts()
	t.Logf("%d bytes in order; %d frames over the MTU, largest IP packet %d bytes; GSOCounts read %d", s.covered(), s.big, s.maxLen, read)
	if s.big == 0 {
		t.Fatal("no packet longer than the MTU: super-frames were split or never made")
	}
	if r.flags&ChecksumValid == 0 {
		t.Error("super-frames without ChecksumValid")
	}
	if read < uint64(s.big) {
		t.Errorf("GSOCounts read %d, but %d super-frames were returned", read, s.big)
	}
}

// TestAFPacketReadOffloadWithoutOffload: on an endpoint opened without
// Offload, ReadPacketsOffload is ReadPackets with its flags cleared.
func TestAFPacketReadOffloadWithoutOffload(t *testing.T) {
	a, b := openPair(t)
	pkts := [][]byte{frame(60, 1), frame(1514, 2), frame(300, 3)}
	if n, err := a.WritePackets(pkts); err != nil || n != len(pkts) {
		t.Fatalf("WritePackets = %d, %v", n, err)
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	sizes := make([]int, len(bufs))
	flags := make([]PacketFlags, len(bufs))
	stop := time.AfterFunc(5*time.Second, func() { b.Close() })
	defer stop.Stop()
	var got [][]byte
	for len(got) < len(pkts) {
		for i := range flags {
			flags[i] = 0xff
		}
		n, err := b.ReadPacketsOffload(bufs, sizes, flags)
		if err != nil {
			t.Fatalf("ReadPacketsOffload after %d frames: %v", len(got), err)
		}
		for i := range n {
			if flags[i] != 0 {
				t.Fatalf("flags %#x without Offload", flags[i])
			}
			if binary.BigEndian.Uint16(bufs[i][12:]) == 0x88b5 {
				got = append(got, bytes.Clone(bufs[i][:sizes[i]]))
			}
		}
	}
	for i := range pkts {
		if !bytes.Equal(got[i], pkts[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
}

// tunKernel is a namespace with a TUN device "t0" (kernel side the
// sender's address) whose other end is played by the test.
func tunKernel(t *testing.T, v6, offload bool) (ns string, tun *TUN) {
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	if v6 {
		needIPv6(t)
	}
	ns = netnsAdd(t, "tuno")
	snd, _, plen := flowAddrs(v6)
	inNS(t, ns, func() {
		var err error
		if tun, err = OpenTUN("t0", TUNOptions{MTU: 1500, Offload: offload}); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { tun.Close() })
	mustRun(t, "ip", "-n", ns, "link", "set", "dev", "lo", "up")
	mustRun(t, "ip", "-n", ns, "addr", "add", netip.PrefixFrom(snd, plen).String(), "dev", "t0", "nodad")
	mustRun(t, "ip", "-n", ns, "link", "set", "dev", "t0", "up")
	return ns, tun
}

// tcpReply builds a segment from (src, sport) to (dst, dport) with a
// complete checksum: the test's side of the kernel's connection.
func tcpReply(v6 bool, src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags header.TCPFlags, opts []byte) []byte {
	iphl := header.IPv4MinHeaderLen
	if v6 {
		iphl = header.IPv6HeaderLen
	}
	tl := header.TCPMinHeaderLen + len(opts)
	p := make([]byte, iphl+tl)
	if v6 {
		header.IPv6(p).Encode(&header.IPv6Fields{PayloadLength: uint16(tl), NextHeader: header.ProtocolTCP, HopLimit: 64, Src: src, Dst: dst})
	} else {
		header.IPv4(p).Encode(&header.IPv4Fields{TotalLength: uint16(len(p)), Flags: header.IPv4FlagDF, TTL: 64, Protocol: header.ProtocolTCP, Src: src, Dst: dst})
		header.IPv4(p).SetChecksum()
	}
	th := header.TCP(p[iphl:])
	th.Encode(&header.TCPFields{SrcPort: sport, DstPort: dport, Seq: seq, Ack: ack, DataOffset: tl, Flags: flags, Window: 65535})
	copy(th[header.TCPMinHeaderLen:], opts)
	th.SetChecksum(th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, src, dst, uint32(tl))))
	return p
}

// tunStream has the kernel in ns connect to the TUN's far side and send
// offloadStreamLen bytes; the test answers as a TCP receiver (SYN-ACK
// with window scaling, an ACK for every segment) and reads through
// ReadPacketsOffload. check sees every segment of the flow with its
// packet length and flags.
func tunStream(t *testing.T, ns string, tun *TUN, v6 bool, check func(th header.TCP, ipLen int, f PacketFlags)) *streamCheck {
	snd, rcv, _ := flowAddrs(v6)
	const port = 8080
	data := streamData(offloadStreamLen)
	s := &streamCheck{data: data}
	mss := 1460
	if v6 {
		mss = 1440
	}
	// MSS, NOP, window scale 7 (an 8 MiB window: the sender is never
	// held back by it).
	opts := []byte{2, 4, byte(mss >> 8), byte(mss), 1, 3, 3, 7}
	const iss = 1000

	errc := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var c net.Conn
		var err error
		if nerr := doNS(ns, func() {
			c, err = net.DialTimeout("tcp", netip.AddrPortFrom(rcv, port).String(), 5*time.Second)
		}); nerr != nil {
			errc <- nerr
			return
		}
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(data); err != nil {
			errc <- fmt.Errorf("kernel write: %w", err)
			return
		}
		errc <- c.(*net.TCPConn).CloseWrite()
	}()

	stop := time.AfterFunc(10*time.Second, func() { tun.Close() })
	defer stop.Stop()
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = make([]byte, MaxOffloadPacket)
	}
	sizes := make([]int, len(bufs))
	flags := make([]PacketFlags, len(bufs))
	var sport uint16
	var rcvNxt uint32
	var replies [][]byte
	for !s.done() {
		for i := range flags {
			flags[i] = 0xff // must be overwritten
		}
		n, err := tun.ReadPacketsOffload(bufs, sizes, flags)
		if err != nil {
			t.Fatalf("ReadPacketsOffload after %d of %d bytes (FIN %v): %v", s.covered(), len(data), s.finSeen, err)
		}
		replies = replies[:0]
		for i := range n {
			p := bufs[i][:sizes[i]]
			th, err := tcpOf(p, v6, snd, rcv)
			if err != nil {
				t.Fatal(err)
			}
			if th == nil || th.DstPort() != port {
				continue
			}
			check(th, len(p), flags[i])
			if err := s.add(th, len(p), tun.MTU()); err != nil {
				t.Fatal(err)
			}
			f := th.Flags()
			switch {
			case f.Has(header.TCPFlagSYN):
				sport, rcvNxt = th.SrcPort(), th.Seq()+1
				replies = append(replies, tcpReply(v6, rcv, snd, port, sport, iss, rcvNxt, header.TCPFlagSYN|header.TCPFlagACK, opts))
				continue
			case th.Seq() == rcvNxt:
				rcvNxt += uint32(len(th.Payload()))
				if f.Has(header.TCPFlagFIN) {
					rcvNxt++
				}
			}
			if len(th.Payload()) > 0 || f.Has(header.TCPFlagFIN) {
				replies = append(replies, tcpReply(v6, rcv, snd, port, sport, iss+1, rcvNxt, header.TCPFlagACK, nil))
			}
		}
		if len(replies) > 0 {
			if _, err := tun.WritePackets(replies); err != nil {
				t.Fatalf("WritePackets: %v", err)
			}
		}
	}
	wg.Wait()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTUNReadOffload has the kernel send a TCP stream into a TUN opened
// with Offload: its GSO super-packets must come whole (longer than the
// MTU) with ChecksumValid, IP length fields for the whole packet and a
// valid IPv4 header checksum, and the payloads placed by sequence number
// must be exactly the bytes sent.
func TestTUNReadOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			ns, tun := tunKernel(t, v6, true)
			big := 0
			s := tunStream(t, ns, tun, v6, func(th header.TCP, ipLen int, f PacketFlags) {
				if f&^ChecksumValid != 0 {
					t.Fatalf("unknown flags %#x", f)
				}
				if ipLen > tun.MTU() {
					big++
					if f != ChecksumValid {
						t.Fatalf("super-packet of %d bytes with flags %#x", ipLen, f)
					}
				}
			})
			_, read := tun.GSOCounts()
			t.Logf("%d bytes in order; %d packets over the MTU, largest %d bytes; GSOCounts read %d", s.covered(), big, s.maxLen, read)
			if big == 0 {
				t.Fatal("no packet longer than the MTU: super-packets were split or never made")
			}
			if read < uint64(big) {
				t.Errorf("GSOCounts read %d, but %d super-packets were returned", read, big)
			}
		})
	}
}

// TestTUNReadOffloadWithoutOffload: on a TUN opened without Offload,
// ReadPacketsOffload is ReadPackets with its flags cleared; the kernel
// segments and checksums everything itself.
func TestTUNReadOffloadWithoutOffload(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			ns, tun := tunKernel(t, v6, false)
			snd, rcv, _ := flowAddrs(v6)
			s := tunStream(t, ns, tun, v6, func(th header.TCP, ipLen int, f PacketFlags) {
				if f != 0 {
					t.Fatalf("flags %#x without Offload", f)
				}
				if ipLen > tun.MTU() {
					t.Fatalf("%d-byte packet on a %d-byte MTU without Offload", ipLen, tun.MTU())
				}
				if th.CalculateChecksum(header.PseudoHeaderChecksum(header.ProtocolTCP, snd, rcv, uint32(len(th)))) != 0 {
					t.Fatal("TCP checksum wrong without Offload")
				}
			})
			if w, r := tun.GSOCounts(); w != 0 || r != 0 {
				t.Errorf("GSOCounts %d, %d without Offload", w, r)
			}
			if s.big != 0 {
				t.Errorf("%d packets over the MTU", s.big)
			}
		})
	}
}

// TestTUNCloseUnblocksReadOffload: Close unblocks a pending
// ReadPacketsOffload, which then returns ErrClosed as Endpoint promises.
func TestTUNCloseUnblocksReadOffload(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			if _, err := os.Stat("/dev/net/tun"); err != nil {
				t.Skip("needs /dev/net/tun")
			}
			// A device left down: nothing arrives before Close.
			var tun *TUN
			inNS(t, netnsAdd(t, "tunc"), func() {
				var err error
				if tun, err = OpenTUN("t0", TUNOptions{Offload: offload}); err != nil {
					t.Fatal(err)
				}
			})
			defer tun.Close()
			done := make(chan error, 1)
			go func() {
				bufs := [][]byte{make([]byte, MaxOffloadPacket)}
				_, err := tun.ReadPacketsOffload(bufs, make([]int, 1), make([]PacketFlags, 1))
				done <- err
			}()
			time.Sleep(50 * time.Millisecond)
			tun.Close()
			select {
			case err := <-done:
				if !errors.Is(err, ErrClosed) {
					t.Errorf("read after Close: %v, want ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not unblock ReadPacketsOffload")
			}
			bufs := [][]byte{make([]byte, MaxOffloadPacket)}
			if _, err := tun.ReadPacketsOffload(bufs, make([]int, 1), make([]PacketFlags, 1)); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadPacketsOffload on a closed TUN: %v, want ErrClosed", err)
			}
		})
	}
}
