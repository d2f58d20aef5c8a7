package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
)

// The MPTCP end-to-end tests of nc: our nc (the client side of the lab,
// its interfaces owned by our stack) against the kernel's MPTCP on the
// server side, both roles, with SHA-256 of what each side sent and
// received.

// mpLab is a lab of n bridged paths whose client side is ours.
func mpLab(t *testing.T, n int, announce bool) *lab.Lab {
	t.Helper()
	var paths []lab.PathSpec
	for i := 1; i <= n; i++ {
		paths = append(paths, lab.PathSpec{Name: lab.DefaultPathName(i)})
	}
	return upLab(t, lab.Config{Paths: paths, Announce: announce})
}

func upLab(t *testing.T, cfg lab.Config) *lab.Lab {
	t.Helper()
	cfg.Name = fmt.Sprintf("nc%d-%d", os.Getpid()%100000, ncLabSeq.Add(1))
	cfg.ClientMode, cfg.ServerMode = lab.User, lab.Kernel
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := lab.Up(ctx, cfg)
	if err != nil {
		t.Fatalf("lab up: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// pathArgs are --path flags for every path of the lab's client side, each
// with the server's address on that path as gateway.
func pathArgs(l *lab.Lab) []string {
	var args []string
	for i := 1; i <= l.NumPaths(); i++ {
		args = append(args, "--path", fmt.Sprintf("%s=%v/24,gw=%v", l.Iface(lab.Client, i), l.ClientAddr(i), l.ServerAddr(i)))
	}
	return args
}

// kernelPeerResult is what the kernel's end of a connection saw.
type kernelPeerResult struct {
	got   []byte
	mptcp bool // the kernel's socket is MPTCP (not fallen back)
	err   error
}

// kernelMPTCPServer listens with the kernel's MPTCP on the server side
// and returns its first address; the one connection it accepts is read to EOF, answered with
// down and closed.
func kernelMPTCPServer(t *testing.T, l *lab.Lab, down []byte) (netip.AddrPort, <-chan kernelPeerResult) {
	t.Helper()
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:0") // every address: the joins to announced ones too
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan kernelPeerResult, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- kernelPeerResult{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		got, err := io.ReadAll(c)
		mp, _ := c.(*net.TCPConn).MultipathTCP()
		if err == nil {
			_, err = c.Write(down)
		}
		ch <- kernelPeerResult{got: got, mptcp: mp, err: err}
	}()
	return netip.AddrPortFrom(l.ServerAddr(1), uint16(ln.Addr().(*net.TCPAddr).Port)), ch
}

// ncProc is nc running in the lab's client namespace, its stdin fed by
// the test.
type ncProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string // stderr lines as they come
	copied chan struct{}
}

func startNC(t *testing.T, bin string, l *lab.Lab, args ...string) *ncProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	p := &ncProc{cmd: l.Command(ctx, lab.Client, bin, args...), lines: make(chan string, 1000), copied: make(chan struct{})}
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.copied)
		sc := bufio.NewScanner(errPipe)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// waitLine waits for a stderr line containing s.
func (p *ncProc) waitLine(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line := <-p.lines:
			if strings.Contains(line, s) {
				return
			}
		case <-p.copied:
			t.Fatalf("nc ended before %q:\n%s", s, p.errText())
		case <-timeout:
			t.Fatalf("no %q from nc:\n%s", s, p.errText())
		}
	}
}

