package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/option"
)

// packetWriter prints the per-packet view (--packets): text lines, NDJSON
// objects of type "packet", or CSV rows.
type packetWriter struct {
	w      io.Writer
	format report.Format
	csv    *csv.Writer
	fields []string
	inputs []string         // input names, when more than one
	start  func() time.Time // the capture's first packet (relative times)
	row    []string
}

// packetJSON is one "packet" line of --packets --json.
type packetJSON struct {
	Index     uint64          `json:"index"`
	Time      time.Time       `json:"time"`
	RelS      float64         `json:"rel_s"`
	Input     int             `json:"input"`
	Src       string          `json:"src"`
	Dst       string          `json:"dst"`
	Flags     string          `json:"flags"`
	Seq       uint32          `json:"seq"`
	Ack       uint32          `json:"ack"`
	Len       int             `json:"len"`
	Window    uint16          `json:"window"`
	Conn      *int            `json:"connection"`
	Subflow   *int            `json:"subflow"`
	Direction *string         `json:"direction"`
	Rejected  bool            `json:"rejected"`
	DSN       *uint64         `json:"dsn"`
	DataACK   *uint64         `json:"data_ack"`
	Analysis  []string        `json:"analysis"`
	Options   []decodedOption `json:"mptcp_options"`
	Error     *string         `json:"option_error"`
}

// packetFields are the CSV columns (--fields chooses among them).
var packetFields = []string{"index", "rel_s", "time", "input", "src", "dst", "flags", "seq", "ack", "len", "window",
	"connection", "subflow", "direction", "dsn", "data_ack", "analysis", "mptcp"}

// parseFields checks a --fields list.
func parseFields(v string) ([]string, error) {
	if v == "" {
		return packetFields, nil
	}
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, k := range packetFields {
			if k == f {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("--fields: unknown field %q (fields: %s)", f, strings.Join(packetFields, ","))
		}
		out = append(out, f)
	}
	return out, nil
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

// header writes the CSV header row.
func (pw *packetWriter) header() error {
	if pw.format != formatCSV {
		return nil
	}
	pw.csv = csv.NewWriter(pw.w)
	return pw.csv.Write(pw.fields)
}

// formatCSV is the packet writer's CSV format (report has no CSV).
const formatCSV report.Format = 100

func (pw *packetWriter) write(pi *analyze.PacketInfo) {
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
	t0 := pi.Time
	if pw.start != nil {
		t0 = pw.start()
	}
	rel := pi.Time.Sub(t0).Seconds()
	switch pw.format {
	case report.NDJSON:
		j := packetJSON{Index: pi.Index, Time: pi.Time, RelS: rel, Input: pi.Source, Src: pi.Src.String(), Dst: pi.Dst.String(),
			Flags: tcpFlags(pi.Flags), Seq: pi.Seq, Ack: pi.Ack, Len: pi.Len, Window: pi.Window, Rejected: pi.Rejected,
			Analysis: pi.Analysis.Names(), Options: opts}
		if j.Analysis == nil {
			j.Analysis = []string{}
		}
		if j.Options == nil {
			j.Options = []decodedOption{}
		}
		if pi.Subflow != 0 {
			sf := pi.Subflow
			j.Subflow = &sf
		}
		if pi.Conn != 0 {
			c, d := pi.Conn, report.DirName(pi.Dir)
			j.Conn, j.Direction = &c, &d
		}
		if pi.HasDSN {
			d := pi.DSN
			j.DSN = &d
		}
		if pi.HasDataACK {
			d := pi.DataACK
			j.DataACK = &d
		}
		if oerr != nil {
			e := oerr.Error()
			j.Error = &e
		}
		report.WriteLine(pw.w, "packet", j)
	case formatCSV:
		pw.row = pw.row[:0]
		for _, f := range pw.fields {
			pw.row = append(pw.row, pw.field(f, pi, rel, opts))
		}
		pw.csv.Write(pw.row)
	default:
		fmt.Fprintf(pw.w, "%d +%.6f ", pi.Index, rel)
		if len(pw.inputs) > 1 && pi.Source < len(pw.inputs) {
			fmt.Fprintf(pw.w, "[%s] ", pw.inputs[pi.Source])
		}
		fmt.Fprintf(pw.w, "%v -> %v [%s] seq=%d ack=%d len=%d", pi.Src, pi.Dst, tcpFlags(pi.Flags), pi.Seq, pi.Ack, pi.Len)
		if pi.Conn != 0 {
			fmt.Fprintf(pw.w, " conn=%d sf=%d", pi.Conn, pi.Subflow)
		} else if pi.Rejected {
			fmt.Fprintf(pw.w, " sf=%d REJECTED", pi.Subflow)
		}
		if pi.HasDSN {
			fmt.Fprintf(pw.w, " dsn=%d", pi.DSN)
		}
		if pi.HasDataACK {
			fmt.Fprintf(pw.w, " data_ack=%d", pi.DataACK)
		}
		if pi.Analysis != 0 {
			fmt.Fprintf(pw.w, " {%s}", strings.Join(pi.Analysis.Names(), ","))
		}
		fmt.Fprintln(pw.w)
		for _, d := range opts {
			fmt.Fprintf(pw.w, "    %s\n", d.Summary)
		}
		if oerr != nil {
			fmt.Fprintf(pw.w, "    malformed MPTCP option: %v\n", oerr)
		}
	}
}

// field returns one CSV column of a packet.
func (pw *packetWriter) field(f string, pi *analyze.PacketInfo, rel float64, opts []decodedOption) string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	switch f {
	case "index":
		return u(pi.Index)
	case "rel_s":
		return strconv.FormatFloat(rel, 'f', 6, 64)
	case "time":
		return pi.Time.UTC().Format(time.RFC3339Nano)
	case "input":
		if len(pw.inputs) > 0 && pi.Source < len(pw.inputs) {
			return pw.inputs[pi.Source]
		}
		return strconv.Itoa(pi.Source)
	case "src":
		return pi.Src.String()
	case "dst":
		return pi.Dst.String()
	case "flags":
		return tcpFlags(pi.Flags)
	case "seq":
		return u(uint64(pi.Seq))
	case "ack":
		return u(uint64(pi.Ack))
	case "len":
		return strconv.Itoa(pi.Len)
	case "window":
		return u(uint64(pi.Window))
	case "connection":
		if pi.Conn == 0 {
			return ""
		}
		return strconv.Itoa(pi.Conn)
	case "subflow":
		if pi.Subflow == 0 {
			return ""
		}
		return strconv.Itoa(pi.Subflow)
	case "direction":
		if pi.Conn == 0 {
			return ""
		}
		return report.DirName(pi.Dir)
	case "dsn":
		if !pi.HasDSN {
			return ""
		}
		return u(pi.DSN)
	case "data_ack":
		if !pi.HasDataACK {
			return ""
		}
		return u(pi.DataACK)
	case "analysis":
		return strings.Join(pi.Analysis.Names(), "|")
	case "mptcp":
		var s []string
		for _, o := range opts {
			s = append(s, o.Subtype)
		}
		return strings.Join(s, "|")
	}
	return ""
}

// flush ends the CSV output.
func (pw *packetWriter) flush() error {
	if pw.csv != nil {
		pw.csv.Flush()
		return pw.csv.Error()
	}
	return nil
}
