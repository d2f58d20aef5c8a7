package analyze

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// conn is one MPTCP connection being analyzed.
type conn struct {
	id      int
	info    ConnInfo
	version option.Version
	hasVer  bool
	// keys[0] is the client's, keys[1] the server's (RFC 8684 §3.1).
	keys      [2]uint64
	haveKey   [2]bool
	tokens    [2]uint32
	haveToken [2]bool
	// echoed: that side's key was seen after the SYNs (third ACK or
	// first data), where it is final.
	echoed    [2]bool
	groupedBy string
	// pos is the connection's place in Analyzer.conns (-1: not there).
	pos, heapIdx int
	// lruPrev and lruNext link the open connections by activity.
	lruPrev, lruNext *conn
	inLRU            bool
	csum             bool
	fallback         string
	fastclose        bool
	reset            bool
	first            time.Time
	last             time.Time
	subflows         []*subflow
	st               [2]stream
	events           []Event
	findings         []Finding
	done             bool
	// orphaned: the connection was only an unanswered SYN, reported
	// with the orphan segments instead (orphan.go).
	orphaned bool
	// joinsUnanswered counts MP_JOIN SYNs to this connection's token
	// never answered, joinAttempts the attempts (4-tuples) they made;
	// joinExample is the first one.
	joinsUnanswered, joinAttempts uint64
	joinExample                   string
	// joinsOver counts joins not attached because the connection had
	// maxSubflows subflows.
	joinsOver uint64
	// tokAddr are the addresses c is listed under in index.token.
	tokAddr [2]netip.Addr
	// dsn32: a DSS mapping of c used a 32-bit DSN; its streams are then
	// also filed by DSN alone (index.b32a).
	dsn32 bool
	// probe is set while c, a subflow seen without its handshake with
	// 32-bit DSNs and no address in common with any connection, is held
	// and compared with the connections it may belong to (late32.go).
	probe *probe32
}

// verified reports whether both keys were seen.
func (c *conn) verified() bool { return c.haveKey[0] && c.haveKey[1] }

// newConn starts a connection whose first subflow is sf.
func (a *Analyzer) newConn(sf *subflow, ts time.Time, groupedBy string) *conn {
	id := a.presetConn
	if id == 0 {
		a.nextConn++
		id = a.nextConn
	}
	a.presetConn = 0
	c := &conn{id: id, groupedBy: groupedBy, first: ts, last: ts}
	c.info = ConnInfo{ID: c.id, Client: sf.client, Server: sf.server}
	for i := range c.st {
		c.st[i].dir = i
		if a.cfg.Hash {
			c.st[i].hash = newHash()
		}
	}
	a.addConn(c)
	a.attach(c, sf, true)
	return c
}

// attach adds sf to c; same says whether sf's client is c's client.
func (a *Analyzer) attach(c *conn, sf *subflow, same bool) {
	sf.conn, sf.same = c, same
	sf.orphanSegs = nil
	c.subflows = append(c.subflows, sf)
	c.event(Event{Time: sf.first, Type: "subflow_open", Subflow: sf.id,
		Detail: fmt.Sprintf("%s %v -> %v", sf.role, sf.client, sf.server)})
}

// event appends to the timeline, skipping an exact repeat of the last
// event of the same subflow (options are repeated on retransmissions).
func (c *conn) event(e Event) {
	for i := len(c.events) - 1; i >= 0 && i >= len(c.events)-4; i-- {
		p := &c.events[i]
		if p.Subflow == e.Subflow && p.Type == e.Type && p.Detail == e.Detail && p.To == e.To {
			return
		}
	}
	switch {
	case len(c.events) < maxEvents:
		c.events = append(c.events, e)
	case len(c.events) == maxEvents:
		c.events = append(c.events, Event{Time: e.Time, Type: "events_truncated",
			Detail: fmt.Sprintf("more than %d events; the rest are not listed", maxEvents)})
	}
}

// maxEvents bounds a connection's timeline (a hostile capture could
// otherwise grow it without bound with signalling options).
const maxEvents = 4096

