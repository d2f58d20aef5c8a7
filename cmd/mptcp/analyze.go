package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/capture"
)

const analyzeDescription = `
Analyze captures of Multipath TCP traffic (RFC 8684): subflows are grouped
into connections (by the keys of MP_CAPABLE and the tokens of MP_JOIN, or by
what is left when the handshake was not captured, reported as unverified),
MP_JOIN HMACs are checked in both directions (a join that does not verify is
a finding and is not merged), DSS mappings are checked, and each direction's
data is rebuilt across all subflows. Holes (data never seen) are reported
with their data-level offsets and sizes; bytes are never invented.

FILE is a pcap or pcapng file, plain or gzip-compressed ("-" reads standard
input). Several FILEs are merged by time, each packet tagged with its file:
subflows captured on different links (Wi-Fi and cellular) make one
connection; a segment seen in two files (both ends captured) is analyzed
once and the time between the two gives its one-way delay. Memory is
bounded by the data in flight (--max-buffer) and the connections open
(--max-conns, --max-half-open), not by the captures' size or by what an
attacker puts in them: what goes past a bound is given up, counted and
reported.

Outputs: a summary per connection, sorted by ID (default), --json (one
document, docs/analyze.schema.json), --csv (a row per subflow direction
with statistics), --packets (each segment with its MPTCP options decoded,
connection, relative DSN, DATA_ACK and analysis flags; --json makes it
NDJSON: one object per line with a "type"; --csv a row per packet),
--stats (RTT, one-way delay, goodput per subflow, reinjections),
--streams DIR, --flatten OUT.pcap, --plot FILE.svg|png, --plot-data
FILE.csv. --conn chooses connections for all of them; --write-conn
extracts their packets, as captured, for Wireshark.

Exit status: 0 analyzed, nothing at or above --fail-on; 1 a finding at or
above --fail-on (default error: a forged join, conflicting data, a checksum
failure); 2 usage error; 3 an input could not be read whole (missing, not a
capture, truncated, corrupt) or an output could not be written (what could
be read is still analyzed and reported).`

// runAnalyze implements "mptcp analyze".
func runAnalyze(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "analyze", "[flags] FILE...", analyzeDescription)
	var o outputs
	o.register(fs)
	progress := fs.Bool("progress", false, "show progress on stderr (default: when stderr is a terminal)")
	pos, code, done := parseFlags(fs, env, args)
	if done {
		return code
	}
	if len(pos) == 0 {
		fmt.Fprintln(env.stderr, "mptcp analyze: want at least one capture file")
		fs.Usage()
		return exitUsage
	}
	if msg := o.check(); msg != "" {
		return usageError(fs, env, msg)
	}
	stdins := 0
	for _, p := range pos {
		if p == "-" {
			stdins++
		}
	}
	if stdins > 1 {
		return usageError(fs, env, `"-" (standard input) can be given once`)
	}
	sel, _ := newSelection(o.conns)
	s := &session{o: &o, env: env, name: "mptcp analyze", sel: sel}
	s.meta.Tool = tool()
	if !s.openOutputs() {
		s.closeOutputs()
		return exitInput
	}
	defer s.closeOutputs()

	// A first pass (connections to choose, packets to extract) reads the
	// input twice: standard input is kept in a temporary file.
	passes := 1
	if !sel.all() || o.writeConn != "" {
		passes = 2
	}
	names := pos
	if stdins > 0 && passes > 1 {
		tmp, err := spool(env.stdin)
		if err != nil {
			s.errorf("standard input: %v", err)
			return exitInput
		}
		defer os.Remove(tmp)
		names = append([]string(nil), pos...)
		for i, p := range names {
			if p == "-" {
				names[i] = tmp
			}
		}
	}
	display := func(i int) string {
		if pos[i] == "-" {
			return "standard input"
		}
		return pos[i]
	}

	if passes > 1 {
		in, err := openInputs(env, names, display)
		if err != nil {
			s.errorf("%v", err)
			return exitInput
		}
		a := analyze.New(analyze.Config{MaxBuffer: o.maxBuf.n, MaxConnections: o.maxConns, MaxHalfOpen: o.maxHalfOpen,
			OnConnection: func(c analyze.Connection) { sel.note(&c, nil) }})
		_, rerr := analyze.ReadSource(ctx, a, in.merger, nil)
		in.close()
		res := a.Finish()
		for i := range res.Connections {
			sel.note(&res.Connections[i], nil)
		}
		for i := range res.Rejected {
			if sf := &res.Rejected[i]; sel.chosen(sf.Connection) {
				sel.flows = append(sel.flows, flowSpan{sf.Client, sf.Server, sf.FirstSeen, sf.LastSeen, sf.Connection, true})
			}
		}
		if rerr != nil {
			s.errorf("%v", rerr)
			return exitInput
		}
	}

	in, err := openInputs(env, names, display)
	if err != nil {
		s.errorf("%v", err)
		return exitInput
	}
	s.meta.Inputs = in.meta
	if len(names) > 1 {
		s.owd = in.delays
	}
	cfg, err := s.config(env.stdout)
	if err != nil {
		in.close()
		s.errorf("%v", err)
		return exitInput
	}
	a := analyze.New(cfg)
	s.start(a)
	var prog func(analyze.ReadStats)
	if *progress || isTerminal(env.stderr) {
		start := time.Now()
		prog = func(st analyze.ReadStats) {
			fmt.Fprintf(env.stderr, "\r%s: %d packets, %.0f packets/s   ", in.label(), st.Records,
				float64(st.Records)/time.Since(start).Seconds())
		}
	}
	_, rerr := analyze.ReadSource(ctx, a, in.merger, prog)
	if prog != nil {
		fmt.Fprintln(env.stderr)
	}
	in.recordErrors(a, s)
	in.close()
	res := a.Finish()
	for i, st := range in.merger.Stats() {
		s.meta.Inputs[i].Packets, s.meta.Inputs[i].Duplicates = st.Packets, st.Duplicates
	}
	if rerr != nil {
		s.errorf("%v", rerr)
	}
	code = s.finish(res)
	if o.writeConn != "" {
		if err := writeConn(ctx, env, o.writeConn, names, display, sel); err != nil {
			s.errorf("--write-conn: %v", err)
			code = exitInput
		}
	}
	return code
}

