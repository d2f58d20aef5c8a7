package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/stats"
)

// Format is an output format of Writer.
type Format int

// Formats.
const (
	Text   Format = iota // the readable summary
	JSON                 // one JSON document (Document)
	NDJSON               // one JSON object per line, each with a "type"
	CSV                  // one row per subflow direction, with statistics (CSVColumns)
)

// Writer writes connections as the analyzer finishes them
// (analyze.Config.OnConnection) and the capture's totals at the end, so
// that neither the analyzer nor the writer holds every connection of a
// long capture. Connections come out sorted by ID: one that finishes
// before a lower one is held (see OrderBy) until that one is written.
//
// In NDJSON, other lines (the packets of --packets) may be written
// between connections through Out.
type Writer struct {
	f       Format
	w       *bufio.Writer
	meta    *Meta
	minOpen func() int
	held    *held
	n       int
	tally   tally
	err     error
	buf     bytes.Buffer
}

// NewWriter returns a Writer of format f to w; meta may be nil, and is
// read when Close writes the totals.
func NewWriter(w io.Writer, f Format, meta *Meta) *Writer {
	if meta == nil {
		meta = &Meta{}
	}
	return &Writer{f: f, w: bufio.NewWriterSize(w, 64<<10), held: newHeld(), meta: meta}
}

// Worst returns the most serious severity of the findings written so far.
func (w *Writer) Worst() analyze.Severity { return w.tally.worst }

// Out is the buffered output, for lines written between connections
// (packets). Write to it only between calls of the Writer's methods.
func (w *Writer) Out() *bufio.Writer { return w.w }

// OrderBy gives the Writer the lowest ID still open
// (analyze.Analyzer.MinOpenID): connections below it are written at
// once. Without it, every connection is held until Close.
func (w *Writer) OrderBy(minOpen func() int) { w.minOpen = minOpen }

// Connection renders one finished connection, with its statistics if st
// is not nil, and writes it as soon as the order allows. t0 is the
// capture's first packet time (relative times count from it).
func (w *Writer) Connection(c *analyze.Connection, st *stats.Conn, col *stats.Collector, t0 time.Time) {
	if w.err != nil {
		return
	}
	w.tally.conns++
	w.tally.add(c.Findings)
	w.buf.Reset()
	switch w.f {
	case Text:
		bw := bufio.NewWriter(&w.buf)
		writeConn(bw, c, st, col, t0)
		bw.Flush()
	case JSON:
		b, err := json.MarshalIndent(ConnJSON(c, st, col, t0), "    ", "  ")
		if err != nil {
			w.err = err
			return
		}
		w.buf.WriteString("    ")
		w.buf.Write(b)
	case NDJSON:
		w.err = writeLine(&w.buf, "connection", ConnJSON(c, st, col, t0))
	case CSV:
		w.err = writeCSVConn(&w.buf, c, st, col, t0, false)
	}
	if w.err != nil {
		return
	}
	w.err = w.held.add(c.ID, bytes.Clone(w.buf.Bytes()))
	if w.err == nil && w.minOpen != nil {
		w.err = w.emit(w.minOpen())
	}
}

