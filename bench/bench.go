package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/mpconn"
)

// Options configure a run.
type Options struct {
	// Reps is how often each measurement is repeated (3 if zero).
	Reps int
	// Short shrinks every transfer (and the connection count) for a quick
	// check of the whole table, as the test suite runs it.
	Short bool
	// Match, if set, keeps the scenarios whose name it matches.
	Match *regexp.Regexp
	// Progress receives a line per measurement (nil: none).
	Progress io.Writer
	// CongestionControl is every TCP flow's and subflow's congestion
	// control, the kernel's (net.ipv4.tcp_congestion_control in the labs'
	// namespaces) and ours alike, so that the stacks are compared, not
	// two controllers: "cubic" (Linux's default) if empty. A namespace
	// otherwise inherits the host's setting, which may be another one
	// (BBR on the machine these figures come from).
	CongestionControl string
}

// Row is one measurement of one scenario for one pair of ends.
type Row struct {
	Scenario string    `json:"scenario"`
	Pair     string    `json:"pair"`
	Metric   string    `json:"metric"`
	Unit     string    `json:"unit"`
	Values   []float64 `json:"values"`
	Median   float64   `json:"median"`
	Min      float64   `json:"min"`
	Max      float64   `json:"max"`
	// Error says why the measurement failed (Values then holds the reps
	// that worked, if any).
	Error string `json:"error,omitempty"`
}

// Result is a whole run.
type Result struct {
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"`
	Machine  Machine   `json:"machine"`
	Reps     int       `json:"reps"`
	// CongestionControl is every flow's congestion control, both stacks'.
	CongestionControl string     `json:"congestion_control"`
	Short             bool       `json:"short"`
	Scenarios         []Scenario `json:"scenarios"`
	Rows              []Row      `json:"rows"`
}

// Machine records where the run happened.
type Machine struct {
	Kernel string `json:"kernel"`
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
	Load   string `json:"load_at_start"`
	// HostCongestionControl is the host's default TCP congestion control
	// (what a namespace would inherit; the run sets its own).
	HostCongestionControl string `json:"host_congestion_control"`
}

// Scenario describes a scenario.
type Scenario struct {
	Name  string `json:"name"`
	What  string `json:"what"`
	Paths string `json:"paths"`
	Bytes int    `json:"bytes"`
	Goal  string `json:"goal,omitempty"`
}

// scenario is a scenario and how to run it.
type scenario struct {
	Scenario
	paths []lab.PathSpec
	size  int // bytes per transfer (Short: size/8, at least 1 MiB), or a count
	// shortSize, if set, is size in Short runs.
	shortSize int
	run       func(r *runner, s *scenario) []Row
}

// Run runs the scenarios and returns the table.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Reps <= 0 {
		o.Reps = 3
	}
	if o.Short {
		o.Reps = 1
	}
	if o.CongestionControl == "" {
		o.CongestionControl = "cubic"
	}
	if err := ValidCongestionControl(o.CongestionControl); err != nil {
		return nil, err
	}
	res := &Result{Started: time.Now(), Reps: o.Reps, Short: o.Short, Machine: machine(), CongestionControl: o.CongestionControl}
	r := &runner{ctx: ctx, o: o}
	for _, s := range scenarios() {
		if o.Match != nil && !o.Match.MatchString(s.Name) {
			continue
		}
		if o.Short {
			if s.shortSize > 0 {
				s.size = s.shortSize
			} else {
				s.size = max(s.size/8, 1<<20)
			}
		}
		s.Bytes = s.size
		res.Scenarios = append(res.Scenarios, s.Scenario)
		rows := s.run(r, &s)
		for i := range rows {
			rows[i].Scenario = s.Name
			summarize(&rows[i])
		}
		res.Rows = append(res.Rows, rows...)
		if err := ctx.Err(); err != nil {
			return res, err
		}
	}
	res.Duration = time.Since(res.Started).Seconds()
	return res, nil
}

