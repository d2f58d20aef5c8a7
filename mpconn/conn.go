package mpconn

import (
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// State is the connection's state.
type State uint8

// Connection states.
const (
	StateConnecting  State = iota // the initial subflow's handshake
	StateEstablished              // data flows (MPTCP, or TCP after fallback)
	StateClosed                   // finished, reset or failed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateEstablished:
		return "established"
	}
	return "closed"
}

// Conn is one MPTCP connection: its subflows and the data sequence space
// they share. It is not safe for concurrent use: the driver serialises
// every call (and the calls the subflows' endpoints make into it).
type Conn struct {
	env    Env
	cfg    Config
	mib    *MIB
	active bool // we opened the connection (client)
	// inTimers: the current entry is HandleTimers (the stall check gives
	// its verdict only from the connection's own timer).
	inTimers bool
	state    State
	err      error
	version  option.Version

	localKey, remoteKey     uint64
	localToken, remoteToken uint32
	localIDSN, remoteIDSN   uint64
	haveRemoteKey           bool
	csum                    bool // DSS checksums in use (RFC 8684 §3.3.1)
	// fullyEstablished: both keys known and the peer knows we know them
	// (client: a DSS from the server arrived after the third ACK; server:
	// the third ACK's keys arrived). Joins and announcements start then.
	fullyEstablished bool
	fallback         bool       // plain TCP on the initial subflow (§3.7)
	joinedEver       bool       // more than one subflow was ever established
	fastClose        bool       // MP_FASTCLOSE sent: RST every subflow with it
	ev               eventState // what was reported to Config.OnEvent

	subflows []*Subflow
	closed   []SubflowInfo // subflows gone, as they were when they went
	nextID   int
	// Deferred actions: decided inside a subflow endpoint's call, carried
	// out after it returns (an endpoint is never re-entered).
	pendingResets []*Subflow
	fastCloseRcvd bool
	abortLater    error // reset the connection with this error

	snd sendState
	rcv recvState

	// Application side.
	appClosed bool          // Close: no more reads
	closeAt   time.Duration // after Close: when to stop waiting for the peer's DATA_FIN
	orphanAt  time.Duration // no subflow left: when to give up waiting for one
	notify    tcp.Notify
	nagle     bool // Nagle's algorithm on the subflows (SetNoDelay)

	newCC func() tcp.CongestionControl // the connection's subflow controllers (Config.Congestion)
	sched Scheduler                    // the connection's own (Config.NewScheduler)
	pm    pathManager
	now   time.Duration
	estAt time.Duration // when the initial subflow's handshake completed

	// Connection-level retransmission timer (data not DATA_ACKed while
	// subflows carried it, and the DATA_FIN).
	rtxAt      time.Duration
	rtxBackoff int
	lastUna    uint64
}

// NewActive returns a client connection whose initial subflow goes out on
// io; Connect starts it.
func NewActive(env Env, cfg Config, io SubflowIO) (*Conn, error) {
	c := newConn(env, cfg, true)
	key, err := env.NewKey()
	if err != nil {
		return nil, err
	}
	c.setLocalKey(key)
	s := c.newSubflow(io, false)
	s.initial = true
	return c, nil
}

// NewPassive returns a server connection for a SYN that arrived on io;
// the driver hands the SYN to the subflow's endpoint next. MP_CAPABLE in
// the SYN makes it MPTCP; otherwise it is plain TCP from the start.
func NewPassive(env Env, cfg Config, io SubflowIO) (*Conn, error) {
	c := newConn(env, cfg, false)
	s := c.newSubflow(io, false)
	s.initial = true
	if err := s.ep.Listen(); err != nil {
		return nil, err
	}
	return c, nil
}

func newConn(env Env, cfg Config, active bool) *Conn {
	cfg.setDefaults()
	c := &Conn{env: env, cfg: cfg, mib: cfg.MIB, active: active, version: option.V1}
	c.nagle = cfg.TCP.Nagle
	c.sched = cfg.NewScheduler()
	if c.sched == nil {
		c.sched = MinRTT{}
	}
	if cfg.Congestion != nil {
		c.newCC = cfg.Congestion.NewConn()
	}
	c.pm.init(c)
	return c
}

