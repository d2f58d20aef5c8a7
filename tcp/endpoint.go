package tcp

import (
	"fmt"
	"io"
	"time"

	"github.com/mptcp-go/mptcp/header"
)

// Segment is an incoming TCP segment, its slices pointing into the packet.
type Segment struct {
	Seq, Ack uint32
	Flags    header.TCPFlags
	Window   uint16
	Options  []byte
	Payload  []byte
	// CE is set when the IP header carried Congestion Experienced (RFC 3168 §5).
	CE bool
}

// ParseSegment makes a Segment from a TCP view. It reports false if the
// header is invalid.
func ParseSegment(b header.TCP) (Segment, bool) {
	if !b.Valid() {
		return Segment{}, false
	}
	return Segment{Seq: b.Seq(), Ack: b.Ack(), Flags: b.Flags(), Window: b.Window(),
		Options: b.Options(), Payload: b.Payload()}, true
}

// seqLen is the sequence space the segment occupies (RFC 9293 §3.4: SYN and
// FIN count as one each).
func (s *Segment) seqLen() uint32 {
	n := uint32(len(s.Payload))
	if s.Flags&header.TCPFlagSYN != 0 {
		n++
	}
	if s.Flags&header.TCPFlagFIN != 0 {
		n++
	}
	return n
}

type recoveryState uint8

const (
	recoveryOpen recoveryState = iota // no loss being repaired
	recoveryFast                      // fast recovery (RFC 6675 / PRR)
	recoveryRTO                       // after a retransmission timeout
)

type rtxKind uint8

const (
	rtxRTO rtxKind = iota
	rtxPTO
	rtxReorder
)

// maxOOO bounds the out-of-order ranges the receiver tracks; a segment
// that would need more is dropped (the sender will retransmit it).
const maxOOO = 16

type oooRange struct {
	start, end uint32
	stamp      uint64 // recency, for SACK block order (RFC 2018 §4)
}

