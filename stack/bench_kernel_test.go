//go:build linux

package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/tcp"
	"golang.org/x/sys/unix"
)

// setCC sets a kernel socket's congestion control (TCP_CONGESTION), so
// the kernel is compared with the same algorithm as ours: this machine's
// default is BBR, which does not back off on random loss.
func setCC(tb testing.TB, c net.Conn, name string) {
	tb.Helper()
	if name == "" {
		return
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, unix.TCP_CONGESTION, name)
	}); err != nil || serr != nil {
		tb.Skipf("cannot set congestion control %s: %v %v", name, err, serr)
	}
}

// cpuTime returns this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// kernelLab brings up a lab whose client is the kernel (for the
// kernel-to-kernel baseline).
// With offload the veths keep TSO/GSO/GRO (bridged paths only).
func kernelLab(b *testing.B, spec emu.Spec, offload bool) *lab.Lab {
	b.Helper()
	needRoot(b)
	cfg := lab.Config{
		Name:     fmt.Sprintf("stkk%d-%d", os.Getpid()%100000, labSeq.Add(1)),
		Paths:    []lab.PathSpec{lab.Symmetric("p1", spec)},
		Offload:  offload,
		Seed:     7,
		StateDir: filepath.Join(os.TempDir(), "mptcp-stack-test"),
	}
	l, err := lab.Up(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

func kernelPair(b *testing.B, l *lab.Lab) (client, server net.Conn) {
	b.Helper()
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(false)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", l.ServerAddr(1).String()+":0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); ch <- c }()
	if err := l.Do(lab.Client, func() error {
		d := net.Dialer{}
		d.SetMultipathTCP(false)
		var err error
		client, err = d.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return client, <-ch
}

// sendCount streams size bytes from src to dst without generating or
// hashing data (so the measurement is the transport's), and checks that
// dst received exactly size bytes: dst replies with the count.
func sendCount(b *testing.B, src, dst net.Conn, size int) time.Duration {
	b.Helper()
	src.SetDeadline(time.Now().Add(5 * time.Minute))
	dst.SetDeadline(time.Now().Add(5 * time.Minute))
	errc := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, dst)
		if err == nil {
			_, err = fmt.Fprintf(dst, "%d\n", n)
		}
		dst.Close()
		errc <- err
	}()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := 0; sent < size; {
		n, err := src.Write(buf[:min(len(buf), size-sent)])
		if err != nil {
			b.Fatalf("send: %v", err)
		}
		sent += n
	}
	src.(interface{ CloseWrite() error }).CloseWrite()
	var got int
	if _, err := fmt.Fscan(src, &got); err != nil {
		b.Fatalf("reading count: %v", err)
	}
	el := time.Since(start)
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	if got != size {
		b.Fatalf("receiver got %d of %d bytes", got, size)
	}
	src.Close()
	return el
}

// benchTransfer runs b.N transfers of size bytes from src to dst (a new
// connection pair each time) and reports goodput and CPU per GB.
func benchTransfer(b *testing.B, size int, pair func() (src, dst net.Conn)) {
	b.SetBytes(int64(size))
	var total time.Duration
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		src, dst := pair()
		total += sendCount(b, src, dst, size)
	}
	cpu := cpuTime() - cpu0
	gb := float64(size) * float64(b.N) / 1e9
	b.ReportMetric(float64(size)*float64(b.N)*8/total.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
}

// BenchmarkKernelComparison measures, in one run, kernel-to-kernel TCP and
// our stack against the kernel (both directions) over the same lab path
// (kernel senders use CUBIC like ours; "default" is the system's choice,
// BBR here, which "stack-to-kernel-bbr", our stack sending with BBR, is
// to be compared with):
// an unshaped veth path, and a 100 Mbit/s, 50 ms RTT, 1% loss emulated
// path. "veth" has the veths' offloads off (wire-sized frames everywhere);
// "veth-offload" keeps TSO/GSO/GRO on and our AF_PACKET socket exchanges
// TSO super-frames with the kernel (link.AFPacketOptions.Offload), so
// each side is compared with the kernel under the same offloads.
// cpu-s/GB is this process's CPU time (our stack and the Go side of the
// kernel socket) per GB moved; kernel softirq time is not included.
func BenchmarkKernelComparison(b *testing.B) {
	paths := []struct {
		name    string
		spec    emu.Spec
		size    int
		offload bool
	}{
		{"veth", emu.Spec{}, 256 << 20, false},
		{"veth-offload", emu.Spec{}, 256 << 20, true},
		{"100mbit-50ms-1pct", emu.Spec{Rate: 100e6, Delay: 25 * time.Millisecond, Loss: 0.01}, 4 << 20, false},
		{"50mbit-100ms-5pct", emu.Spec{Rate: 50e6, Delay: 50 * time.Millisecond, Loss: 0.05}, 1 << 20, false},
	}
	for _, p := range paths {
		for _, cc := range []string{"cubic", ""} {
			name := p.name + "/kernel-to-kernel-" + cc
			if cc == "" {
				name = p.name + "/kernel-to-kernel-default"
			}
			b.Run(name, func(b *testing.B) {
				l := kernelLab(b, p.spec, p.offload)
				benchTransfer(b, p.size, func() (net.Conn, net.Conn) {
					c, s := kernelPair(b, l)
					setCC(b, c, cc)
					return c, s
				})
			})
		}
		for _, ours := range []struct {
			name       string
			stackSends bool
			cc         string
		}{
			{"stack-to-kernel", true, ""},
			{"kernel-to-stack", false, ""},
			// Our BBR against the kernel's default (BBR on this machine).
			{"stack-to-kernel-bbr", true, "bbr"},
		} {
			name, stackSends := p.name+"/"+ours.name, ours.stackSends
			opts := Options{TCP: tcp.Config{CongestionControl: ours.cc}}
			b.Run(name, func(b *testing.B) {
				var lp *labPeer
				if p.offload {
					vp := newVethPeer(b, opts, true, false)
					lp = &vp.labPeer
					b.Cleanup(func() {
						w, r := vp.ep.GSOCounts()
						b.Logf("super-frames written %d, read %d", w, r)
					})
				} else {
					lp = newLabPeer(b, p.spec, opts)
				}
				benchTransfer(b, p.size, func() (net.Conn, net.Conn) {
					ours, theirs := lp.connPair(b, true)
					if stackSends {
						return ours, theirs
					}
					setCC(b, theirs, "cubic")
					return theirs, ours
				})
			})
		}
	}
}