func (c *Conn) setLocalKey(key uint64) {
	c.localKey = key
	c.localToken, c.localIDSN = mpcrypto.TokenIDSN(c.version, key)
	// RFC 8684 §3.3: the first data byte has DSN IDSN+1 (the SYN takes one).
	c.snd.una = c.localIDSN + 1
	c.snd.nxt = c.snd.una
	c.snd.end = c.snd.una
	c.lastUna = c.snd.una
}

func (c *Conn) setRemoteKey(key uint64) {
	c.remoteKey = key
	c.haveRemoteKey = true
	c.remoteToken, c.remoteIDSN = mpcrypto.TokenIDSN(c.version, key)
	c.rcv.nxt = c.remoteIDSN + 1
	c.rcv.wndEdge = c.rcv.nxt
}

// Connect sends the initial SYN with MP_CAPABLE.
func (c *Conn) Connect() error {
	c.enter()
	defer c.leave()
	c.mib.MPCapableSYNTX.Add(1)
	return c.subflows[0].ep.Connect()
}

// Initial returns the initial subflow's endpoint (the driver delivers the
// SYN of a passive connection to it).
func (c *Conn) Initial() *tcp.Endpoint { return c.subflows[0].ep }

func (c *Conn) enter() { c.now = c.env.Now() }

// leave runs what the call made possible (sending, closing, path
// management) and reports readiness.
func (c *Conn) leave() {
	c.progress()
	c.reportEvents()
	if c.notify != 0 {
		n := c.notify
		c.notify = 0
		c.env.Notify(n)
	}
}

// State returns the connection state.
func (c *Conn) State() State { return c.state }

// Err returns why the connection ended abnormally, or nil.
func (c *Conn) Err() error { return c.err }

// Fallback reports whether the connection fell back to TCP (RFC 8684 §3.7).
func (c *Conn) Fallback() bool { return c.fallback }

// Tokens returns the local and remote tokens (zero until known).
func (c *Conn) Tokens() (local, remote uint32) { return c.localToken, c.remoteToken }

// LocalToken returns the token peers join this connection with.
func (c *Conn) LocalToken() uint32 { return c.localToken }

