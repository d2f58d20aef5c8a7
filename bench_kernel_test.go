//go:build linux

package mptcp_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// stream sends size bytes from src to dst (no data generation or
// hashing: the measurement is the transport's) and checks dst got them
// all; it returns the elapsed time.
func stream(b *testing.B, src, dst net.Conn, size int) time.Duration {
	b.Helper()
	src.SetDeadline(time.Now().Add(5 * time.Minute))
	dst.SetDeadline(time.Now().Add(5 * time.Minute))
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, dst)
		got <- n
	}()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := 0; sent < size; {
		n, err := src.Write(buf[:min(len(buf), size-sent)])
		if err != nil {
			b.Fatalf("send after %d bytes: %v", sent, err)
		}
		sent += n
	}
	src.(interface{ CloseWrite() error }).CloseWrite()
	n := <-got
	elapsed := time.Since(start)
	if n != int64(size) {
		b.Fatalf("received %d of %d bytes", n, size)
	}
	src.Close()
	dst.Close()
	return elapsed
}

// BenchmarkKernelComparisonMPTCP: MPTCP over two unshaped veth paths
// (kernel bridges), kernel to kernel, our stack to the kernel and the
// kernel to our stack, in the same run. Reports goodput and this
// process's CPU time per GB (kernel softirq work outside it is not
// counted).
//
//	go test -run XXX -bench KernelComparisonMPTCP -benchtime 3x -count 2 .
func BenchmarkKernelComparisonMPTCP(b *testing.B) {
	const size = 512 << 20
	for _, offload := range []bool{false, true} {
		paths := []lab.PathSpec{{Name: "wifi"}, {Name: "cellular"}}
		name := "offload-off"
		if offload {
			name = "offload-on"
		}
		b.Run(name+"/kernel-to-kernel", func(b *testing.B) {
			labtest.Requirements(b)
			l := labtest.New(b, lab.Config{Paths: paths, Offload: offload})
			runBench(b, size, func() (net.Conn, net.Conn) { return kernelMPTCPPair(b, l) })
		})
		b.Run(name+"/ours-to-kernel", func(b *testing.B) {
			k := newKernelLabOpts(b, lab.Config{Paths: paths, Offload: offload}, lab.Client, mptcp.Config{}, link.AFPacketOptions{Offload: offload})
			ln := k.kernelListenB(b)
			runBench(b, size, func() (net.Conn, net.Conn) {
				acc := make(chan net.Conn, 1)
				go func() { c, _ := ln.Accept(); acc <- c }()
				c, err := k.h.Dial(context.Background(), netip.AddrPortFrom(k.l.ServerAddr(1), 5201))
				if err != nil {
					b.Fatal(err)
				}
				return c, <-acc
			})
		})
		b.Run(name+"/kernel-to-ours", func(b *testing.B) {
			k := newKernelLabOpts(b, lab.Config{Paths: paths, Offload: offload}, lab.Server, mptcp.Config{}, link.AFPacketOptions{Offload: offload})
			if out, err := k.l.Command(context.Background(), lab.Client, "ip", "mptcp", "endpoint", "flush").CombinedOutput(); err != nil {
				b.Fatalf("endpoint flush: %v: %s", err, out)
			}
			ln, err := k.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			runBench(b, size, func() (net.Conn, net.Conn) {
				acc := make(chan net.Conn, 1)
				go func() { c, _ := ln.Accept(); acc <- c }()
				var kc net.Conn
				if err := k.l.Do(lab.Client, func() error {
					d := net.Dialer{Timeout: 30 * time.Second}
					d.SetMultipathTCP(true)
					var err error
					kc, err = d.Dial("tcp", netip.AddrPortFrom(k.l.ServerAddr(1), 5201).String())
					return err
				}); err != nil {
					b.Fatal(err)
				}
				return kc, <-acc
			})
		})
	}
}

// runBench runs b.N transfers on fresh connections from pair and reports
// Mbit/s and CPU s/GB. Joins are not awaited: Linux's client joins once
// the server acknowledged data, within the first round trips.
func runBench(b *testing.B, size int, pair func() (net.Conn, net.Conn)) {
	var total time.Duration
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		src, dst := pair()
		c0 := cpuTime()
		total += stream(b, src, dst, size)
		cpu += cpuTime() - c0
	}
	bytes := float64(size) * float64(b.N)
	b.ReportMetric(bytes*8/total.Seconds()/1e6, "Mbit/s")
	b.ReportMetric(cpu.Seconds()/(bytes/1e9), "CPU-s/GB")
	b.ReportMetric(0, "ns/op")
}

func kernelMPTCPPair(b *testing.B, l *lab.Lab) (net.Conn, net.Conn) {
	b.Helper()
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); acc <- c }()
	var c net.Conn
	port := ln.Addr().(*net.TCPAddr).Port
	if err := l.Do(lab.Client, func() error {
		d := net.Dialer{}
		d.SetMultipathTCP(true)
		var err error
		c, err = d.Dial("tcp", netip.AddrPortFrom(l.ServerAddr(1), uint16(port)).String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return c, <-acc
}

func (k *kernelLab) kernelListenB(b *testing.B) net.Listener {
	b.Helper()
	var ln net.Listener
	if err := k.l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:5201")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	return ln
}

// BenchmarkIdleConnMemory: heap held per established, idle MPTCP
// connection (both ends on our stack, over an in-memory link).
func BenchmarkIdleConnMemory(b *testing.B) {
	const conns = 500
	cli, srv := stack.New(stack.Options{}), stack.New(stack.Options{})
	defer cli.Close()
	defer srv.Close()
	x, y := link.NewPipe(link.PipeOptions{})
	cli.AddInterface(x, stack.InterfaceConfig{Name: "a", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.1/24")}})
	srv.AddInterface(y, stack.InterfaceConfig{Name: "b", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.2/24")}})
	hc, _ := mptcp.NewHost(cli, mptcp.Config{})
	hs, _ := mptcp.NewHost(srv, mptcp.Config{})
	ln, err := hs.Listen(netip.MustParseAddrPort("198.18.1.2:80"))
	if err != nil {
		b.Fatal(err)
	}
	var accepted []net.Conn
	done := make(chan struct{})
	go func() {
		for len(accepted) < conns*b.N {
			c, err := ln.Accept()
			if err != nil {
				break
			}
			accepted = append(accepted, c)
		}
		close(done)
	}()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	var held []net.Conn
	for i := 0; i < conns*b.N; i++ {
		c, err := hc.Dial(context.Background(), netip.MustParseAddrPort("198.18.1.2:80"))
		if err != nil {
			b.Fatal(err)
		}
		// One exchange each way, so buffers were used once.
		c.Write([]byte("ping"))
		held = append(held, c)
	}
	<-done
	for _, c := range accepted {
		buf := make([]byte, 4)
		io.ReadFull(c, buf)
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	per := float64(ms.HeapAlloc-before) / float64(len(held))
	b.ReportMetric(per/1024, "KiB/conn(both-ends)")
	b.ReportMetric(0, "ns/op")
	for _, c := range held {
		c.Close()
	}
}
