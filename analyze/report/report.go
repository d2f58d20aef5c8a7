// Package report writes an analyze.Result as a readable summary or as JSON.
package report

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/stats"
)

// writeTotals writes the capture's totals, after the connections.
func writeTotals(bw *bufio.Writer, r *analyze.Result, conns int, meta *Meta) {
	writeHeader(bw, r, conns, meta)
	writeTrailer(bw, r)
}

func writeHeader(bw *bufio.Writer, r *analyze.Result, conns int, meta *Meta) {
	fmt.Fprintf(bw, "capture: %d packets, %d TCP, %d with MPTCP options", r.Packets, r.TCP, r.MPTCP)
	if !r.First.IsZero() {
		fmt.Fprintf(bw, ", %s, %s", r.First.UTC().Format(time.RFC3339Nano), dur(r.Last.Sub(r.First)))
	}
	fmt.Fprintln(bw)
	if meta != nil && len(meta.Inputs) > 1 {
		for i, in := range meta.Inputs {
			fmt.Fprintf(bw, "  input %d: %s (%s), %d packets", i, in.Name, in.Format, in.Packets)
			if in.Duplicates > 0 {
				fmt.Fprintf(bw, ", %d already seen in another input (not analyzed twice)", in.Duplicates)
			}
			fmt.Fprintln(bw)
		}
	}
	if meta != nil && meta.Kernel != nil {
		fmt.Fprintf(bw, "  kernel ring: %d packets, %d dropped\n", meta.Kernel.Packets, meta.Kernel.Drops)
	}
	if r.NotTCP+r.Malformed+r.PlainTCPFlows > 0 {
		fmt.Fprintf(bw, "  not TCP %d, malformed %d, plain TCP connection attempts %d\n", r.NotTCP, r.Malformed, r.PlainTCPFlows)
	}
	if meta != nil && len(meta.Selected) > 0 {
		fmt.Fprintf(bw, "MPTCP connections chosen by --conn %s: %d\n", strings.Join(meta.Selected, " "), conns)
	} else {
		fmt.Fprintf(bw, "MPTCP connections: %d\n", conns)
	}
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
	if len(r.Orphans) > 0 {
		var total uint64
		for _, o := range r.Orphans {
			total += o.Segments
		}
		fmt.Fprintf(bw, "\nsegments with MPTCP options of no connection seen: %d\n", total)
		for _, o := range r.Orphans {
			name := o.Kind
			if o.Detail != "" {
				name += " (" + o.Detail + ")"
			}
			fmt.Fprintf(bw, "  %s: %d segments, %d subflows, %s .. %s, e.g. %s\n", name, o.Segments, o.Subflows,
				rel(o.First, t0), rel(o.Last, t0), o.Example)
			var src []string
			for _, s := range o.Sources {
				src = append(src, fmt.Sprintf("%v (%d)", s.Addr, s.Segments))
			}
			if o.OtherSources > 0 {
				src = append(src, fmt.Sprintf("others (%d)", o.OtherSources))
			}
			fmt.Fprintf(bw, "    sources: %s\n", strings.Join(src, ", "))
		}
	}
	if len(r.Findings) > 0 {
		fmt.Fprintf(bw, "\nfindings:\n")
		writeFindings(bw, r.Findings, t0)
	}
}

