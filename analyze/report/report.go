// Package report writes an analyze.Result as a readable summary or as JSON.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
)

// WriteJSON writes r as indented JSON: the complete, stable form for
// scripts (connections[] with subflows[], streams[], events[], findings[]).
func WriteJSON(w io.Writer, r *analyze.Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the readable summary: per connection its endpoints,
// version, tokens, subflows, data per direction, holes, the events on a
// timeline and the findings.
func WriteText(w io.Writer, r *analyze.Result) error {
	bw := bufio.NewWriter(w)
	writeHeader(bw, r, len(r.Connections))
	for i := range r.Connections {
		fmt.Fprintln(bw)
		writeConn(bw, &r.Connections[i], r.First)
	}
	writeTrailer(bw, r)
	return bw.Flush()
}

// writeTotals is the header and trailer together, for a Stream's end.
func writeTotals(bw *bufio.Writer, r *analyze.Result, conns int) {
	writeHeader(bw, r, conns)
	writeTrailer(bw, r)
}

func writeHeader(bw *bufio.Writer, r *analyze.Result, conns int) {
	fmt.Fprintf(bw, "capture: %d packets, %d TCP, %d with MPTCP options", r.Packets, r.TCP, r.MPTCP)
	if !r.First.IsZero() {
		fmt.Fprintf(bw, ", %s, %s", r.First.UTC().Format(time.RFC3339Nano), dur(r.Last.Sub(r.First)))
	}
	fmt.Fprintln(bw)
	if r.NotTCP+r.Malformed+r.PlainTCPFlows > 0 {
		fmt.Fprintf(bw, "  not TCP %d, malformed %d, plain TCP connection attempts %d\n", r.NotTCP, r.Malformed, r.PlainTCPFlows)
	}
	fmt.Fprintf(bw, "MPTCP connections: %d\n", conns)
}

func writeTrailer(bw *bufio.Writer, r *analyze.Result) {
	t0 := r.First
	if len(r.Rejected) > 0 {
		fmt.Fprintf(bw, "\nrejected subflows (join did not verify; data not merged):\n")
		for i := range r.Rejected {
			sf := &r.Rejected[i]
			fmt.Fprintf(bw, "  #%d claimed connection %d: %v -> %v, token %s, %d+%d bytes\n",
				sf.ID, sf.Connection, sf.Client, sf.Server, sf.Token, sf.Dirs[0].Bytes, sf.Dirs[1].Bytes)
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(bw, "\nfindings:\n")
		writeFindings(bw, r.Findings, t0)
	}
}

func writeConn(w *bufio.Writer, c *analyze.Connection, t0 time.Time) {
	fmt.Fprintf(w, "connection %d: %v -> %v", c.ID, c.Client, c.Server)
	if c.Version != "" {
		fmt.Fprintf(w, ", MPTCP %s", c.Version)
	}
	if c.Verified {
		fmt.Fprintf(w, ", grouping verified by keys")
	} else if c.GroupedBy == "keys" {
		fmt.Fprintf(w, ", grouping UNVERIFIED (by keys: only one side's key seen)")
	} else {
		fmt.Fprintf(w, ", grouping UNVERIFIED (by %s)", c.GroupedBy)
	}
	fmt.Fprintln(w)
	if c.ClientKey != "" || c.ServerKey != "" || c.ClientToken != "" || c.ServerToken != "" {
		fmt.Fprintf(w, "  client key %s token %s, server key %s token %s\n",
			orDash(c.ClientKey), orDash(c.ClientToken), orDash(c.ServerKey), orDash(c.ServerToken))
	}
	cs := "off"
	if c.Checksums {
		cs = "on"
	}
	fmt.Fprintf(w, "  %s .. %s (%s), checksums %s, ended: %s\n", rel(c.FirstSeen, t0), rel(c.LastSeen, t0),
		dur(c.LastSeen.Sub(c.FirstSeen)), cs, c.End)
	if c.Fallback != "" {
		fmt.Fprintf(w, "  FALLBACK to TCP: %s\n", c.Fallback)
	}
	fmt.Fprintf(w, "  subflows:\n")
	for i := range c.Subflows {
		sf := &c.Subflows[i]
		role := sf.Role
		if sf.JoinHMAC != "" {
			role += " (hmac " + sf.JoinHMAC + ")"
		}
		if sf.Backup {
			role += " backup"
		}
		up, down := 0, 1
		if !sf.ClientIsConnClient {
			up, down = 1, 0
		}
		fmt.Fprintf(w, "    #%d %s %v -> %v\n", sf.ID, role, sf.Client, sf.Server)
		fmt.Fprintf(w, "       c->s %s (%.1f%%), s->c %s (%.1f%%), retrans %d, reinjected %d B, %s .. %s, %s\n",
			bytesStr(sf.Dirs[up].DataBytes), 100*sf.Dirs[up].Share, bytesStr(sf.Dirs[down].DataBytes), 100*sf.Dirs[down].Share,
			sf.Dirs[0].Retransmissions+sf.Dirs[1].Retransmissions, sf.Dirs[0].Reinjected+sf.Dirs[1].Reinjected,
			rel(sf.FirstSeen, t0), rel(sf.LastSeen, t0), sf.End)
	}
	fmt.Fprintf(w, "  data:\n")
	for i := range c.Streams {
		s := &c.Streams[i]
		fmt.Fprintf(w, "    %s %s", s.Direction, bytesStr(s.Bytes))
		if s.DataFIN {
			fmt.Fprintf(w, ", DATA_FIN at %d", s.FinOffset)
		}
		if s.Duplicate > 0 {
			fmt.Fprintf(w, ", %d B seen again (%d B reinjected)", s.Duplicate, s.Reinjected)
		}
		if s.ChecksumsOK+s.ChecksumsFailed > 0 {
			fmt.Fprintf(w, ", DSS checksums %d ok, %d FAILED", s.ChecksumsOK, s.ChecksumsFailed)
		}
		if s.IDSN == "" && s.Bytes > 0 {
			fmt.Fprintf(w, ", offsets from the first DSN seen (%#x)", s.Origin)
		}
		fmt.Fprintln(w)
		if s.SHA256 != "" {
			fmt.Fprintf(w, "      sha256 %s", s.SHA256)
			if s.File != "" {
				fmt.Fprintf(w, "  %s", s.File)
			}
			fmt.Fprintln(w)
		}
		if len(s.Holes) > 0 {
			// HoleCount and HoleBytes count the holes past the listed ones.
			count, total := max(s.HoleCount, uint64(len(s.Holes))), s.HoleBytes
			if total == 0 {
				for _, h := range s.Holes {
					total += h.Size
				}
			}
			fmt.Fprintf(w, "      holes: %d, %s missing:", count, bytesStr(total))
			for j, h := range s.Holes {
				if j == 8 {
					fmt.Fprintf(w, " ...")
					break
				}
				fmt.Fprintf(w, " %d+%d", h.Offset, h.Size)
				if h.Reason != "missing" {
					fmt.Fprintf(w, "(%s)", h.Reason)
				}
			}
			fmt.Fprintln(w)
		}
		if len(s.Conflicts) > 0 {
			fmt.Fprintf(w, "      CONFLICTING copies at:")
			for j, h := range s.Conflicts {
				if j == 8 {
					fmt.Fprintf(w, " ...")
					break
				}
				fmt.Fprintf(w, " %d+%d", h.Offset, h.Size)
			}
			fmt.Fprintln(w)
		}
	}
	if len(c.Events) > 0 {
		fmt.Fprintf(w, "  events:\n")
		for _, e := range c.Events {
			fmt.Fprintf(w, "    %s  #%-3d %s", rel(e.Time, t0), e.Subflow, e.Type)
			if e.To != 0 {
				fmt.Fprintf(w, " -> #%d", e.To)
			}
			if e.Detail != "" {
				fmt.Fprintf(w, "  %s", e.Detail)
			}
			fmt.Fprintln(w)
		}
	}
	if len(c.Findings) > 0 {
		fmt.Fprintf(w, "  findings:\n")
		writeFindings(w, c.Findings, t0)
	}
}

func writeFindings(w *bufio.Writer, fs []analyze.Finding, t0 time.Time) {
	for _, f := range fs {
		fmt.Fprintf(w, "    %-7s %s", strings.ToUpper(string(f.Severity)), f.Code)
		if f.Subflow != 0 {
			fmt.Fprintf(w, " #%d", f.Subflow)
		}
		if !f.Time.IsZero() {
			fmt.Fprintf(w, " at %s", rel(f.Time, t0))
		}
		fmt.Fprintf(w, ": %s\n", f.Message)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rel formats t as seconds since the capture's first packet.
func rel(t, t0 time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return fmt.Sprintf("+%.6fs", t.Sub(t0).Seconds())
}

func dur(d time.Duration) string { return fmt.Sprintf("%.6fs", d.Seconds()) }

func bytesStr(n uint64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d B (%.1f MiB)", n, float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%d B (%.1f KiB)", n, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Worst returns the most serious severity among all findings, or "".
func Worst(r *analyze.Result) analyze.Severity {
	var w analyze.Severity
	rank := map[analyze.Severity]int{"": 0, analyze.Info: 1, analyze.Warning: 2, analyze.Error: 3}
	see := func(fs []analyze.Finding) {
		for _, f := range fs {
			if rank[f.Severity] > rank[w] {
				w = f.Severity
			}
		}
	}
	see(r.Findings)
	for i := range r.Connections {
		see(r.Connections[i].Findings)
	}
	return w
}

// Stream writes connections as the analyzer finishes them (see
// analyze.Config.OnConnection) and the capture's totals at the end, so
// that neither the analyzer nor the writer holds every connection of a
// long capture. The JSON form is one document, like WriteJSON's, with the
// connections first.
type Stream struct {
	w    *bufio.Writer
	json bool
	n    int
	err  error
}

// NewStream returns a Stream writing text, or JSON if asJSON.
func NewStream(w io.Writer, asJSON bool) *Stream {
	return &Stream{w: bufio.NewWriterSize(w, 64<<10), json: asJSON}
}

// Connection writes one finished connection; t0 is the capture's first
// packet time (text times are relative to it).
func (s *Stream) Connection(c *analyze.Connection, t0 time.Time) {
	if s.err != nil {
		return
	}
	if s.json {
		if s.n == 0 {
			s.w.WriteString("{\n  \"connections\": [\n    ")
		} else {
			s.w.WriteString(",\n    ")
		}
		b, err := json.MarshalIndent(c, "    ", "  ")
		if err != nil {
			s.err = err
			return
		}
		s.w.Write(b)
	} else {
		if s.n > 0 {
			fmt.Fprintln(s.w)
		}
		writeConn(s.w, c, t0)
	}
	s.n++
	if s.w.Buffered() > 32<<10 {
		s.err = s.w.Flush()
	}
}

// Close writes the totals of r (whose Connections, if any, are written
// first) and flushes.
func (s *Stream) Close(r *analyze.Result) error {
	for i := range r.Connections {
		s.Connection(&r.Connections[i], r.First)
	}
	if s.err != nil {
		return s.err
	}
	n := s.n
	if s.json {
		if n == 0 {
			s.w.WriteString("{\n  \"connections\": [")
		} else {
			s.w.WriteString("\n  ")
		}
		s.w.WriteString("]")
		rest := *r
		rest.Connections = nil
		b, err := json.Marshal(&rest)
		if err != nil {
			return err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(b, &fields); err != nil {
			return err
		}
		delete(fields, "connections")
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var ind bytes.Buffer
			if err := json.Indent(&ind, fields[k], "  ", "  "); err != nil {
				return err
			}
			fmt.Fprintf(s.w, ",\n  %q: %s", k, ind.Bytes())
		}
		s.w.WriteString("\n}\n")
		return s.w.Flush()
	}
	rr := *r
	rr.Connections = nil
	if n > 0 {
		fmt.Fprintln(s.w)
	}
	writeTotals(s.w, &rr, n)
	return s.w.Flush()
}