// Endpoint is one TCP connection's state machine. It is not safe for
// concurrent use: its owner serialises every call.
type Endpoint struct {
	cfg   Config
	clock Clock
	out   Output
	hooks SegmentHooks
	sink  DataReceiver   // hooks, if they take the data (MPTCP)
	limit SegmentLimiter // hooks, if they bound segments (MPTCP)
	cc    CongestionControl
	rcc   RateBasedCC // cc if it is rate-based (BBR), else nil
	ccs   CCState
	now   time.Duration

	state   State
	err     error // why the connection ended, if it did abnormally
	passive bool
	// appClosed: the application closed the connection fully (no more reads).
	appClosed bool
	// shutWr: the application will send no more; a FIN follows the data.
	shutWr bool
	notify Notify

	// Send sequence space (RFC 9293 §3.3.1). sndNxt is also the highest
	// sequence sent: retransmissions come from the record queue, not by
	// rewinding sndNxt.
	iss, sndUna, sndNxt uint32
	sndWnd, maxSndWnd   uint32
	sndWl1, sndWl2      uint32
	sndWS, rcvWS        uint8
	sackOK, tsOK, wsOK  bool
	ecnOK               bool   // ECN negotiated (RFC 3168 §6.1.1)
	fastOpenReply       bool   // the SYN-ACK carries our Fast Open cookie (RFC 7413 §4.2.2)
	ecnEcho             bool   // receiver: set ECE until the peer's CWR
	ecnCWRPending       bool   // sender: set CWR on the next data segment
	ecnRecoverSeq       uint32 // sender: no second reduction before this is ACKed
	ecnRecoverSet       bool
	outECT              bool // the segment being output is ECT
	peerMSS             int
	mtu                 int
	sndBuf              ring
	finSent             bool
	recs                recQueue
	sackedB, lostB      int
	retransB            int
	lostHint            int // index below which no record needs retransmission
	highSacked          uint32
	dupAcks             int

	// RTT estimation (RFC 6298).
	srtt, rttvar, rto time.Duration
	hasRTT            bool
	minRTT            time.Duration
	backoff           int
	retries           int

	// Loss recovery.
	recovery      recoveryState
	recoveryPoint uint32
	prrDelivered  int
	prrOut        int
	recoverFS     int
	cwndLimited   bool
	rack          struct {
		xmit      time.Duration
		endSeq    uint32
		rtt       time.Duration
		valid     bool
		reordSeen bool
		// reoMult scales the reordering window; raised when D-SACKs show
		// spurious retransmissions (RFC 8985 §6.2 step 4).
		reoMult       int
		dsackRoundEnd uint32
		dsackRoundSet bool
		reoResetLeft  int
	}
	// Undo of a spurious recovery (RFC 3708 detection, RFC 4015-style
	// response): retransmissions of the episode not yet shown spurious by
	// a D-SACK, and the window to restore.
	undoRetrans            int
	undoCwnd, undoSsthresh int
	undoValid              bool
	// dsack is a duplicate block to report first in the next ACK (RFC 2883).
	dsackStart, dsackEnd uint32
	dsackPending         bool
	tlpOut               bool
	tlpHighSeq           uint32 // SND.NXT when a TLP retransmission went out
	tlpRetrans           bool   // that probe episode is still open

	// Timers: absolute deadlines on the Clock, 0 when off.
	rtxAt, delackAt, persistAt, keepaliveAt, closeAt time.Duration
	rtxKind                                          rtxKind
	persistBackoff                                   int
	kaProbes                                         int
	synXmit                                          time.Duration
	synRetrans                                       bool

	// Receive sequence space.
	irs, rcvNxt  uint32
	rcvBuf       ring
	ooo          [maxOOO]oooRange
	nooo         int
	oooStamp     uint64
	finRcvd      bool // a FIN was received (perhaps out of order)
	finRcvSeq    uint32
	rcvEOF       bool // the FIN was consumed in order
	tsRecent     uint32
	tsOffset     uint32
	rcvAdvEdge   uint32 // right edge of the window we last announced
	unackedSegs  int
	unackedBytes int  // in-order bytes received since our last ACK
	deferAcks    bool // the owner batches input and calls FlushAck
	ackDeferred  bool
	ackNow       bool
	rcvEpoch     time.Duration
	rcvEpochSeq  uint32
	rcvRTT       time.Duration
	quickAcks    int

	// Delivery rate estimation and pacing (rate.go).
	rate rateState
	pace pacing

	opts    header.TCPOptions // scratch for parsing
	hdr     [header.TCPMaxHeaderLen]byte
	optBuf  [header.TCPMaxOptionsLen]byte
	segInfo SegmentInfo
	stats   Stats

	// ccReleased: CCReleaser.Release was called.
	ccReleased bool
}

// New returns an endpoint in CLOSED state. Call Connect (active open) or
// Listen followed by HandleSegment with the SYN (passive open).
func New(cfg Config, clock Clock, out Output) *Endpoint {
	cfg.setDefaults()
	e := &Endpoint{cfg: cfg, clock: clock, out: out, hooks: cfg.Hooks}
	e.sink, _ = cfg.Hooks.(DataReceiver)
	e.limit, _ = cfg.Hooks.(SegmentLimiter)
	if cfg.NewCongestionControl != nil {
		e.cc = cfg.NewCongestionControl()
	} else {
		e.cc = NewCongestionControl(cfg.CongestionControl)
	}
	e.rcc, _ = e.cc.(RateBasedCC)
	e.mtu = cfg.MTU
	e.iss = cfg.ISS
	e.sndUna, e.sndNxt = e.iss, e.iss
	// The highest SACKed sequence starts at SND.UNA: left at zero it is
	// "ahead" of every sequence number for half of the ISS space, and each
	// SACK would look like reordering (RFC 8985 §6.2), widening RACK's
	// window in every recovery.
	e.highSacked = e.iss
	e.tsOffset = cfg.ISS*2654435761 + 0x9e3779b9
	e.rto = time.Second // RFC 6298 §2.1
	// RFC 9293 §3.7.1 (MUST-15): without an MSS option the send MSS is
	// 536 for IPv4 and 1220 for IPv6, until the SYN says otherwise.
	e.peerMSS = 536
	if cfg.IPHeaderLen == header.IPv6HeaderLen {
		e.peerMSS = 1220
	}
	e.sndBuf = newRing(cfg.SendBufferSize)
	e.rcvBuf = newRing(cfg.ReceiveBufferSize)
	if !cfg.DisableWindowScale {
		for e.rcvWS < header.TCPMaxWindowScale && 65535<<e.rcvWS < cfg.ReceiveBufferMax {
			e.rcvWS++
		}
	}
	e.quickAcks = 16
	e.rack.reoMult = 1
	return e
}