// ValidCongestionControl reports an error for a name that is not one of
// the congestion controls both stacks have under the same name: cubic,
// reno, bbr.
func ValidCongestionControl(name string) error {
	switch name {
	case "cubic", "reno", "bbr":
		return nil
	}
	return fmt.Errorf("congestion control %q: want cubic, reno or bbr (both stacks have them)", name)
}

func summarize(r *Row) {
	if len(r.Values) == 0 {
		return
	}
	v := slices.Clone(r.Values)
	slices.Sort(v)
	r.Min, r.Max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		r.Median = v[len(v)/2]
	} else {
		r.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_congestion_control"); err == nil {
		m.HostCongestionControl = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return m
}

// runner holds what the scenarios share.
type runner struct {
	ctx  context.Context
	o    Options
	labs atomic.Int64 // labs made, for unique names
}

func (r *runner) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, format+"\n", args...)
	}
}

// withLab brings a lab up for fn and down after it, with our stack's
// side (if the pair has one) left to the userspace stack.
func (r *runner) withLab(paths []lab.PathSpec, p pair, fn func(l *lab.Lab) error) error {
	client, server := lab.Kernel, lab.Kernel
	switch p.ours {
	case lab.Client:
		client = lab.User
	case lab.Server:
		server = lab.User
	}
	cfg := lab.Config{Name: fmt.Sprintf("bn%d-%d", os.Getpid()%100000, r.labs.Add(1)), Paths: paths,
		ClientMode: client, ServerMode: server, StateDir: os.TempDir() + "/mptcp-bench"}
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	l, err := lab.Up(ctx, cfg)
	cancel()
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	defer l.Close()
	return fn(l)
}

// finish returns rows with err (if any) recorded on each, and reports it.
func (r *runner) finish(rows []*Row, err error, scenario, pairName string) []Row {
	out := make([]Row, 0, len(rows))
	for _, row := range rows {
		if err != nil {
			row.Error = err.Error()
		}
		out = append(out, *row)
	}
	if err != nil {
		r.progress("  %-16s %-18s failed: %v", scenario, pairName, err)
	}
	return out
}

// pair is one way of running a scenario's transfers.
type pair struct {
	name string
	// ours: our stack is the client (Client) or the server (Server) side;
	// "" for kernel on both sides.
	ours lab.Side
	// oursSends: the data goes from our side (else to it).
	oursSends bool
	cfg       mptcp.Config
	// tcp: plain single-path kernel TCP over path tcpPath.
	tcp     bool
	tcpPath int
}

// conn is an established connection of a pair: the client's and the
// server's ends, which of them sends bulk data, and ours if our stack is
// one of them.
type conn struct {
	cli, srv net.Conn
	snd, rcv net.Conn
	ours     *mptcp.Conn
}

func (c *conn) Close() {
	c.cli.Close()
	c.srv.Close()
}

// setup is a lab side prepared for a pair's connections.
type setup struct {
	l  *lab.Lab
	p  pair
	o  *ours
	ln net.Listener
	cc string // the kernel's sockets' congestion control
}

func (r *runner) prepare(l *lab.Lab, p pair) (*setup, error) {
	s := &setup{l: l, p: p, cc: r.o.CongestionControl}
	var err error
	switch {
	case p.ours == lab.Client:
		if s.o, err = newOurs(l, lab.Client, p.cfg, r.o.CongestionControl); err != nil {
			return nil, err
		}
		s.ln, err = kernelListen(l, lab.Server, true, r.o.CongestionControl)
	case p.ours == lab.Server:
		if s.o, err = newOurs(l, lab.Server, p.cfg, r.o.CongestionControl); err != nil {
			return nil, err
		}
		s.ln, err = s.o.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
	default:
		s.ln, err = kernelListen(l, lab.Server, !p.tcp, r.o.CongestionControl)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *setup) close() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.o != nil {
		s.o.Close()
	}
}