// finding records a finding on c (or globally when c is nil).
func (a *Analyzer) finding(c *conn, sf *subflow, ts time.Time, sev Severity, code, msg string) {
	f := Finding{Time: ts, Severity: sev, Code: code, Message: msg}
	if sf != nil {
		f.Subflow = sf.id
	}
	if c == nil && sf != nil && sf.claimed != nil {
		c = sf.claimed
	}
	a.addFinding(c, f)
}

// addFinding appends f to c's findings (or the global ones when c is nil),
// within the bounds.
func (a *Analyzer) addFinding(c *conn, f Finding) {
	if c == nil {
		if len(a.res.Findings) < maxFindings {
			a.res.Findings = append(a.res.Findings, f)
		}
		return
	}
	if len(c.findings) < maxFindings {
		c.findings = append(c.findings, f)
	} else if len(c.findings) == maxFindings {
		c.findings = append(c.findings, Finding{Time: f.Time, Severity: Info, Code: "findings_truncated",
			Message: fmt.Sprintf("more than %d findings; the rest are not listed", maxFindings)})
	}
}

// maxFindings bounds the findings kept per connection, so a hostile
// capture cannot grow memory without bound through them.
const maxFindings = 256

// setKey records the key of side (0 client, 1 server) of c and registers
// its token.
func (a *Analyzer) setKey(c *conn, sf *subflow, side int, key uint64, ts time.Time) {
	if c.haveKey[side] {
		if c.keys[side] != key {
			a.finding(c, sf, ts, Error, "key_mismatch", fmt.Sprintf("%s key 0x%016x differs from the 0x%016x seen before",
				sideName(side), key, c.keys[side]))
		}
		return
	}
	c.keys[side], c.haveKey[side] = key, true
	tok, idsn := mpcrypto.TokenIDSN(c.version, key)
	if c.haveToken[side] && c.tokens[side] != tok {
		a.finding(c, sf, ts, Warning, "token_mismatch", fmt.Sprintf("%s key gives token %08x, joins used %08x",
			sideName(side), tok, c.tokens[side]))
	}
	c.tokens[side], c.haveToken[side] = tok, true
	if o, ok := a.tokens[tok]; ok && o != c {
		if !a.merge(c, o, side) {
			a.finding(c, sf, ts, Warning, "token_collision", fmt.Sprintf("token %08x is also connection %d's", tok, o.id))
		}
	} else {
		a.tokens[tok] = c
	}
	c.st[side].setIDSN(idsn)
	a.reindex(c, side)
	if c.verified() {
		c.groupedBy = "keys"
		a.verifyLateJoins(c, ts)
	}
}

// forgetKey undoes setKey for side while the connection has carried no
// data (its key changed during the handshake). It reports false when data
// already rests on that key.
func (a *Analyzer) forgetKey(c *conn, side int) bool {
	for i := range c.st {
		if st := &c.st[i]; st.next > 0 || st.buffered > 0 || !st.ooo.empty() {
			return false
		}
	}
	if a.tokens[c.tokens[side]] == c {
		delete(a.tokens, c.tokens[side])
	}
	c.haveKey[side], c.haveToken[side] = false, false
	st := &c.st[side]
	st.idsnSet, st.originSet = false, false
	return true
}

func synName(ack bool) string {
	if ack {
		return "SYN/ACK"
	}
	return "SYN"
}

func sideName(side int) string {
	if side == 0 {
		return "client"
	}
	return "server"
}

