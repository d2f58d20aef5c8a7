//go:build linux

package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link"
)

// Kernel is the factory of the Linux kernel's DUT: sockets in a network
// namespace made for the run, whose only interface (besides lo) is a TUN
// device; the testbench holds the device's file descriptor, so every
// packet the kernel sends on it comes to the testbench and every packet
// the testbench writes arrives as if from the wire. It needs root and
// /dev/net/tun; New returns an ErrSkip error otherwise. The namespace (and
// with it the device) is deleted in Close.
var Kernel = DUTFactory{Name: "kernel", New: newKernel}

// ipprotoMPTCP is IPPROTO_MPTCP (Linux 5.6+).
const ipprotoMPTCP = 262

var nsCounter atomic.Uint32

type kernelDUT struct {
	ns     string
	tun    *link.TUN
	rcvBuf int
	v6     bool
	topo   Topology
}

// KernelAvailable reports why the kernel DUT cannot run here, or nil.
func KernelAvailable() error {
	if os.Geteuid() != 0 {
		return skipf("kernel DUT needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return skipf("kernel DUT needs ip(8) from iproute2")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return skipf("kernel DUT needs /dev/net/tun")
	}
	return nil
}

func newKernel(ctx context.Context, cfg DUTConfig) (_ DUT, err error) {
	if err := KernelAvailable(); err != nil {
		return nil, err
	}
	d := &kernelDUT{ns: fmt.Sprintf("cf%d-%d", os.Getpid(), nsCounter.Add(1)), rcvBuf: cfg.Setup.RcvBuf,
		v6: cfg.Topology.Family == IPv6, topo: cfg.Topology}
	if err := run(ctx, "ip", "netns", "add", d.ns); err != nil {
		return nil, fmt.Errorf("kernel DUT: %w", err)
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if err := lab.DoNS(d.ns, func() error {
		var err error
		d.tun, err = link.OpenTUN("tb0", link.TUNOptions{MTU: 1500})
		return err
	}); err != nil {
		return nil, fmt.Errorf("kernel DUT: %w", err)
	}
	lines := []string{"link set lo up"}
	for _, a := range cfg.Topology.DUT {
		l := fmt.Sprintf("addr add %s/%d dev tb0", a, cfg.Topology.Prefix)
		if a.Is6() {
			l += " nodad"
		}
		lines = append(lines, l)
	}
	lines = append(lines, "link set tb0 up")
	if s := cfg.Setup; s.Limits != nil || len(s.Endpoints) > 0 {
		lines = append(lines, "mptcp endpoint flush")
		if s.Limits != nil {
			lines = append(lines, fmt.Sprintf("mptcp limits set subflows %d add_addr_accepted %d",
				s.Limits.Subflows, s.Limits.AddAddrAccepted))
		}
		for _, e := range s.Endpoints {
			if e.Addr < 0 || e.Addr >= len(cfg.Topology.DUT) {
				return nil, fmt.Errorf("kernel DUT: endpoint address index %d out of range", e.Addr)
			}
			l := "mptcp endpoint add " + cfg.Topology.DUT[e.Addr].String() + " dev tb0"
			if e.ID != 0 {
				l += " id " + strconv.Itoa(int(e.ID))
			}
			if e.Signal {
				l += " signal"
			}
			if e.Subflow {
				l += " subflow"
			}
			if e.Backup {
				l += " backup"
			}
			lines = append(lines, l)
		}
	}
	cmd := exec.CommandContext(ctx, "ip", "-n", d.ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kernel DUT: ip -batch: %w: %s", err, bytes.TrimSpace(out))
	}
	if err := d.waitLocal(ctx, cfg.Topology.DUT); err != nil {
		return nil, err
	}
	sys := []string{
		// No router solicitations or DAD noise on the testbench's link.
		"net.ipv6.conf.tb0.router_solicitations=0",
		"net.ipv6.conf.tb0.accept_ra=0",
	}
	if cfg.Setup.MPTCPChecksum {
		sys = append(sys, "net.mptcp.checksum_enabled=1")
	}
	if cfg.Setup.AddAddrTimeout > 0 {
		sys = append(sys, "net.mptcp.add_addr_timeout="+strconv.Itoa(cfg.Setup.AddAddrTimeout))
	}
	for _, kv := range cfg.Setup.KernelSysctls {
		name, _, _ := strings.Cut(kv, "=")
		if _, err := os.Stat("/proc/sys/" + strings.ReplaceAll(name, ".", "/")); err == nil {
			sys = append(sys, kv)
		}
	}
	// Written from a thread inside the namespace: /proc/sys/net is the
	// namespace of the writer (no sysctl(8) needed).
	if err := lab.DoNS(d.ns, func() error {
		for _, kv := range sys {
			name, val, _ := strings.Cut(kv, "=")
			if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(name, ".", "/"), []byte(val), 0); err != nil {
				return fmt.Errorf("sysctl %s: %w", kv, err)
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("kernel DUT: %w", err)
	}
	return d, nil
}

// waitLocal waits until each address is in the namespace's local routing
// table. IPv6 brings addresses into service from a work queue when the
// link comes up (even without DAD), so on a loaded machine a packet can
// arrive before its destination is local and be dropped (Ip6InAddrErrors).
func (d *kernelDUT) waitLocal(ctx context.Context, addrs []netip.Addr) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, "ip", "-n", d.ns, "-4", "route", "show", "table", "local").Output()
		if err != nil {
			return fmt.Errorf("kernel DUT: ip route show table local: %w", err)
		}
		out6, err := exec.CommandContext(ctx, "ip", "-n", d.ns, "-6", "route", "show", "table", "local").Output()
		if err != nil {
			return fmt.Errorf("kernel DUT: ip -6 route show table local: %w", err)
		}
		have := map[string]bool{}
		for _, l := range strings.Split(string(out)+string(out6), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "local" {
				have[f[1]] = true
			}
		}
		missing := ""
		for _, a := range addrs {
			if !have[a.String()] {
				missing = a.String()
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kernel DUT: address %s not local after 10 s", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (d *kernelDUT) Name() string        { return "kernel" }
func (d *kernelDUT) Link() link.Endpoint { return d.tun }

// endpointID returns the id of the endpoint of the DUT's address i.
func (d *kernelDUT) endpointID(ctx context.Context, i int) (string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", d.ns, "mptcp", "endpoint", "show").Output()
	if err != nil {
		return "", fmt.Errorf("ip mptcp endpoint show: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == d.topo.DUT[i].String() && f[1] == "id" {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("no endpoint for %v in %q", d.topo.DUT[i], out)
}

// RemoveEndpoint implements PathManager.
func (d *kernelDUT) RemoveEndpoint(ctx context.Context, i int) error {
	id, err := d.endpointID(ctx, i)
	if err != nil {
		return err
	}
	return run(ctx, "ip", "-n", d.ns, "mptcp", "endpoint", "delete", "id", id)
}

// SetBackup implements PathManager.
func (d *kernelDUT) SetBackup(ctx context.Context, i int, backup bool) error {
	id, err := d.endpointID(ctx, i)
	if err != nil {
		return err
	}
	flag := "nobackup"
	if backup {
		flag = "backup"
	}
	return run(ctx, "ip", "-n", d.ns, "mptcp", "endpoint", "change", "id", id, flag)
}

// Diagnose describes the namespace's state for a failed run's trace:
// addresses, routes, sockets and the non-zero TCP/IP/MPTCP counters.
func (d *kernelDUT) Diagnose() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-n", d.ns, "addr"},
		{"ip", "-n", d.ns, "-6", "route"},
		{"ip", "netns", "exec", d.ns, "ss", "-tanoiM"},
		{"ip", "netns", "exec", d.ns, "nstat", "-asz"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s\n%s", strings.Join(args, " "), out)
		if err != nil {
			fmt.Fprintf(&b, "(%v)\n", err)
		}
	}
	return b.String()
}

func (d *kernelDUT) Close() error {
	var err error
	if d.tun != nil {
		err = d.tun.Close()
	}
	if e := exec.Command("ip", "netns", "del", d.ns).Run(); e != nil && err == nil {
		err = fmt.Errorf("kernel DUT: ip netns del %s: %w", d.ns, e)
	}
	return err
}

// control returns a socket Control function that sets the receive buffer
// and the socket options of o, and checks that an MPTCP socket really is
// one (Go falls back to TCP silently when the kernel refuses IPPROTO_MPTCP).
func (d *kernelDUT) control(o SockOpts) func(network, address string, c syscall.RawConn) error {
	// Go retries a failed MPTCP socket as plain TCP; the MPTCP attempt's
	// error is the one to report.
	var mptcpErr error
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			set := func(level, opt, v int) {
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), level, opt, v)
				}
			}
			if d.rcvBuf > 0 {
				set(unix.SOL_SOCKET, unix.SO_RCVBUF, d.rcvBuf)
			}
			if o.TTL != 0 {
				if d.v6 {
					set(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, o.TTL)
				} else {
					set(unix.IPPROTO_IP, unix.IP_TTL, o.TTL)
				}
			}
			if o.TOS != 0 {
				if d.v6 {
					set(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.TOS)
				} else {
					set(unix.IPPROTO_IP, unix.IP_TOS, o.TOS)
				}
			}
			if o.FastOpen != 0 {
				set(unix.IPPROTO_TCP, unix.TCP_FASTOPEN, o.FastOpen)
			}
			if serr != nil {
				return
			}
			proto, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PROTOCOL)
			if err != nil {
				serr = err
				return
			}
			if o.MPTCP != (proto == ipprotoMPTCP) {
				serr = fmt.Errorf("kernel socket protocol %d, want MPTCP %v", proto, o.MPTCP)
				if mptcpErr != nil {
					serr = fmt.Errorf("MPTCP socket: %w", mptcpErr)
				}
			}
		})
		if err != nil {
			return err
		}
		if serr != nil && o.MPTCP && mptcpErr == nil {
			mptcpErr = serr
		}
		if errors.Is(serr, unix.EOPNOTSUPP) {
			serr = fmt.Errorf("%w (%w)", serr, ErrNotSupported)
		}
		return serr
	}
}

