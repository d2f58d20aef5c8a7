package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/flatten"
	"github.com/mptcp-go/mptcp/analyze/plot"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/option"
)

const analyzeDescription = `
Analyze a capture of Multipath TCP traffic (RFC 8684): subflows are grouped
into connections (by the keys of MP_CAPABLE and the tokens of MP_JOIN, or by
what is left when the handshake was not captured, reported as unverified),
MP_JOIN HMACs are checked in both directions (a join that does not verify is
a finding and is not merged), DSS mappings are checked, and each direction's
data is rebuilt across all subflows. Holes (data never seen) are reported
with their data-level offsets and sizes; bytes are never invented.

FILE is a pcap or pcapng file, plain or gzip-compressed ("-" reads standard
input). Memory is bounded by the data in flight (--max-buffer), not by the
capture's size; a truncated or corrupt file is reported and the rest is
still analyzed.

Outputs: a summary per connection (default), --json (complete and stable),
--packets (each packet with its MPTCP options decoded as 'mptcp decode' does,
its connection and relative DSN), --streams DIR (each direction's data to a
file, SHA-256 in the summary; --hash gives the SHA-256 without the files), --flatten OUT.pcap (each connection as one
plain TCP conversation for tools without MPTCP support), --plot FILE.svg or
FILE.png (data sequence over time, one colour per subflow).

Exit status: 0 analyzed, 1 unreadable input or an error-level finding (a
forged join, conflicting data, a checksum failure), 2 usage error.`

// runAnalyze implements "mptcp analyze".
func runAnalyze(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "analyze", "[flags] FILE", analyzeDescription)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	packets := fs.Bool("packets", false, "print every TCP segment with its MPTCP options, connection and relative DSN (JSON lines with --json)")
	streams := fs.String("streams", "", "write each direction's reassembled data to a file in `DIR`")
	flat := fs.String("flatten", "", "write each connection as one plain TCP conversation to `OUT.pcap`")
	plotFile := fs.String("plot", "", "draw the data sequence over time to `FILE.svg` or FILE.png")
	maxBuf := fs.Int64("max-buffer", analyze.DefaultMaxBuffer, "cap on out-of-order data held, in `bytes`")
	hash := fs.Bool("hash", false, "compute each stream's SHA-256 (always on with --streams)")
	progress := fs.Bool("progress", false, "show progress on stderr (default: when stderr is a terminal)")
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(env.stderr, "mptcp analyze: want exactly one capture file")
		fs.Usage()
		return exitUsage
	}
	if *plotFile != "" && !strings.HasSuffix(*plotFile, ".svg") && !strings.HasSuffix(*plotFile, ".png") {
		fmt.Fprintf(env.stderr, "mptcp analyze: --plot %q: want a .svg or .png file\n", *plotFile)
		return exitUsage
	}
	if *maxBuf <= 0 {
		fmt.Fprintf(env.stderr, "mptcp analyze: --max-buffer must be positive\n")
		return exitUsage
	}

	var in io.Reader
	name := pos[0]
	if name == "-" {
		in = env.stdin
		name = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: %v\n", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	rd, _, err := capture.NewReader(in)
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp analyze: %s: %v\n", name, err)
		return exitFailure
	}

	cfg := analyze.Config{MaxBuffer: *maxBuf, Hash: *hash || *streams != ""}
	out := bufio.NewWriterSize(env.stdout, 256<<10)
	defer out.Flush()
	var sinks multiSink
	var fileSink *analyze.FileSink
	if *streams != "" {
		if err := os.MkdirAll(*streams, 0o755); err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: %v\n", err)
			return exitFailure
		}
		fileSink = &analyze.FileSink{Dir: *streams}
		sinks = append(sinks, fileSink)
	}
	var flatW *flatten.Writer
	var flatPcap *capture.PcapWriter
	var flatFile *os.File
	if *flat != "" {
		flatFile, err = os.Create(*flat)
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: %v\n", err)
			return exitFailure
		}
		defer flatFile.Close()
		flatPcap, err = capture.NewPcapWriter(flatFile, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: %v\n", err)
			return exitFailure
		}
		flatW = flatten.New(flatPcap)
		sinks = append(sinks, flatW)
	}
	if len(sinks) == 1 {
		cfg.Sink = sinks[0]
	} else if len(sinks) > 1 {
		cfg.Sink = sinks
	}
	var col *plot.Collector
	var pw *packetWriter
	if *plotFile != "" {
		col = &plot.Collector{}
	}
	if *packets {
		pw = &packetWriter{w: out, json: *asJSON}
	}
	if col != nil || pw != nil {
		cfg.OnPacket = func(pi *analyze.PacketInfo) {
			if col != nil {
				col.Add(pi)
			}
			if pw != nil {
				pw.write(pi)
			}
		}
	}
	// Without --packets, connections are written as they finish and then
	// forgotten: memory stays flat however long the capture.
	var stream *report.Stream
	var a *analyze.Analyzer
	worst := analyze.Severity("")
	if pw == nil {
		stream = report.NewStream(out, *asJSON)
		cfg.OnConnection = func(c analyze.Connection) {
			for _, f := range c.Findings {
				if f.Severity == analyze.Error {
					worst = analyze.Error
				}
			}
			if *streams != "" {
				analyze.SetConnStreamFiles(&c, *streams)
			}
			stream.Connection(&c, a.Start())
		}
	}
	a = analyze.New(cfg)

	var prog func(analyze.ReadStats)
	if *progress || isTerminal(env.stderr) {
		start := time.Now()
		prog = func(st analyze.ReadStats) {
			fmt.Fprintf(env.stderr, "\r%s: %d packets, offset %d MiB, %.0f packets/s   ", name, st.Records,
				rd.Offset()>>20, float64(st.Records)/time.Since(start).Seconds())
		}
	}
	_, rerr := analyze.ReadSource(ctx, a, rd, prog)
	if prog != nil {
		fmt.Fprintln(env.stderr)
	}
	res := a.Finish()
	failed := false
	if rerr != nil {
		fmt.Fprintf(env.stderr, "mptcp analyze: %v\n", rerr)
		failed = true
	}
	if fileSink != nil {
		if err := fileSink.Close(); err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: --streams: %v\n", err)
			failed = true
		}
		analyze.SetStreamFiles(res, *streams)
	}
	if flatW != nil {
		err := errors.Join(flatW.Err(), flatPcap.Flush(), flatFile.Close())
		if err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: --flatten: %v\n", err)
			failed = true
		}
	}
	if col != nil {
		if err := writePlot(*plotFile, col.Points()); err != nil {
			fmt.Fprintf(env.stderr, "mptcp analyze: --plot: %v\n", err)
			failed = true
		}
	}
	switch {
	case stream != nil:
		err = stream.Close(res)
	case *asJSON:
		err = report.WriteJSON(out, res)
	default:
		fmt.Fprintln(out)
		err = report.WriteText(out, res)
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "mptcp analyze: write output: %v\n", err)
		return exitFailure
	}
	for _, f := range res.Findings {
		if f.Code == analyze.CodeInput {
			fmt.Fprintf(env.stderr, "mptcp analyze: %s: %s\n", name, f.Message)
		}
	}
	if failed || worst == analyze.Error || report.Worst(res) == analyze.Error {
		return exitFailure
	}
	return exitOK
}