// mpCapable handles MP_CAPABLE (RFC 8684 §3.1).
func (a *Analyzer) mpCapable(sf *subflow, d int, s *segment, o *option.MPCapable, syn, ack bool) {
	if sf.rejected {
		return
	}
	c := sf.conn
	switch {
	case syn && !ack:
		if c == nil {
			sf.role = roleInitial
			c = a.newConn(sf, s.ts, "keys")
		}
		if sf.role != roleInitial {
			return
		}
	case syn && ack:
		if c == nil {
			sf.role = roleInitial
			c = a.newConn(sf, s.ts, "keys")
		}
		if sf.role != roleInitial {
			return
		}
		sf.capSynAck = true
	default:
		if c == nil {
			if !o.HasReceiverKey {
				return
			}
			// The handshake's third ACK or first data, without the SYNs.
			sf.role = roleInitial
			c = a.newConn(sf, s.ts, "keys")
		}
		if sf.role != roleInitial {
			return
		}
	}
	if !c.hasVer || (syn && ack) {
		c.version, c.hasVer = o.Version, true
	}
	if o.Flags&option.CapChecksum != 0 {
		// RFC 8684 §3.1: checksums are used if either host asks.
		c.csum = true
	}
	side := sf.connDir(d)
	if o.HasSenderKey && syn && c.haveKey[side] && !c.echoed[side] && c.keys[side] != o.SenderKey && a.forgetKey(c, side) {
		// RFC 6824 §3.1: a retransmitted SYN (or SYN/ACK) with another
		// key replaces the first until the third ACK echoes one.
		a.finding(c, sf, s.ts, Info, "key_changed", fmt.Sprintf(
			"%s key 0x%016x in a retransmitted %s replaces 0x%016x", sideName(side), o.SenderKey, synName(ack), c.keys[side]))
	}
	if o.HasSenderKey {
		a.setKey(c, sf, side, o.SenderKey, s.ts)
		c.echoed[side] = c.echoed[side] || !syn
	}
	if o.HasReceiverKey && !syn && c.haveKey[1-side] && !c.echoed[1-side] && c.keys[1-side] != o.ReceiverKey && a.forgetKey(c, 1-side) {
		// RFC 8684 §3.1: the third ACK (or first data) echoes the key of
		// the SYN/ACK the client accepted; with SYN cookies each SYN/ACK
		// (to a retransmitted SYN) carries a new key and the client takes
		// the first one that reaches it. The echo is what the connection
		// goes on with.
		a.finding(c, sf, s.ts, Info, "key_changed", fmt.Sprintf(
			"%s key 0x%016x echoed by the %s replaces 0x%016x of another SYN/ACK", sideName(1-side), o.ReceiverKey, "third ACK", c.keys[1-side]))
	}
	if o.HasReceiverKey {
		a.setKey(c, sf, 1-side, o.ReceiverKey, s.ts)
		c.echoed[1-side] = true
	}
	if o.HasDataLen && o.HasSenderKey && o.DataLen > 0 {
		// RFC 8684 §3.1: the first data carries its own mapping, DSN
		// IDSN+1 at subflow sequence 1.
		h := &sf.h[d]
		if !h.shiftKnown {
			// Without the SYN the first data is at our relative 1 too.
			h.shift, h.shiftKnown = 0, true
		}
		m := mapping{ssn: h.base + uint64(1-h.shift), n: uint64(o.DataLen), dsn: mpcrypto.IDSN(c.version, o.SenderKey) + 1}
		a.addMapping(c, sf, d, s, m)
		h.sawMapping = true
		if o.HasChecksum && c.csum {
			h.startChecksum(m, 1, o.DataLen, o.Checksum)
		}
	}
}