// spool copies r to a temporary file and returns its name.
func spool(r io.Reader) (string, error) {
	f, err := os.CreateTemp("", "mptcp-stdin-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// inputs are the open capture files, merged by time.
type inputs struct {
	files  []*os.File
	rds    []capture.Reader
	merger *capture.Merger
	meta   []report.Input
	names  []string
}

// openInputs opens every file; an error names the file at fault.
func openInputs(env *cmdEnv, names []string, display func(int) string) (*inputs, error) {
	in := &inputs{}
	var srcs []capture.Source
	for i, name := range names {
		shown := display(i)
		var r io.Reader
		if name == "-" {
			r = env.stdin
		} else {
			if st, err := os.Stat(name); err == nil && st.IsDir() {
				in.close()
				return nil, fmt.Errorf("%s: is a directory, not a capture file", shown)
			}
			f, err := os.Open(name)
			if err != nil {
				in.close()
				return nil, fmt.Errorf("%s: %w", shown, unwrapPath(err))
			}
			in.files = append(in.files, f)
			r = f
		}
		rd, format, err := capture.NewReader(r)
		if err != nil {
			in.close()
			if errors.Is(err, capture.ErrUnknownFormat) {
				return nil, fmt.Errorf("%s: not a pcap or pcapng file (%v)", shown, err)
			}
			return nil, fmt.Errorf("%s: %v", shown, err)
		}
		srcs = append(srcs, rd)
		in.rds = append(in.rds, rd)
		in.names = append(in.names, shown)
		in.meta = append(in.meta, report.Input{Name: shown, Format: format.String(), Errors: []string{}})
	}
	in.merger = capture.NewMerger(in.names, srcs, len(srcs) > 1)
	return in, nil
}

// unwrapPath drops the *PathError's repetition of the file name.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// sources returns the readers as sources.
func (in *inputs) sources() []capture.Source {
	var out []capture.Source
	for _, r := range in.rds {
		out = append(out, r)
	}
	return out
}

// ifaceName returns the name of interface id of input i (pcapng), or "".
func (in *inputs) ifaceName(i, id int) string {
	if r, ok := in.rds[i].(*capture.PcapngReader); ok {
		if ifs := r.Interfaces(); id < len(ifs) {
			return ifs[id].Name
		}
	}
	return ""
}

func (in *inputs) close() {
	for _, f := range in.files {
		f.Close()
	}
	in.files = nil
}

func (in *inputs) label() string {
	if len(in.names) == 1 {
		return in.names[0]
	}
	return fmt.Sprintf("%d files", len(in.names))
}

func (in *inputs) delays(src, dst netip.AddrPort) []capture.OneWayDelay {
	return in.merger.DelaysFor(src, dst)
}

// recordErrors makes the inputs' errors findings of the analysis and
// messages on stderr; they make the exit status 3.
func (in *inputs) recordErrors(a *analyze.Analyzer, s *session) {
	for _, e := range in.merger.Errors() {
		a.InputError(fmt.Sprintf("%s: after packet %d", e.Name, e.Packets), e.Err)
		in.meta[e.Input].Errors = append(in.meta[e.Input].Errors, e.Error())
		s.errorf("%v", e)
	}
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