func writePlot(name string, pts []plot.Point) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if filepath.Ext(name) == ".png" {
		err = plot.WritePNG(f, pts)
	} else {
		err = plot.WriteSVG(f, pts)
	}
	return errors.Join(err, f.Close())
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// multiSink fans sink calls out.
type multiSink []analyze.Sink

func (m multiSink) Data(c *analyze.ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	for _, s := range m {
		s.Data(c, dir, ts, off, b)
	}
}

func (m multiSink) Hole(c *analyze.ConnInfo, dir int, ts time.Time, off, size uint64) {
	for _, s := range m {
		s.Hole(c, dir, ts, off, size)
	}
}

func (m multiSink) End(c *analyze.ConnInfo, dir int, ts time.Time) {
	for _, s := range m {
		s.End(c, dir, ts)
	}
}

// packetWriter prints the per-packet view.
type packetWriter struct {
	w    io.Writer
	json bool
	t0   time.Time
}

// packetJSON is one line of --packets --json.
type packetJSON struct {
	Index   uint64          `json:"index"`
	Time    time.Time       `json:"time"`
	Src     string          `json:"src"`
	Dst     string          `json:"dst"`
	Flags   string          `json:"flags"`
	Seq     uint32          `json:"seq"`
	Ack     uint32          `json:"ack"`
	Len     int             `json:"len"`
	Conn    int             `json:"connection,omitempty"`
	Subflow int             `json:"subflow"`
	DSN     *uint64         `json:"dsn,omitempty"`
	Options []decodedOption `json:"mptcp_options,omitempty"`
	Error   string          `json:"option_error,omitempty"`
}

func tcpFlags(f uint8) string {
	var b strings.Builder
	for i, n := range []string{"F", "S", "R", "P", "A", "U", "E", "C"} {
		if f&(1<<i) != 0 {
			b.WriteString(n)
		}
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

func (pw *packetWriter) write(pi *analyze.PacketInfo) {
	if pw.t0.IsZero() {
		pw.t0 = pi.Time
	}
	var opts []decodedOption
	var oerr error
	it := option.NewIter(pi.Options)
	var p option.Parser
	for it.Next() {
		o, err := p.Parse(it.Bytes())
		if err != nil {
			oerr = err
			continue
		}
		opts = append(opts, describe(p, o, it.Offset()-len(it.Bytes()), it.Bytes()))
	}
	if err := it.Err(); err != nil && oerr == nil {
		oerr = err
	}
	if pw.json {
		j := packetJSON{Index: pi.Index, Time: pi.Time, Src: pi.Src.String(), Dst: pi.Dst.String(), Flags: tcpFlags(pi.Flags),
			Seq: pi.Seq, Ack: pi.Ack, Len: pi.Len, Conn: pi.Conn, Subflow: pi.Subflow, Options: opts}
		if pi.HasDSN {
			d := pi.DSN
			j.DSN = &d
		}
		if oerr != nil {
			j.Error = oerr.Error()
		}
		b, _ := json.Marshal(j)
		pw.w.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(pw.w, "%d +%.6f %v -> %v [%s] seq=%d ack=%d len=%d", pi.Index, pi.Time.Sub(pw.t0).Seconds(),
		pi.Src, pi.Dst, tcpFlags(pi.Flags), pi.Seq, pi.Ack, pi.Len)
	if pi.Conn != 0 {
		fmt.Fprintf(pw.w, " conn=%d sf=%d", pi.Conn, pi.Subflow)
	} else if pi.Rejected {
		fmt.Fprintf(pw.w, " sf=%d REJECTED", pi.Subflow)
	}
	if pi.HasDSN {
		fmt.Fprintf(pw.w, " dsn=%d", pi.DSN)
	}
	fmt.Fprintln(pw.w)
	for _, d := range opts {
		fmt.Fprintf(pw.w, "    %s\n", d.Summary)
	}
	if oerr != nil {
		fmt.Fprintf(pw.w, "    malformed MPTCP option: %v\n", oerr)
	}
}