// mpJoin handles MP_JOIN (RFC 8684 §3.2): grouping by token, then the
// HMACs of both ends.
func (a *Analyzer) mpJoin(sf *subflow, d int, s *segment, j *option.MPJoin, syn, ack bool) {
	switch j.Stage {
	case option.JoinSYN:
		if !syn || ack || d != 0 {
			return
		}
		if sf.conn == nil && !sf.rejected {
			sf.role = roleJoin
			sf.token = j.Token
			if c, ok := a.tokens[j.Token]; ok {
				if len(c.subflows) >= maxSubflows {
					// More subflows than any stack opens: not attached
					// (a finding on c counts them).
					c.joinsOver++
					sf.role = roleUnknown
					break
				}
				// The token is the receiver's: a join sent to the
				// server carries the server's token.
				same := !(c.haveToken[0] && c.tokens[0] == j.Token)
				a.attach(c, sf, same)
			} else {
				c := a.newConn(sf, s.ts, "token")
				c.tokens[1], c.haveToken[1] = j.Token, true
				a.tokens[j.Token] = c
				a.fileTokenConn(c, sf)
				a.finding(c, sf, s.ts, Info, CodeUnverified, fmt.Sprintf(
					"MP_JOIN to token %08x: the connection's MP_CAPABLE handshake was not captured; subflows are grouped by token and cannot be verified", j.Token))
			}
		}
		sf.nonce[0], sf.haveNonce[0] = j.Nonce, true
		sf.addrID[0], sf.haveAddrID[0] = j.AddrID, true
		sf.backup = j.Backup
	case option.JoinSYNACK:
		if !syn || !ack || d != 1 || sf.role != roleJoin {
			return
		}
		sf.nonce[1], sf.haveNonce[1] = j.Nonce, true
		sf.addrID[1], sf.haveAddrID[1] = j.AddrID, true
		sf.truncHMAC, sf.haveTrunc = j.TruncHMAC, true
		a.verifyJoin(sf, s.ts, false)
	case option.JoinACK:
		if syn || d != 0 || sf.role != roleJoin {
			return
		}
		sf.ackHMAC, sf.haveAckMAC = j.HMAC, true
		a.verifyJoin(sf, s.ts, true)
	}
}

// verifyLateJoins checks the HMACs of c's joins that were seen before both
// keys were (the third ACK of MP_CAPABLE not captured, the client's key
// only in its first data, RFC 8684 §3.1): a join that does not verify is
// rejected from then on, like one caught at once (RFC 8684 §3.2).
func (a *Analyzer) verifyLateJoins(c *conn, ts time.Time) {
	for i := 0; i < len(c.subflows); i++ {
		sf := c.subflows[i]
		if sf.role != roleJoin || sf.hmacOK > 0 || sf.hmacFailed {
			continue
		}
		if sf.haveTrunc {
			a.verifyJoin(sf, ts, false)
		}
		if sf.haveAckMAC && !sf.rejected {
			a.verifyJoin(sf, ts, true)
		}
		if sf.rejected {
			i-- // reject removed it from c.subflows
		}
	}
}

// verifyJoin checks the responder's truncated HMAC (SYN/ACK) or the
// initiator's HMAC (third ACK) when both keys are known. A join that does
// not verify is rejected: it is a possible forgery (RFC 8684 §3.2 requires
// the receiver to reset such a subflow) and its data is not merged.
func (a *Analyzer) verifyJoin(sf *subflow, ts time.Time, initiator bool) {
	c := sf.conn
	if sf.rejected {
		c = sf.claimed
	}
	if c == nil || !c.verified() || !sf.haveNonce[0] || !sf.haveNonce[1] {
		return
	}
	// Side of the connection that initiated the join.
	ini := 0
	if !sf.same {
		ini = 1
	}
	kA, kB := c.keys[ini], c.keys[1-ini]
	rA, rB := sf.nonce[0], sf.nonce[1]
	var ok bool
	var what string
	if initiator {
		mac := mpcrypto.JoinHMAC(c.version, kA, kB, rA, rB)
		ok = subtle.ConstantTimeCompare(mac[:], sf.ackHMAC[:]) == 1
		what = "third ACK (initiator's HMAC)"
	} else {
		ok = mpcrypto.JoinTruncatedHMAC(c.version, kB, kA, rB, rA) == sf.truncHMAC
		what = "SYN/ACK (responder's truncated HMAC)"
	}
	if ok {
		sf.hmacOK++
		if initiator {
			sf.iniOK = true
		} else {
			sf.rspOK = true
		}
		return
	}
	if sf.hmacFailed {
		return
	}
	sf.hmacFailed = true
	msg := fmt.Sprintf("MP_JOIN %v -> %v: the HMAC in the %s does not verify with the connection's keys: possible forgery; subflow not merged",
		sf.client, sf.server, what)
	if n := sf.h[0].data + sf.h[1].data; n > 0 {
		// Checked only once the keys were seen: what it carried before
		// had already been taken into the streams.
		msg += fmt.Sprintf(" from then on (checked once the keys were seen: the %d bytes it carried before were merged)", n)
	}
	a.finding(c, sf, ts, Error, CodeJoinHMAC, msg)
	if !sf.rejected {
		a.reject(c, sf)
	}
}