// connect opens one connection of the pair and waits for its subflows.
// The client sends when the data goes from the client side.
func (s *setup) connect(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	port := uint16(s.ln.Addr().(*net.TCPAddr).Port)
	path := 1
	if s.p.tcp {
		path = s.p.tcpPath
	}
	raddr := netip.AddrPortFrom(s.l.ServerAddr(path), port)
	joinsBefore := kernelJoins(s.l, lab.Server)
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := acceptOne(ctx, s.ln)
		acc <- c
	}()
	var cli net.Conn
	var oc *mptcp.Conn
	var err error
	if s.p.ours == lab.Client {
		oc, err = s.o.h.Dial(ctx, raddr)
		cli = oc
	} else {
		cli, err = kernelDial(ctx, s.l, lab.Client, !s.p.tcp, raddr, s.cc)
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	srv := <-acc
	if srv == nil {
		cli.Close()
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	}
	if s.p.ours == lab.Server {
		oc = srv.(*mptcp.Conn)
	}
	// Every path carries data from the start.
	paths := s.l.NumPaths()
	switch {
	case s.p.tcp || paths == 1:
	case oc != nil:
		err = waitSubflows(ctx, oc, paths)
	default:
		err = waitKernelJoins(ctx, s.l, lab.Server, joinsBefore, paths-1)
	}
	if err != nil {
		cli.Close()
		srv.Close()
		return nil, fmt.Errorf("subflows: %w", err)
	}
	c := &conn{ours: oc, cli: cli, srv: srv}
	clientSends := s.p.ours == "" || s.p.ours == lab.Client && s.p.oursSends || s.p.ours == lab.Server && !s.p.oursSends
	if clientSends {
		c.snd, c.rcv = cli, srv
	} else {
		c.snd, c.rcv = srv, cli
	}
	return c, nil
}

// bulkPairs are the usual four ways of running a transfer: our stack
// sending to the kernel and receiving from it, kernel to kernel MPTCP,
// and single-path kernel TCP on path tcpPath.
func bulkPairs(tcpPath int, both bool) []pair {
	ps := []pair{{name: "ours -> kernel", ours: lab.Client, oursSends: true}}
	if both {
		ps = append(ps, pair{name: "kernel -> ours", ours: lab.Client})
	}
	return append(ps, pair{name: "kernel -> kernel"}, pair{name: fmt.Sprintf("tcp path %d", tcpPath), tcp: true, tcpPath: tcpPath})
}