func (p *ncProc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for nc's exit and returns its code.
func (p *ncProc) wait(t *testing.T) int {
	t.Helper()
	<-p.copied
	err := p.cmd.Wait()
	if err == nil {
		return 0
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("nc: %v", err)
	}
	return ee.ExitCode()
}

// waitCounter waits for a kernel MPTCP counter on side to reach n.
func waitCounter(t *testing.T, l *lab.Lab, side lab.Side, name string, n uint64, p *ncProc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := l.WaitCounter(ctx, side, name, n); err != nil {
		m, _ := l.MPTCPCounters(side)
		t.Fatalf("kernel %s: %v; counters %v\nnc:\n%s", name, err, m, p.errText())
	}
}

func hasEvent(s ncSummary, event, addr string) bool {
	for _, e := range s.Events {
		if e.Event == event && (addr == "" || e.Addr == addr || strings.HasPrefix(e.Local, addr+":")) {
			return true
		}
	}
	return false
}

// testNCMPTCPClient: our nc sends up (its first 64 KiB before the joins,
// the rest after them) to the kernel's MPTCP server, which answers with
// down; both directions byte-exact, every path carried data, the --json
// summary and the kernel's counters agree.
func testNCMPTCPClient(t *testing.T, bin string, paths int, announce bool) {
	l := mpLab(t, paths, announce)
	up, down := randBytes(t, 8<<20), randBytes(t, 1<<20)
	ap, srv := kernelMPTCPServer(t, l, down)
	args := append(append([]string{"nc", "-v", "--json"}, pathArgs(l)...), ap.Addr().String(), fmt.Sprint(ap.Port()))
	p := startNC(t, bin, l, args...)
	if _, err := p.stdin.Write(up[:64<<10]); err != nil {
		t.Fatal(err)
	}
	joins := uint64(paths - 1)
	if announce {
		joins *= 2
	}
	if joins > 0 {
		waitCounter(t, l, lab.Server, "MPTcpExtMPJoinAckRx", joins, p)
	}
	if _, err := p.stdin.Write(up[64<<10:]); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	code := p.wait(t)
	stderr := p.errText()
	if code != exitOK {
		t.Fatalf("nc exit %d:\n%s", code, stderr)
	}
	res := <-srv
	if res.err != nil || sha256.Sum256(res.got) != sha256.Sum256(up) || !res.mptcp {
		t.Fatalf("kernel server got %d bytes (SHA-256 equal: %v), MPTCP %v, %v", len(res.got), sha256.Sum256(res.got) == sha256.Sum256(up), res.mptcp, res.err)
	}
	if sha256.Sum256(p.stdout.Bytes()) != sha256.Sum256(down) {
		t.Fatalf("nc wrote %d bytes to stdout, want the %d the server sent", p.stdout.Len(), len(down))
	}
	s := lastJSON(t, stderr)
	if s.Protocol != "mptcp" || s.Fallback || s.BytesSent != int64(len(up)) || s.BytesReceived != int64(len(down)) || s.MPTCP == nil ||
		s.MPTCP.State != "closed" || s.TCP == nil || s.MIB["MPCapableSYNACKRX"] != 1 {
		t.Fatalf("summary %+v\nmptcp %+v", s, s.MPTCP)
	}
	used := map[string]bool{}
	all := append(s.MPTCP.Subflows, s.MPTCP.Closed...)
	for _, sf := range all {
		if sf.DataSent > 0 {
			used[strings.Split(sf.Local, ":")[0]] = true
		}
	}
	if len(all) != int(joins)+1 || len(used) != paths {
		t.Errorf("%d subflows (want %d), data from %d local addresses (want %d): %+v", len(all), joins+1, len(used), paths, all)
	}
	for i := 2; i <= paths; i++ {
		if !hasEvent(s, "subflow_established", l.ClientAddr(i).String()) {
			t.Errorf("no subflow_established event from %v: %+v", l.ClientAddr(i), s.Events)
		}
		if announce && !hasEvent(s, "add_addr", l.ServerAddr(i).String()) {
			t.Errorf("no add_addr event for %v: %+v", l.ServerAddr(i), s.Events)
		}
	}
	for _, want := range []string{`msg="MPTCP established"`, "msg=subflow id=0", "msg=done"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v lacks %s:\n%s", want, stderr)
		}
	}
	if paths > 1 && !strings.Contains(stderr, `msg="subflow established"`) {
		t.Errorf("-v lacks the joins:\n%s", stderr)
	}
	m, err := l.MPTCPCounters(lab.Server)
	if err != nil {
		t.Fatal(err)
	}
	if m["MPTcpExtMPCapableSYNRX"] != 1 || m["MPTcpExtMPJoinAckRx"] != joins || m["MPTcpExtMPJoinAckHMacFailure"] != 0 {
		t.Errorf("kernel counters: MPCapableSYNRX %d, MPJoinAckRx %d (want %d), MPJoinAckHMacFailure %d",
			m["MPTcpExtMPCapableSYNRX"], m["MPTcpExtMPJoinAckRx"], joins, m["MPTcpExtMPJoinAckHMacFailure"])
	}
	t.Logf("%d paths: %d subflows, %.0f Mbit/s up", paths, len(all), s.SendMbitS)
}