// reject detaches sf from c.
func (a *Analyzer) reject(c *conn, sf *subflow) {
	sf.rejected, sf.claimed, sf.conn = true, c, nil
	for i, o := range c.subflows {
		if o == sf {
			c.subflows = append(c.subflows[:i], c.subflows[i+1:]...)
			break
		}
	}
	c.event(Event{Time: sf.last, Type: "join_rejected", Subflow: sf.id, Detail: "HMAC does not verify"})
	if len(a.rejected) < maxRejectedListed {
		a.rejected = append(a.rejected, sf)
		return
	}
	// Past the list, rejected joins are counted by source, and their
	// flow entries are bounded like subflows of no connection.
	sf.unlisted = true
	a.rejectedMore.add("join_rejected", "", sf.client, sf.server, sf.h[0].pkts+sf.h[1].pkts, 1, sf.first, sf.last)
	a.loose(sf)
}

// maxRejectedListed bounds Result.Rejected; more rejected joins are one
// finding with counts and sources.
const maxRejectedListed = 64

// fallback records that c fell back to plain TCP (RFC 8684 §3.7) and maps
// the rest of sf's data one to one.
func (a *Analyzer) fallback(c *conn, sf *subflow, ts time.Time, why string) {
	if c.fallback != "" {
		return
	}
	c.fallback = why
	c.event(Event{Time: ts, Type: "fallback", Subflow: sf.id, Detail: why})
	a.finding(c, sf, ts, Warning, CodeFallback, "fallback to TCP: "+why)
}

// signal handles the options that are events on the timeline.
func (a *Analyzer) signal(sf *subflow, d int, s *segment, o *option.Option) {
	c := sf.conn
	if c == nil {
		c = sf.claimed
	}
	if c == nil {
		return
	}
	switch o.Subtype {
	case option.SubtypeAddAddr:
		aa := &o.AddAddr
		typ := "add_addr"
		if aa.Echo {
			typ = "add_addr_echo"
		}
		det := fmt.Sprintf("id %d %v", aa.AddrID, aa.Addr)
		if aa.HasPort {
			det += fmt.Sprintf(" port %d", aa.Port)
		}
		c.event(Event{Time: s.ts, Type: typ, Subflow: sf.id, Detail: det})
		// RFC 8684 §3.4.1: the HMAC is keyed by the sender's key then
		// the receiver's.
		side := sf.connDir(d)
		if aa.HasHMAC && c.version == option.V1 && c.verified() &&
			mpcrypto.AddAddrHMAC(c.keys[side], c.keys[1-side], aa.AddrID, aa.Addr, aa.Port) != aa.HMAC {
			if mpcrypto.AddAddrHMACLeftmost(c.keys[side], c.keys[1-side], aa.AddrID, aa.Addr, aa.Port) == aa.HMAC {
				a.finding(c, sf, s.ts, Warning, CodeAddAddrHMACLegacy, fmt.Sprintf(
					"ADD_ADDR %s: the HMAC is the leftmost 64 bits of HMAC-SHA256 with the connection's keys, as the first Linux MPTCP kernels (v5.6, 2020) sent before they were fixed to the rightmost 64 bits of RFC 8684 §3.4.1: authentic, from an old kernel; an RFC-conforming peer rejects it", det))
			} else {
				a.finding(c, sf, s.ts, Error, CodeAddAddrHMAC, fmt.Sprintf(
					"ADD_ADDR %s: the HMAC does not verify with the connection's keys (neither the RFC's rightmost 64 bits nor the leftmost ones of early Linux): possible forgery", det))
			}
		}
	case option.SubtypeRemoveAddr:
		c.event(Event{Time: s.ts, Type: "remove_addr", Subflow: sf.id, Detail: fmt.Sprintf("ids %v", o.RemoveAddr.IDs())})
	case option.SubtypeMPPrio:
		sf.backup = o.MPPrio.Backup
		det := "backup off"
		if o.MPPrio.Backup {
			det = "backup on"
		}
		c.event(Event{Time: s.ts, Type: "mp_prio", Subflow: sf.id, Detail: det})
	case option.SubtypeMPFail:
		st := &c.st[1-sf.connDir(d)]
		det := fmt.Sprintf("dsn %d", o.MPFail.DSN)
		if st.originSet {
			det = fmt.Sprintf("data offset %d", o.MPFail.DSN-st.origin)
		}
		c.event(Event{Time: s.ts, Type: "mp_fail", Subflow: sf.id, Detail: det})
		a.finding(c, sf, s.ts, Warning, CodeMPFail, "MP_FAIL at "+det+": the receiver found a checksum failure and falls back")
	case option.SubtypeMPFastclose:
		c.event(Event{Time: s.ts, Type: "mp_fastclose", Subflow: sf.id})
		side := 1 - sf.connDir(d) // the key is the receiver's
		if c.haveKey[side] && c.keys[side] != o.MPFastclose.ReceiverKey {
			// RFC 8684 §3.5: the receiver acts on MP_FASTCLOSE only with
			// its own key (Linux: mptcp_incoming_options); the
			// connection goes on.
			a.finding(c, sf, s.ts, Error, CodeFastclose, fmt.Sprintf(
				"MP_FASTCLOSE carries key 0x%016x, not the %s's key: possible forgery; ignored, the connection is still analyzed", o.MPFastclose.ReceiverKey, sideName(side)))
			break
		}
		c.fastclose = true
		a.finding(c, sf, s.ts, Info, CodeFastclose, "connection closed abruptly by MP_FASTCLOSE")
		if sf.end == "" {
			sf.end = "fastclose"
		}
	case option.SubtypeMPTCPRst:
		c.event(Event{Time: s.ts, Type: "mp_tcprst", Subflow: sf.id, Detail: o.MPTCPRst.Reason.String()})
		if sf.end == "" {
			sf.end = "mp_tcprst"
		}
	}
}