// emit writes the held connections below limit (all: limit <= 0).
func (w *Writer) emit(limit int) error {
	if w.held.len() == 0 {
		return nil
	}
	return w.held.popBelow(limit, writerFunc(func(b []byte) (int, error) {
		w.begin()
		if w.f == CSV && w.n == 0 {
			csvHeader(w.w)
		}
		if w.n > 0 {
			switch w.f {
			case Text:
				w.w.WriteString("\n")
			case JSON:
				w.w.WriteString(",\n")
			}
		}
		w.n++
		n, err := w.w.Write(b)
		if err == nil && w.w.Buffered() > 32<<10 {
			err = w.w.Flush()
		}
		return n, err
	}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// begin writes the start of a JSON document once.
func (w *Writer) begin() {
	if w.f == JSON && w.n == 0 {
		fmt.Fprintf(w.w, "{\n  \"schema_version\": %d,\n  \"tool\": ", SchemaVersion)
		b, _ := json.MarshalIndent(w.meta.Tool, "  ", "  ")
		w.w.Write(b)
		w.w.WriteString(",\n  \"connections\": [\n")
	}
}

// Close writes what is still held, the connections of r (those the
// analyzer had not handed over), the rejected subflows, orphans, global
// findings and totals, and flushes.
func (w *Writer) Close(r *analyze.Result) error {
	defer w.held.close()
	for i := range r.Connections {
		w.Connection(&r.Connections[i], nil, nil, r.First)
	}
	if w.err == nil {
		w.err = w.emit(0)
	}
	if w.err != nil {
		return w.err
	}
	w.tally.add(r.Findings)
	rejected := []Subflow{}
	for i := range r.Rejected {
		rejected = append(rejected, SubflowJSON(&r.Rejected[i], nil, nil, r.First))
	}
	orphans := []Orphan{}
	for i := range r.Orphans {
		orphans = append(orphans, OrphanJSON(&r.Orphans[i], r.First))
	}
	findings := FindingsJSON(r.Findings, r.First)
	inputs := w.meta.Inputs
	if inputs == nil {
		inputs = []Input{}
	}
	for i := range inputs {
		if inputs[i].Errors == nil {
			inputs[i].Errors = []string{}
		}
	}
	capt := CaptureJSON(r, w.meta)
	sum := w.tally.summary()
	switch w.f {
	case CSV:
		if w.n == 0 {
			csvHeader(w.w)
		}
	case Text:
		if w.n > 0 {
			w.w.WriteString("\n")
		}
		rr := *r
		rr.Connections = nil
		writeTotals(w.w, &rr, w.n, w.meta)
	case JSON:
		w.begin()
		if w.n == 0 {
			w.w.WriteString("  ]")
		} else {
			w.w.WriteString("\n  ]")
		}
		for _, kv := range []struct {
			k string
			v any
		}{{"rejected_subflows", rejected}, {"orphans", orphans}, {"findings", findings}, {"inputs", inputs},
			{"capture", capt}, {"summary", sum}} {
			b, err := json.MarshalIndent(kv.v, "  ", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(w.w, ",\n  %q: %s", kv.k, b)
		}
		w.w.WriteString("\n}\n")
	case NDJSON:
		for i := range rejected {
			if err := writeLine(w.w, "rejected_subflow", rejected[i]); err != nil {
				return err
			}
		}
		for i := range orphans {
			if err := writeLine(w.w, "orphan", orphans[i]); err != nil {
				return err
			}
		}
		for i := range findings {
			if err := writeLine(w.w, "finding", findings[i]); err != nil {
				return err
			}
		}
		if err := writeLine(w.w, "summary", SummaryLine{SchemaVersion: SchemaVersion, Tool: w.meta.Tool,
			Inputs: inputs, Capture: capt, Summary: sum}); err != nil {
			return err
		}
	}
	return w.w.Flush()
}

// SummaryLine is the last line of NDJSON output.
type SummaryLine struct {
	SchemaVersion int     `json:"schema_version"`
	Tool          Tool    `json:"tool"`
	Inputs        []Input `json:"inputs"`
	Capture       Capture `json:"capture"`
	Summary       Summary `json:"summary"`
}

// writeLine writes v as one JSON line with "type" first.
func writeLine(w io.Writer, typ string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "{\"type\":%q", typ); err != nil {
		return err
	}
	if len(b) > 2 {
		b[0] = ','
	} else {
		b = []byte("}")
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	_, err = w.Write([]byte{'\n'})
	return err
}

// WriteLine writes v (an object) as one NDJSON line of the given type.
func WriteLine(w io.Writer, typ string, v any) error { return writeLine(w, typ, v) }

// WriteJSON writes r as one JSON document (Document), the connections
// sorted by ID.
func WriteJSON(w io.Writer, r *analyze.Result, meta *Meta) error {
	return NewWriter(w, JSON, meta).Close(r)
}

// WriteText writes the readable summary of r.
func WriteText(w io.Writer, r *analyze.Result, meta *Meta) error {
	return NewWriter(w, Text, meta).Close(r)
}

func csvHeader(w io.Writer) {
	cw := csv.NewWriter(w)
	cw.Write(CSVColumns)
	cw.Flush()
}
