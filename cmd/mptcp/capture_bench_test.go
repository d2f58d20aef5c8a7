package main

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
)

// BenchmarkCaptureLineRate: kernel MPTCP at full speed over two bridged
// veth paths (no emulator), captured in the client namespace on every
// interface by 'mptcp capture' (MPTCP filter, live analysis and
// reassembly, pinned to one CPU with GOMAXPROCS=1) and, in the same run,
// by 'tcpdump -w /dev/null' (the anchor). It reports the transfer's rate,
// each capture's kernel drops and CPU seconds per GB carried, with
// offloads (GRO/TSO super-packets) and without (wire-sized segments).
//
//	go test ./cmd/mptcp -run '^$' -bench CaptureLineRate -benchtime 1x
func BenchmarkCaptureLineRate(b *testing.B) {
	labtest.Requirements(b, "tcpdump", "taskset")
	bin := filepath.Join(b.TempDir(), "mptcp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v: %s", err, out)
	}
	for _, offload := range []bool{true, false} {
		name := "offload"
		if !offload {
			name = "no-offload"
		}
		b.Run(name, func(b *testing.B) {
			l := labtest.New(b, lab.Config{Offload: offload})
			size := int64(1 << 30)
			if !offload {
				size = 256 << 20
			}
			var rate, capDrop, tdDrop, capCPU, tdCPU, capPkts, tdPkts float64
			for range b.N {
				r := lineRateRun(b, l, bin, size)
				rate += r.gbps
				capDrop += float64(r.capDrops)
				tdDrop += float64(r.tdDrops)
				capCPU += r.capCPU.Seconds() / (float64(size) / 1e9)
				tdCPU += r.tdCPU.Seconds() / (float64(size) / 1e9)
				capPkts += float64(r.capPkts)
				tdPkts += float64(r.tdPkts)
			}
			n := float64(b.N)
			b.ReportMetric(rate/n, "Gbit/s")
			b.ReportMetric(capPkts/n, "capture-pkts")
			b.ReportMetric(capDrop/n, "capture-drops")
			b.ReportMetric(capCPU/n, "capture-cpu-s/GB")
			b.ReportMetric(tdPkts/n, "tcpdump-pkts")
			b.ReportMetric(tdDrop/n, "tcpdump-drops")
			b.ReportMetric(tdCPU/n, "tcpdump-cpu-s/GB")
		})
	}
}

type lineRate struct {
	gbps              float64
	capPkts, capDrops uint64
	tdPkts, tdDrops   uint64
	capCPU, tdCPU     time.Duration
}

var (
	capStatsRE = regexp.MustCompile(`(\d+) packets captured, (\d+) dropped by the kernel`)
	tdRecvRE   = regexp.MustCompile(`(\d+) packets received by filter`)
	tdDropRE   = regexp.MustCompile(`(\d+) packets dropped by kernel`)
)

func lineRateRun(b *testing.B, l *lab.Lab, bin string, size int64) lineRate {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	capErr, tdErr := newWatchBuffer(), newWatchBuffer()
	capCmd := l.Command(ctx, lab.Client, "taskset", "-c", "1", bin, "capture", "-i", "any", "--interval", "0")
	capCmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	capCmd.Stdout, capCmd.Stderr = io.Discard, capErr
	tdCmd := l.Command(ctx, lab.Client, "tcpdump", "-i", "any", "-n", "-w", "/dev/null")
	tdCmd.Stdout, tdCmd.Stderr = io.Discard, tdErr
	for _, c := range []*exec.Cmd{capCmd, tdCmd} {
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
	}
	if !capErr.wait(ctx, "capturing on any") || !tdErr.wait(ctx, "listening on any") {
		b.Fatalf("captures did not start: %s / %s", capErr.String(), tdErr.String())
	}
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(ctx, "tcp4", netip.AddrPortFrom(l.ServerAddr(1), 0).String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, c)
		c.Close()
		got <- n
	}()
	var c net.Conn
	if err := l.Do(lab.Client, func() error {
		var d net.Dialer
		d.SetMultipathTCP(true)
		var err error
		c, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		return err
	}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	start := time.Now()
	for sent := int64(0); sent < size; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	n := <-got
	el := time.Since(start)
	if n != size {
		b.Fatalf("server got %d of %d bytes", n, size)
	}
	// Both captures are stopped as Ctrl-C stops them, once they are idle.
	for _, cmd := range []*exec.Cmd{capCmd, tdCmd} {
		cmd.Process.Signal(syscall.SIGINT)
	}
	for _, cmd := range []*exec.Cmd{capCmd, tdCmd} {
		cmd.Wait()
	}
	r := lineRate{gbps: float64(size) * 8 / el.Seconds() / 1e9,
		capCPU: capCmd.ProcessState.UserTime() + capCmd.ProcessState.SystemTime(),
		tdCPU:  tdCmd.ProcessState.UserTime() + tdCmd.ProcessState.SystemTime()}
	num := func(re *regexp.Regexp, s string) uint64 {
		m := re.FindStringSubmatch(s)
		if m == nil {
			b.Fatalf("no %v in %q", re, s)
		}
		v, _ := strconv.ParseUint(m[len(m)-1], 10, 64)
		return v
	}
	if m := capStatsRE.FindStringSubmatch(capErr.String()); m != nil {
		r.capPkts, _ = strconv.ParseUint(m[1], 10, 64)
		r.capDrops, _ = strconv.ParseUint(m[2], 10, 64)
	} else {
		b.Fatalf("mptcp capture's stderr: %s", capErr.String())
	}
	r.tdPkts, r.tdDrops = num(tdRecvRE, tdErr.String()), num(tdDropRE, tdErr.String())
	b.Logf("%.2f Gbit/s; mptcp capture %d packets %d dropped %v CPU; tcpdump %d packets %d dropped %v CPU",
		r.gbps, r.capPkts, r.capDrops, r.capCPU, r.tdPkts, r.tdDrops, r.tdCPU)

	return r
}