// maybeClose finishes c when every subflow is closed and the data level is
// over (both DATA_FINs, MP_FASTCLOSE, or every subflow reset): its streams
// are flushed and its buffers released.
func (a *Analyzer) maybeClose(c *conn, ts time.Time) {
	if c.done {
		return
	}
	allRST := true
	for _, sf := range c.subflows {
		if !sf.closed {
			return
		}
		if sf.end == "fin" {
			allRST = false
		}
	}
	if !(c.st[0].finSeen && c.st[1].finSeen) && !c.fastclose && !allRST && c.fallback == "" {
		// Every subflow is closed but the connection may go on with a new
		// subflow (break before make, RFC 8684 §3.3.1): keep the streams
		// open but give back the history kept for comparing copies, so
		// that idle connections cost little memory.
		for i := range c.st {
			st := &c.st[i]
			a.freeHist(st)
			st.histFrom = st.next
		}
		return
	}
	a.closeConn(c, ts)
}

// merge folds o, a connection made of joins to a token whose handshake had
// not been seen, into c, whose key has that token (side says whose). It
// only does so while o has delivered no data, so sinks never see a stream
// change connection; otherwise it reports false.
func (a *Analyzer) merge(c, o *conn, side int) bool {
	if o.verified() || o.done || o.st[0].delivered+o.st[1].delivered > 0 || o.st[0].buffered+o.st[1].buffered > 0 {
		return false
	}
	for _, sf := range o.subflows {
		sf.conn = c
		if side == 0 {
			sf.same = !sf.same
		}
		c.subflows = append(c.subflows, sf)
	}
	c.events = append(c.events, o.events...)
	for _, f := range o.findings {
		if f.Code != CodeUnverified {
			c.findings = append(c.findings, f)
		}
	}
	if o.first.Before(c.first) {
		c.first = o.first
	}
	a.tokens[o.tokens[1]] = c
	o.done = true
	a.removeConn(o)
	return true
}
