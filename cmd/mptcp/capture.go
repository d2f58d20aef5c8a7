package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/capture/live"
)

const captureDescription = `
Capture MPTCP traffic on an interface (AF_PACKET with a memory-mapped ring)
and analyze it as 'mptcp analyze' analyzes a file: subflows grouped into
connections, joins verified, data rebuilt across subflows. A precise kernel
filter keeps only TCP segments that carry MPTCP options, plus SYN, FIN and
RST ('mptcp filter' prints it); --all keeps every packet.

A one-line summary per connection is printed every --interval, and the
full summary (or --json) when the capture ends: after --duration, --count
packets, or on Ctrl-C. --write also saves the filtered packets as pcapng.

Exit status: 0 done, 1 the capture failed or an error-level finding,
2 usage error.`

// runCapture implements "mptcp capture".
func runCapture(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "capture", "-i IFACE [flags]", captureDescription)
	iface := fs.String("i", "", "`interface` to capture on (\"any\" for all, cooked)")
	write := fs.String("write", "", "also write the captured packets to `FILE.pcapng`")
	interval := fs.Duration("interval", 10*time.Second, "print a summary this often (0: never)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	count := fs.Uint64("count", 0, "stop after this many packets (0: no limit)")
	asJSON := fs.Bool("json", false, "print the final result as JSON")
	hash := fs.Bool("hash", false, "compute each stream's SHA-256")
	all := fs.Bool("all", false, "no kernel filter: capture every packet")
	maxBuf := fs.Int64("max-buffer", analyze.DefaultMaxBuffer, "cap on out-of-order data held, in `bytes`")
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	if *iface == "" || len(pos) > 0 {
		fmt.Fprintln(env.stderr, "mptcp capture: want -i IFACE and no other arguments")
		fs.Usage()
		return exitUsage
	}
	ifc := *iface
	if ifc == "any" {
		ifc = ""
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	h, err := live.Open(ctx, live.Config{Interface: ifc, MPTCPFilter: !*all, BlockTimeout: 50 * time.Millisecond})
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp capture: %v\n", err)
		return exitFailure
	}
	defer h.Close()

	var pw *capture.PcapngWriter
	var wf *os.File
	if *write != "" {
		wf, err = os.Create(*write)
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp capture: %v\n", err)
			return exitFailure
		}
		defer wf.Close()
		pw, err = capture.NewPcapngWriter(wf, capture.PcapngWriterOptions{Application: "mptcp capture"})
		if err == nil {
			_, err = pw.AddInterface(capture.Interface{LinkType: h.LinkType(), Name: *iface})
		}
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp capture: %s: %v\n", *write, err)
			return exitFailure
		}
	}

	// Connections are written as they finish, then forgotten: a capture
	// can run for days.
	stream := report.NewStream(env.stdout, *asJSON)
	var a *analyze.Analyzer
	worst := analyze.Severity("")
	a = analyze.New(analyze.Config{MaxBuffer: *maxBuf, Hash: *hash, OnConnection: func(c analyze.Connection) {
		for _, f := range c.Findings {
			if f.Severity == analyze.Error {
				worst = analyze.Error
			}
		}
		stream.Connection(&c, a.Start())
	}})
	var mu sync.Mutex // the analyzer is shared with the summary ticker
	start := time.Now()
	out := env.stdout
	if *asJSON {
		out = env.stderr // keep stdout for the JSON document
	}
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
					// Under the lock: finished connections are written to
					// the same output from the packet loop (OnConnection).
					mu.Lock()
					writeBrief(out, a.Snapshot(), time.Since(start))
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
	mu.Lock()
	res := a.Finish()
	mu.Unlock()
	failed := false
	if readErr != nil {
		fmt.Fprintf(env.stderr, "mptcp capture: %v\n", readErr)
		failed = true
	}
	if pw != nil {
		if err := errors.Join(writeErr, pw.Flush(), wf.Close()); err != nil {
			fmt.Fprintf(env.stderr, "mptcp capture: --write: %v\n", err)
			failed = true
		}
	}
	fmt.Fprintf(env.stderr, "mptcp capture: %d packets captured, %d dropped by the kernel\n", st.Packets, st.Drops)
	err = stream.Close(res)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp capture: write output: %v\n", err)
		return exitFailure
	}
	if failed || worst == analyze.Error || report.Worst(res) == analyze.Error {
		return exitFailure
	}
	return exitOK
}

// writeBrief prints one line per connection of a periodic summary.
func writeBrief(w io.Writer, r *analyze.Result, elapsed time.Duration) {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "[%s] %d packets, %d MPTCP connections\n", elapsed.Round(time.Second), r.Packets, len(r.Connections))
	for i := range r.Connections {
		c := &r.Connections[i]
		nf := len(c.Findings)
		fmt.Fprintf(bw, "  conn %d %v -> %v %s: %d subflows, c->s %d B, s->c %d B, %d findings, %s\n",
			c.ID, c.Client, c.Server, c.Version, len(c.Subflows), c.Streams[0].Bytes, c.Streams[1].Bytes, nf, c.End)
	}
	bw.Flush()
}
