package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/capture/filter"
	"github.com/mptcp-go/mptcp/capture/live"
)

const captureDescription = `
Capture MPTCP traffic on an interface (AF_PACKET with a memory-mapped ring)
and analyze it as 'mptcp analyze' analyzes a file: subflows grouped into
connections, joins verified, data rebuilt across subflows. A precise kernel
filter keeps only TCP segments that carry MPTCP options, plus SYN, FIN and
RST ('mptcp filter' prints it); --all keeps every packet.

EXPRESSION, as tcpdump users write it, narrows what is captured further:
host, net, port, portrange (each with src or dst), ip, ip6, tcp, combined
with and, or, not and parentheses, e.g. "host 198.18.1.2 and port 443". It
is compiled to BPF and combined with the MPTCP filter (with --all, it is
the whole filter).

A line with what was seen so far (packets, connections open and finished,
findings) and one line per open connection are printed every --interval,
and the full summary (or --json) when the capture ends: after --duration,
--count packets, or on Ctrl-C. --write also saves the captured packets as
pcapng. --conn, --packets, --stats, --streams, --flatten and --plot work as
for 'mptcp analyze' (live, a connection is chosen by --conn from the first
packet that identifies it).

Exit status: 0 done, nothing at or above --fail-on; 1 a finding at or above
--fail-on (default error); 2 usage error; 3 the capture failed (an
interface that does not exist or went away) or an output could not be
written.`

// runCapture implements "mptcp capture".
func runCapture(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "capture", "-i IFACE [flags] [EXPRESSION]", captureDescription)
	iface := fs.String("i", "", "`interface` to capture on (\"any\" for all, cooked)")
	write := fs.String("write", "", "also write the captured packets to `FILE.pcapng`")
	interval := fs.Duration("interval", 10*time.Second, "print what was seen this often (0: never)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	count := fs.Uint64("count", 0, "stop after this many packets (0: no limit)")
	all := fs.Bool("all", false, "no MPTCP filter: capture every packet (that EXPRESSION matches)")
	ring := sizeFlag{n: 32 << 20}
	fs.Var(&ring, "buffer", "size of the kernel ring (`SIZE`: 8m, 64m), in 1 MiB blocks: what absorbs bursts while the analysis is busy (tcpdump -B)")
	var o outputs
	o.register(fs)
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	if *iface == "" {
		fmt.Fprintln(env.stderr, "mptcp capture: want -i IFACE")
		fs.Usage()
		return exitUsage
	}
	if msg := o.check(); msg != "" {
		return usageError(fs, env, msg)
	}
	if o.writeConn != "" {
		return usageError(fs, env, "--write-conn is for 'mptcp analyze' (use --write, then analyze the file)")
	}
	expr := strings.Join(pos, " ")
	var filterExpr *filter.Expr
	if expr != "" {
		var err error
		if filterExpr, err = filter.ParseExpression(expr); err != nil {
			return usageError(fs, env, fmt.Sprintf("expression %q: %v", expr, strings.TrimPrefix(err.Error(), "filter: ")))
		}
	}
	sel, _ := newSelection(o.conns)
	sel.live = true
	s := &session{o: &o, env: env, name: "mptcp capture", sel: sel}
	s.meta.Tool = tool()
	s.meta.Inputs = []report.Input{{Name: *iface, Format: "live", Errors: []string{}}}
	ifc := *iface
	if ifc == "any" {
		ifc = ""
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if !s.openOutputs() {
		s.closeOutputs()
		return exitInput
	}
	defer s.closeOutputs()
	lcfg := live.Config{Interface: ifc, MPTCPFilter: !*all, BlockTimeout: 50 * time.Millisecond,
		BlockSize: 1 << 20, Blocks: int(max(2, ring.n>>20))}
	lcfg.Expression = filterExpr
	h, err := live.Open(ctx, lcfg)
	if err != nil {
		s.errorf("-i %s: %v", *iface, err)
		return exitInput
	}
	defer h.Close()

	var pw *capture.PcapngWriter
	var wf *os.File
	if *write != "" {
		wf, err = os.Create(*write)
		if err != nil {
			s.errorf("--write: %v", err)
			return exitInput
		}
		defer wf.Close()
		pw, err = capture.NewPcapngWriter(wf, capture.PcapngWriterOptions{Application: "mptcp capture"})
		if err == nil {
			_, err = pw.AddInterface(capture.Interface{LinkType: h.LinkType(), Name: *iface})
		}
		if err != nil {
			s.errorf("--write %s: %v", *write, err)
			return exitInput
		}
	}

	// With --json the periodic lines go to stderr: stdout is the document.
	out := env.stdout
	if o.json || o.csv {
		out = env.stderr
	}
	var mu sync.Mutex // the analyzer and the session are shared with the ticker
	cfg, err := s.config(env.stdout)
	if err != nil {
		s.errorf("%v", err)
		return exitInput
	}
	var seen liveCounts
	onConn := cfg.OnConnection
	cfg.OnConnection = func(c analyze.Connection) {
		seen.finished++
		for _, f := range c.Findings {
			seen.findings[f.Severity]++
		}
		onConn(c)
		if !o.json {
			// Live, a finished connection is shown when it finishes (the
			// JSON document is written whole at the end).
			s.rep.Out().Flush()
		}
	}
	seen.findings = map[analyze.Severity]int{}
	a := analyze.New(cfg)
	s.start(a)
	desc := "MPTCP segments and SYN/FIN/RST"
	if *all {
		desc = "every packet"
	}
	if expr != "" {
		desc += " matching " + expr
	}
	fmt.Fprintf(env.stderr, "mptcp capture: capturing on %s (%s)\n", *iface, desc)
	start := time.Now()
	stopTicker := make(chan struct{})
	var tickWG sync.WaitGroup
	if *interval > 0 {
		tickWG.Add(1)
		go func() {
			defer tickWG.Done()
			t := time.NewTicker(*interval)
			defer t.Stop()
			for {
				select {
				case <-stopTicker:
					return
				case <-t.C:
					st, _ := h.Stats()
					mu.Lock()
					writeBrief(out, a.Snapshot(), &seen, st, time.Since(start))
					mu.Unlock()
				}
			}
		}()
	}

	var readErr, writeErr error
	var n uint64
	for {
		p, err := h.Next()
		if err != nil {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, live.ErrClosed) {
				readErr = err
			}
			break
		}
		n++
		if pw != nil && writeErr == nil {
			p.Interface = 0
			writeErr = pw.WritePacket(p)
		}
		nw, lerr := capture.DecodeLink(p.LinkType, p.Data)
		mu.Lock()
		if lerr == nil && (nw.Version == 4 || nw.Version == 6) {
			a.Packet(p.Timestamp, nw.Payload)
		}
		mu.Unlock()
		if *count > 0 && n >= *count {
			break
		}
	}
	close(stopTicker)
	tickWG.Wait()
	st, _ := h.Stats()
	s.meta.Kernel = &report.KernelStats{Packets: st.Packets, Drops: st.Drops}
	s.meta.Inputs[0].Packets = n
	mu.Lock()
	defer mu.Unlock()
	if readErr != nil {
		a.InputError("-i "+*iface, readErr)
		s.errorf("-i %s: %v", *iface, readErr)
	}
	res := a.Finish()
	if pw != nil {
		if err := errors.Join(writeErr, pw.Flush(), wf.Close()); err != nil {
			s.errorf("--write %s: %v", *write, err)
		}
	}
	fmt.Fprintf(env.stderr, "mptcp capture: %d packets captured, %d dropped by the kernel\n", st.Packets, st.Drops)
	if st.Drops > 0 {
		fmt.Fprintf(env.stderr, "mptcp capture: the analysis missed the %d dropped packets: expect holes (a larger ring: more memory; a narrower EXPRESSION)\n", st.Drops)
	}
	return s.finish(res)
}