// State returns the connection state.
func (e *Endpoint) State() State { return e.state }

// Err returns why the connection ended abnormally, or nil.
func (e *Endpoint) Err() error { return e.err }

// Passive reports whether the connection was opened passively.
func (e *Endpoint) Passive() bool { return e.passive }

func (e *Endpoint) enter() { e.now = e.clock.Now() }

func (e *Endpoint) leave() {
	if e.notify != 0 && e.cfg.Notify != nil {
		n := e.notify
		e.notify = 0
		e.cfg.Notify(n)
	}
	e.notify = 0
}

// Connect starts an active open: it sends a SYN (RFC 9293 §3.10.1).
func (e *Endpoint) Connect() error {
	e.enter()
	defer e.leave()
	if e.state != StateClosed {
		return ErrInvalidState
	}
	e.setState(StateSynSent)
	e.sendSYN()
	return nil
}

// Listen puts a fresh endpoint in LISTEN, ready for a SYN.
func (e *Endpoint) Listen() error {
	if e.state != StateClosed {
		return ErrInvalidState
	}
	e.passive = true
	e.setState(StateListen)
	return nil
}

func (e *Endpoint) setState(s State) {
	if e.state == s {
		return
	}
	old := e.state
	e.state = s
	switch s {
	case StateEstablished:
		e.notify |= NotifyEstablished | NotifyWritable
		if e.cfg.Keepalive {
			e.keepaliveAt = e.now + e.cfg.KeepaliveIdle
		}
		if e.hooks != nil {
			e.hooks.Event(EventEstablished)
		}
	case StateClosed:
		e.stopTimers()
		e.releaseCC()
		e.notify |= NotifyClosed | NotifyReadable | NotifyWritable
		// TIME-WAIT already reported EventClosed.
		if e.hooks != nil && old != StateListen && old != StateClosed && old != StateTimeWait {
			if e.err != nil {
				e.hooks.Event(EventReset)
			} else {
				e.hooks.Event(EventClosed)
			}
		}
	case StateTimeWait:
		e.stopTimers()
		e.releaseCC()
		e.closeAt = e.now + e.cfg.TimeWait
		e.notify |= NotifyClosed | NotifyReadable | NotifyWritable
		if e.hooks != nil {
			e.hooks.Event(EventClosed)
		}
	case StateCloseWait:
		e.notify |= NotifyReadable
	}
}

// releaseCC tells a controller that shares state with others (CCReleaser)
// that this connection will send no more data, once.
func (e *Endpoint) releaseCC() {
	if r, ok := e.cc.(CCReleaser); ok && !e.ccReleased {
		e.ccReleased = true
		r.Release()
	}
}

func (e *Endpoint) stopTimers() {
	e.rtxAt, e.delackAt, e.persistAt, e.keepaliveAt, e.closeAt = 0, 0, 0, 0, 0
	e.pace.at = 0
}

// fail ends the connection with err (RFC 9293 §3.10.7: reset or timeout).
func (e *Endpoint) fail(err error) {
	if e.err == nil {
		e.err = err
	}
	e.setState(StateClosed)
}

// Write queues as much of p as the send buffer takes and sends what the
// windows allow. It returns how much was queued; 0 with a nil error means
// the buffer is full (wait for NotifyWritable).
func (e *Endpoint) Write(p []byte) (int, error) {
	e.enter()
	defer e.leave()
	if e.err != nil {
		return 0, e.err
	}
	if e.shutWr || !e.state.canSend() {
		return 0, ErrClosed
	}
	n := e.sndBuf.write(p)
	if e.state.synchronized() {
		e.trySend()
	}
	return n, nil
}

// Writable reports whether Write would take bytes or fail now.
func (e *Endpoint) Writable() bool {
	return e.err != nil || e.shutWr || !e.state.canSend() || (e.sndBuf.free() > 0 && e.state != StateSynSent && e.state != StateSynReceived)
}

// SendBuffered returns how many bytes wait in the send buffer (unsent or unacknowledged).
func (e *Endpoint) SendBuffered() int { return e.sndBuf.n }

