package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/flatten"
	"github.com/mptcp-go/mptcp/analyze/plot"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/analyze/stats"
	"github.com/mptcp-go/mptcp/capture"
)

// outputs are the flags analyze and capture share: what to write.
type outputs struct {
	json, csv, packets, stats, hash bool
	fields                          string
	streams, flatten                string
	plot, plotData                  string
	conns                           listFlag
	writeConn                       string
	maxBuf                          sizeFlag
	maxConns, maxHalfOpen           int
	failOn                          string
	bin                             time.Duration
}

// register defines the shared flags on fs.
func (o *outputs) register(fs *flag.FlagSet) {
	o.maxBuf.n = analyze.DefaultMaxBuffer
	fs.BoolVar(&o.json, "json", false, "print the result as JSON (with --packets: NDJSON, one object per line); schema: docs/analyze.schema.json")
	fs.BoolVar(&o.csv, "csv", false, "print CSV: one row per subflow direction with statistics (implies --stats); with --packets one row per packet")
	fs.StringVar(&o.fields, "fields", "", "with --packets --csv: the `LIST` of columns, comma-separated (index,rel_s,time,input,src,dst,flags,seq,ack,len,window,connection,subflow,direction,dsn,data_ack,analysis,mptcp)")
	fs.BoolVar(&o.packets, "packets", false, "print every TCP segment with its MPTCP options, connection, relative DSN and analysis flags")
	fs.BoolVar(&o.stats, "stats", false, "add statistics: RTT, one-way delay (two captures), goodput per subflow, reinjections with delay and need")
	fs.DurationVar(&o.bin, "bin", stats.DefaultBin, "width of the goodput bins of --stats, --csv and --plot")
	fs.StringVar(&o.streams, "streams", "", "write each direction's data to a file in `DIR`, at its data offsets (holes stay sparse; a .holes file lists them)")
	fs.StringVar(&o.flatten, "flatten", "", "write each connection as one plain TCP conversation to `OUT.pcap`")
	fs.StringVar(&o.plot, "plot", "", "draw data sequence and goodput over time to `FILE.svg` or FILE.png")
	fs.StringVar(&o.plotData, "plot-data", "", "write the points of --plot (or that it would draw) to `FILE.csv`")
	fs.Var(&o.conns, "conn", connHelp)
	fs.StringVar(&o.writeConn, "write-conn", "", "write every packet of the chosen connections (all with no --conn), as captured, to `FILE` (.pcap, .pcapng, optionally .gz)")
	fs.Var(&o.maxBuf, "max-buffer", "cap on the memory held for out-of-order data, in bytes (`SIZE`: 64k, 256m, 1g)")
	fs.IntVar(&o.maxConns, "max-conns", analyze.DefaultMaxConnections, "most connections open at once; past it the least recently active is finished early (a table_full finding)")
	fs.IntVar(&o.maxHalfOpen, "max-half-open", analyze.DefaultMaxHalfOpen, "most connection attempts (SYNs not answered yet) and subflows of no connection held at once; past it the oldest are given up and counted")
	fs.BoolVar(&o.hash, "hash", false, "compute each stream's SHA-256 (always on with --streams)")
	fs.StringVar(&o.failOn, "fail-on", "error", "exit 1 when a finding of at least this `SEVERITY` is found: error, warning, info or none")
}

// check validates the shared flags; it returns a usage message or "".
func (o *outputs) check() string {
	switch {
	case o.plot != "" && !strings.HasSuffix(o.plot, ".svg") && !strings.HasSuffix(o.plot, ".png"):
		return fmt.Sprintf("--plot %q: want a .svg or .png file", o.plot)
	case o.plotData != "" && !strings.HasSuffix(o.plotData, ".csv"):
		return fmt.Sprintf("--plot-data %q: want a .csv file", o.plotData)
	case o.json && o.csv:
		return "--json and --csv: choose one"
	case o.fields != "" && !(o.csv && o.packets):
		return "--fields needs --packets --csv"
	case o.bin <= 0:
		return "--bin must be positive"
	case o.maxConns <= 0 || o.maxHalfOpen <= 0:
		return "--max-conns and --max-half-open must be positive"
	}
	switch o.failOn {
	case "error", "warning", "info", "none":
	default:
		return fmt.Sprintf("--fail-on %q: want error, warning, info or none", o.failOn)
	}
	if _, err := parseFields(o.fields); err != nil {
		return err.Error()
	}
	if _, err := newSelection(o.conns); err != nil {
		return err.Error()
	}
	return ""
}