// liveCounts are what the periodic lines count besides the snapshot.
type liveCounts struct {
	finished int
	findings map[analyze.Severity]int
}

// writeBrief prints the periodic lines: what was seen since the start,
// then one line per open connection.
func writeBrief(w io.Writer, r *analyze.Result, seen *liveCounts, st live.Stats, elapsed time.Duration) {
	bw := bufio.NewWriter(w)
	open := len(r.Connections)
	fmt.Fprintf(bw, "[%s] %d packets (kernel: %d, %d dropped), MPTCP connections: %d seen, %d open, %d finished",
		elapsed.Round(time.Second), r.Packets, st.Packets, st.Drops, open+seen.finished, open, seen.finished)
	var orphans uint64
	for _, o := range r.Orphans {
		orphans += o.Segments
	}
	if orphans > 0 {
		fmt.Fprintf(bw, ", %d segments of no connection", orphans)
	}
	f := map[analyze.Severity]int{}
	for k, v := range seen.findings {
		f[k] += v
	}
	for i := range r.Connections {
		for _, x := range r.Connections[i].Findings {
			f[x.Severity]++
		}
	}
	for _, x := range r.Findings {
		f[x.Severity]++
	}
	fmt.Fprintf(bw, ", findings: %d error, %d warning, %d info\n", f[analyze.Error], f[analyze.Warning], f[analyze.Info])
	for i := range r.Connections {
		c := &r.Connections[i]
		fmt.Fprintf(bw, "  conn %d %v -> %v %s: %d subflows, c->s %d B, s->c %d B, %d findings, %s\n",
			c.ID, c.Client, c.Server, c.Version, len(c.Subflows), c.Streams[0].Bytes, c.Streams[1].Bytes, len(c.Findings), c.End)
	}
	bw.Flush()
}