// Read copies received in-order data into p. It returns io.EOF after the
// peer's DATA_FIN and all data were read, the connection's error after a
// reset, and (0, nil) when there is nothing to read yet.
func (c *Conn) Read(p []byte) (int, error) {
	c.enter()
	defer c.leave()
	if c.rcv.buf.n > 0 {
		n := c.rcv.buf.read(p)
		c.afterRead()
		return n, nil
	}
	if c.rcv.eof {
		return 0, io.EOF
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.state == StateClosed {
		return 0, io.EOF
	}
	return 0, nil
}

// Write queues as much of p as the send buffer takes. It returns how
// much was queued; 0 with a nil error means the buffer is full (wait for
// NotifyWritable).
func (c *Conn) Write(p []byte) (int, error) {
	c.enter()
	defer c.leave()
	if c.err != nil {
		return 0, c.err
	}
	if c.snd.finQueued || c.state == StateClosed {
		return 0, ErrClosed
	}
	return c.snd.write(p, c.cfg.SendBuffer), nil
}

// Writable reports whether Write would take bytes or fail now.
func (c *Conn) Writable() bool {
	return c.err != nil || c.snd.finQueued || c.state != StateEstablished || int(c.snd.end-c.snd.una) < c.cfg.SendBuffer
}

// CloseWrite queues a DATA_FIN after the written data (RFC 8684 §3.3.3).
func (c *Conn) CloseWrite() error {
	c.enter()
	defer c.leave()
	c.closeWrite()
	return nil
}

func (c *Conn) closeWrite() {
	if c.snd.finQueued {
		return
	}
	c.snd.finQueued = true
	if c.state == StateConnecting {
		// Nothing was exchanged: close the initial subflow.
		for _, s := range c.subflows {
			s.ep.Close()
		}
	}
}

// Close closes both directions: a DATA_FIN after the written data, or
// MP_FASTCLOSE when received data is left unread (as TCP resets then,
// RFC 9293 §3.10.4).
func (c *Conn) Close() error {
	c.enter()
	defer c.leave()
	c.appClosed = true
	if c.rcv.buf.n > 0 && c.state == StateEstablished {
		c.abort(ErrAborted)
		return nil
	}
	c.closeWrite()
	return nil
}

// Abort resets the connection: MP_FASTCLOSE on every subflow (RFC 8684
// §3.5), or a plain RST after fallback.
func (c *Conn) Abort() {
	c.enter()
	defer c.leave()
	c.abort(ErrAborted)
}

func (c *Conn) abort(err error) {
	if c.state == StateClosed && c.err != nil {
		return
	}
	if c.haveRemoteKey && !c.fallback && c.state == StateEstablished {
		c.fastClose = true
		c.mib.MPFastcloseTx.Add(uint64(len(c.subflows)))
	}
	for _, s := range c.subflows {
		s.ep.Abort()
	}
	c.fail(err)
}

// fail ends the connection with err.
func (c *Conn) fail(err error) {
	if c.err == nil {
		c.err = err
	}
	c.setState(StateClosed)
}

func (c *Conn) setState(st State) {
	if c.state == st {
		return
	}
	old := c.state
	c.state = st
	switch st {
	case StateEstablished:
		c.mib.MPCurrEstab.Add(1)
		c.notify |= tcp.NotifyEstablished | tcp.NotifyWritable
	case StateClosed:
		if old == StateEstablished {
			c.mib.MPCurrEstab.Add(-1)
		}
		c.notify |= tcp.NotifyClosed | tcp.NotifyReadable | tcp.NotifyWritable
		c.rtxAt = 0
	}
}

// Finished reports that the connection and every subflow are done: the
// driver can forget it.
func (c *Conn) Finished() bool {
	if c.state != StateClosed {
		return false
	}
	for _, s := range c.subflows {
		if s.ep.State() != tcp.StateClosed {
			return false
		}
	}
	return true
}

// HandleTimers runs every subflow's expired timers and the connection's.
func (c *Conn) HandleTimers() {
	c.enter()
	c.inTimers = true
	defer func() {
		c.leave() // the stall checks run here, still as the timer
		c.inTimers = false
	}()
	for _, s := range slices.Clone(c.subflows) {
		if d, ok := s.ep.NextDeadline(); ok && d <= c.now {
			s.ep.HandleTimers()
		}
		s.timers(c.now)
	}
	if c.rtxAt != 0 && c.now >= c.rtxAt {
		c.rtxAt = 0
		c.onDataRTO()
	}
	c.pm.timers(c.now)
}

// NextDeadline returns the earliest timer of the connection and its
// subflows.
func (c *Conn) NextDeadline() (time.Duration, bool) {
	var d time.Duration
	add := func(t time.Duration) {
		if t != 0 && (d == 0 || t < d) {
			d = t
		}
	}
	for _, s := range c.subflows {
		if t, ok := s.ep.NextDeadline(); ok {
			add(t)
		}
		add(s.timerAt())
	}
	add(c.rtxAt)
	if c.state != StateClosed {
		add(c.closeAt)
		add(c.orphanAt)
	}
	add(c.pm.nextTimer())
	return d, d != 0
}

// AbortEngine resets everything at once (the driver is shutting down).
func (c *Conn) AbortEngine() {
	c.enter()
	defer c.leave()
	c.abort(ErrAborted)
}

// Subflows returns the connection's subflows (the slice is the engine's:
// read it under the driver's lock only).
func (c *Conn) Subflows() []*Subflow { return c.subflows }

// progress does what the last event made possible. Called at the end of
// every entry into the engine.
func (c *Conn) progress() {
	if c.fastCloseRcvd && c.state != StateClosed {
		for _, s := range c.subflows {
			s.ep.Abort()
		}
		c.fail(ErrFastClose)
	}
	if err := c.abortLater; err != nil {
		c.abortLater = nil
		c.abort(err)
	}
	c.refreshSubflows()
	c.pruneSubflows()
	if c.state == StateClosed {
		return
	}
	if c.fallback {
		c.fallbackIO()
	} else if c.state == StateEstablished {
		c.push()
		c.dataFinProgress()
		c.pm.progress()
	}
	c.checkDone()
}

// checkDone ends the connection when nothing is left to do: both
// DATA_FINs exchanged (or the fallback subflow closed), or every subflow
// gone.
func (c *Conn) checkDone() {
	if c.state == StateClosed {
		return
	}
	alive := 0
	for _, s := range c.subflows {
		if s.ep.State() != tcp.StateClosed {
			alive++
		}
	}
	if c.state == StateConnecting {
		if alive == 0 {
			err := c.subflows[0].ep.Err()
			if err == nil {
				err = tcp.ErrConnectionRefused
			}
			c.fail(err)
		}
		return
	}
	if c.fallback {
		s := c.subflows[0]
		switch s.ep.State() {
		case tcp.StateClosed, tcp.StateTimeWait:
			if err := s.ep.Err(); err != nil && c.err == nil {
				c.err = err
			}
			c.setState(StateClosed)
		}
		return
	}
	if c.snd.finAcked && c.rcv.finRcvd && c.rcv.eof {
		// RFC 8684 §3.3.3: both DATA_FINs acknowledged; the subflows close
		// with TCP FINs (closeSubflows) and the connection is done.
		c.closeSubflows()
		c.setState(StateClosed)
		return
	}
	if alive > 0 {
		c.orphanAt = 0
		return
	}
	if c.cfg.DisableJoins || !c.fullyEstablished || c.snd.finQueued && c.snd.finAcked {
		c.fail(ErrNoSubflow)
		return
	}
	// Every subflow is gone (reset: a RST is a subflow's end, not the
	// connection's, RFC 8684 §3.6), but the connection is not: a new
	// subflow may join it (Linux keeps the msk and accepts joins). A
	// client tries its paths once more; after Config.CloseTimeout the
	// connection fails (Linux's net.mptcp.close_timeout).
	if c.orphanAt == 0 {
		c.orphanAt = c.now + c.cfg.CloseTimeout
		if c.active {
			clear(c.pm.tried)
		}
	} else if c.now >= c.orphanAt {
		c.fail(ErrNoSubflow)
	}
}

// closeSubflows closes every subflow with a TCP FIN.
func (c *Conn) closeSubflows() {
	for _, s := range c.subflows {
		if s.ep.State() != tcp.StateClosed {
			s.ep.Close()
		}
	}
}

// pruneSubflows takes closed subflows out of the connection (their
// unacknowledged data is reinjected on the others) and releases their
// flows.
func (c *Conn) pruneSubflows() {
	kept := c.subflows[:0]
	left := len(c.subflows)
	for _, s := range c.subflows {
		if s.ep.State() == tcp.StateClosed && left > 1 {
			left--
			c.subflowGone(s)
			continue
		}
		kept = append(kept, s)
	}
	for i := len(kept); i < len(c.subflows); i++ {
		c.subflows[i] = nil
	}
	c.subflows = kept
}

// subflowGone handles a subflow that closed: its data not DATA_ACKed goes
// to the reinjection queue, the path manager learns of it.
func (c *Conn) subflowGone(s *Subflow) {
	if !c.fallback {
		c.reinjectFrom(s)
	}
	c.pm.subflowClosed(s)
	info := s.Info()
	if len(c.closed) < maxClosedInfo {
		c.closed = append(c.closed, info)
	}
	c.event(Event{Kind: EventSubflowClosed, Subflow: info, Err: subflowErr(s)})
}

// maxClosedInfo bounds the closed subflows a connection remembers for
// Info.
const maxClosedInfo = 32

// ConnInfo describes a connection, in the manner of Linux's mptcp_info
// and `ss -Mi`.
type ConnInfo struct {
	State           string
	Fallback        bool
	Checksum        bool
	LocalKey        uint64
	RemoteKey       uint64
	LocalToken      uint32
	RemoteToken     uint32
	SndUna, SndNxt  uint64 // data sequence numbers
	RcvNxt          uint64
	BytesSent       uint64 // data bytes mapped to subflows (reinjections included)
	BytesAcked      uint64 // DATA_ACKed
	BytesReceived   uint64 // delivered in order at the data level
	BytesRetrans    uint64 // reinjected
	Subflows        []SubflowInfo
	Closed          []SubflowInfo // subflows gone (up to 32), as they ended
	SubflowsClosed  int
	AddAddrSent     int // our addresses announced
	AddAddrReceived int // addresses the peer announced
	// Mode is the path management mode's name.
	Mode string
	// BytesRedundant counts copies sent by a CopyScheduler (data already
	// mapped onto another subflow); BytesOpportunistic the data sent
	// again because a slower subflow held up the peer's window, and
	// Penalized how often that slower subflow was slowed down.
	BytesRedundant, BytesOpportunistic uint64
	Penalized                          int
	SendBuffered                       int
	ReceiveBuffered                    int
	ReceiveWindowEdge                  uint64
}

// Info returns a snapshot of the connection.
func (c *Conn) Info() ConnInfo {
	in := ConnInfo{State: c.state.String(), Fallback: c.fallback, Checksum: c.csum,
		LocalKey: c.localKey, RemoteKey: c.remoteKey, LocalToken: c.localToken, RemoteToken: c.remoteToken,
		SndUna: c.snd.una, SndNxt: c.snd.nxt, RcvNxt: c.rcv.nxt,
		BytesSent: c.snd.bytesSent, BytesAcked: c.snd.una - (c.localIDSN + 1), BytesReceived: c.rcv.bytes,
		BytesRetrans: c.snd.bytesRetrans, SubflowsClosed: c.pm.closedCount, Mode: c.cfg.Mode.String(),
		BytesRedundant: c.snd.bytesRedundant, BytesOpportunistic: c.snd.bytesOpport, Penalized: c.snd.penalized,
		AddAddrSent: c.pm.announcedCount(), AddAddrReceived: len(c.pm.remotes) - 1,
		SendBuffered: int(c.snd.end - c.snd.una), ReceiveBuffered: c.rcv.buf.n, ReceiveWindowEdge: c.rcv.wndEdge}
	if !c.haveRemoteKey || c.fallback {
		in.AddAddrReceived = max(in.AddAddrReceived, 0)
	}
	for _, s := range c.subflows {
		in.Subflows = append(in.Subflows, s.Info())
	}
	in.Closed = append([]SubflowInfo(nil), c.closed...)
	return in
}

// SetBackup changes our priority of the subflow with the given local
// address: MP_PRIO tells the peer (RFC 8684 §3.3.8), and our scheduler
// uses it only when no other subflow can send.
func (c *Conn) SetBackup(local netip.Addr, backup bool) {
	c.enter()
	defer c.leave()
	for _, s := range c.subflows {
		if s.io.Local().Addr() == local && s.backup != backup {
			s.backup = backup
			s.prioPending = true
			s.ep.SendAck()
		}
	}
}

// SetNoDelay turns Nagle's algorithm (RFC 9293 §3.7.4) off (noDelay) or
// on for every subflow, present and future, as TCP_NODELAY on Linux's
// MPTCP socket reaches its subflows. Config.TCP.Nagle is the initial
// setting.
func (c *Conn) SetNoDelay(noDelay bool) {
	c.enter()
	defer c.leave()
	c.nagle = !noDelay
	for _, s := range c.subflows {
		s.ep.SetNagle(c.nagle)
	}
}
