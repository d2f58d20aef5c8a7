package mpconn

import (
	"net/netip"
	"slices"
	"time"

	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// pathManager is the connection's in-kernel-style path manager (Linux's
// pm_netlink.c): once the connection is fully established the client
// opens a subflow for each pair of its addresses and the peer's known
// addresses (the first one and those advertised with ADD_ADDR), and the
// server advertises its other addresses (ADD_ADDR with HMAC,
// retransmitted until echoed, RFC 8684 §3.4.1). It answers the peer's
// ADD_ADDR with an echo and its REMOVE_ADDR by closing the subflows of
// that address (§3.4.2).
type pathManager struct {
	c       *Conn
	started bool
	locals  []localAddr
	remotes []remoteAddr
	tried   map[[2]netip.AddrPort]bool

	announce []*announcement // ours
	echoes   []option.AddAddr
	rmIDs    []uint8
	// rmRepeat: the REMOVE_ADDRs sent that go out again
	// (Config.RemoveAddrRepeats).
	rmRepeat []rmRepeat

	// down: local addresses whose interface is down or lost them
	// (LocalAddrDown): no subflow is opened from them.
	down map[netip.Addr]bool

	joinNonces  map[uint32]bool // nonces of the peer's MP_JOIN SYNs (replay detection)
	closedCount int
	wakeAt      time.Duration // clientReady's timer
}

// rmRepeat is a REMOVE_ADDR to send again at due, left more times.
type rmRepeat struct {
	id   uint8
	left int
	due  time.Duration
}

type localAddr struct {
	addr netip.Addr
	id   uint8
}

type remoteAddr struct {
	addr netip.AddrPort
	id   uint8
}

type announcement struct {
	a       localAddr
	port    uint16 // 0: the connection's port
	due     time.Duration
	pending bool // goes out with the next pure ACK
	retries int
	sent    bool
	echoed  bool
}

// signalDue reports whether an ADD_ADDR, echo or REMOVE_ADDR waits for a
// pure ACK to carry it.
func (pm *pathManager) signalDue() bool {
	if len(pm.echoes) > 0 || len(pm.rmIDs) > 0 {
		return true
	}
	for _, a := range pm.announce {
		if a.pending {
			return true
		}
	}
	return false
}

func (pm *pathManager) init(c *Conn) { pm.c = c }

// clientReady: a client that has not heard from the server since its
// third ACK (a server with nothing to send does not answer it) starts its
// joins two round trips after it: by then the server has the keys. A
// join that arrives before the third ACK is refused (Linux counts it in
// MPJoinNoTokenFound); Linux's client waits for the server's first DSS.
func (pm *pathManager) clientReady() bool {
	c := pm.c
	if !c.active || !c.haveRemoteKey || c.estAt == 0 {
		return false
	}
	wait := max(2*c.subflows[0].ep.SRTT(), 10*time.Millisecond)
	if c.now >= c.estAt+wait {
		return true
	}
	if pm.wakeAt == 0 {
		pm.wakeAt = c.estAt + wait
	}
	return false
}

// start runs once the connection is fully established.
func (pm *pathManager) start() {
	c := pm.c
	pm.started = true
	pm.tried = make(map[[2]netip.AddrPort]bool)
	init := c.subflows[0].io
	pm.locals = []localAddr{{addr: init.Local().Addr(), id: 0}}
	pm.remotes = []remoteAddr{{addr: init.Remote(), id: 0}}
	for _, a := range c.env.LocalAddrs() {
		if a.Is4() != init.Local().Addr().Is4() || a == init.Local().Addr() || slices.ContainsFunc(pm.locals, func(l localAddr) bool { return l.addr == a }) {
			continue
		}
		pm.locals = append(pm.locals, localAddr{addr: a, id: pm.idFor(a)})
	}
	if !c.active && !c.cfg.DisableJoins {
		for _, l := range pm.locals[1:] {
			if c.cfg.Announce != nil && !slices.Contains(c.cfg.Announce, l.addr) {
				continue
			}
			pm.announce = append(pm.announce, &announcement{a: l, pending: true})
		}
	}
}

// localID returns the address id of a local address (assigning one to an
// address the path manager did not know).
func (pm *pathManager) localID(a netip.Addr) uint8 {
	for _, l := range pm.locals {
		if l.addr == a {
			return l.id
		}
	}
	id := pm.idFor(a)
	pm.locals = append(pm.locals, localAddr{addr: a, id: id})
	return id
}

// idFor picks the address id of a new local address: Config.AddrIDs' if
// it names one, else the lowest unused.
func (pm *pathManager) idFor(a netip.Addr) uint8 {
	if id, ok := pm.c.cfg.AddrIDs[a]; ok && id != 0 {
		return id
	}
	used := func(id uint8) bool {
		for _, l := range pm.locals {
			if l.id == id {
				return true
			}
		}
		for _, x := range pm.c.cfg.AddrIDs {
			if x == id {
				return true
			}
		}
		return false
	}
	id := uint8(1)
	for used(id) && id < 255 {
		id++
	}
	return id
}

func (pm *pathManager) announcedCount() int {
	n := 0
	for _, a := range pm.announce {
		if a.sent {
			n++
		}
	}
	return n
}

// progress opens the joins the path manager wants and sends due
// announcements.
func (pm *pathManager) progress() {
	c := pm.c
	if c.fallback || c.state != StateEstablished || !c.fullyEstablished && !pm.clientReady() {
		return
	}
	if !pm.started {
		pm.start()
	}
	if pm.signalDue() {
		if s := c.ackSubflow(); s != nil {
			s.ep.SendAck()
		}
	}
	if !c.active || c.snd.finQueued || c.cfg.DisableJoins {
		return
	}
	// Linux's in-kernel path manager: one subflow from each additional
	// local address to the peer's first address (its "subflow"
	// endpoints), and one to each address the peer announced, from the
	// address the routes pick toward it.
	try := func(l localAddr, r remoteAddr) {
		key := [2]netip.AddrPort{netip.AddrPortFrom(l.addr, 0), r.addr}
		if pm.tried[key] || l.id == 0 && r.id == 0 || len(c.subflows) >= c.cfg.MaxSubflows || pm.down[l.addr] || pm.hasSubflow(l.addr, r.addr) {
			return
		}
		pm.tried[key] = true
		pm.openJoin(l, r)
	}
	// Config.JoinFrom: the addresses with Linux's "subflow" endpoints.
	from := func(l localAddr) bool {
		return c.cfg.JoinFrom == nil || l.addr == c.subflows[0].io.Local().Addr() || slices.Contains(c.cfg.JoinFrom, l.addr)
	}
	if c.cfg.Mode == ModeFullmesh {
		// Every local address to every known peer address.
		for _, r := range pm.remotes {
			for _, l := range pm.locals {
				if l.addr.Is4() == r.addr.Addr().Is4() && from(l) {
					try(l, r)
				}
			}
		}
		return
	}
	first := pm.remotes[0]
	for _, l := range pm.locals { // locals[0] only once it has a new id (LocalAddrUp)
		if l.addr.Is4() == first.addr.Addr().Is4() && from(l) {
			try(l, first)
		}
	}
	for _, r := range pm.remotes[1:] {
		src := c.env.SourceAddr(r.addr.Addr())
		if !src.IsValid() {
			continue
		}
		try(localAddr{addr: src, id: pm.localID(src)}, r)
	}
}

// hasSubflow reports whether a subflow from local to remote is open.
func (pm *pathManager) hasSubflow(local netip.Addr, remote netip.AddrPort) bool {
	for _, s := range pm.c.subflows {
		if s.io.Local().Addr() == local && s.io.Remote() == remote && s.ep.State() != tcp.StateClosed {
			return true
		}
	}
	return false
}

// LocalAddrDown tells the connection that local address a is gone (its
// interface went down or lost the address). If other subflows can carry
// the data, those from a are closed and the peer is told with REMOVE_ADDR
// (RFC 8684 §3.4.2); otherwise they are parked (stale, their data
// reinjected once a path works) rather than lose the connection. No
// subflow is opened from a until LocalAddrUp.
func (c *Conn) LocalAddrDown(a netip.Addr) {
	c.enter()
	defer c.leave()
	pm := &c.pm
	if pm.down == nil {
		pm.down = make(map[netip.Addr]bool)
	}
	if pm.down[a] {
		return
	}
	pm.down[a] = true
	c.event(Event{Kind: EventAddrDown, Addr: netip.AddrPortFrom(a, 0)})
	if !pm.started || c.fallback || c.state != StateEstablished {
		return
	}
	others := false
	for _, s := range c.subflows {
		if s.io.Local().Addr() != a && s.fully && s.ep.State() == tcp.StateEstablished {
			others = true
		}
	}
	for _, s := range c.subflows {
		if s.io.Local().Addr() != a || s.ep.State() == tcp.StateClosed {
			continue
		}
		if others {
			s.rstReason, s.rstSet = option.RstUnspecified, true
			c.pendingResets = append(c.pendingResets, s)
		} else if !s.stale {
			s.stale = true
			c.mib.SubflowStale.Add(1)
		}
	}
	if others {
		for _, l := range pm.locals {
			if l.addr == a && !slices.Contains(pm.rmIDs, l.id) {
				pm.rmIDs = append(pm.rmIDs, l.id)
			}
		}
	}
	for _, x := range pm.announce {
		if x.a.addr == a {
			x.pending, x.due = false, 0 // no longer ours to offer
		}
	}
}

// LocalAddrUp tells the connection that local address a works again: a
// client opens its subflows from it again, a server announces it again
// (ADD_ADDR). An address that was the initial subflow's (address id 0)
// comes back under a new id, as a join cannot use id 0.
func (c *Conn) LocalAddrUp(a netip.Addr) {
	c.enter()
	defer c.leave()
	pm := &c.pm
	if !pm.down[a] {
		return
	}
	delete(pm.down, a)
	c.event(Event{Kind: EventAddrUp, Addr: netip.AddrPortFrom(a, 0)})
	if !pm.started {
		return
	}
	for i := range pm.locals {
		if pm.locals[i].addr == a {
			pm.cancelRemove(pm.locals[i].id)
			if pm.locals[i].id == 0 {
				pm.locals[i].id = pm.nextLocalID()
			}
		}
	}
	for key := range pm.tried {
		if key[0].Addr() == a {
			delete(pm.tried, key)
		}
	}
	if !c.active && !c.cfg.DisableJoins {
		announced := false
		for _, x := range pm.announce {
			if x.a.addr == a {
				x.a.id = pm.localID(a)
				x.pending, x.echoed, x.retries, x.due = true, false, 0, 0
				announced = true
			}
		}
		if !announced && a.Is4() == c.subflows[0].io.Local().Addr().Is4() && (c.cfg.Announce == nil || slices.Contains(c.cfg.Announce, a)) {
			pm.announce = append(pm.announce, &announcement{a: localAddr{addr: a, id: pm.localID(a)}, pending: true})
		}
	}
}

// nextLocalID returns an address id no local address has.
func (pm *pathManager) nextLocalID() uint8 {
	id := uint8(1)
	for _, l := range pm.locals {
		if l.id >= id {
			id = l.id + 1
		}
	}
	return id
}

// openJoin starts an MP_JOIN subflow from l to r (RFC 8684 §3.2).
func (pm *pathManager) openJoin(l localAddr, r remoteAddr) {
	c := pm.c
	io, err := c.env.OpenSubflow(netip.AddrPortFrom(l.addr, 0), r.addr)
	if err != nil {
		c.cfg.Logger.Debug("mptcp join not opened", "local", l.addr, "remote", r.addr, "err", err)
		return
	}
	s := c.newSubflow(io, true)
	s.opened = true
	s.localID, s.remoteID = l.id, r.id
	s.localNonce = c.env.Nonce()
	c.mib.MPJoinSynTx.Add(1)
	if err := s.ep.Connect(); err != nil {
		s.ep.Abort()
	}
}

// AcceptJoin decides about a peer's MP_JOIN SYN for this connection,
// arriving on io (RFC 8684 §3.2). If it is accepted, the subflow's
// endpoint is in LISTEN and the driver hands it the SYN; otherwise the
// reason goes in the MP_TCPRST of the refusal.
func (c *Conn) AcceptJoin(io SubflowIO, j *option.MPJoin) (bool, option.RstReason) {
	c.enter()
	defer c.leave()
	c.mib.MPJoinSynRx.Add(1)
	if j.Backup {
		c.mib.MPJoinSynBackupRx.Add(1)
	}
	if c.state != StateEstablished || !c.fullyEstablished || c.fallback || c.snd.finQueued {
		c.mib.MPJoinRejected.Add(1)
		return false, option.RstMPTCPError
	}
	if c.cfg.DisableJoins {
		c.mib.MPJoinRejected.Add(1)
		return false, option.RstAdminProhibited
	}
	alive := 0
	for _, s := range c.subflows {
		if s.ep.State() != tcp.StateClosed {
			alive++
		}
	}
	if alive >= c.cfg.MaxSubflows {
		c.mib.MPJoinRejected.Add(1)
		return false, option.RstLackOfResources
	}
	if c.pm.joinNonces == nil {
		c.pm.joinNonces = make(map[uint32]bool)
	}
	if c.pm.joinNonces[j.Nonce] {
		// The same nonce twice: a replayed SYN. A new handshake would use
		// a new random nonce (RFC 8684 §3.2).
		c.mib.MPJoinReplayed.Add(1)
		c.mib.MPJoinRejected.Add(1)
		return false, option.RstAdminProhibited
	}
	if len(c.pm.joinNonces) < 4*c.cfg.MaxSubflows {
		c.pm.joinNonces[j.Nonce] = true
	}
	s := c.newSubflow(io, true)
	if c.pm.started {
		s.localID = c.pm.localID(io.Local().Addr())
	}
	if err := s.ep.Listen(); err != nil {
		return false, option.RstUnspecified
	}
	return true, 0
}

// subflowClosed: a subflow left the connection.
func (pm *pathManager) subflowClosed(s *Subflow) {
	// A failed pair is not tried again (as Linux's in-kernel path
	// manager); a path that comes back is the path manager's business.
	pm.closedCount++
}

// addAddrIn handles the peer's ADD_ADDR (RFC 8684 §3.4.1).
func (pm *pathManager) addAddrIn(s *Subflow, a *option.AddAddr) {
	c := pm.c
	if a.Echo {
		for _, x := range pm.announce {
			if x.a.id == a.AddrID && x.a.addr == a.Addr {
				x.echoed = true
			}
		}
		c.mib.EchoAdd.Add(1)
		return
	}
	if !c.haveRemoteKey || !a.HasHMAC || a.HMAC != mpcrypto.AddAddrHMAC(c.remoteKey, c.localKey, a.AddrID, a.Addr, a.Port) {
		c.mib.AddAddrDrop.Add(1)
		return
	}
	c.mib.AddAddr.Add(1)
	c.event(Event{Kind: EventAddAddr, Addr: netip.AddrPortFrom(a.Addr, a.Port), AddrID: a.AddrID})
	pm.echoes = append(pm.echoes[:min(len(pm.echoes), 7)], *a)
	port := a.Port
	if !a.HasPort {
		port = c.subflows[0].io.Remote().Port()
	}
	ap := netip.AddrPortFrom(a.Addr, port)
	if c.cfg.UseAnnounced != nil && !slices.ContainsFunc(c.cfg.UseAnnounced, func(p netip.Prefix) bool { return p.Contains(a.Addr) }) {
		return // echoed, not used (Config.UseAnnounced)
	}
	for i, r := range pm.remotes {
		if r.id == a.AddrID {
			pm.remotes[i].addr = ap // a new address for the id (§3.4.1)
			return
		}
	}
	if len(pm.remotes) > c.cfg.MaxAddAddr {
		c.mib.AddAddrDrop.Add(1)
		return
	}
	if !pm.started {
		pm.start()
	}
	pm.remotes = append(pm.remotes, remoteAddr{addr: ap, id: a.AddrID})
}

// removeAddrIn handles REMOVE_ADDR: the subflows to those address ids
// close (RFC 8684 §3.4.2).
func (pm *pathManager) removeAddrIn(ids []uint8) {
	c := pm.c
	for _, id := range ids {
		c.event(Event{Kind: EventRemoveAddr, AddrID: id})
		for _, s := range c.subflows {
			if s.remoteID == id && (s.join || id != 0) && s.ep.State() != tcp.StateClosed {
				c.mib.RmSubflow.Add(1)
				s.rstReason, s.rstSet = option.RstUnspecified, true
				c.pendingResets = append(c.pendingResets, s)
			}
		}
		pm.remotes = slices.DeleteFunc(pm.remotes, func(r remoteAddr) bool { return r.id == id && id != 0 })
	}
}

// RemoveAddr withdraws a local address: REMOVE_ADDR to the peer, and our
// subflows from it close (RFC 8684 §3.4.2).
func (c *Conn) RemoveAddr(a netip.Addr) {
	c.enter()
	defer c.leave()
	if !c.pm.started {
		return
	}
	for _, l := range c.pm.locals {
		if l.addr == a {
			c.pm.rmIDs = append(c.pm.rmIDs, l.id)
		}
	}
	for _, s := range c.subflows {
		if s.io.Local().Addr() == a && len(c.subflows) > 1 {
			s.rstReason, s.rstSet = option.RstUnspecified, true
			c.pendingResets = append(c.pendingResets, s)
		}
	}
}

// appendSignals adds at most one ADD_ADDR (an echo first) and a
// REMOVE_ADDR to a pure ACK, within budget.
func (pm *pathManager) appendSignals(s *Subflow, b []byte, budget int) []byte {
	c := pm.c
	start := len(b)
	if len(pm.echoes) > 0 {
		e := pm.echoes[0]
		a := option.AddAddr{Version: option.V1, Echo: true, AddrID: e.AddrID, Addr: e.Addr, HasPort: e.HasPort, Port: e.Port}
		o := option.Option{Subtype: option.SubtypeAddAddr, AddAddr: a}
		if out, err := o.Append(b); err == nil && len(out)-start <= budget {
			b = out
			pm.echoes = pm.echoes[1:]
			c.mib.EchoAddTx.Add(1)
		}
	} else {
		for _, x := range pm.announce {
			if x.echoed || !x.pending {
				continue
			}
			a := option.AddAddr{Version: option.V1, AddrID: x.a.id, Addr: x.a.addr, HasHMAC: true,
				HMAC: mpcrypto.AddAddrHMAC(c.localKey, c.remoteKey, x.a.id, x.a.addr, x.port)}
			if x.port != 0 {
				a.HasPort, a.Port = true, x.port
			}
			o := option.Option{Subtype: option.SubtypeAddAddr, AddAddr: a}
			if out, err := o.Append(b); err == nil && len(out)-start <= budget {
				b = out
				if !x.sent {
					c.event(Event{Kind: EventAddAddrSent, Addr: netip.AddrPortFrom(x.a.addr, x.port), AddrID: x.a.id})
				}
				x.sent = true
				x.pending = false
				c.mib.AddAddrTx.Add(1)
				// Sent again if no echo comes back in time (Linux's
				// add_addr_timeout, ADD_ADDR_RETRANS_MAX).
				if x.retries < c.cfg.AddAddrRetries {
					x.retries++
					x.due = c.now + c.cfg.AddAddrTimeout
				}
			}
			break
		}
	}
	if len(pm.rmIDs) > 0 {
		r, err := option.NewRemoveAddr(pm.rmIDs...)
		if err == nil {
			o := option.Option{Subtype: option.SubtypeRemoveAddr, RemoveAddr: r}
			if out, err := o.Append(b); err == nil && len(out)-start <= budget {
				b = out
				c.mib.RmAddrTx.Add(1)
				for _, id := range pm.rmIDs {
					pm.repeatRemove(id, c.now+c.dataRTO())
				}
				pm.rmIDs = pm.rmIDs[:0]
			}
		}
	}
	return b
}

// repeatRemove notes that a REMOVE_ADDR for id went out: the first time
// it is scheduled to go out again at due, Config.RemoveAddrRepeats
// times in all.
func (pm *pathManager) repeatRemove(id uint8, due time.Duration) {
	for i := range pm.rmRepeat {
		if r := &pm.rmRepeat[i]; r.id == id {
			if r.left--; r.left <= 0 {
				pm.rmRepeat = slices.Delete(pm.rmRepeat, i, i+1)
			} else {
				r.due = due
			}
			return
		}
	}
	if n := pm.c.cfg.RemoveAddrRepeats; n > 0 {
		pm.rmRepeat = append(pm.rmRepeat, rmRepeat{id: id, left: n, due: due})
	}
}

// cancelRemove forgets the REMOVE_ADDRs for id not sent yet: the address
// is back.
func (pm *pathManager) cancelRemove(id uint8) {
	pm.rmIDs = slices.DeleteFunc(pm.rmIDs, func(x uint8) bool { return x == id })
	pm.rmRepeat = slices.DeleteFunc(pm.rmRepeat, func(r rmRepeat) bool { return r.id == id })
}

// timers marks the ADD_ADDRs whose echo did not come back in time, and
// the REMOVE_ADDRs due again, for sending.
func (pm *pathManager) timers(now time.Duration) {
	if pm.wakeAt != 0 && now >= pm.wakeAt {
		pm.wakeAt = 0
	}
	for i := range pm.rmRepeat {
		if r := &pm.rmRepeat[i]; r.due != 0 && now >= r.due {
			r.due = 0
			if !slices.Contains(pm.rmIDs, r.id) {
				pm.rmIDs = append(pm.rmIDs, r.id)
			}
		}
	}
	for _, a := range pm.announce {
		if a.due != 0 && now >= a.due {
			a.due = 0
			if !a.echoed {
				a.pending = true
			}
		}
	}
}

// nextTimer returns when the next ADD_ADDR or REMOVE_ADDR retransmission
// is due.
func (pm *pathManager) nextTimer() time.Duration {
	d := pm.wakeAt
	for _, r := range pm.rmRepeat {
		if r.due != 0 && (d == 0 || r.due < d) {
			d = r.due
		}
	}
	for _, a := range pm.announce {
		if !a.echoed && a.due != 0 && (d == 0 || a.due < d) {
			d = a.due
		}
	}
	return d
}