// Read copies received in-order data into p. It returns io.EOF after the
// peer's FIN and all data were read, the connection's error after a reset,
// and (0, nil) when there is nothing to read yet.
func (e *Endpoint) Read(p []byte) (int, error) {
	e.enter()
	defer e.leave()
	if e.rcvBuf.n > 0 {
		n := e.rcvBuf.read(p)
		e.maybeWindowUpdate()
		return n, nil
	}
	if e.rcvEOF {
		return 0, io.EOF
	}
	if e.err != nil {
		return 0, e.err
	}
	if e.state == StateClosed || e.state == StateTimeWait {
		return 0, io.EOF
	}
	return 0, nil
}

// Readable reports whether Read would return data, EOF or an error now.
func (e *Endpoint) Readable() bool {
	return e.rcvBuf.n > 0 || e.rcvEOF || e.err != nil || e.state == StateClosed || e.state == StateTimeWait
}

// CloseWrite queues a FIN after the buffered data (half close, RFC 9293 §3.10.4).
func (e *Endpoint) CloseWrite() error {
	e.enter()
	defer e.leave()
	return e.closeWrite()
}

func (e *Endpoint) closeWrite() error {
	if e.shutWr {
		return nil
	}
	switch e.state {
	case StateClosed, StateListen, StateSynSent:
		e.shutWr = true
		e.setState(StateClosed)
		return nil
	case StateSynReceived, StateEstablished:
		e.shutWr = true
		if e.state == StateEstablished {
			e.setState(StateFinWait1)
			e.trySend()
		}
		// In SYN-RECEIVED the FIN goes out once established (RFC 9293 §3.10.4).
	case StateCloseWait:
		e.shutWr = true
		e.setState(StateLastAck)
		e.trySend()
	default:
		e.shutWr = true
	}
	return nil
}

// Close closes both directions. Unread received data makes it an abort
// with RST (RFC 9293 §3.10.4, RFC 2525 §2.17); otherwise a FIN follows
// the queued data, and data arriving afterwards is answered with RST.
func (e *Endpoint) Close() error {
	e.enter()
	defer e.leave()
	e.appClosed = true
	if e.rcvBuf.n > 0 && e.state.synchronized() {
		e.abort()
		return nil
	}
	err := e.closeWrite()
	if e.state == StateFinWait2 {
		e.closeAt = e.now + e.cfg.FinWait2Timeout
	}
	return err
}

// Abort resets the connection: it sends RST if the peer knows of it and
// goes to CLOSED (RFC 9293 §3.10.5).
func (e *Endpoint) Abort() {
	e.enter()
	defer e.leave()
	e.abort()
}

func (e *Endpoint) abort() {
	switch e.state {
	case StateSynReceived, StateEstablished, StateFinWait1, StateFinWait2, StateCloseWait:
		// RFC 9293 §3.10.5 asks for <SEQ=SND.NXT><CTL=RST>; the ACK of
		// RCV.NXT is Linux's (tcp_send_active_reset) and changes nothing
		// for the receiver, which checks a RST by its sequence number
		// (RFC 5961 §3.2). MPTCP's conformance rows compare with Linux.
		e.sendRST(e.sndNxt, e.rcvNxt, true)
	}
	if e.state != StateClosed {
		e.fail(ErrConnectionAborted)
	}
}

// SendAck sends a pure ACK now; with hooks it carries their options (the
// MPTCP layer uses it for DATA_ACK and ADD_ADDR).
func (e *Endpoint) SendAck() {
	e.enter()
	defer e.leave()
	if e.state.synchronized() && e.state != StateTimeWait {
		e.sendAck()
	}
}

// WindowUpdate sends a window update if the receive window grew enough
// since it was last announced (the rule Read applies after each read). A
// layer that takes the data itself (DataReceiver) calls it when its own
// reader freed buffer space.
func (e *Endpoint) WindowUpdate() {
	e.enter()
	defer e.leave()
	e.maybeWindowUpdate()
}

// ECNCapable reports whether ECN was negotiated.
func (e *Endpoint) ECNCapable() bool { return e.ecnOK }

// SegmentECT, called from Output.OutputSegment, reports whether the
// segment being output must be sent ECN-capable, ECT(0): new data of an
// ECN connection; never retransmissions, pure ACKs or probes (RFC 3168
// §6.1.4, §6.1.5).
func (e *Endpoint) SegmentECT() bool { return e.outECT }