// session is one analysis with its outputs: the analyzer's hooks, the
// writers, and the exit status.
type session struct {
	o    *outputs
	env  *cmdEnv
	name string // "mptcp analyze"
	sel  *selection
	a    *analyze.Analyzer
	meta report.Meta

	rep      *report.Writer
	pw       *packetWriter
	col      *stats.Collector
	plotCol  *plot.Collector
	fileSink *analyze.FileSink
	flatW    *flatten.Writer
	flatPcap *capture.PcapWriter
	flatFile *os.File
	plotF    *os.File
	plotDF   *os.File
	plotted  []plot.Conn
	owd      func(src, dst netip.AddrPort) []capture.OneWayDelay

	// failed: an input could not be read whole or an output not written
	// (exit 3); errs are the messages.
	failed bool
}

// errorf reports a failure that makes the exit status 3.
func (s *session) errorf(format string, args ...any) {
	fmt.Fprintf(s.env.stderr, "%s: %s\n", s.name, fmt.Sprintf(format, args...))
	s.failed = true
}

// openOutputs creates the output files before any reading, so that a
// path that cannot be written is reported at once, naming its flag.
func (s *session) openOutputs() bool {
	o := s.o
	create := func(flagName, path string) *os.File {
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			s.errorf("%s %s: is a directory", flagName, path)
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			s.errorf("%s: %v", flagName, err)
			return nil
		}
		return f
	}
	if o.streams != "" {
		if st, err := os.Stat(o.streams); err == nil && !st.IsDir() {
			s.errorf("--streams %s: exists and is not a directory", o.streams)
			return false
		}
		if err := os.MkdirAll(o.streams, 0o755); err != nil {
			s.errorf("--streams: %v", err)
			return false
		}
		probe, err := os.CreateTemp(o.streams, ".mptcp-write-test-*")
		if err != nil {
			s.errorf("--streams %s: cannot write there: %v", o.streams, errors.Unwrap(err))
			return false
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	if o.flatten != "" {
		if s.flatFile = create("--flatten", o.flatten); s.flatFile == nil {
			return false
		}
	}
	if o.plot != "" {
		if s.plotF = create("--plot", o.plot); s.plotF == nil {
			return false
		}
	}
	if o.plotData != "" {
		if s.plotDF = create("--plot-data", o.plotData); s.plotDF == nil {
			return false
		}
	}
	return true
}

// closeOutputs closes what openOutputs opened (after an early failure).
func (s *session) closeOutputs() {
	for _, f := range []*os.File{s.flatFile, s.plotF, s.plotDF} {
		if f != nil {
			f.Close()
		}
	}
}

// config returns the analyzer's configuration with the session's hooks.
// live: choose connections from packets as they come (no first pass).
func (s *session) config(stdout io.Writer) (analyze.Config, error) {
	o := s.o
	cfg := analyze.Config{MaxBuffer: o.maxBuf.n, MaxConnections: o.maxConns, MaxHalfOpen: o.maxHalfOpen, Hash: o.hash || o.streams != ""}
	format := report.Text
	switch {
	case o.json && o.packets:
		format = report.NDJSON
	case o.json:
		format = report.JSON
	case o.csv && !o.packets:
		format = report.CSV
	}
	s.meta.Selected = s.sel.raw()
	s.rep = report.NewWriter(stdout, format, &s.meta)
	if o.stats || o.csv || o.plot != "" || o.plotData != "" {
		s.col = stats.New(stats.Config{Bin: o.bin})
	}
	var sinks multiSink
	if o.streams != "" {
		s.fileSink = &analyze.FileSink{Dir: o.streams}
		sinks = append(sinks, s.fileSink)
	}
	if s.flatFile != nil {
		var err error
		s.flatPcap, err = capture.NewPcapWriter(s.flatFile, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
		if err != nil {
			return cfg, fmt.Errorf("--flatten: %w", err)
		}
		s.flatW = flatten.New(s.flatPcap)
		sinks = append(sinks, s.flatW)
	}
	if len(sinks) > 0 {
		var sink analyze.Sink = sinks
		if len(sinks) == 1 {
			sink = sinks[0]
		}
		if !s.sel.all() {
			sink = selectSink{next: sink, sel: s.sel}
		}
		cfg.Sink = sink
	}
	if s.plotF != nil || s.plotDF != nil {
		s.plotCol = &plot.Collector{}
	}
	if o.packets {
		fields, _ := parseFields(o.fields)
		pf := format
		if o.csv {
			pf = formatCSV
		}
		s.pw = &packetWriter{w: s.rep.Out(), format: pf, fields: fields, start: func() time.Time { return s.a.Start() }}
		for _, in := range s.meta.Inputs {
			s.pw.inputs = append(s.pw.inputs, in.Name)
		}
		if err := s.pw.header(); err != nil {
			return cfg, err
		}
	}
	if s.col != nil || s.plotCol != nil || s.pw != nil {
		cfg.OnPacket = func(pi *analyze.PacketInfo) {
			if s.col != nil {
				s.col.Begin(pi.Time)
			}
			if !s.sel.packet(pi) {
				return
			}
			if s.col != nil {
				s.col.Add(pi)
			}
			if s.plotCol != nil {
				s.plotCol.Add(pi)
			}
			if s.pw != nil {
				s.pw.write(pi)
			}
		}
	}
	cfg.OnConnection = s.connection
	return cfg, nil
}

// start takes the analyzer the hooks report to.
func (s *session) start(a *analyze.Analyzer) {
	s.a = a
	if !(s.o.packets && !s.o.json) {
		// Text --packets prints the connections after the packets; the
		// other outputs as soon as the order allows.
		s.rep.OrderBy(a.MinOpenID)
	}
}

// connection is the analyzer's OnConnection hook.
func (s *session) connection(c analyze.Connection) {
	var st *stats.Conn
	if s.col != nil {
		x := s.col.Take(c.ID)
		st = &x
	}
	if !s.sel.connection(&c) {
		return
	}
	if st != nil && s.owd != nil {
		addOneWayDelays(st, &c, s.owd)
	}
	if s.o.streams != "" {
		analyze.SetConnStreamFiles(&c, s.o.streams)
	}
	if s.plotCol != nil {
		s.plotted = append(s.plotted, plot.ConnFrom(&c, st))
	}
	if s.o.packets && s.o.csv {
		return // the output is the packets' CSV only
	}
	if !(s.o.stats || s.o.csv) {
		st = nil
	}
	s.rep.Connection(&c, st, s.col, s.a.Start())
}

// addOneWayDelays puts the delays measured between merged captures on
// each subflow's directions.
func addOneWayDelays(st *stats.Conn, c *analyze.Connection, owd func(src, dst netip.AddrPort) []capture.OneWayDelay) {
	for i := range c.Subflows {
		sf := &c.Subflows[i]
		var ss *stats.Subflow
		for j := range st.Subflows {
			if st.Subflows[j].ID == sf.ID {
				ss = &st.Subflows[j]
			}
		}
		if ss == nil {
			st.Subflows = append(st.Subflows, stats.Subflow{ID: sf.ID})
			ss = &st.Subflows[len(st.Subflows)-1]
		}
		up, down := 0, 1
		if !sf.ClientIsConnClient {
			up, down = 1, 0
		}
		for _, d := range owd(sf.Client, sf.Server) {
			ss.Dirs[up].OneWayDelay.AddSummary(d.Count, d.Min, d.Max, d.Sum)
		}
		for _, d := range owd(sf.Server, sf.Client) {
			ss.Dirs[down].OneWayDelay.AddSummary(d.Count, d.Min, d.Max, d.Sum)
		}
	}
}

// finish writes what is left after the analysis (the result, streams,
// plots) and returns the exit status.
func (s *session) finish(res *analyze.Result) int {
	o := s.o
	if s.fileSink != nil {
		if err := s.fileSink.Close(); err != nil {
			s.errorf("--streams: %v", err)
		}
	}
	if s.flatW != nil {
		if err := errors.Join(s.flatW.Err(), s.flatPcap.Flush(), s.flatFile.Close()); err != nil {
			s.errorf("--flatten %s: %v", o.flatten, err)
		}
		s.flatFile = nil
	}
	if s.pw != nil {
		if err := s.pw.flush(); err != nil {
			s.errorf("write output: %v", err)
		}
	}
	// Connections the analyzer still holds (none with OnConnection) and
	// the global parts: filtered like the rest.
	rr := *res
	rr.Connections = nil
	if !s.sel.all() {
		var rej []analyze.Subflow
		for _, sf := range rr.Rejected {
			if s.sel.chosen(sf.Connection) {
				rej = append(rej, sf)
			}
		}
		rr.Rejected = rej
		rr.Orphans = nil
	}
	var err error
	if !(o.packets && o.csv) {
		err = s.rep.Close(&rr)
	} else {
		err = s.rep.Out().Flush()
	}
	if err != nil {
		s.errorf("write output: %v", err)
	}
	if s.plotCol != nil {
		s.writePlots(res)
	}
	worst := s.worst(res)
	switch {
	case s.failed:
		return exitInput
	case o.failOn != "none" && report.Rank(worst) >= report.Rank(analyze.Severity(o.failOn)) && worst != "":
		return exitFailure
	}
	return exitOK
}

// worst is the most serious finding among what was output.
func (s *session) worst(res *analyze.Result) analyze.Severity {
	w := report.Worst(&analyze.Result{Findings: res.Findings})
	if s.rep.Worst() != "" && report.Rank(s.rep.Worst()) > report.Rank(w) {
		w = s.rep.Worst()
	}
	return w
}

// writePlots draws --plot and writes --plot-data.
func (s *session) writePlots(res *analyze.Result) {
	d := plot.Data{Points: s.plotCol.Points(), Acks: s.plotCol.Acks(), Conns: s.plotted, Start: res.First}
	if s.col != nil {
		d.Bin = s.col.Bin()
		d.BinStart = s.col.Start()
	}
	if s.plotF != nil {
		var err error
		if filepath.Ext(s.o.plot) == ".png" {
			err = plot.WritePNG(s.plotF, &d)
		} else {
			err = plot.WriteSVG(s.plotF, &d)
		}
		if err = errors.Join(err, s.plotF.Close()); err != nil {
			s.errorf("--plot %s: %v", s.o.plot, err)
		}
		s.plotF = nil
	}
	if s.plotDF != nil {
		err := errors.Join(plot.WriteCSV(s.plotDF, &d), s.plotDF.Close())
		if err != nil {
			s.errorf("--plot-data %s: %v", s.o.plotData, err)
		}
		s.plotDF = nil
	}
}

// selectSink passes on the data of chosen connections only.
type selectSink struct {
	next analyze.Sink
	sel  *selection
}

func (f selectSink) Data(c *analyze.ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	if f.sel.chosen(c.ID) {
		f.next.Data(c, dir, ts, off, b)
	}
}

func (f selectSink) Hole(c *analyze.ConnInfo, dir int, ts time.Time, off, size uint64) {
	if f.sel.chosen(c.ID) {
		f.next.Hole(c, dir, ts, off, size)
	}
}

func (f selectSink) End(c *analyze.ConnInfo, dir int, ts time.Time) {
	if f.sel.chosen(c.ID) {
		f.next.End(c, dir, ts)
	}
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