func (d *kernelDUT) Listen(ctx context.Context, laddr netip.AddrPort, o SockOpts) (Listener, error) {
	var ln net.Listener
	err := lab.DoNS(d.ns, func() error {
		lc := net.ListenConfig{Control: d.control(o), KeepAlive: -1}
		lc.SetMultipathTCP(o.MPTCP)
		var err error
		ln, err = lc.Listen(ctx, "tcp", laddr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	tl := ln.(*net.TCPListener)
	return kernelListener{tl}, nil
}

func (d *kernelDUT) Dial(ctx context.Context, raddr netip.AddrPort, o SockOpts) (Conn, error) {
	var c net.Conn
	err := lab.DoNS(d.ns, func() error {
		dl := net.Dialer{Control: d.control(o), KeepAlive: -1}
		dl.SetMultipathTCP(o.MPTCP)
		var err error
		c, err = dl.DialContext(ctx, "tcp", raddr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return kernelConn{c.(*net.TCPConn)}, nil
}

type kernelConn struct{ *net.TCPConn }

// ReadZero implements ZeroReader: read(2) with a zero-length buffer.
func (c kernelConn) ReadZero() (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) { n, rerr = unix.Read(int(fd), nil) }); err != nil {
		return 0, err
	}
	return n, rerr
}

func (c kernelConn) Abort() error {
	if err := c.SetLinger(0); err != nil {
		return err
	}
	return c.Close()
}

type kernelListener struct{ l *net.TCPListener }

func (l kernelListener) Addr() netip.AddrPort { return l.l.Addr().(*net.TCPAddr).AddrPort() }
func (l kernelListener) Close() error         { return l.l.Close() }

func (l kernelListener) Accept(ctx context.Context) (Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		l.l.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { l.l.SetDeadline(time.Now()) })
	defer stop()
	c, err := l.l.AcceptTCP()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	c.SetKeepAlive(false)
	return kernelConn{c}, nil
}

// Socket implements SocketAPI: a non-blocking stream socket made in the
// DUT's namespace.
func (d *kernelDUT) Socket(o SockOpts) (Socket, error) {
	proto := unix.IPPROTO_TCP
	if o.MPTCP {
		proto = ipprotoMPTCP
	}
	var fd int
	err := lab.DoNS(d.ns, func() error {
		fam := unix.AF_INET
		if d.v6 {
			fam = unix.AF_INET6
		}
		var err error
		fd, err = unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	return &rawSocket{fd: fd}, nil
}

type rawSocket struct{ fd int }

func (s *rawSocket) Connect(raddr netip.AddrPort) error {
	var sa unix.Sockaddr
	if raddr.Addr().Is4() {
		sa = &unix.SockaddrInet4{Port: int(raddr.Port()), Addr: raddr.Addr().As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(raddr.Port()), Addr: raddr.Addr().As16()}
	}
	err := unix.Connect(s.fd, sa)
	if errors.Is(err, unix.EINPROGRESS) {
		return nil
	}
	return wrapErrno("connect", err)
}

func (s *rawSocket) Read(n int) ([]byte, error) {
	b := make([]byte, n)
	m, err := unix.Read(s.fd, b)
	if err != nil {
		return nil, wrapErrno("read", err)
	}
	return b[:m], nil
}

func (s *rawSocket) Write(b []byte) (int, error) {
	n, err := unix.Write(s.fd, b)
	return n, wrapErrno("write", err)
}

func (s *rawSocket) Shutdown(how int) error { return wrapErrno("shutdown", unix.Shutdown(s.fd, how)) }

func (s *rawSocket) Err() error {
	v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return wrapErrno("getsockopt SO_ERROR", err)
	}
	if v != 0 {
		return wrapErrno("SO_ERROR", syscall.Errno(v))
	}
	return nil
}

func (s *rawSocket) Close() error { return wrapErrno("close", unix.Close(s.fd)) }

func wrapErrno(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}