// DeferAcks makes the ACKs that in-order data calls for wait until the
// owner calls FlushAck, so one ACK answers a whole batch of received
// segments (as GRO makes Linux do). ACKs for out-of-order data, FINs and
// window updates are still sent at once.
func (e *Endpoint) DeferAcks(on bool) { e.deferAcks = on }

// FlushAck sends the ACK deferred by DeferAcks, if any.
func (e *Endpoint) FlushAck() {
	if !e.ackDeferred {
		return
	}
	e.enter()
	defer e.leave()
	e.ackDeferred = false
	if e.state.synchronized() && e.state != StateTimeWait {
		e.sendAck()
	}
}

// SetNagle turns Nagle's algorithm (RFC 9293 §3.7.4) on or off for the
// data sent from now on (Config.Nagle; TCP_NODELAY off or on). Turning it
// off sends what it held back at once, as Linux's TCP_NODELAY does.
func (e *Endpoint) SetNagle(on bool) {
	e.enter()
	defer e.leave()
	e.cfg.Nagle = on
	if !on {
		e.trySend()
	}
}

// SetMTU lowers the path MTU after an ICMP "fragmentation needed" or
// "packet too big" (RFC 1191, RFC 8201). Values below the minimum are
// ignored.
func (e *Endpoint) SetMTU(mtu int) {
	e.enter()
	defer e.leave()
	minMTU := 576
	if e.cfg.IPHeaderLen == header.IPv6HeaderLen {
		minMTU = header.IPv6MinMTU
	}
	if mtu < minMTU || mtu >= e.mtu {
		return
	}
	e.mtu = mtu
	e.ccs.MSS = e.sendMSS()
	// Segments in flight larger than the new size are lost; retransmit
	// them at the new size now rather than wait for the timer.
	seg := e.segDataMax()
	for i := 0; i < e.recs.len(); i++ {
		r := e.recs.at(i)
		if int(r.end-r.start) > seg && r.flags&(recSacked|recLost) == 0 {
			e.markLost(r)
		}
	}
	e.trySend()
}

// HandleICMPUnreachable reports a destination-unreachable error for this
// connection. RFC 1122 §4.2.3.9: hard errors (protocol or port
// unreachable) abort a connection still in SYN-SENT; others are soft.
func (e *Endpoint) HandleICMPUnreachable(hard bool) {
	e.enter()
	defer e.leave()
	if hard && e.state == StateSynSent {
		e.fail(ErrHostUnreachable)
	}
}

// Info returns a snapshot of the connection's state.
func (e *Endpoint) Info() Info {
	in := Info{
		State: e.state, SndUna: e.sndUna, SndNxt: e.sndNxt, RcvNxt: e.rcvNxt,
		SndWnd: int(e.sndWnd), RcvWnd: e.rcvWindow(), Cwnd: e.ccs.Cwnd, Ssthresh: e.ccs.Ssthresh,
		MSS: e.ccs.MSS, SRTT: e.srtt, RTTVar: e.rttvar, RTO: e.rto, MinRTT: e.minRTT,
		InFlight: e.inflight(), SACKOK: e.sackOK, TSOK: e.tsOK, ECNOK: e.ecnOK, SndWScale: e.sndWS, RcvWScale: e.rcvWS,
		InRecovery: e.recovery != recoveryOpen, SendBuffered: e.sndBuf.n, RecvBuffered: e.rcvBuf.n,
		CongestionControl: e.cc.Name(), Stats: e.stats,
		PacingRate: e.pacingRate(), Delivered: e.rate.delivered, AppLimited: e.rate.appLimited != 0,
	}
	if b, ok := e.cc.(interface{ Info() BBRInfo }); ok {
		in.BBR = b.Info()
	}
	return in
}

func (e *Endpoint) String() string {
	return fmt.Sprintf("tcp %d->%d %v", e.cfg.LocalPort, e.cfg.RemotePort, e.state)
}

// sendMSS is the largest TCP payload without options that fits the path:
// RFC 9293 §3.7.1 / RFC 6691, min(peer MSS, MTU - IP - 20).
func (e *Endpoint) sendMSS() int {
	return max(min(e.peerMSS, e.mtu-e.cfg.IPHeaderLen-header.TCPMinHeaderLen), 64)
}