func writeConn(w *bufio.Writer, c *analyze.Connection, st *stats.Conn, col *stats.Collector, t0 time.Time) {
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
	var sfStats map[int]*stats.Subflow
	if st != nil {
		sfStats = map[int]*stats.Subflow{}
		for i := range st.Subflows {
			sfStats[st.Subflows[i].ID] = &st.Subflows[i]
		}
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
		if ss := sfStats[sf.ID]; ss != nil {
			writeSubflowStats(w, ss, col, sf.LastSeen.Sub(sf.FirstSeen))
		}
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
			writeHoles(w, s)
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
		if st != nil && i < len(st.Reinjections) {
			writeReinjections(w, &st.Reinjections[i])
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

// holeReason says in words why a hole's bytes are missing.
func holeReason(r string) string {
	switch r {
	case analyze.HoleAcked:
		return "acked, not captured"
	case analyze.HoleMemory:
		return "dropped: memory cap"
	}
	return "never seen"
}

// writeHoles lists a stream's holes with why each is missing.
func writeHoles(w *bufio.Writer, s *analyze.Stream) {
	// HoleCount and HoleBytes count the holes past the listed ones.
	count, total := max(s.HoleCount, uint64(len(s.Holes))), s.HoleBytes
	if total == 0 {
		for _, h := range s.Holes {
			total += h.Size
		}
	}
	never := total - min(total, s.DroppedBytes+s.AckedHoleBytes)
	fmt.Fprintf(w, "      holes: %d, %s missing", count, bytesStr(total))
	var why []string
	if never > 0 {
		why = append(why, fmt.Sprintf("%d B never seen", never))
	}
	if s.AckedHoleBytes > 0 {
		why = append(why, fmt.Sprintf("%d B acked, not captured", s.AckedHoleBytes))
	}
	if s.DroppedBytes > 0 {
		why = append(why, fmt.Sprintf("%d B dropped: memory cap (--max-buffer)", s.DroppedBytes))
	}
	if len(why) > 1 || s.DroppedBytes+s.AckedHoleBytes > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(why, ", "))
	}
	fmt.Fprintf(w, ":")
	for j, h := range s.Holes {
		if j == 8 {
			fmt.Fprintf(w, " ...")
			break
		}
		fmt.Fprintf(w, " %d+%d", h.Offset, h.Size)
		if h.Reason != analyze.HoleMissing && h.Reason != "" {
			fmt.Fprintf(w, "(%s)", holeReason(h.Reason))
		}
	}
	fmt.Fprintln(w)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

func delays(d *stats.Durations) string {
	if d.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s/%s ms (%d)", ms(d.Min), ms(d.Mean()), ms(d.Max), d.Count)
}

// rate formats bits per second.
func rate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// goodput returns the mean over the bins the subflow was active in and
// the peak bin, in bits per second.
func goodput(bins []uint64, bin time.Duration) (mean, peak float64) {
	var sum uint64
	first, last := -1, -1
	for i, b := range bins {
		if b > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
		sum += b
		peak = max(peak, float64(b))
	}
	if first < 0 || bin <= 0 {
		return 0, 0
	}
	sec := bin.Seconds()
	return float64(sum) * 8 / (float64(last-first+1) * sec), peak * 8 / sec
}

// writeSubflowStats prints a subflow's RTT, one-way delay and goodput
// (min/mean/max of the delays, samples in parentheses).
func writeSubflowStats(w *bufio.Writer, ss *stats.Subflow, col *stats.Collector, life time.Duration) {
	fmt.Fprintf(w, "       rtt min/mean/max: c->s %s, s->c %s\n", delays(&ss.Dirs[0].RTT), delays(&ss.Dirs[1].RTT))
	if ss.Dirs[0].OneWayDelay.Count+ss.Dirs[1].OneWayDelay.Count > 0 {
		fmt.Fprintf(w, "       one-way delay min/mean/max: c->s %s, s->c %s\n", delays(&ss.Dirs[0].OneWayDelay), delays(&ss.Dirs[1].OneWayDelay))
	}
	if col == nil {
		return
	}
	var parts []string
	for d, name := range []string{"c->s", "s->c"} {
		m, p := goodput(ss.Dirs[d].Goodput, col.Bin())
		if m <= 0 {
			continue
		}
		active := 0
		var sum uint64
		for _, b := range ss.Dirs[d].Goodput {
			sum += b
			if b > 0 {
				active++
			}
		}
		if active < 2 && life > 0 {
			// Shorter than a bin: the mean over the subflow's life.
			parts = append(parts, fmt.Sprintf("%s %s over %s", name, rate(float64(sum)*8/life.Seconds()), dur(life)))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s mean, %s peak", name, rate(m), rate(p)))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "       goodput (%s bins): %s\n", col.Bin(), strings.Join(parts, "; "))
	}
}

// writeReinjections summarizes a direction's reinjections.
func writeReinjections(w *bufio.Writer, r *stats.Reinjections) {
	if r.Count == 0 {
		return
	}
	fmt.Fprintf(w, "      reinjections: %d (%s), %d needed, %d not needed (%s: the first copy was already acknowledged)",
		r.Count, bytesStr(r.Bytes), r.Count-r.Unneeded, r.Unneeded, bytesStr(r.UnneededBytes))
	if r.Delay.Count > 0 {
		fmt.Fprintf(w, "; delay after the first copy min/mean/max %s", delays(&r.Delay))
	}
	fmt.Fprintln(w)
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
	var t tally
	t.add(r.Findings)
	for i := range r.Connections {
		t.add(r.Connections[i].Findings)
	}
	return t.worst
}
