package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var labSeq atomic.Uint32

// needRoot skips tests that need root, network namespaces and the tools.
func needRoot(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "sysctl", "ethtool"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

// testConfig returns a config with a unique name and a private state dir.
func testConfig(t testing.TB, paths ...PathSpec) Config {
	t.Helper()
	return Config{
		Name:     fmt.Sprintf("lt%d-%d", os.Getpid()%100000, labSeq.Add(1)),
		Paths:    paths,
		StateDir: filepath.Join(os.TempDir(), "mptcp-lab-test"),
	}
}

// startLab brings a lab up and removes it when the test ends.
func startLab(t testing.TB, cfg Config) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		for _, ns := range listNamespaces() {
			if ownedBy(ns, cfg.Name) {
				t.Errorf("namespace %s left after Close", ns)
			}
		}
	})
	return l
}

func TestUpBridgedKernel(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	l := startLab(t, cfg)
	if got := l.NumPaths(); got != 2 {
		t.Fatalf("NumPaths = %d, want 2", got)
	}
	for _, ns := range []string{cfg.Name + "-cli", cfg.Name + "-srv", cfg.Name + "-p1", cfg.Name + "-p2"} {
		if !nsExists(ns) {
			t.Errorf("namespace %s missing", ns)
		}
	}
	if l.Iface(Client, 1) != "wifi" || l.Iface(Server, 2) != "cellular" {
		t.Errorf("ifaces = %s, %s", l.Iface(Client, 1), l.Iface(Server, 2))
	}
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		// Dial from each path's address to path 1's server address: policy
		// routing must send it out of path i's interface.
		before := ifaceBytes(t, l, Server, i)
		if err := l.Do(Client, func() error {
			d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: l.ClientAddr(i).AsSlice()}}
			c, err := d.Dial("tcp", net.JoinHostPort(l.ServerAddr(1).String(), "9")) // RST expected
			if err == nil {
				c.Close()
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if after := ifaceBytes(t, l, Server, i); after <= before {
			t.Errorf("path %d: SYN from %s did not arrive on %s (rx bytes %d -> %d)", i, l.ClientAddr(i),
				l.Iface(Server, i), before, after)
		}
	}
	// A TCP connection made inside Do, served from an ordinary goroutine.
	var ln net.Listener
	if err := l.Do(Server, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(l.ServerAddr(1).String(), "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	var c net.Conn
	if err := l.Do(Client, func() error {
		var err error
		c, err = net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	// The same listener address is not reachable from the host's namespace.
	if hc, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond); err == nil {
		hc.Close()
		t.Errorf("lab address reachable from the host namespace")
	}
	// Endpoints and limits for kernel MPTCP.
	out, err := l.Command(ctx, Client, "ip", "mptcp", "endpoint", "show").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "198.18.2.1") || !strings.Contains(string(out), "subflow") {
		t.Errorf("client endpoints: %v\n%s", err, out)
	}
	st, err := l.Status(ctx)
	if err != nil || len(st.Missing) != 0 || len(st.Paths) != 2 {
		t.Errorf("Status = %+v, %v", st, err)
	}
}

func TestUpUserMode(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t, PathSpec{Name: "a"}, PathSpec{Name: "b"}, PathSpec{})
	cfg.ClientMode, cfg.ServerMode = User, Kernel
	l := startLab(t, cfg)
	out, err := l.Command(context.Background(), Client, "ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "198.18.") {
		t.Errorf("user-mode client has kernel addresses:\n%s", out)
	}
	out, err = l.Command(context.Background(), Server, "ip", "-4", "-o", "addr", "show", "dev", "path3").Output()
	if err != nil || !strings.Contains(string(out), "198.18.3.2/24") {
		t.Errorf("server path3: %v\n%s", err, out)
	}
	if got := l.ClientAddr(2).String(); got != "198.18.2.1" {
		t.Errorf("ClientAddr(2) = %s", got)
	}
}

// A crashed run leaves namespaces and a state dir; the next Up of the same
// name must remove them and succeed.
func TestUpRemovesLeftovers(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t)
	ctx := context.Background()
	for _, ns := range []string{cfg.Name + "-cli", cfg.Name + "-p1", cfg.Name + "-p7"} {
		if _, err := run(ctx, "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { Down(ctx, cfg.StateDir, cfg.Name) })
	if _, err := run(ctx, "ip", "-n", cfg.Name+"-cli", "link", "add", "name", "wifi", "type", "veth", "peer", "name", "x"); err != nil {
		t.Fatal(err)
	}
	l := startLab(t, cfg)
	if nsExists(cfg.Name + "-p7") {
		t.Errorf("leftover namespace p7 survived Up")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if names, _ := List(cfg.StateDir); contains(names, cfg.Name) {
		t.Errorf("state of %s left after Close", cfg.Name)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ifaceBytes returns the received bytes of path i's interface on a side.
func ifaceBytes(t testing.TB, l *Lab, side Side, path int) uint64 {
	t.Helper()
	out, err := l.Command(context.Background(), side, "cat",
		"/sys/class/net/"+l.Iface(side, path)+"/statistics/rx_bytes").Output()
	if err != nil {
		t.Fatalf("rx_bytes: %v", err)
	}
	var n uint64
	fmt.Sscan(string(out), &n)
	return n
}

// SetPathDown silences a path both ways (bridge and emulator alike), and
// SetPathUp brings it back; the other path is untouched.
func TestSetPathDownUp(t *testing.T) {
	needRoot(t)
	l := startLab(t, testConfig(t, PathSpec{Name: "wifi"}, PathSpec{Name: "cellular", Emulate: true}))
	ctx := context.Background()
	_ = ctx
	var last string
	reach := func(path int) bool {
		before := ifaceBytes(t, l, Server, path)
		var dialErr error
		start := time.Now()
		doErr := l.Do(Client, func() error {
			d := net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: &net.TCPAddr{IP: l.ClientAddr(path).AsSlice()}}
			c, err := d.Dial("tcp", net.JoinHostPort(l.ServerAddr(path).String(), "9"))
			if err == nil {
				c.Close()
			}
			dialErr = err
			return nil
		})
		after := ifaceBytes(t, l, Server, path)
		last = fmt.Sprintf("dial after %v: %v (Do: %v); server rx bytes %d -> %d", time.Since(start), dialErr, doErr, before, after)
		return after > before
	}
	for path := 1; path <= 2; path++ {
		if !reach(path) {
			t.Fatalf("path %d unreachable before SetPathDown (%s)", path, last)
		}
		if err := l.SetPathDown(path); err != nil {
			t.Fatal(err)
		}
		if reach(path) {
			t.Errorf("path %d still carries packets after SetPathDown", path)
		}
		if other := 3 - path; !reach(other) {
			t.Errorf("path %d went down with path %d", other, path)
		}
		if err := l.SetPathUp(path); err != nil {
			t.Fatal(err)
		}
		if !reach(path) {
			t.Errorf("path %d unreachable after SetPathUp", path)
		}
	}
	if err := l.SetPathDown(3); err == nil {
		t.Error("SetPathDown(3) on a 2-path lab succeeded")
	}
}

// Capture's file holds every packet sent up to the moment stop is called
// (none left behind in libpcap's buffer), and stop reports tcpdump's
// counters; on one interface and on "any".
func TestCapture(t *testing.T) {
	needRoot(t, "tcpdump")
	l := startLab(t, testConfig(t, PathSpec{Name: "wifi"}))
	for _, iface := range []string{l.Iface(Client, 1), "any"} {
		t.Run(iface, func(t *testing.T) { testCapture(t, l, iface) })
	}
}

func testCapture(t *testing.T, l *Lab, iface string) {
	file := filepath.Join(t.TempDir(), "capture.pcap")
	const port, n = 7777, 3000
	// On the sender: every datagram written is seen there (a receiver's
	// backlog may drop some before any tap sees them).
	stop, err := l.Capture(context.Background(), Client, iface, file, "udp", "dst", "port", strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Do(Client, func() error {
		// Unconnected: the server's port unreachable errors are ignored.
		c, err := net.ListenPacket("udp4", net.JoinHostPort(l.ClientAddr(1).String(), "0"))
		if err != nil {
			return err
		}
		defer c.Close()
		dst := &net.UDPAddr{IP: l.ServerAddr(1).AsSlice(), Port: port}
		b := make([]byte, 1200)
		for i := range n {
			binary.BigEndian.PutUint32(b, uint32(i))
			if _, err := c.WriteTo(b, dst); err != nil {
				return fmt.Errorf("datagram %d: %w", i, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// No pause: stop itself must wait for the last packets.
	st, err := stop()
	if err != nil {
		t.Fatalf("stop: %v (%+v)", err, st)
	}
	if st.Captured != n || st.Received != n || st.Dropped != 0 {
		t.Errorf("tcpdump counters %+v, want %d captured and received, 0 dropped", st, n)
	}
	if _, err := stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	linkType, frames := pcapRecords(t, b)
	hdr, typeAt := 14, 12 // Ethernet
	if linkType == 276 {  // Linux cooked capture v2 (SLL2), tcpdump's choice on "any"
		hdr, typeAt = 20, 0
	}
	seen := map[uint32]bool{}
	for _, frame := range frames {
		// Link header + IPv4 (20, no options here) + UDP (8).
		if len(frame) < hdr+20+8+1200 || binary.BigEndian.Uint16(frame[typeAt:]) != 0x0800 {
			t.Fatalf("not a whole IPv4 datagram (link type %d): % x", linkType, frame[:min(len(frame), 48)])
		}
		seen[binary.BigEndian.Uint32(frame[hdr+28:])] = true
	}
	if len(seen) != n {
		t.Errorf("the file holds %d of the %d datagrams sent", len(seen), n)
	}
}

// pcapRecords returns the link type and the frames of a little-endian
// pcap file.
func pcapRecords(t testing.TB, b []byte) (linkType uint32, frames [][]byte) {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 {
		t.Fatalf("not a little-endian pcap file: % x", b[:min(len(b), 4)])
	}
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			t.Fatalf("truncated record header at %d", off)
		}
		incl := int(binary.LittleEndian.Uint32(b[off+8:]))
		if off+16+incl > len(b) {
			t.Fatalf("truncated record at %d", off)
		}
		frames = append(frames, b[off+16:off+16+incl])
		off += 16 + incl
	}
	return binary.LittleEndian.Uint32(b[20:]), frames
}

func TestParseCaptureStats(t *testing.T) {
	st, ok := parseCaptureStats([]string{"tcpdump: listening on wifi, link-type EN10MB",
		"1 packet captured", "  27 packets received by filter", "26 packets dropped by kernel"})
	if want := (CaptureStats{Captured: 1, Received: 27, Dropped: 26}); !ok || st != want {
		t.Errorf("got %+v %v, want %+v", st, ok, want)
	}
	if _, ok := parseCaptureStats([]string{"12 packets captured"}); ok {
		t.Error("partial counters accepted")
	}
}

// A lab whose owning process died is removed by the next Up of any lab.
func TestUpReapsOrphans(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	orphan := testConfig(t)
	st := State{Name: orphan.Name, ClientNS: orphan.Name + "-cli", OwnerPID: deadPID(t)}
	if err := st.save(orphan.StateDir); err != nil {
		t.Fatal(err)
	}
	if _, err := run(ctx, "ip", "netns", "add", orphan.Name+"-cli"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Down(ctx, orphan.StateDir, orphan.Name) })
	startLab(t, testConfig(t))
	if nsExists(orphan.Name + "-cli") {
		t.Error("orphaned lab's namespace survived Up")
	}
	if _, err := LoadState(orphan.StateDir, orphan.Name); err == nil {
		t.Error("orphaned lab's state survived Up")
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t testing.TB) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// SetPathDown stops an established TCP stream on a bridged path (with and
// without offloads) as on an emulated one: while the path is down not a
// byte reaches the server's interface; after SetPathUp the stream resumes.
func TestSetPathDownEstablished(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name    string
		path    PathSpec
		offload bool
	}{
		{"bridge", PathSpec{Name: "wifi"}, false},
		{"bridge-offload", PathSpec{Name: "wifi"}, true},
		{"emulator", PathSpec{Name: "wifi", Emulate: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.path)
			cfg.Offload = tc.offload
			l := startLab(t, cfg)
			ln := listenTCP(t, l, false)
			got := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- -1
					return
				}
				defer c.Close()
				n, _ := io.Copy(io.Discard, c)
				got <- n
			}()
			c := dialTCP(t, l, ln.Addr().String(), false)
			stopWrite := make(chan struct{})
			wrote := make(chan error, 1)
			go func() {
				b := make([]byte, 16<<10)
				for {
					select {
					case <-stopWrite:
						wrote <- nil
						return
					default:
					}
					c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := c.Write(b); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						wrote <- err
						return
					}
				}
			}()
			time.Sleep(200 * time.Millisecond)
			if before := ifaceBytes(t, l, Server, 1); before < 100<<10 {
				t.Fatalf("only %d bytes reached the server before SetPathDown", before)
			}
			if err := l.SetPathDown(1); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // frames in flight
			quiet := ifaceBytes(t, l, Server, 1)
			time.Sleep(500 * time.Millisecond)
			if n := ifaceBytes(t, l, Server, 1) - quiet; n != 0 {
				t.Errorf("%d bytes reached the server in 500 ms of outage", n)
			}
			if err := l.SetPathUp(1); err != nil {
				t.Fatal(err)
			}
			resumed := ifaceBytes(t, l, Server, 1)
			// The sender's retransmission timer has backed off to at most
			// about a second by now.
			deadline := time.Now().Add(5 * time.Second)
			for ifaceBytes(t, l, Server, 1)-resumed < 100<<10 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := ifaceBytes(t, l, Server, 1) - resumed; n < 100<<10 {
				t.Errorf("only %d bytes reached the server in 5 s after SetPathUp", n)
			}
			close(stopWrite)
			if err := <-wrote; err != nil {
				t.Errorf("write: %v", err)
			}
		})
	}
}

// TestCongestionControl: Config.CongestionControl is the kernel's TCP
// congestion control in the client and server namespaces (a namespace
// otherwise inherits the host's default); an ill-formed name is refused
// before anything is made, one the kernel lacks fails Up.
func TestCongestionControl(t *testing.T) {
	needRoot(t)
	cfg := testConfig(t, PathSpec{Name: "wifi"})
	cfg.CongestionControl = "reno"
	l := startLab(t, cfg)
	for _, side := range []Side{Client, Server} {
		out, err := l.Command(context.Background(), side, "sysctl", "-n", "net.ipv4.tcp_congestion_control").Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != "reno" {
			t.Errorf("%v: tcp_congestion_control %q (%v), want reno", side, got, err)
		}
	}
	bad := testConfig(t, PathSpec{Name: "wifi"})
	bad.CongestionControl = "cubic;reboot"
	if _, err := Up(context.Background(), bad); !errors.Is(err, ErrBadConfig) {
		t.Errorf("Up with congestion control %q: %v, want ErrBadConfig", bad.CongestionControl, err)
	}
	missing := testConfig(t, PathSpec{Name: "wifi"})
	missing.CongestionControl = "nosuchcc"
	if l, err := Up(context.Background(), missing); err == nil {
		l.Close()
		t.Error("Up with an unknown congestion control succeeded")
	} else if !strings.Contains(err.Error(), "nosuchcc") {
		t.Errorf("Up with an unknown congestion control: %v", err)
	}
}
