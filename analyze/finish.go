package analyze

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// InputError records a problem with the input (a truncated file, a corrupt
// record) as a finding; where says where it happened.
//
// Errors with no packet between them (a run of corrupt blocks, every block
// after a second pcapng section header that describes no interface) are
// one finding that counts them.
func (a *Analyzer) InputError(where string, err error) {
	if a.inErr.n > 0 && a.inErr.at == a.res.Packets && a.inErr.idx < len(a.res.Findings) {
		a.inErr.n++
		a.res.Findings[a.inErr.idx].Message = fmt.Sprintf("%s (and %d more input errors before the next packet)", a.inErr.msg, a.inErr.n-1)
		return
	}
	msg := fmt.Sprintf("%s: %v", where, err)
	before := len(a.res.Findings)
	a.finding(nil, nil, a.res.Last, Error, CodeInput, msg)
	if len(a.res.Findings) > before {
		a.inErr.idx, a.inErr.at, a.inErr.msg, a.inErr.n = before, a.res.Packets, msg, 1
	}
}

// Start returns the time of the first packet seen (zero before any).
func (a *Analyzer) Start() time.Time { return a.res.First }

// Buffered returns the out-of-order data currently held, in bytes.
func (a *Analyzer) Buffered() int64 { return a.buffered }

// Snapshot returns what is known so far without finishing the analysis
// (for periodic summaries of a live capture). Streams still open show
// what was delivered so far.
func (a *Analyzer) Snapshot() *Result { return a.result(false) }

// Finish ends the analysis: every stream is flushed (what is still missing
// becomes a hole) and the result returned. The Analyzer must not be used
// afterwards.
//
// Finish stops early, as FinishContext does, when the context last given
// to ReadSource is done (a signal while a big capture ends).
func (a *Analyzer) Finish() *Result {
	ctx := a.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	r, _ := a.FinishContext(ctx)
	return r
}

// FinishContext is Finish that stops when ctx is done: connections not
// finished by then are in the Result as they are (not handed to
// OnConnection), with ctx's error.
func (a *Analyzer) FinishContext(ctx context.Context) (*Result, error) {
	a.giveUpAll()
	a.conns.frozen = true
	a.settle32(a.res.Last)
	for i, c := range a.conns.list {
		if i&255 == 0 && ctx.Err() != nil {
			a.conns.frozen = false
			return a.result(false), ctx.Err()
		}
		if c != nil {
			a.closeConn(c, a.res.Last)
		}
	}
	a.conns.frozen = false
	// Payload still waiting for a mapping stays unmapped (subflows
	// rejected or closed before their position was learnt).
	drop := func(sf *subflow) {
		for d := range sf.h {
			if len(sf.h[d].pending) > 0 {
				a.dropPending(&sf.h[d])
			}
		}
	}
	for _, sf := range a.flows {
		drop(sf)
		a.flushOrphan(sf)
	}
	for _, sf := range a.rejected {
		drop(sf)
	}
	for _, c := range a.conns.list {
		if c == nil {
			continue
		}
		for _, sf := range c.subflows {
			drop(sf)
		}
	}
	return a.result(true), nil
}

func (a *Analyzer) result(final bool) *Result {
	r := a.res
	r.Findings = slices.Clone(a.res.Findings)
	r.Connections = make([]Connection, 0, a.conns.live())
	for _, c := range a.conns.list {
		if c != nil {
			r.Connections = append(r.Connections, a.connResult(c, final))
		}
	}
	// IDs are given in the order connections were first seen (an
	// attempt's SYN), which is not always the order they were made.
	slices.SortFunc(r.Connections, func(x, y Connection) int { return x.ID - y.ID })
	for _, sf := range a.rejected {
		r.Rejected = append(r.Rejected, subflowResult(sf, sf.claimed, nil))
	}
	r.Orphans = a.orphans.result()
	r.Findings = append(r.Findings, a.attemptFindings(r.Orphans)...)
	return &r
}

func hex64(v uint64) string { return fmt.Sprintf("%016x", v) }
func hex32(v uint32) string { return fmt.Sprintf("%08x", v) }