// runTransfers measures each pair: reps transfers of s.size bytes, with
// at (if set) run atDelay into each; extra adds rows from a finished
// connection of ours.
func (r *runner) runTransfers(s *scenario, pairs []pair, atDelay time.Duration, at func(l *lab.Lab) func(), after func(l *lab.Lab),
	metrics []string, extra func(p pair, c *conn, rows map[string]*Row)) []Row {
	var out []Row
	data := payload(s.size, 7)
	for _, p := range pairs {
		rows := map[string]*Row{}
		order := []string{}
		add := func(metric, unit string, v float64) {
			k := metric
			if rows[k] == nil {
				rows[k] = &Row{Pair: p.name, Metric: metric, Unit: unit}
				order = append(order, k)
			}
			rows[k].Values = append(rows[k].Values, v)
		}
		var runErr error
		err := r.withLab(s.paths, p, func(l *lab.Lab) error {
			st, err := r.prepare(l, p)
			if err != nil {
				return err
			}
			defer st.close()
			for rep := 0; rep < r.o.Reps; rep++ {
				ctx, cancel := context.WithTimeout(r.ctx, 3*time.Minute)
				c, err := st.connect(ctx)
				if err != nil {
					cancel()
					return err
				}
				var act func()
				if at != nil {
					act = at(l)
				}
				m, err := transfer(ctx, c.snd, c.rcv, data, atDelay, act)
				cancel()
				if after != nil {
					after(l)
				}
				if err != nil {
					c.Close()
					return err
				}
				for _, metric := range metrics {
					switch metric {
					case "goodput":
						add("goodput", "Mbit/s", m.goodputM)
					case "time":
						add("time to complete", "s", m.elapsed.Seconds())
					case "stall":
						add("longest stall", "ms", float64(m.stall.Milliseconds()))
					case "cpu":
						add("CPU per GB", "s", m.cpuSecs/(float64(s.size)/1e9))
					}
				}
				if extra != nil && c.ours != nil {
					x := map[string]*Row{}
					extra(p, c, x)
					keys := make([]string, 0, len(x))
					for k := range x {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					for _, k := range keys {
						for _, val := range x[k].Values {
							add(k, x[k].Unit, val)
						}
					}
				}
				r.progress("  %-16s %-18s rep %d: %.1f Mbit/s in %.2f s, stall %v", s.Name, p.name, rep+1, m.goodputM, m.elapsed.Seconds(), m.stall.Round(time.Millisecond))
				c.Close()
			}
			return nil
		})
		if err != nil {
			runErr = err
			r.progress("  %-16s %-18s failed: %v", s.Name, p.name, err)
		}
		if len(order) == 0 {
			out = append(out, Row{Pair: p.name, Metric: metrics[0], Error: fmt.Sprint(runErr)})
			continue
		}
		for _, k := range order {
			row := *rows[k]
			if runErr != nil {
				row.Error = runErr.Error()
			}
			out = append(out, row)
		}
	}
	return out
}

// perPath adds the share of the data each of our paths carried.
func perPath(l func() []netip.Addr) func(p pair, c *conn, rows map[string]*Row) {
	return func(p pair, c *conn, rows map[string]*Row) {
		in := c.ours.Info()
		var total uint64
		by := map[netip.Addr]uint64{}
		for _, sf := range append(in.Subflows, in.Closed...) {
			b := sf.DataSent + sf.DataRecv
			by[sf.Local.Addr()] += b
			total += b
		}
		if total == 0 {
			return
		}
		for i, a := range l() {
			k := fmt.Sprintf("share on path %d", i+1)
			rows[k] = &Row{Unit: "%", Values: []float64{100 * float64(by[a]) / float64(total)}}
		}
	}
}

func scenarios() []scenario {
	mb := func(rate float64, delay time.Duration, loss float64) lab.LinkSpec {
		return lab.LinkSpec{Rate: uint64(rate * 1e6), Delay: delay, Loss: loss}
	}
	sym := func(name string, s lab.LinkSpec) lab.PathSpec { return lab.Symmetric(name, s) }
	clientAddrs := func(n int) func() []netip.Addr {
		return func() []netip.Addr {
			var out []netip.Addr
			for i := 1; i <= n; i++ {
				out = append(out, netip.AddrFrom4([4]byte{198, 18, byte(i), 1}))
			}
			return out
		}
	}
	return []scenario{
		{
			Scenario: Scenario{Name: "bulk", What: "bulk transfer over two unshaped veth paths (bridges, offloads as the lab leaves them)",
				Paths: "2 x unshaped veth"},
			paths: []lab.PathSpec{{Name: "wifi"}, {Name: "cellular"}},
			size:  256 << 20,
			run: func(r *runner, s *scenario) []Row {
				return r.runTransfers(s, bulkPairs(1, true), 0, nil, nil, []string{"goodput", "cpu"}, nil)
			},
		},
		{
			Scenario: Scenario{Name: "aggregate-2x50", What: "two 50 Mbit/s paths with 20 ms and 60 ms RTT: the sum",
				Paths: "50 Mbit/s 20 ms RTT + 50 Mbit/s 60 ms RTT", Goal: ">= 90 Mbit/s (the kernel selftest simult_flows)"},
			paths: []lab.PathSpec{sym("wifi", mb(50, 10*time.Millisecond, 0)), sym("cellular", mb(50, 30*time.Millisecond, 0))},
			size:  96 << 20,
			run: func(r *runner, s *scenario) []Row {
				return r.runTransfers(s, bulkPairs(1, false), 0, nil, nil, []string{"goodput"}, perPath(clientAddrs(2)))
			},
		},
		{
			Scenario: Scenario{Name: "aggregate-3", What: "three unequal paths", Paths: "50 Mbit/s 20 ms + 20 Mbit/s 40 ms + 10 Mbit/s 80 ms RTT"},
			paths: []lab.PathSpec{sym("wifi", mb(50, 10*time.Millisecond, 0)), sym("cellular", mb(20, 20*time.Millisecond, 0)),
				sym("path3", mb(10, 40*time.Millisecond, 0))},
			size: 64 << 20,
			run: func(r *runner, s *scenario) []Row {
				return r.runTransfers(s, bulkPairs(1, false), 0, nil, nil, []string{"goodput"}, perPath(clientAddrs(3)))
			},
		},
		{
			Scenario: Scenario{Name: "handover", What: "upload; the wifi path is lost 1 s in, cellular remains",
				Paths: "wifi 50 Mbit/s 20 ms RTT + cellular 20 Mbit/s 60 ms RTT", Goal: "stall shorter than the kernel's; about 3.9 s possible for 16 MiB"},
			paths: []lab.PathSpec{sym("wifi", mb(50, 10*time.Millisecond, 0)), sym("cellular", mb(20, 30*time.Millisecond, 0))},
			size:  16 << 20,
			run: func(r *runner, s *scenario) []Row {
				pairs := []pair{{name: "ours -> kernel", ours: lab.Client, oursSends: true},
					{name: "ours handover mode", ours: lab.Client, oursSends: true, cfg: mptcp.Config{Mode: mpconn.ModeHandover}},
					{name: "kernel -> kernel"}}
				down := func(l *lab.Lab) func() { return func() { l.SetPathDown(1) } }
				up := func(l *lab.Lab) { l.SetPathUp(1); time.Sleep(500 * time.Millisecond) }
				delay := time.Second
				if r.o.Short {
					delay = 300 * time.Millisecond
				}
				return r.runTransfers(s, pairs, delay, down, up, []string{"time", "stall"}, perPath(clientAddrs(2)))
			},
		},
		{
			Scenario: Scenario{Name: "loss-2pct", What: "two equal paths, one with 2% loss: no worse than the best single path (RFC 6356 'do no harm')",
				Paths: "50 Mbit/s 20 ms RTT 2% loss + 50 Mbit/s 20 ms RTT", Goal: ">= tcp on the clean path"},
			paths: []lab.PathSpec{sym("wifi", mb(50, 10*time.Millisecond, 0.02)), sym("cellular", mb(50, 10*time.Millisecond, 0))},
			size:  48 << 20,
			run: func(r *runner, s *scenario) []Row {
				return r.runTransfers(s, bulkPairs(2, false), 0, nil, nil, []string{"goodput"}, perPath(clientAddrs(2)))
			},
		},
		{
			Scenario: Scenario{Name: "request-response", What: "100-byte request, 64 KB response from the server, 10% loss on wifi toward the client: time to first byte and to complete",
				Paths: "wifi 50 Mbit/s 20 ms RTT, 10% loss server to client + cellular 20 Mbit/s 60 ms RTT", Goal: "redundant p99 close to cellular alone (tcp path 2)"},
			// The loss is on the responses only: the requests come from the
			// kernel's client, whose scheduler is not under test.
			paths: []lab.PathSpec{{Name: "wifi", Up: mb(50, 10*time.Millisecond, 0), Down: mb(50, 10*time.Millisecond, 0.10)},
				sym("cellular", mb(20, 30*time.Millisecond, 0))},
			size: 200, shortSize: 20,
			run: runRequests,
		},
		{
			Scenario: Scenario{Name: "connections", What: "many concurrent MPTCP connections from the kernel to our stack, each sending 256 KiB: memory per connection, fairness",
				Paths: "2 x unshaped veth"},
			paths: []lab.PathSpec{{Name: "wifi"}, {Name: "cellular"}},
			size:  1000, shortSize: 50,
			run: runConns,
		},
	}
}
