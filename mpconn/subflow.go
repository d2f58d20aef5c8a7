package mpconn

import (
	"errors"
	"net/netip"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// Subflow is one TCP connection of an MPTCP connection. It is the
// endpoint's hooks: it adds MPTCP options to every segment the endpoint
// sends and reads those of every segment it receives (Linux's options.c
// and subflow.c), takes the endpoint's in-order data into the connection
// (tcp.DataReceiver) and keeps segments within DSS mappings
// (tcp.SegmentLimiter).
type Subflow struct {
	c       *Conn
	id      int
	io      SubflowIO
	ep      *tcp.Endpoint
	initial bool // the MP_CAPABLE subflow
	join    bool // an MP_JOIN subflow
	opened  bool // we sent its SYN
	iss     uint32
	irs     uint32
	haveIRS bool

	// fully: the subflow may carry data. Initial subflow: at once for
	// the server, after the first DSS for the client; joins: after the
	// HMACs verified and (for the side that opened it) the fourth ACK
	// (RFC 8684 §3.2).
	fully bool

	backup     bool // we asked for it to be a backup
	peerBackup bool // the peer asked (MP_JOIN B flag, MP_PRIO)
	localID    uint8
	remoteID   uint8

	// MP_JOIN handshake state.
	synRtx                  int // retransmissions of our MP_CAPABLE SYN
	localNonce, remoteNonce uint32
	thmac                   uint64   // our truncated HMAC (SYN/ACK)
	hmac                    [20]byte // our HMAC (third ACK)
	ackRtxAt                time.Duration
	ackRtxCount             int

	// Pending signals for the next segments.
	rstReason   option.RstReason
	rstSet      bool
	prioPending bool
	ackNow      bool
	failPending bool
	failDSN     uint64

	// Failure detection: retransmission timeouts since data was last
	// acknowledged; a subflow with two or more is stale (Linux's
	// stale_loss_cnt): the scheduler avoids it and its data is reinjected.
	rtos    int
	stale   bool
	lastUna uint32
	// progressAt: when the subflow last had its data acknowledged (or
	// nothing outstanding); stallAt: when it counts as stale if nothing
	// is acknowledged before (0: not armed).
	progressAt time.Duration
	stallAt    time.Duration
	// stallCheck: the deadline was seen passed when the engine could not
	// vouch that it had been listening (not from its own timer, or from
	// a timer that fired late); the verdict waits for this second look.
	stallCheck  time.Duration
	penalizedAt time.Duration // the last opportunistic penalty
	// cpNxt: the subflow carried the data up to this DSN (a
	// CopyScheduler's subflows catch up from here).
	cpNxt uint64
	cpSet bool

	// Send side: the mappings of the data written into the endpoint, in
	// subflow sequence order, kept until DATA_ACKed (for reinjection).
	tx   []txMap
	wseq uint32 // subflow sequence number of the next byte to write
	// infinite mapping after an MP_FAIL (RFC 8684 §3.7): the segment at
	// infSSN carries a DSS with data-level length 0 and DSN infDSN.
	infSet bool
	infSSN uint32
	infDSN uint64

	// Receive side.
	rx       []rxMap
	sawDSS   bool
	csumSeen bool // a mapping's checksum verified on this subflow
	// after we sent MP_FAIL: data is discarded until the peer's infinite
	// mapping says where the plain stream starts.
	awaitInf   bool
	awaitSince time.Duration
	// fallback mapping: subflow byte fbSSN is DSN fbDSN, and onwards.
	fbSet bool
	fbSSN uint32
	fbDSN uint64

	dataSent, dataRecv uint64

	opt option.Option
}

// txMap is a mapping we sent: subflow bytes [ssn, ssn+len) carry DSNs
// [dsn, dsn+len) (RFC 8684 §3.3.1).
type txMap struct {
	ssn   uint32
	dsn   uint64
	len   uint32
	csum  uint16
	reinj bool
}

// rxMap is a mapping received: subflow bytes from ssn carry DSNs from dsn
// (len data bytes; a DATA_FIN follows them if fin).
type rxMap struct {
	ssn     uint32
	dsn     uint64
	len     uint32
	fin     bool
	csum    uint16
	hasCsum bool
	stage   []byte // checksum mode: the mapping's bytes until it verifies
}

// newSubflow makes the subflow and its endpoint on io.
func (c *Conn) newSubflow(io SubflowIO, join bool) *Subflow {
	s := &Subflow{c: c, id: c.nextID, io: io, join: join}
	c.nextID++
	tmpl := c.cfg.TCP
	tmpl.Nagle = c.nagle
	if tmpl.SendBufferSize == 0 {
		// The scheduler keeps about a window's worth in the subflow;
		// the rest waits in the connection's buffer.
		tmpl.SendBufferSize = 64 << 10
	}
	if tmpl.ReceiveBufferSize == 0 {
		tmpl.ReceiveBufferSize = 64 << 10 // out-of-order data only
	}
	if tmpl.ReceiveBufferMax == 0 {
		// The subflow announces the connection's window (§3.3.4); its
		// buffer grows to hold that much out of order if it must.
		tmpl.ReceiveBufferMax = c.cfg.ReceiveBuffer
	}
	if c.newCC != nil {
		tmpl.NewCongestionControl = c.newCC
	}
	if join {
		tmpl.FastOpenCookie = nil // Fast Open is the initial subflow's only
	}
	cfg := io.TCPConfig(tmpl)
	cfg.Hooks = s
	cfg.Notify = s.onNotify
	s.iss = cfg.ISS
	s.wseq = cfg.ISS + 1
	s.lastUna = cfg.ISS + 1
	s.ep = tcp.New(cfg, c.env, io)
	s.ep.DeferAcks(true)
	io.Attach(s.ep, s.input)
	for _, a := range c.cfg.Backup {
		if a == io.Local().Addr() {
			s.backup = true
		}
	}
	if join && c.cfg.Mode == ModeHandover {
		s.backup = true // the initial subflow's path carries the data
	}
	s.progressAt = c.env.Now()
	c.subflows = append(c.subflows, s)
	return s
}

// input hands a segment of this subflow to its endpoint, then lets the
// connection act on it.
func (s *Subflow) input(seg *tcp.Segment) {
	c := s.c
	c.enter()
	s.ep.HandleSegment(seg)
	c.leave()
}

func (s *Subflow) onNotify(n tcp.Notify) {
	if n&tcp.NotifyEstablished != 0 {
		s.c.subflowEstablished(s)
	}
}

// ID returns the subflow's number within the connection (0 is the
// initial subflow).
func (s *Subflow) ID() int { return s.id }

// Endpoint returns the subflow's TCP engine.
func (s *Subflow) Endpoint() *tcp.Endpoint { return s.ep }

// usable reports whether the scheduler may send on the subflow.
func (s *Subflow) usable() bool {
	st := s.ep.State()
	return s.fully && !s.stale && (st == tcp.StateEstablished || st == tcp.StateCloseWait) && !s.awaitInf
}

// SubflowInfo describes a subflow.
type SubflowInfo struct {
	ID         int
	Local      netip.AddrPort
	Remote     netip.AddrPort
	Join       bool
	Backup     bool // our side asked for backup
	PeerBackup bool // the peer asked for backup
	LocalID    uint8
	RemoteID   uint8
	Fully      bool // carries data
	Stale      bool
	DataSent   uint64 // data-level bytes mapped onto it
	DataRecv   uint64 // data-level bytes received on it
	TCP        tcp.Info
}

// Info returns a snapshot of the subflow.
func (s *Subflow) Info() SubflowInfo {
	return SubflowInfo{ID: s.id, Local: s.io.Local(), Remote: s.io.Remote(), Join: s.join,
		Backup: s.backup, PeerBackup: s.peerBackup, LocalID: s.localID, RemoteID: s.remoteID,
		Fully: s.fully, Stale: s.stale, DataSent: s.dataSent, DataRecv: s.dataRecv, TCP: s.ep.Info()}
}

// reset closes the subflow with RST carrying MP_TCPRST reason r (RFC
// 8684 §3.6).
func (s *Subflow) reset(r option.RstReason) {
	s.rstReason, s.rstSet = r, true
	s.ep.Abort()
}

// --- options out (Linux: mptcp_established_options, mptcp_write_options)

// OptionReserve implements tcp.OptionReserver: room for the largest DSS
// (DATA_ACK and mapping with 8-byte numbers and a checksum, 28 bytes).
func (s *Subflow) OptionReserve() int {
	if s.c.fallback && !s.infSet {
		return 0
	}
	return 28
}

// OutgoingOptions implements tcp.SegmentHooks.
func (s *Subflow) OutgoingOptions(seg *tcp.SegmentInfo, b []byte) []byte {
	c := s.c
	f := seg.Flags
	var o option.Option
	switch {
	case f&header.TCPFlagRST != 0:
		return s.rstOptions(b, seg.Budget)
	case f&header.TCPFlagSYN != 0 && f&header.TCPFlagACK == 0:
		if s.join {
			o.Subtype = option.SubtypeMPJoin
			o.MPJoin = option.MPJoin{Stage: option.JoinSYN, Backup: s.backup, AddrID: s.localID,
				Token: c.remoteToken, Nonce: s.localNonce}
		} else if c.active && !c.fallback {
			if seg.Retransmit {
				s.synRtx++
			}
			if s.synRtx > synRetransBeforeFallback {
				// A middlebox may drop SYNs with unknown options: after
				// a few tries, try without (Linux's
				// net.mptcp.syn_retrans_before_tcp_fallback).
				c.mib.MPCapableSYNTXDrop.Add(1)
				c.fallback = true
				return b
			}
			o.Subtype = option.SubtypeMPCapable
			o.MPCapable = option.MPCapable{Version: c.version, Flags: c.capFlags(c.cfg.Checksum)}
		} else {
			return b
		}
	case f&header.TCPFlagSYN != 0:
		if s.join {
			o.Subtype = option.SubtypeMPJoin
			o.MPJoin = option.MPJoin{Stage: option.JoinSYNACK, Backup: s.backup, AddrID: s.localID,
				TruncHMAC: s.thmac, Nonce: s.localNonce}
		} else if !c.fallback && c.localKey != 0 {
			o.Subtype = option.SubtypeMPCapable
			o.MPCapable = option.MPCapable{Version: c.version, Flags: c.capFlags(c.csum),
				HasSenderKey: true, SenderKey: c.localKey}
		} else {
			return b
		}
	default:
		return s.establishedOptions(seg, b)
	}
	out, err := o.Append(b)
	if err != nil || len(out)-len(b) > seg.Budget {
		return b
	}
	return out
}

// synRetransBeforeFallback is how many retransmissions of an MP_CAPABLE
// SYN go out before the SYN is sent without it (Linux's default).
const synRetransBeforeFallback = 2

// capFlags are MP_CAPABLE's flags: HMAC-SHA256 and, if asked, checksums.
func (c *Conn) capFlags(csum bool) uint8 {
	f := option.CapHMACSHA256
	if csum {
		f |= option.CapChecksum
	}
	return f
}

// rstOptions: MP_FASTCLOSE when the connection is fast-closed, MP_FAIL if
// pending, and MP_TCPRST with the reason (RFC 8684 §3.5-§3.7).
func (s *Subflow) rstOptions(b []byte, budget int) []byte {
	c := s.c
	start := len(b)
	var o option.Option
	if c.fastClose {
		o = option.Option{Subtype: option.SubtypeMPFastclose, MPFastclose: option.MPFastclose{ReceiverKey: c.remoteKey}}
		b, _ = o.Append(b)
	} else if s.failPending {
		o = option.Option{Subtype: option.SubtypeMPFail, MPFail: option.MPFail{DSN: s.failDSN}}
		b, _ = o.Append(b)
		s.failPending = false
		c.mib.MPFailTx.Add(1)
	}
	if c.fallback && !c.fastClose && !s.rstSet {
		return b
	}
	reason := option.RstUnspecified
	if s.rstSet {
		reason = s.rstReason
	}
	o = option.Option{Subtype: option.SubtypeMPTCPRst, MPTCPRst: option.MPTCPRst{Reason: reason}}
	if out, err := o.Append(b); err == nil && len(out)-start <= budget {
		b = out
		c.mib.MPRstTx.Add(1)
	}
	return b
}

// establishedOptions: the third ACK's MP_CAPABLE or MP_JOIN, else DSS
// (DATA_ACK, mapping, DATA_FIN), then ADD_ADDR, REMOVE_ADDR, MP_PRIO,
// MP_FAIL where they fit (Linux's mptcp_established_options).
func (s *Subflow) establishedOptions(seg *tcp.SegmentInfo, b []byte) []byte {
	c := s.c
	if c.fallback {
		if s.infSet && seg.Len > 0 && seg.Seq == s.infSSN {
			return s.appendInfiniteMap(seg, b)
		}
		return b
	}
	budget := seg.Budget
	start := len(b)
	var o option.Option
	first := seg.Seq == s.iss+1
	switch {
	case s.join && s.opened && !s.fully && first && seg.Len == 0:
		// Third ACK of MP_JOIN (repeated until the fourth ACK).
		o = option.Option{Subtype: option.SubtypeMPJoin, MPJoin: option.MPJoin{Stage: option.JoinACK, HMAC: s.hmac}}
		out, err := o.Append(b)
		if err == nil && len(out)-start <= budget {
			return out
		}
		return b
	case s.initial && c.active && !c.fullyEstablished && first && !(seg.Len == 0 && c.snd.finSent):
		// RFC 8684 §3.1: MP_CAPABLE with both keys on the third ACK and
		// on the first data segment (with its data-level length), until
		// the server's DSS shows it has them. A pure ACK that is due to
		// carry our DATA_FIN carries the DSS instead (as Linux's
		// mptcp_established_options_mp): a server with nothing to send
		// would never end the repetition.
		mc := option.MPCapable{Version: c.version, Flags: c.capFlags(c.csum), HasSenderKey: true, SenderKey: c.localKey,
			HasReceiverKey: true, ReceiverKey: c.remoteKey}
		if seg.Len > 0 {
			// The data-level length implies DSN IDSN+1 at relative
			// subflow sequence number 1 (§3.1): only for the connection's
			// first data.
			if m := s.txAt(seg.Seq); m != nil && m.ssn == s.iss+1 && m.dsn == c.localIDSN+1 {
				mc.HasDataLen, mc.DataLen = true, uint16(m.len)
				if c.csum {
					mc.HasChecksum, mc.Checksum = true, m.csum
				}
			}
		}
		o = option.Option{Subtype: option.SubtypeMPCapable, MPCapable: mc}
		out, err := o.Append(b)
		if err == nil && len(out)-start <= budget {
			return out
		}
		return b
	}
	// DSS.
	d := option.DSS{}
	if c.haveRemoteKey {
		d.Flags |= option.DSSDataACK | option.DSSDataACK8
		d.DataACK = c.rcv.ackSeq()
	}
	if seg.Len > 0 {
		if m := s.txAt(seg.Seq); m != nil {
			d.Flags |= option.DSSMapping | option.DSSDSN8
			d.DSN, d.SubflowSeq, d.DataLen = m.dsn, m.ssn-s.iss, uint16(m.len)
			if c.snd.finSent && m.dsn+uint64(m.len) == c.snd.finSeq() {
				// The mapping ends where the DATA_FIN is: it takes one more
				// byte of data-level length (RFC 8684 §3.3.3).
				d.Flags |= option.DSSDataFIN
				d.DataLen++
			}
			if c.csum {
				d.HasChecksum, d.Checksum = true, m.csum
				if d.Flags&option.DSSDataFIN != 0 {
					d.Checksum = s.mapChecksum(m, true)
				}
			}
		}
	} else if c.snd.finSent && !c.snd.finAcked {
		// DATA_FIN alone: subflow sequence number 0, data-level length 1
		// (RFC 8684 §3.3.3).
		d.Flags |= option.DSSMapping | option.DSSDSN8 | option.DSSDataFIN
		d.DSN, d.SubflowSeq, d.DataLen = c.snd.finSeq(), 0, 1
		if c.csum {
			d.HasChecksum = true
			sum := mpcrypto.DSSChecksumStart(d.DSN, 0, 1)
			d.Checksum = mpcrypto.DSSChecksumFinish(&sum)
		}
	}
	if d.Flags != 0 {
		o = option.Option{Subtype: option.SubtypeDSS, DSS: d}
		if out, err := o.Append(b); err == nil && len(out)-start <= budget {
			b = out
		}
	}
	// The rest rides where room is left, on pure ACKs above all.
	if s.failPending {
		o = option.Option{Subtype: option.SubtypeMPFail, MPFail: option.MPFail{DSN: s.failDSN}}
		if out, err := o.Append(b); err == nil && len(out)-start <= budget {
			b = out
			s.failPending = false
			c.mib.MPFailTx.Add(1)
		}
	}
	if seg.Len == 0 {
		before := len(b)
		b = c.pm.appendSignals(s, b, budget-(len(b)-start))
		if len(b) == before && c.pm.signalDue() && d.Flags&option.DSSMapping == 0 && !s.failPending {
			// The signal (an IPv6 ADD_ADDR with its HMAC, say) does not
			// fit beside the DSS: this pure ACK carries it alone and the
			// DATA_ACK waits for the next segment (Linux's
			// mptcp_established_options_add_addr drops the other
			// suboptions likewise).
			if out := c.pm.appendSignals(s, b[:start], budget); len(out) > start {
				b = out
			}
		}
	}
	if s.prioPending {
		o = option.Option{Subtype: option.SubtypeMPPrio, MPPrio: option.MPPrio{Backup: s.backup}}
		if out, err := o.Append(b); err == nil && len(out)-start <= budget {
			b = out
			s.prioPending = false
			c.mib.MPPrioTx.Add(1)
		}
	}
	return b
}

// appendInfiniteMap adds the infinite mapping (data-level length 0) that
// starts the plain TCP stream after an MP_FAIL (RFC 8684 §3.7).
func (s *Subflow) appendInfiniteMap(seg *tcp.SegmentInfo, b []byte) []byte {
	d := option.DSS{Flags: option.DSSMapping | option.DSSDSN8, DSN: s.infDSN, SubflowSeq: s.infSSN - s.iss, DataLen: 0,
		HasChecksum: s.c.csum}
	o := option.Option{Subtype: option.SubtypeDSS, DSS: d}
	if out, err := o.Append(b); err == nil && len(out)-len(b) <= seg.Budget {
		s.c.mib.InfiniteMapTx.Add(1)
		return out
	}
	return b
}

// mapChecksum is the DSS checksum of a sent mapping, with the DATA_FIN's
// byte of data-level length if fin.
func (s *Subflow) mapChecksum(m *txMap, fin bool) uint16 {
	l := uint16(m.len)
	if fin {
		l++
	}
	sum := mpcrypto.DSSChecksumStart(m.dsn, m.ssn-s.iss, l)
	off := int(m.dsn - s.c.snd.una)
	if off >= 0 && off+int(m.len) <= s.c.snd.buf.n {
		a, bb := s.c.snd.buf.peek(off, int(m.len))
		sum.Add(a)
		sum.Add(bb)
	}
	return mpcrypto.DSSChecksumFinish(&sum)
}

// txAt returns the sent mapping that covers subflow sequence number seq.
func (s *Subflow) txAt(seq uint32) *txMap {
	for i := len(s.tx) - 1; i >= 0; i-- {
		m := &s.tx[i]
		if seqLEQ(m.ssn, seq) && seqLT(seq, m.ssn+m.len) {
			return m
		}
	}
	return nil
}

// SegmentLimit implements tcp.SegmentLimiter: a segment ends where its
// mapping does (and where an infinite mapping starts).
func (s *Subflow) SegmentLimit(seq uint32, n int) int {
	if s.infSet && seqLT(seq, s.infSSN) {
		return min(n, int(s.infSSN-seq))
	}
	if s.c.fallback {
		return n
	}
	if m := s.txAt(seq); m != nil {
		return min(n, int(m.ssn+m.len-seq))
	}
	return n
}

// --- options in (Linux: mptcp_incoming_options, subflow_finish_connect,
// subflow_syn_recv_sock)

var (
	errJoinRefused = errors.New("mptcp: join refused")
	errBadHMAC     = errors.New("mptcp: join HMAC does not verify")
)

// Incoming implements tcp.SegmentHooks.
func (s *Subflow) Incoming(seg *tcp.SegmentInfo, opts []byte) error {
	c := s.c
	var (
		mpc, join, dss, add, fc, rst, prio, fail, rm *option.Option
		list                                         [10]option.Option
		n                                            int
	)
	p := option.Parser{Version: option.AssumeV1}
	it := header.NewTCPOptionIterator(opts)
	for it.Next() && n < len(list) {
		if it.Kind() != header.TCPOptMPTCP {
			continue
		}
		o := &list[n]
		if p.ParseInto(o, it.Raw()) != nil {
			continue
		}
		n++
		switch o.Subtype {
		case option.SubtypeMPCapable:
			if usableMPCapable(&o.MPCapable) {
				mpc = o
			}
		case option.SubtypeMPJoin:
			join = o
		case option.SubtypeDSS:
			dss = o
		case option.SubtypeAddAddr:
			add = o
		case option.SubtypeRemoveAddr:
			rm = o
		case option.SubtypeMPPrio:
			prio = o
		case option.SubtypeMPFail:
			fail = o
		case option.SubtypeMPFastclose:
			fc = o
		case option.SubtypeMPTCPRst:
			rst = o
		}
	}
	f := seg.Flags
	if f&header.TCPFlagSYN != 0 {
		s.irs, s.haveIRS = seg.Seq, true
		if f&header.TCPFlagACK == 0 {
			return s.synIn(mpc, join)
		}
		return s.synAckIn(mpc, join)
	}
	if f&header.TCPFlagRST != 0 {
		if rst != nil {
			c.mib.MPRstRx.Add(1)
		}
		if fail != nil {
			c.mib.MPFailRx.Add(1) // the subflow is going away anyway
		}
		if fc != nil && fc.MPFastclose.ReceiverKey == c.localKey && c.localKey != 0 {
			c.mib.MPFastcloseRx.Add(1)
			c.fastCloseReceived()
		}
		return nil
	}
	if seg.State == tcp.StateSynReceived {
		if err := s.thirdAckIn(seg, mpc, join); err != nil {
			return err
		}
	}
	if c.fallback {
		return nil
	}
	if n == 0 && seg.State != tcp.StateSynReceived && c.state == StateEstablished && c.haveRemoteKey && c.canFallback(s) && !s.awaitInf &&
		!(seg.Len > 0 && s.rxCovers(seg.Seq)) {
		// No MPTCP option at all on an established segment of the only
		// subflow: the peer fell back to TCP (a middlebox stripped our
		// options and it took our stream as plain TCP; its answers carry
		// no DSS). Follow it (RFC 8684 §3.7).
		c.mib.MPCapableDataFallback.Add(1)
		c.enterFallback(s, s.ep.Info().RcvNxt, c.rcv.nxt)
		return nil
	}
	if fc != nil && fc.MPFastclose.ReceiverKey == c.localKey && c.localKey != 0 {
		c.mib.MPFastcloseRx.Add(1)
		c.fastCloseReceived()
		return nil
	}
	if mpc != nil && mpc.MPCapable.HasDataLen && s.initial && !c.active && seg.Len > 0 && seg.Seq == s.irs+1 {
		// The client's first data with MP_CAPABLE: a mapping at IDSN+1
		// and relative subflow sequence number 1.
		m := mpc.MPCapable
		s.addRx(rxMap{ssn: s.irs + 1, dsn: c.remoteIDSN + 1, len: uint32(m.DataLen), csum: m.Checksum, hasCsum: m.HasChecksum})
	}
	if dss != nil {
		s.dssIn(seg, &dss.DSS)
	}
	if add != nil {
		if !add.AddAddr.Echo && s.initial && c.active && c.haveRemoteKey {
			// Any ack from the server after our third ACK, an ADD_ADDR
			// included, shows it has our key (Linux's
			// check_fully_established).
			c.fullyEstablished = true
		}
		c.pm.addAddrIn(s, &add.AddAddr)
	}
	if rm != nil {
		c.mib.RmAddr.Add(1)
		c.pm.removeAddrIn(rm.RemoveAddr.IDs())
	}
	if prio != nil {
		c.mib.MPPrioRx.Add(1)
		s.peerBackup = prio.MPPrio.Backup
		c.event(Event{Kind: EventPrio, Subflow: s.Info()})
	}
	if fail != nil {
		c.mib.MPFailRx.Add(1)
		c.mpFailIn(s, fail.MPFail.DSN)
	}
	return nil
}

// usableMPCapable reports whether an MP_CAPABLE can be used (RFC 8684
// §3.1): version 1, flag H (HMAC-SHA256, the only algorithm defined) and
// not flag B (an extension this implementation does not know). Any other
// is ignored as if absent, which makes the connection plain TCP, as
// Linux's mptcp_parse_option does.
func usableMPCapable(m *option.MPCapable) bool {
	return m.Version == option.V1 && m.Flags&option.CapHMACSHA256 != 0 && m.Flags&option.CapExtensibility == 0
}

// synIn handles the SYN of a passive subflow.
func (s *Subflow) synIn(mpc, join *option.Option) error {
	c := s.c
	if s.join {
		if join == nil || join.MPJoin.Stage != option.JoinSYN {
			s.rstReason, s.rstSet = option.RstMPTCPError, true
			return errJoinRefused
		}
		j := join.MPJoin
		s.remoteNonce, s.remoteID, s.peerBackup = j.Nonce, j.AddrID, j.Backup
		s.localNonce = c.env.Nonce()
		s.thmac = mpcrypto.JoinTruncatedHMAC(c.version, c.localKey, c.remoteKey, s.localNonce, s.remoteNonce)
		return nil
	}
	if mpc == nil || mpc.MPCapable.Version < option.V1 || mpc.MPCapable.HasSenderKey && mpc.MPCapable.Version == option.V0 {
		// No MP_CAPABLE (or only RFC 6824's v0, which Linux does not
		// speak either): plain TCP.
		c.fallback = true
		return nil
	}
	c.mib.MPCapableSYNRX.Add(1)
	key, err := c.env.NewKey()
	if err != nil {
		c.mib.MPFallbackTokenInit.Add(1)
		c.fallback = true
		return nil
	}
	c.setLocalKey(key)
	c.csum = c.cfg.Checksum || mpc.MPCapable.Flags&option.CapChecksum != 0
	return nil
}

// synAckIn handles the SYN/ACK of a subflow we opened.
func (s *Subflow) synAckIn(mpc, join *option.Option) error {
	c := s.c
	if s.join {
		if join == nil || join.MPJoin.Stage != option.JoinSYNACK {
			s.rstReason, s.rstSet = option.RstMPTCPError, true
			return errJoinRefused
		}
		j := join.MPJoin
		s.remoteNonce, s.remoteID, s.peerBackup = j.Nonce, j.AddrID, j.Backup
		want := mpcrypto.JoinTruncatedHMAC(c.version, c.remoteKey, c.localKey, s.remoteNonce, s.localNonce)
		if j.TruncHMAC != want {
			c.mib.MPJoinSynAckHMacFailure.Add(1)
			s.rstReason, s.rstSet = option.RstMPTCPError, true
			return errBadHMAC
		}
		c.mib.MPJoinSynAckRx.Add(1)
		// The server accepted a join: it has our key.
		c.fullyEstablished = true
		if j.Backup {
			c.mib.MPJoinSynAckBackupRx.Add(1)
		}
		s.hmac = mpcrypto.JoinHMAC(c.version, c.localKey, c.remoteKey, s.localNonce, s.remoteNonce)
		return nil
	}
	if mpc == nil || !mpc.MPCapable.HasSenderKey || mpc.MPCapable.Version != option.V1 || mpc.MPCapable.SenderKey == 0 {
		c.mib.MPCapableFallbackSYNACK.Add(1)
		c.fallback = true
		return nil
	}
	c.mib.MPCapableSYNACKRX.Add(1)
	c.setRemoteKey(mpc.MPCapable.SenderKey)
	c.csum = c.cfg.Checksum || mpc.MPCapable.Flags&option.CapChecksum != 0
	return nil
}

// thirdAckIn handles the ACK that completes a passive subflow's
// handshake: the client's keys (MP_CAPABLE) or HMAC (MP_JOIN).
func (s *Subflow) thirdAckIn(seg *tcp.SegmentInfo, mpc, join *option.Option) error {
	c := s.c
	if s.join {
		if join == nil || join.MPJoin.Stage != option.JoinACK {
			c.mib.MPJoinAckHMacFailure.Add(1)
			s.rstReason, s.rstSet = option.RstMPTCPError, true
			return errBadHMAC
		}
		want := mpcrypto.JoinHMAC(c.version, c.remoteKey, c.localKey, s.remoteNonce, s.localNonce)
		if join.MPJoin.HMAC != want {
			c.mib.MPJoinAckHMacFailure.Add(1)
			s.rstReason, s.rstSet = option.RstMPTCPError, true
			return errBadHMAC
		}
		c.mib.MPJoinAckRx.Add(1)
		s.fully = true
		s.ackNow = true // the fourth ACK (RFC 8684 §3.2)
		return nil
	}
	if c.fallback || !s.initial {
		return nil
	}
	if mpc == nil || !mpc.MPCapable.HasReceiverKey || mpc.MPCapable.ReceiverKey != c.localKey || mpc.MPCapable.SenderKey == 0 {
		// RFC 8684 §3.1: the third ACK must carry MP_CAPABLE, or the
		// connection falls back to TCP.
		c.mib.MPCapableFallbackACK.Add(1)
		c.fallback = true
		return nil
	}
	c.mib.MPCapableACKRX.Add(1)
	c.setRemoteKey(mpc.MPCapable.SenderKey)
	c.fullyEstablished = true
	s.fully = true
	return nil
}

// dssIn handles a DSS option (RFC 8684 §3.3).
func (s *Subflow) dssIn(seg *tcp.SegmentInfo, d *option.DSS) {
	c := s.c

	s.sawDSS = true
	if d.HasDataACK() && c.haveRemoteKey {
		if s.initial && c.active && !c.fullyEstablished {
			// The server's DSS after our third ACK: it has our key.
			c.fullyEstablished = true
			s.fully = true
		}
		if s.join && s.opened && !s.fully {
			s.joinFourthAck()
		}
		c.dataAckIn(d.DataACK, d.Flags&option.DSSDataACK8 != 0, seg.Wnd)
	}
	if !d.HasMapping() || !c.haveRemoteKey {
		return
	}
	dsn := d.DSN
	if d.Flags&option.DSSDSN8 == 0 {
		dsn = expandSeq(c.rcv.nxt, d.DSN)
	}
	if d.DataLen == 0 {
		// Infinite mapping (RFC 8684 §3.7): the stream from here is plain
		// TCP.
		c.mib.InfiniteMapRx.Add(1)
		c.infiniteMapIn(s, s.irs+d.SubflowSeq, dsn)
		return
	}
	l := uint32(d.DataLen)
	fin := d.DataFIN()
	if fin {
		l--
		c.rcv.dataFinIn(dsn + uint64(l))
		c.rcv.checkFin(c)
	}
	if d.SubflowSeq == 0 && l == 0 {
		return // a DATA_FIN alone
	}
	// A mapping describes the data of the segment that carries it: it
	// must cover the segment's first byte (Linux attaches it to that skb
	// and ignores mappings on segments without data). A mapping on a
	// pure ACK, or one for other bytes, would let an injected segment
	// decide where data that arrives later goes.
	if seg.Len == 0 || l == 0 {
		return
	}
	ssn := s.irs + d.SubflowSeq
	if d.SubflowSeq == 0 || seqLT(seg.Seq, ssn) || !seqLT(seg.Seq, ssn+l) {
		c.mib.DSSNoMatchTCP.Add(1)
		s.protocolError()
		return
	}
	s.addRx(rxMap{ssn: ssn, dsn: dsn, len: l, fin: fin, csum: d.Checksum, hasCsum: d.HasChecksum})
}

// joinFourthAck: the peer acknowledged our MP_JOIN third ACK; the subflow
// may carry data (RFC 8684 §3.2).
func (s *Subflow) joinFourthAck() {
	s.fully = true
	s.ackRtxAt = 0
	s.c.joinedEver = true
}

// subflowEstablished is the endpoint's handshake completion.
func (c *Conn) subflowEstablished(s *Subflow) {
	if s.initial {
		if c.fallback {
			s.fully = true
		} else if !c.active {
			s.fully = true
		} else {
			// The client may send data at once (with MP_CAPABLE); it is
			// fully established at the server's first DSS.
			s.fully = true
		}
		// The peer's window from its SYN/ACK or third ACK bounds the
		// first data, until a DATA_ACK brings the connection's window.
		// Rounded down to what the peer can announce in a scaled window
		// field: Linux drops out-of-order data beyond the right edge it
		// announced at the MPTCP level (rcv_wnd_sent), which is scaled,
		// while the SYN/ACK's window is not.
		in := s.ep.Info()
		c.snd.wndEnd = c.snd.una + uint64(in.SndWnd>>in.SndWScale<<in.SndWScale)
		c.estAt = c.now
		c.setState(StateEstablished)
		return
	}
	if s.join {
		c.event(Event{Kind: EventSubflowEstablished, Subflow: s.Info()})
	}
	if s.join && s.opened {
		// Retransmit the third ACK until the fourth arrives.
		s.ackRtxAt = c.now + s.ep.RTO()
	}
	if s.join && !s.opened && s.fully {
		c.joinedEver = true
	}
}

// awaitInfTimeout bounds the wait for the peer's infinite mapping after
// our MP_FAIL; the connection is reset after it. (Linux as the sender
// answers MP_FAIL but sends the infinite mapping only with new data,
// which its window does not allow while the failed data is not
// DATA_ACKed: we reset rather than deliver bytes we cannot vouch for.)
const awaitInfTimeout = 3 * time.Second

// timers runs the subflow's MPTCP timers (third ACK retransmission, the
// MP_FAIL answer).
func (s *Subflow) timers(now time.Duration) {
	if s.awaitInf && now >= s.awaitSince+awaitInfTimeout {
		s.awaitInf = false
		s.c.abortLater = ErrChecksum
	}
	if s.ackRtxAt == 0 || now < s.ackRtxAt {
		return
	}
	if s.fully || s.ep.State() != tcp.StateEstablished {
		s.ackRtxAt = 0
		return
	}
	s.ackRtxCount++
	if s.ackRtxCount > 5 {
		s.ackRtxAt = 0
		s.reset(option.RstMPTCPError)
		return
	}
	s.ep.SendAck()
	s.ackRtxAt = now + s.ep.RTO()<<min(s.ackRtxCount, 6)
}

func (s *Subflow) timerAt() time.Duration {
	t := s.ackRtxAt
	earliest := func(d time.Duration) {
		if d != 0 && (t == 0 || d < t) {
			t = d
		}
	}
	if s.awaitInf {
		earliest(s.awaitSince + awaitInfTimeout)
	}
	earliest(s.stallAt)
	return t
}

// Event implements tcp.SegmentHooks.
func (s *Subflow) Event(ev tcp.SubflowEvent) {
	switch ev {
	case tcp.EventRTO:
		s.rtos++
		if s.rtos >= 2 && !s.stale && !s.c.fallback {
			s.stale = true
			s.c.subflowStale(s)
		}
	}
}

// rxCovers reports whether a received mapping covers subflow sequence
// number seq: a segment there needs no DSS of its own (one mapping spans
// several segments, RFC 8684 §3.3.1).
func (s *Subflow) rxCovers(seq uint32) bool {
	for i := range s.rx {
		if r := &s.rx[i]; seqLEQ(r.ssn, seq) && seqLT(seq, r.ssn+r.len) {
			return true
		}
	}
	return false
}

// addRx records a received mapping. An identical one (each segment of a
// multi-segment mapping repeats it) is ignored; one that contradicts an
// earlier mapping of the same bytes is a protocol error.
func (s *Subflow) addRx(m rxMap) {
	c := s.c
	for i := range s.rx {
		r := &s.rx[i]
		if r.ssn == m.ssn && r.dsn == m.dsn && r.len == m.len {
			return
		}
		if seqLT(m.ssn, r.ssn+r.len) && seqLT(r.ssn, m.ssn+m.len) {
			// Overlap with different DSNs for the same bytes.
			if m.dsn-uint64(m.ssn) != r.dsn-uint64(r.ssn) {
				c.mib.DSSNotMatching.Add(1)
				s.protocolError()
				return
			}
		}
	}
	if len(s.rx) >= 256 {
		c.mib.DSSNotMatching.Add(1)
		s.protocolError()
		return
	}
	// Keep the list in subflow sequence order.
	i := len(s.rx)
	for i > 0 && seqGT(s.rx[i-1].ssn, m.ssn) {
		i--
	}
	s.rx = append(s.rx, rxMap{})
	copy(s.rx[i+1:], s.rx[i:])
	s.rx[i] = m
}

// protocolError resets the subflow with MP_TCPRST "MPTCP-specific error"
// (its data will be reinjected by the peer), or the connection if it is
// the last subflow.
func (s *Subflow) protocolError() {
	s.rstReason, s.rstSet = option.RstMPTCPError, true
	s.c.pendingResets = append(s.c.pendingResets, s)
}

// ReceiveWindow implements tcp.DataReceiver: the connection's window
// (RFC 8684 §3.3.4), the same on every subflow.
func (s *Subflow) ReceiveWindow() (int, int) {
	return s.c.rcv.window(s.c.cfg.ReceiveBuffer), s.c.cfg.ReceiveBuffer
}

// AnnouncedWindow implements tcp.WindowAnnouncer: the window a segment
// of this subflow announces, relative to the DATA_ACK it carries (RFC
// 8684 §3.3.4). The subflow's own rule that its right edge never moves
// left may announce more than the connection's window: the connection
// then takes data up to that edge as well, since the peer may send it
// (Linux's mptcp_set_rwin raises rcv_wnd_sent the same way).
func (s *Subflow) AnnouncedWindow(w int) { s.c.rcv.raiseEdge(w) }

// ReceiveData implements tcp.DataReceiver: in-order subflow bytes are
// placed in the data sequence space through the mappings (Linux's
// subflow_check_data_avail and __mptcp_move_skbs).
func (s *Subflow) ReceiveData(seq uint32, p1, p2 []byte) {
	if s.initial && !s.c.active && s.ep.State() == tcp.StateSynReceived && seq == s.irs+1 {
		s.c.fastOpenData(s, p1, p2)
		return
	}
	seq = s.receive(seq, p1)
	s.receive(seq, p2)
}

func (s *Subflow) receive(seq uint32, p []byte) uint32 {
	c := s.c
	if c.fallback && !s.fbSet && s.initial {
		s.fbSet, s.fbSSN, s.fbDSN = true, s.irs+1, c.rcv.nxt
	}
	for len(p) > 0 {
		if s.awaitInf {
			// After our MP_FAIL: nothing is trusted until the peer's
			// infinite mapping.
			return seq + uint32(len(p))
		}
		if s.fbSet {
			if seqLT(seq, s.fbSSN) {
				k := min(len(p), int(s.fbSSN-seq))
				p, seq = p[k:], seq+uint32(k)
				continue
			}
			c.rcv.insert(c, s.fbDSN+uint64(seq-s.fbSSN), p)
			s.dataRecv += uint64(len(p))
			return seq + uint32(len(p))
		}
		m := s.rxAt(seq)
		if m == nil {
			if c.canFallback(s) {
				c.mib.MPCapableDataFallback.Add(1)
				c.enterFallback(s, seq, c.rcv.nxt)
				continue
			}
			c.mib.DSSNoMatchTCP.Add(1)
			s.protocolError()
			return seq + uint32(len(p))
		}
		k := min(len(p), int(m.ssn+m.len-seq))
		if c.csum && m.hasCsum {
			s.stageChecksummed(m, seq, p[:k])
		} else {
			c.rcv.insert(c, m.dsn+uint64(seq-m.ssn), p[:k])
			s.dataRecv += uint64(k)
		}
		p, seq = p[k:], seq+uint32(k)
		s.pruneRx(seq)
	}
	return seq
}

// rxAt returns the received mapping covering subflow byte seq.
func (s *Subflow) rxAt(seq uint32) *rxMap {
	for i := range s.rx {
		m := &s.rx[i]
		if seqLEQ(m.ssn, seq) && seqLT(seq, m.ssn+m.len) {
			return m
		}
	}
	return nil
}

// pruneRx drops mappings wholly below subflow byte seq (delivered).
func (s *Subflow) pruneRx(seq uint32) {
	k := 0
	for k < len(s.rx) && seqLEQ(s.rx[k].ssn+s.rx[k].len, seq) && s.rx[k].stage == nil {
		k++
	}
	if k > 0 {
		s.rx = append(s.rx[:0], s.rx[k:]...)
	}
}

// stageChecksummed keeps a checksummed mapping's bytes until all arrived,
// then verifies the checksum (RFC 8684 §3.3.1) before any byte is
// delivered.
func (s *Subflow) stageChecksummed(m *rxMap, seq uint32, p []byte) {
	c := s.c
	if int(seq-m.ssn) != len(m.stage) {
		return // already staged (cannot happen: subflow data is in order)
	}
	m.stage = append(m.stage, p...)
	if len(m.stage) < int(m.len) {
		return
	}
	l := uint16(m.len)
	if m.fin {
		l++
	}
	if !mpcrypto.VerifyDSSChecksum(m.dsn, m.ssn-s.irs, l, m.csum, m.stage) {
		c.mib.DataCsumErr.Add(1)
		m.stage = nil
		c.checksumFailed(s, m.dsn)
		return
	}
	s.csumSeen = true
	c.rcv.insert(c, m.dsn, m.stage)
	s.dataRecv += uint64(len(m.stage))
	m.stage = nil
}

// sequence number comparisons (RFC 9293 §3.4), 32-bit.
func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool  { return int32(a-b) > 0 }

// expandSeq widens a 32-bit data sequence number to 64 bits around ref
// (RFC 8684 §3.3: the receiver infers the upper bits; Linux's
// __mptcp_expand_seq).
func expandSeq(ref uint64, v uint64) uint64 {
	lo := uint32(v)
	cur := ref&^0xffffffff | uint64(lo)
	r := uint32(ref)
	if lo < r && int32(lo-r) > 0 {
		return cur + 1<<32
	}
	if lo > r && int32(lo-r) < 0 {
		return cur - 1<<32
	}
	return cur
}