func (a *Analyzer) connResult(c *conn, final bool) Connection {
	r := Connection{
		ID:        c.id,
		Verified:  c.verified(),
		GroupedBy: c.groupedBy,
		Client:    c.info.Client,
		Server:    c.info.Server,
		Checksums: c.csum,
		Fallback:  c.fallback,
		FirstSeen: c.first,
		LastSeen:  c.last,
		Events:    slices.Clone(c.events),
		Findings:  slices.Clone(c.findings),
	}
	if c.joinsOver > 0 {
		r.Findings = append(r.Findings, Finding{Time: c.last, Severity: Warning, Code: CodeTableFull, Message: fmt.Sprintf(
			"%d MP_JOIN subflows were not attached: the connection already had %d subflows", c.joinsOver, maxSubflows)})
	}
	if c.joinAttempts > 0 {
		r.Findings = append(r.Findings, Finding{Time: c.last, Severity: Info, Code: CodeJoinUnanswered, Message: fmt.Sprintf(
			"%d MP_JOIN attempts (%d SYNs) to this connection's token were never answered (first %s)",
			c.joinAttempts, c.joinsUnanswered, c.joinExample)})
	}
	if c.hasVer {
		r.Version = c.version.String()
	}
	if c.haveKey[0] {
		r.ClientKey = hex64(c.keys[0])
	}
	if c.haveKey[1] {
		r.ServerKey = hex64(c.keys[1])
	}
	if c.haveToken[0] {
		r.ClientToken = hex32(c.tokens[0])
	}
	if c.haveToken[1] {
		r.ServerToken = hex32(c.tokens[1])
	}
	for i := range c.st {
		r.Streams = append(r.Streams, streamResult(&c.st[i]))
	}
	for _, sf := range c.subflows {
		for d := range sf.h {
			cd := sf.connDir(d)
			r.Streams[cd].ChecksumsOK += sf.h[d].csumOK
			r.Streams[cd].ChecksumsFailed += sf.h[d].csumFailures
		}
	}
	allClosed, anyFin := true, false
	for _, sf := range c.subflows {
		r.Subflows = append(r.Subflows, subflowResult(sf, c, &r))
		if !sf.closed {
			allClosed = false
		}
		if sf.end == "fin" {
			anyFin = true
		}
	}
	switch {
	case c.fastclose:
		r.End = "fastclose"
	case c.st[0].finSeen && c.st[1].finSeen:
		r.End = "data_fin"
	case allClosed && !anyFin && len(c.subflows) > 0:
		r.End = "reset"
	case allClosed && len(c.subflows) > 0:
		r.End = "closed"
	default:
		r.End = "open"
	}
	if final {
		r.Events = append(r.Events, handovers(c)...)
		slices.SortStableFunc(r.Events, func(x, y Event) int { return x.Time.Compare(y.Time) })
		for i := range r.Streams {
			s := &r.Streams[i]
			if len(s.Holes) > 0 {
				r.Findings = append(r.Findings, Finding{Time: c.last, Severity: Warning, Code: CodeHole, Message: holeMessage(s)})
			}
		}
	}
	return r
}

func streamResult(st *stream) Stream {
	s := Stream{
		Direction:      dirName(st.dir),
		Origin:         st.origin,
		Bytes:          st.delivered,
		End:            st.next,
		DataFIN:        st.finSeen,
		FinOffset:      st.finOff,
		Duplicate:      st.dup,
		Reinjected:     st.reinj,
		Unchecked:      st.unchecked,
		Ignored:        st.beforeOrigin + st.outOfWindow,
		Holes:          slices.Clone(st.holes),
		HoleCount:      st.holeCount,
		HoleBytes:      st.holeBytes,
		DroppedBytes:   st.droppedBytes,
		AckedHoleBytes: st.ackedHoleBytes,
		Conflicts:      slices.Clone(st.conflicts),
		ConflictBytes:  st.conflictBytes,
		SHA256:         st.sum,
	}
	if st.idsnSet {
		s.IDSN = hex64(st.idsn)
	}
	if st.ackSeen && st.originSet {
		s.DataACK, s.DataACKSeen = st.ack-st.origin, true
	}
	s.OriginSet = st.originSet
	return s
}