// testNCMPTCPListen: the kernel's MPTCP client (in the server namespace,
// without subflow endpoints) connects to our "nc -l" with two paths; nc
// announces its second address, the kernel joins it; both directions
// byte-exact.
func testNCMPTCPListen(t *testing.T, bin string, rcvbuf int) {
	l := mpLab(t, 2, false)
	const port = 5001
	up, down := randBytes(t, 8<<20), randBytes(t, 1<<20)
	args := append([]string{"nc", "-l", "-v", "--json"}, pathArgs(l)...)
	if rcvbuf > 0 {
		args = append(args, "--rcvbuf", fmt.Sprint(rcvbuf))
	}
	args = append(args, fmt.Sprint(port))
	p := startNC(t, bin, l, args...)
	p.waitLine(t, "msg=listening")
	// nc reads stdin once connected: feed it meanwhile.
	go func() {
		p.stdin.Write(down)
		p.stdin.Close()
	}()
	kc := make(chan kernelPeerResult, 1)
	if err := l.Do(lab.Server, func() error {
		d := net.Dialer{Timeout: 10 * time.Second}
		d.SetMultipathTCP(true)
		c, err := d.Dial("tcp", netip.AddrPortFrom(l.ClientAddr(1), port).String())
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			werr := make(chan error, 1)
			go func() {
				_, err := c.Write(up[:64<<10])
				if err == nil {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					_, err = l.WaitCounter(ctx, lab.Server, "MPTcpExtMPJoinSynAckRx", 1)
					cancel()
				}
				if err == nil {
					_, err = c.Write(up[64<<10:])
				}
				if err == nil {
					err = c.(*net.TCPConn).CloseWrite()
				}
				werr <- err
			}()
			got, err := io.ReadAll(c)
			mp, _ := c.(*net.TCPConn).MultipathTCP()
			if err2 := <-werr; err == nil {
				err = err2
			}
			kc <- kernelPeerResult{got: got, mptcp: mp, err: err}
		}()
		return nil
	}); err != nil {
		t.Fatalf("kernel dial: %v", err)
	}
	code := p.wait(t)
	stderr := p.errText()
	if code != exitOK {
		t.Fatalf("nc -l exit %d:\n%s", code, stderr)
	}
	var res kernelPeerResult
	select {
	case res = <-kc:
	case <-time.After(30 * time.Second):
		t.Fatal("kernel client did not finish")
	}
	if res.err != nil || !bytes.Equal(res.got, down) || !res.mptcp {
		t.Fatalf("kernel client got %d bytes (want %d), MPTCP %v, %v", len(res.got), len(down), res.mptcp, res.err)
	}
	if h, w := sha256.Sum256(p.stdout.Bytes()), sha256.Sum256(up); h != w {
		t.Fatalf("nc -l wrote %d bytes (SHA-256 differs), want %d", p.stdout.Len(), len(up))
	}
	s := lastJSON(t, stderr)
	all := append(s.MPTCP.Subflows, s.MPTCP.Closed...)
	var joinRecv uint64
	for _, sf := range all {
		if sf.Join {
			joinRecv += sf.DataRecv
		}
	}
	if s.Protocol != "mptcp" || s.Fallback || s.Mode != "listen" || len(all) != 2 || joinRecv == 0 ||
		!hasEvent(s, "add_addr_sent", l.ClientAddr(2).String()) || !hasEvent(s, "subflow_established", l.ClientAddr(2).String()) {
		t.Fatalf("summary %+v\nsubflows %+v", s, all)
	}
	m, err := l.MPTCPCounters(lab.Server)
	if err != nil {
		t.Fatal(err)
	}
	if m["MPTcpExtAddAddr"] != 1 || m["MPTcpExtMPJoinSynAckRx"] != 1 || m["MPTcpExtMPCapableSYNACKRX"] != 1 {
		t.Errorf("kernel counters: AddAddr %d, MPJoinSynAckRx %d, MPCapableSYNACKRX %d", m["MPTcpExtAddAddr"], m["MPTcpExtMPJoinSynAckRx"], m["MPTcpExtMPCapableSYNACKRX"])
	}
	for _, want := range []string{`msg="ADD_ADDR sent"`, `msg="subflow established"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v lacks %s:\n%s", want, stderr)
		}
	}
	// The window offered at the end: the whole receive buffer (8 MiB by
	// default), or --rcvbuf's.
	nxt, err1 := strconv.ParseUint(s.MPTCP.RcvNxt, 16, 64)
	edge, err2 := strconv.ParseUint(s.MPTCP.ReceiveWindowEdge, 16, 64)
	want := uint64(8 << 20)
	if rcvbuf > 0 {
		want = uint64(rcvbuf)
	}
	if err1 != nil || err2 != nil || edge-nxt != want {
		t.Errorf("receive window at the end: rcv_nxt %q edge %q, want %d bytes", s.MPTCP.RcvNxt, s.MPTCP.ReceiveWindowEdge, want)
	}
	t.Logf("received %d bytes, %d of them on the join, window %d", s.BytesReceived, joinRecv, edge-nxt)
}

// TestNCMPTCP runs nc's MPTCP end to end against the kernel.
func TestNCMPTCP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, AF_PACKET)")
	}
	for _, tool := range []string{"ip", "ethtool", "sysctl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	bin := buildNC(t, t.TempDir())
	t.Run("client-1path", func(t *testing.T) { testNCMPTCPClient(t, bin, 1, false) })
	t.Run("client-2paths", func(t *testing.T) { testNCMPTCPClient(t, bin, 2, false) })
	t.Run("client-2paths-announce", func(t *testing.T) { testNCMPTCPClient(t, bin, 2, true) })
	t.Run("listen-2paths", func(t *testing.T) { testNCMPTCPListen(t, bin, 0) })
	t.Run("listen-2paths-rcvbuf", func(t *testing.T) { testNCMPTCPListen(t, bin, 64<<10) })
	t.Run("client-2paths-lia", func(t *testing.T) { testNCCoupled(t, bin, "lia") })
	t.Run("client-link-down-up", func(t *testing.T) { testNCLinkFlap(t, bin) })
	for _, how := range []string{"backup-flag", "mode-handover"} {
		t.Run("client-"+how, func(t *testing.T) { testNCBackup(t, bin, how) })
	}
	t.Run("client-scheduler-redundant", func(t *testing.T) {
		// Every byte goes on wifi, and cellular carries copies of what it
		// can before wifi has it acknowledged.
		l := mpLab(t, 2, false)
		up := randBytes(t, 4<<20)
		ap, srv := kernelMPTCPServer(t, l, nil)
		p := startNC(t, bin, l, append(append([]string{"nc", "--json", "--scheduler", "redundant"}, pathArgs(l)...), ap.Addr().String(), fmt.Sprint(ap.Port()))...)
		p.stdin.Write(up[:64<<10])
		waitCounter(t, l, lab.Server, "MPTcpExtMPJoinAckRx", 1, p)
		p.stdin.Write(up[64<<10:])
		p.stdin.Close()
		if code := p.wait(t); code != exitOK {
			t.Fatalf("exit %d:\n%s", code, p.errText())
		}
		if res := <-srv; res.err != nil || !bytes.Equal(res.got, up) {
			t.Fatalf("kernel server: %d bytes (want %d), %v", len(res.got), len(up), res.err)
		}
		s := lastJSON(t, p.errText())
		if s.MPTCP.BytesRedundant == 0 {
			t.Fatalf("--scheduler redundant sent no copies: %+v", s.MPTCP)
		}
	})
	t.Run("client-no-data", func(t *testing.T) {
		// Nothing on stdin: the DATA_FIN goes out at once on a pure ACK,
		// the server answers and closes, nc exits 0.
		l := mpLab(t, 1, false)
		down := randBytes(t, 256<<10)
		ap, srv := kernelMPTCPServer(t, l, down)
		p := startNC(t, bin, l, append(append([]string{"nc", "--json"}, pathArgs(l)...), ap.Addr().String(), fmt.Sprint(ap.Port()))...)
		p.stdin.Close()
		if code := p.wait(t); code != exitOK {
			t.Fatalf("exit %d:\n%s", code, p.errText())
		}
		if res := <-srv; res.err != nil || len(res.got) != 0 || !res.mptcp {
			t.Fatalf("kernel server: %d bytes, MPTCP %v, %v", len(res.got), res.mptcp, res.err)
		}
		if s := lastJSON(t, p.errText()); !bytes.Equal(p.stdout.Bytes(), down) || s.Fallback || s.BytesReceived != int64(len(down)) {
			t.Fatalf("stdout %d bytes, summary %+v", p.stdout.Len(), s)
		}
	})
}

// testNCBackup: cellular is a backup path, by its --path flag or by
// --mode handover: its join carries the backup flag (the kernel counts
// MPJoinSynBackupRx) and no data while wifi works.
func testNCBackup(t *testing.T, bin, how string) {
	{
		l := mpLab(t, 2, false)
		up := randBytes(t, 4<<20)
		ap, srv := kernelMPTCPServer(t, l, nil)
		args := pathArgs(l)
		if how == "backup-flag" {
			args[3] += ",backup"
		} else {
			args = append([]string{"--mode", "handover"}, args...)
		}
		p := startNC(t, bin, l, append(append([]string{"nc", "--json"}, args...), ap.Addr().String(), fmt.Sprint(ap.Port()))...)
		p.stdin.Write(up[:64<<10])
		waitCounter(t, l, lab.Server, "MPTcpExtMPJoinSynBackupRx", 1, p)
		p.stdin.Write(up[64<<10:])
		p.stdin.Close()
		if code := p.wait(t); code != exitOK {
			t.Fatalf("exit %d:\n%s", code, p.errText())
		}
		if res := <-srv; res.err != nil || !bytes.Equal(res.got, up) || !res.mptcp {
			t.Fatalf("kernel server: %d bytes (want %d), MPTCP %v, %v", len(res.got), len(up), res.mptcp, res.err)
		}
		s := lastJSON(t, p.errText())
		all := append(s.MPTCP.Subflows, s.MPTCP.Closed...)
		var backup, wifi uint64
		n := 0
		for _, sf := range all {
			if strings.HasPrefix(sf.Local, l.ClientAddr(2).String()+":") {
				n++
				if !sf.Backup {
					t.Errorf("subflow %+v is not a backup", sf)
				}
				backup += sf.DataSent
			} else {
				wifi += sf.DataSent
			}
		}
		if n != 1 || backup != 0 || wifi != uint64(len(up)) {
			t.Errorf("%d backup subflows carrying %d bytes, wifi %d: %+v", n, backup, wifi, all)
		}
	}
}

// testNCLinkFlap: the second path's interface goes down in the middle of
// an upload and comes back. nc sees it (netdev.WatchLink): the kernel
// gets a REMOVE_ADDR and the subflow goes; when the link returns nc joins
// again from it. Every byte arrives; the --json events tell the story.
func testNCLinkFlap(t *testing.T, bin string) {
	l := mpLab(t, 2, false)
	up := randBytes(t, 8<<20)
	ap, srv := kernelMPTCPServer(t, l, nil)
	args := append(append([]string{"nc", "-v", "--json"}, pathArgs(l)...), ap.Addr().String(), fmt.Sprint(ap.Port()))
	p := startNC(t, bin, l, args...)
	if _, err := p.stdin.Write(up[:1<<20]); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, l, lab.Server, "MPTcpExtMPJoinAckRx", 1, p)
	dev := l.Iface(lab.Client, 2)
	link := func(state string) {
		if out, err := l.Command(context.Background(), lab.Client, "ip", "link", "set", "dev", dev, state).CombinedOutput(); err != nil {
			t.Fatalf("ip link set %s %s: %v: %s", dev, state, err, out)
		}
	}
	link("down")
	waitCounter(t, l, lab.Server, "MPTcpExtRmAddr", 1, p)
	if _, err := p.stdin.Write(up[1<<20 : 4<<20]); err != nil {
		t.Fatal(err)
	}
	link("up")
	waitCounter(t, l, lab.Server, "MPTcpExtMPJoinAckRx", 2, p)
	if _, err := p.stdin.Write(up[4<<20:]); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("nc exit %d:\n%s", code, p.errText())
	}
	res := <-srv
	if res.err != nil || sha256.Sum256(res.got) != sha256.Sum256(up) {
		t.Fatalf("kernel server got %d of %d bytes (SHA-256 equal: %v), %v", len(res.got), len(up), sha256.Sum256(res.got) == sha256.Sum256(up), res.err)
	}
	stderr := p.errText()
	s := lastJSON(t, stderr)
	a2 := l.ClientAddr(2).String()
	if !hasEvent(s, "addr_down", a2) || !hasEvent(s, "addr_up", a2) {
		t.Fatalf("no addr_down/addr_up events for %s: %+v", a2, s.Events)
	}
	joins := 0
	for _, e := range s.Events {
		if e.Event == "subflow_established" && strings.HasPrefix(e.Local, a2+":") {
			joins++
		}
	}
	if joins != 2 {
		t.Errorf("%d subflows established from %s, want 2 (before and after the flap): %+v", joins, a2, s.Events)
	}
	for _, want := range []string{`msg="link down" dev=` + dev, `msg="link up" dev=` + dev} {
		if !strings.Contains(stderr, want) {
			t.Errorf("-v lacks %s:\n%s", want, stderr)
		}
	}
}