// segDataMax is the payload size of a full data segment: the MSS less the
// timestamp option and the hooks' reserve.
func (e *Endpoint) segDataMax() int {
	n := e.sendMSS()
	if e.tsOK {
		n -= 12
	}
	if r, ok := e.hooks.(OptionReserver); ok {
		n -= r.OptionReserve()
	}
	return max(n, 32)
}

// advMSS is the MSS we announce: what our link carries.
func (e *Endpoint) advMSS() int {
	return min(e.cfg.MTU-e.cfg.IPHeaderLen-header.TCPMinHeaderLen, 65535)
}

func (e *Endpoint) growSendBuffer(want int) {
	if want <= e.sndBuf.cap() || e.sndBuf.cap() >= e.cfg.SendBufferMax {
		return
	}
	size := e.sndBuf.cap()
	for size < want && size < e.cfg.SendBufferMax {
		size *= 2
	}
	e.sndBuf.grow(min(size, e.cfg.SendBufferMax))
}

// SRTT returns the smoothed round-trip time (0 before the first sample).
func (e *Endpoint) SRTT() time.Duration { return e.srtt }

// RTO returns the current retransmission timeout, backoff included.
func (e *Endpoint) RTO() time.Duration { return e.currentRTO() }

// MSS returns the send MSS the congestion control counts in.
func (e *Endpoint) MSS() int { return e.ccs.MSS }

// Cwnd returns the congestion window in bytes.
func (e *Endpoint) Cwnd() int { return e.ccs.Cwnd }

// SndUna returns the oldest unacknowledged sequence number.
func (e *Endpoint) SndUna() uint32 { return e.sndUna }

// OldestSentAt returns when the oldest unacknowledged segment was last
// sent (false when nothing is outstanding): its acknowledgment is due an
// RTT later, which is what Linux's RTO is measured from (tcp_rearm_rto).
func (e *Endpoint) OldestSentAt() (time.Duration, bool) {
	if e.recs.len() == 0 {
		return 0, false
	}
	return e.recs.at(0).xmit, true
}

// SndNxt returns the next sequence number to send.
func (e *Endpoint) SndNxt() uint32 { return e.sndNxt }

// SendRoom returns how many more bytes the connection could put on the
// wire now: the congestion window and the peer's window less what is in
// flight and what waits unsent in the send buffer. A layer that spreads
// data over several connections (MPTCP's scheduler) writes about that
// much, keeping the rest where any connection can take it.
func (e *Endpoint) SendRoom() int {
	if e.state != StateEstablished && e.state != StateCloseWait || e.shutWr {
		return 0
	}
	unsent := e.sndBuf.n - int(e.sndNxt-e.sndUna)
	room := min(e.ccs.Cwnd-e.inflight(), int(int32(e.sndUna+e.sndWnd-e.sndNxt))) - unsent
	return max(room, 0)
}

// SendBufferFree returns how many bytes Write would take now.
func (e *Endpoint) SendBufferFree() int { return e.sndBuf.free() }

// RTTVar returns the RTT variation (RFC 6298 §2).
func (e *Endpoint) RTTVar() time.Duration { return e.rttvar }

// Queued returns the bytes sent and not acknowledged plus those written
// and not yet sent: what a new byte written now waits behind.
func (e *Endpoint) Queued() int { return e.sndBuf.n }

// InFlight returns the RFC 6675 pipe: bytes sent, not acknowledged and
// not deemed lost, plus retransmissions in flight.
func (e *Endpoint) InFlight() int { return e.inflight() }

// InRecovery reports whether the connection is recovering from a loss
// (fast recovery or after a retransmission timeout).
func (e *Endpoint) InRecovery() bool { return e.recovery != recoveryOpen }

// Penalize halves the congestion window and the slow-start threshold
// (never below two segments): a layer above that finds this connection
// holding up data sent on faster ones (MPTCP's receive-window
// head-of-line blocking) slows it down, as the out-of-tree Linux MPTCP's
// mptcp_rcv_buf_optimization does.
func (e *Endpoint) Penalize() {
	floor := 2 * e.ccs.MSS
	e.ccs.Cwnd = max(e.ccs.Cwnd/2, floor)
	if e.ccs.Ssthresh < 1<<30 {
		e.ccs.Ssthresh = max(e.ccs.Ssthresh/2, floor)
	}
}