func subflowResult(sf *subflow, c *conn, cr *Connection) Subflow {
	r := Subflow{
		ID:                 sf.id,
		Role:               sf.role.String(),
		Client:             sf.client,
		Server:             sf.server,
		ClientIsConnClient: sf.same,
		Backup:             sf.backup,
		FirstSeen:          sf.first,
		LastSeen:           sf.last,
		End:                sf.end,
	}
	if c != nil {
		r.Connection = c.id
	}
	if r.End == "" {
		r.End = "open"
	}
	if sf.haveAddrID[0] {
		v := sf.addrID[0]
		r.ClientAddrID = &v
	}
	if sf.haveAddrID[1] {
		v := sf.addrID[1]
		r.ServerAddrID = &v
	}
	if sf.role == roleJoin {
		r.Token = hex32(sf.token)
		switch {
		case sf.hmacFailed:
			r.JoinHMAC = "failed"
		case sf.hmacOK > 0:
			r.JoinHMAC = "verified"
		default:
			r.JoinHMAC = "unverifiable"
		}
	}
	for d := range 2 {
		h := &sf.h[d]
		sd := SubflowDir{
			Packets: h.pkts, Bytes: h.bytes, NewBytes: h.newBytes, DataBytes: h.data,
			Retransmissions: h.retrans, RetransBytes: h.retransBytes, Reinjected: h.reinj,
			Unmapped: h.unmapped, FIN: h.fin, RST: h.rst, RSTIgnored: h.rstIgnored,
		}
		if cr != nil && c != nil {
			if tot := c.st[sf.connDir(d)].delivered; tot > 0 {
				sd.Share = float64(h.data) / float64(tot)
			}
		}
		r.Dirs[d] = sd
	}
	return r
}

// handovers finds, per direction, subflows that stopped carrying new data
// while the connection went on carrying a significant part of its data on
// another: the data moved (a handover, or a path that failed). One event
// per such subflow, however the packets interleaved.
func handovers(c *conn) []Event {
	var out []Event
	for cd := range 2 {
		total := c.st[cd].delivered
		if total == 0 {
			continue
		}
		for _, a := range c.subflows {
			ha := &a.h[a.connDirInv(cd)]
			if ha.data == 0 {
				continue
			}
			aLast, aAt := ha.carried()
			after := total - aAt
			if after < 64<<10 || after*10 < total {
				continue
			}
			// The subflow that carried data last.
			var to *subflow
			var toLast time.Time
			for _, b := range c.subflows {
				hb := &b.h[b.connDirInv(cd)]
				bLast, _ := hb.carried()
				if b == a || hb.data == 0 || !bLast.After(aLast) {
					continue
				}
				if to == nil || bLast.After(toLast) {
					to, toLast = b, bLast
				}
			}
			if to == nil {
				continue
			}
			ev := Event{Time: aLast, Type: "handover", Subflow: a.id, To: to.id, Detail: fmt.Sprintf(
				"%s: data moved from subflow %d to %d (%d bytes after)", dirName(cd), a.id, to.id, after)}
			// The same move in the other direction is the same handover.
			merged := false
			for i := range out {
				if out[i].Subflow == ev.Subflow && out[i].To == ev.To {
					if ev.Time.Before(out[i].Time) {
						out[i].Time = ev.Time
					}
					out[i].Detail += "; " + ev.Detail
					merged = true
				}
			}
			if !merged {
				out = append(out, ev)
			}
		}
	}
	return out
}

// connDirInv maps a connection direction to the subflow's.
func (sf *subflow) connDirInv(cd int) int {
	if sf.same {
		return cd
	}
	return 1 - cd
}

// holeMessage says how much of a stream is missing and why: never seen,
// acknowledged by the peer but not in the capture, or dropped to stay
// under the memory cap.
func holeMessage(s *Stream) string {
	never := s.HoleBytes - s.DroppedBytes - s.AckedHoleBytes
	var parts []string
	if never > 0 {
		parts = append(parts, fmt.Sprintf("%d never seen", never))
	}
	if s.AckedHoleBytes > 0 {
		parts = append(parts, fmt.Sprintf("%d acknowledged by the peer but not in the capture", s.AckedHoleBytes))
	}
	if s.DroppedBytes > 0 {
		parts = append(parts, fmt.Sprintf("%d dropped: memory cap (--max-buffer)", s.DroppedBytes))
	}
	return fmt.Sprintf("%s: %d bytes missing in %d holes (%s; first at data offset %d, %d bytes)",
		s.Direction, s.HoleBytes, s.HoleCount, strings.Join(parts, ", "), s.Holes[0].Offset, s.Holes[0].Size)
}

// carried returns when a subflow direction last carried new data for the
// connection, and the connection's bytes by then: the last new data, or,
// when the peer's ACKs stopped advancing before it (the path died and the
// capture is on the sender's side, which goes on sending into it), the
// last acknowledgment that advanced.
func (h *half) carried() (time.Time, uint64) {
	if h.ackedSeen && h.lastAcked.Before(h.lastNew) {
		return h.lastAcked, h.connBytesAtAcked
	}
	return h.lastNew, h.connBytesAtLastNew
}
