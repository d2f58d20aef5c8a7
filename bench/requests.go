package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/mpconn"
)

func percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[int(q*float64(len(v)-1)+0.5)]
}

// runRequests: s.size exchanges per repetition on one connection, ten a
// second; our stack answers as the server (its scheduler decides where the
// response goes), with min-RTT and with the redundant scheduler.
func runRequests(r *runner, s *scenario) []Row {
	redundant, _ := mpconn.SchedulerByName("redundant")
	pairs := []pair{
		{name: "ours minrtt", ours: lab.Server},
		{name: "ours redundant", ours: lab.Server, cfg: mptcp.Config{NewScheduler: redundant}},
		{name: "kernel -> kernel"},
		{name: "tcp path 2", tcp: true, tcpPath: 2},
	}
	resp := payload(64<<10, 3)
	req := payload(100, 4)
	var out []Row
	for _, p := range pairs {
		rows := []*Row{{Pair: p.name, Metric: "time to first byte p50", Unit: "ms"}, {Pair: p.name, Metric: "time to first byte p99", Unit: "ms"},
			{Pair: p.name, Metric: "time to complete p50", Unit: "ms"}, {Pair: p.name, Metric: "time to complete p99", Unit: "ms"}}
		err := r.withLab(s.paths, p, func(l *lab.Lab) error {
			st, err := r.prepare(l, p)
			if err != nil {
				return err
			}
			defer st.close()
			for rep := 0; rep < r.o.Reps; rep++ {
				ctx, cancel := context.WithTimeout(r.ctx, 3*time.Minute)
				c, err := st.connect(ctx)
				cancel()
				if err != nil {
					return err
				}
				var tt, td []float64
				for i := 0; i < s.size; i++ {
					c.cli.SetDeadline(time.Now().Add(time.Minute))
					c.srv.SetDeadline(time.Now().Add(time.Minute))
					ttfb, done, err := exchange(c.cli, c.srv, resp, req)
					if err != nil {
						c.Close()
						return fmt.Errorf("exchange %d: %w", i, err)
					}
					tt = append(tt, float64(ttfb.Microseconds())/1000)
					td = append(td, float64(done.Microseconds())/1000)
					time.Sleep(max(100*time.Millisecond-done, 0))
				}
				c.Close()
				rows[0].Values = append(rows[0].Values, percentile(tt, 0.5))
				rows[1].Values = append(rows[1].Values, percentile(tt, 0.99))
				rows[2].Values = append(rows[2].Values, percentile(td, 0.5))
				rows[3].Values = append(rows[3].Values, percentile(td, 0.99))
				r.progress("  %-16s %-18s rep %d: %d exchanges, complete p50 %.1f ms p99 %.1f ms", s.Name, p.name, rep+1, s.size, percentile(td, 0.5), percentile(td, 0.99))
			}
			return nil
		})
		out = append(out, r.finish(rows, err, s.Name, p.name)...)
	}
	return out
}

// runConns: s.size MPTCP connections from the kernel to our stack, all
// established before any sends (memory per established connection, from
// this process's heap), then each sends 256 KiB at once (fairness: Jain's
// index of the connections' goodputs; aggregate goodput).
func runConns(r *runner, s *scenario) []Row {
	n := s.size
	const each = 256 << 10
	data := payload(each, 5)
	p := pair{name: "kernel -> ours", ours: lab.Server}
	rows := []*Row{{Pair: p.name, Metric: "memory per connection", Unit: "KiB"}, {Pair: p.name, Metric: "fairness (Jain)", Unit: ""},
		{Pair: p.name, Metric: "aggregate goodput", Unit: "Mbit/s"}}
	err := r.withLab(s.paths, p, func(l *lab.Lab) error {
		for rep := 0; rep < r.o.Reps; rep++ {
			// A fresh stack each time: the heap then holds nothing of the
			// last round's connections.
			st, err := r.prepare(l, p)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Minute)
			err = oneConnsRound(ctx, r, l, st, n, data, rows)
			cancel()
			st.close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	return r.finish(rows, err, s.Name, p.name)
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func oneConnsRound(ctx context.Context, r *runner, l *lab.Lab, st *setup, n int, data []byte, rows []*Row) error {
	raddr := netip.AddrPortFrom(l.ServerAddr(1), uint16(st.ln.Addr().(*net.TCPAddr).Port))
	// The last round's stack winds down in the background: let it go
	// before the baseline.
	time.Sleep(time.Second)
	heap()
	before := heap()
	var mu sync.Mutex
	var srvs []net.Conn
	accDone := make(chan error, 1)
	go func() {
		for len(srvs) < n {
			c, err := acceptOne(ctx, st.ln)
			if err != nil {
				accDone <- err
				return
			}
			mu.Lock()
			srvs = append(srvs, c)
			mu.Unlock()
		}
		accDone <- nil
	}()
	clis := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := kernelDial(ctx, l, lab.Client, true, raddr, r.o.CongestionControl)
			if err != nil {
				errs <- err
				return
			}
			clis[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	defer func() {
		for _, c := range clis {
			if c != nil {
				c.Close()
			}
		}
		mu.Lock()
		for _, c := range srvs {
			c.Close()
		}
		mu.Unlock()
	}()
	if err := <-errs; err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	if err := <-accDone; err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // joins
	per := float64(int64(heap())-int64(before)) / float64(n) / 1024
	rows[0].Values = append(rows[0].Values, per)

	start := time.Now()
	done := make([]time.Duration, n)
	var rg sync.WaitGroup
	rerr := make(chan error, n)
	for i, c := range srvs {
		rg.Add(1)
		go func() {
			defer rg.Done()
			c.SetReadDeadline(time.Now().Add(3 * time.Minute))
			buf := make([]byte, 64<<10)
			got := 0
			for got < len(data) {
				k, err := c.Read(buf)
				got += k
				if err != nil {
					rerr <- fmt.Errorf("connection %d: %d of %d bytes: %w", i, got, len(data), err)
					return
				}
			}
			done[i] = time.Since(start)
		}()
	}
	for _, c := range clis {
		go func() {
			c.SetWriteDeadline(time.Now().Add(3 * time.Minute))
			c.Write(data)
		}()
	}
	rg.Wait()
	close(rerr)
	if err := <-rerr; err != nil {
		return err
	}
	total := time.Duration(0)
	var sum, sumsq float64
	for _, d := range done {
		x := float64(len(data)) / d.Seconds()
		sum += x
		sumsq += x * x
		total = max(total, d)
	}
	jain := sum * sum / (float64(n) * sumsq)
	rows[1].Values = append(rows[1].Values, jain)
	agg := float64(n*len(data)) * 8 / total.Seconds() / 1e6
	rows[2].Values = append(rows[2].Values, agg)
	r.progress("  %-16s %-18s %d connections: %.1f KiB each, Jain %.3f, %.0f Mbit/s", "connections", "kernel -> ours", n, per, jain, agg)
	return nil
}
