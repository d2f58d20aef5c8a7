package stack

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
)

// batch is how many packets one read or write moves at most.
const batch = 64

// nic is an interface the stack owns.
type nic struct {
	s    *Stack
	ep   link.Endpoint
	cfg  InterfaceConfig
	eth  bool
	mtu  int
	txMu sync.Mutex // serialises WritePackets (one writer per endpoint)

	nmu   sync.Mutex
	neigh map[netip.Addr]*neighbor
	now   func() time.Time // the neighbour cache's clock, used under nmu (tests replace it)

	txq *txQueue

	// dirty lists connections with segments queued while the reader
	// processed a batch; they are flushed once per batch. Reader-only.
	dirty []*Flow
}

// neighbor is an ARP / NDP cache entry (RFC 826, RFC 4861 §7.3.2,
// simplified): INCOMPLETE until resolved; then REACHABLE for
// Options.NeighborReachable after its last confirmation, STALE after
// that: still used, while up to maxProbes requests (one a second) ask
// again. If none is answered the entry is deleted and the next packet
// resolves from scratch. Confirmations are ARP packets and NDP
// advertisements from the neighbour.
type neighbor struct {
	mac       header.MAC
	resolved  bool
	confirmed time.Time // last time its address was learned or confirmed
	lastReq   time.Time
	probes    int      // requests since the last confirmation
	pending   [][]byte // packets (without link header) waiting for resolution
}

const (
	maxPending = 64
	// maxProbes requests go unanswered before an entry is given up
	// (RFC 4861 MAX_MULTICAST_SOLICIT / MAX_UNICAST_SOLICIT are 3).
	maxProbes = 3
	// maxNeighbors bounds the cache; beyond it entries that are not
	// resolved are swept.
	maxNeighbors = 1024
)

func newNIC(s *Stack, ep link.Endpoint, cfg InterfaceConfig) *nic {
	n := &nic{s: s, ep: ep, cfg: cfg, eth: ep.LinkType() == link.TypeEthernet, mtu: ep.MTU(),
		neigh: make(map[netip.Addr]*neighbor), now: time.Now}
	if cfg.MTU > 0 && cfg.MTU < n.mtu {
		n.mtu = cfg.MTU
	}
	n.txq = newTxQueue(n, header.EthernetHeaderLen+n.mtu+header.TCPMaxHeaderLen)
	return n
}

func (n *nic) hasAddr(a netip.Addr) bool {
	for _, p := range n.cfg.Addrs {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// linkHeaderLen is the bytes the link adds before the IP packet.
func (n *nic) linkHeaderLen() int {
	if n.eth {
		return header.EthernetHeaderLen
	}
	return 0
}

// offloadBatch is how many super-packets (up to 64 KiB each) one read
// from an OffloadReader moves at most.
const offloadBatch = 32

func (n *nic) readLoop() {
	or, offload := n.ep.(link.OffloadReader)
	size, count := n.mtu+header.EthernetHeaderLen+64, batch
	if offload {
		size, count = header.EthernetHeaderLen+link.MaxOffloadPacket, offloadBatch
	}
	bufs := make([][]byte, count)
	sizes := make([]int, count)
	flags := make([]link.PacketFlags, count)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	var backoff time.Duration
	for {
		var k int
		var err error
		if offload {
			k, err = or.ReadPacketsOffload(bufs, sizes, flags)
		} else {
			k, err = n.ep.ReadPackets(bufs, sizes)
		}
		if err != nil {
			if errors.Is(err, link.ErrClosed) {
				return
			}
			// The device went down (a packet socket reports ENETDOWN once
			// and reads again once the link is back up) or some other
			// trouble: keep reading, backing off up to 100 ms so that an
			// error that persists (the device removed) does not spin.
			n.s.stats.LinkReadErrors.Add(1)
			if backoff == 0 {
				n.s.log.Debug("interface read", "iface", n.cfg.Name, "err", err)
			}
			backoff = min(max(2*backoff, time.Millisecond), 100*time.Millisecond)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		for i := 0; i < k; i++ {
			n.input(bufs[i][:sizes[i]], offload && flags[i]&link.ChecksumValid != 0)
		}
		n.flushDirty()
	}
}

// flushDirty sends what the connections of the last batch queued.
func (n *nic) flushDirty() {
	for i, f := range n.dirty {
		f.endBatch()
		n.dirty[i] = nil
	}
	n.dirty = n.dirty[:0]
}

// input handles one received frame or packet; csumOK says the device
// vouches for its transport checksum (link.ChecksumValid).
func (n *nic) input(b []byte, csumOK bool) {
	if !n.eth {
		n.s.ipInput(n, b, csumOK)
		return
	}
	e := header.Ethernet(b)
	if !e.Valid() {
		return
	}
	dst := e.Dst()
	if dst != n.cfg.MAC && !dst.IsMulticast() {
		return // another host's frame (promiscuous socket or bridge flood)
	}
	switch e.Type() {
	case header.EtherTypeARP:
		n.arpInput(header.ARP(e.Payload()))
	case header.EtherTypeIPv4, header.EtherTypeIPv6:
		n.s.ipInput(n, e.Payload(), csumOK)
	}
}

// arpInput answers requests for our addresses and learns senders (RFC 826
// "packet reception": merge the sender, reply if we are the target).
func (n *nic) arpInput(a header.ARP) {
	if !a.Valid() {
		return
	}
	n.s.stats.ARPIn.Add(1)
	sender := a.SenderIP()
	target := a.TargetIP()
	mine := n.hasAddr(target)
	// Merge a known sender; add it if the packet is for us.
	if !sender.IsUnspecified() {
		n.learn(sender, a.SenderHW(), mine)
	}
	if mine && a.Op() == header.ARPRequest {
		f := make([]byte, header.EthernetHeaderLen+header.ARPLen)
		header.Ethernet(f).Encode(a.SenderHW(), n.cfg.MAC, header.EtherTypeARP)
		header.ARP(f[header.EthernetHeaderLen:]).Encode(header.ARPReply, n.cfg.MAC, target, a.SenderHW(), sender)
		n.s.stats.ARPOut.Add(1)
		n.writeRaw(f)
	}
}

// ndpInput handles neighbour solicitations for our addresses and
// advertisements answering ours (RFC 4861 §7.2).
func (n *nic) ndpInput(src, dst netip.Addr, hopLimit uint8, m header.ICMPv6) {
	// RFC 4861 §7.1: hop limit must be 255.
	if hopLimit != 255 || !m.ValidChecksum(src, dst) {
		return
	}
	nd := header.NDPNeighbor(m)
	if !nd.Valid() {
		return
	}
	n.s.stats.NDPIn.Add(1)
	target := nd.TargetAddr()
	switch m.Type() {
	case header.ICMPv6NeighborSolicit:
		if !n.hasAddr(target) {
			return
		}
		mac, ok := nd.LinkAddrOption(header.NDPOptSourceLinkAddr)
		if ok && !src.IsUnspecified() {
			n.learn(src, mac, true)
		}
		replyDst := src
		flags := header.NDPNAFlagSolicited | header.NDPNAFlagOverride
		if src.IsUnspecified() {
			// Duplicate address detection: answer to all-nodes (RFC 4861 §7.2.4).
			replyDst = netip.MustParseAddr("ff02::1")
			flags = header.NDPNAFlagOverride
			mac = header.IPv6MulticastMAC(replyDst.As16())
		} else if !ok {
			return // we cannot address the reply without the sender's MAC
		}
		icmp := make([]byte, header.NDPNALen+8)
		header.NDPNeighbor(icmp).EncodeNA(flags, target, n.cfg.MAC)
		n.s.stats.NDPOut.Add(1)
		n.sendICMPv6To(mac, target, replyDst, icmp)
	case header.ICMPv6NeighborAdvert:
		mac, ok := nd.LinkAddrOption(header.NDPOptTargetLinkAddr)
		if ok {
			n.learn(target, mac, false) // RFC 4861 §7.2.5: no entry, no update
		}
	}
}

// learn records (and confirms) neighbour a's link address mac, sending
// what waited for it. An unknown neighbour gets an entry only if create
// and the cache is not full (a flood of requests from made-up senders
// cannot grow it without bound).
func (n *nic) learn(a netip.Addr, mac header.MAC, create bool) {
	n.nmu.Lock()
	nb := n.neigh[a]
	if nb == nil {
		if !create || len(n.neigh) >= maxNeighbors {
			n.nmu.Unlock()
			return
		}
		nb = &neighbor{}
		n.neigh[a] = nb
	}
	nb.mac, nb.resolved = mac, true
	nb.confirmed, nb.probes = n.now(), 0
	pend := nb.pending
	nb.pending = nil
	n.nmu.Unlock()
	n.sendPending(nb, pend)
}

func (n *nic) sendPending(nb *neighbor, pend [][]byte) {
	if len(pend) == 0 {
		return
	}
	frames := make([][]byte, 0, len(pend))
	for _, p := range pend {
		f := make([]byte, header.EthernetHeaderLen+len(p))
		et := header.EtherTypeIPv4
		if p[0]>>4 == 6 {
			et = header.EtherTypeIPv6
		}
		header.Ethernet(f).Encode(nb.mac, n.cfg.MAC, et)
		copy(f[header.EthernetHeaderLen:], p)
		frames = append(frames, f)
	}
	n.write(frames)
}

// resolve returns the MAC of next hop nh. If unknown it queues a copy of
// the IP packet pkt, sends a request (at most once a second) and reports
// false. A stale entry is used while requests confirm it again; one no
// request resolves is deleted with its queued packets (counted in
// LinkDrops).
func (n *nic) resolve(nh netip.Addr, pkt []byte) (header.MAC, bool) {
	if nh.Is6() && nh.IsMulticast() {
		return header.IPv6MulticastMAC(nh.As16()), true
	}
	n.nmu.Lock()
	now := n.now()
	nb := n.neigh[nh]
	if nb != nil && nb.probes >= maxProbes && now.Sub(nb.lastReq) > time.Second {
		// Unanswered: forget it (and what waited for it).
		n.s.stats.LinkDrops.Add(uint64(len(nb.pending)))
		delete(n.neigh, nh)
		nb = nil
	}
	if nb != nil && nb.resolved {
		mac := nb.mac
		ask := false
		if now.Sub(nb.confirmed) > n.s.opts.NeighborReachable && now.Sub(nb.lastReq) > time.Second {
			nb.lastReq = now
			nb.probes++
			ask = true
		}
		n.nmu.Unlock()
		if ask {
			n.solicit(nh) // stale: confirm, meanwhile keep using the MAC
		}
		return mac, true
	}
	if nb == nil {
		if len(n.neigh) >= maxNeighbors {
			n.sweepNeighbors()
		}
		nb = &neighbor{}
		n.neigh[nh] = nb
	}
	if len(nb.pending) < maxPending {
		nb.pending = append(nb.pending, append([]byte(nil), pkt...))
	}
	ask := now.Sub(nb.lastReq) > time.Second
	if ask {
		nb.lastReq = now
		nb.probes++
	}
	n.nmu.Unlock()
	if ask {
		n.solicit(nh)
	}
	return header.MAC{}, false
}

// sweepNeighbors deletes the entries that are not resolved (and their
// queued packets). Called with nmu held.
func (n *nic) sweepNeighbors() {
	for a, nb := range n.neigh {
		if !nb.resolved {
			n.s.stats.LinkDrops.Add(uint64(len(nb.pending)))
			delete(n.neigh, a)
		}
	}
}

// solicit sends an ARP request or a neighbour solicitation for a.
func (n *nic) solicit(a netip.Addr) {
	src := n.srcFor(a)
	if !src.IsValid() {
		return
	}
	if a.Is4() {
		f := make([]byte, header.EthernetHeaderLen+header.ARPLen)
		header.Ethernet(f).Encode(header.BroadcastMAC, n.cfg.MAC, header.EtherTypeARP)
		header.ARP(f[header.EthernetHeaderLen:]).Encode(header.ARPRequest, n.cfg.MAC, src, header.MAC{}, a)
		n.s.stats.ARPOut.Add(1)
		n.writeRaw(f)
		return
	}
	dst := header.SolicitedNodeMulticast(a)
	icmp := make([]byte, header.NDPNSLen+8)
	header.NDPNeighbor(icmp).EncodeNS(a, n.cfg.MAC)
	n.s.stats.NDPOut.Add(1)
	n.sendICMPv6To(header.IPv6MulticastMAC(dst.As16()), src, dst, icmp)
}

// srcFor returns our address of a's family on this interface.
func (n *nic) srcFor(a netip.Addr) netip.Addr {
	for _, p := range n.cfg.Addrs {
		if p.Addr().Is4() == a.Is4() {
			if p.Contains(a) {
				return p.Addr()
			}
		}
	}
	for _, p := range n.cfg.Addrs {
		if p.Addr().Is4() == a.Is4() {
			return p.Addr()
		}
	}
	return netip.Addr{}
}

// sendICMPv6To sends an ICMPv6 message with hop limit 255 (NDP).
func (n *nic) sendICMPv6To(mac header.MAC, src, dst netip.Addr, icmp []byte) {
	header.ICMPv6(icmp).SetChecksum(src, dst)
	f := make([]byte, header.EthernetHeaderLen+header.IPv6HeaderLen+len(icmp))
	header.Ethernet(f).Encode(mac, n.cfg.MAC, header.EtherTypeIPv6)
	ip := header.IPv6(f[header.EthernetHeaderLen:])
	ip.Encode(&header.IPv6Fields{PayloadLength: uint16(len(icmp)), NextHeader: header.ProtocolICMPv6, HopLimit: 255, Src: src, Dst: dst})
	copy(ip[header.IPv6HeaderLen:], icmp)
	n.writeRaw(f)
}

// announce sends a gratuitous ARP for each IPv4 address so peers (and
// switches) learn us.
func (n *nic) announce() {
	for _, p := range n.cfg.Addrs {
		if !p.Addr().Is4() {
			continue
		}
		f := make([]byte, header.EthernetHeaderLen+header.ARPLen)
		header.Ethernet(f).Encode(header.BroadcastMAC, n.cfg.MAC, header.EtherTypeARP)
		header.ARP(f[header.EthernetHeaderLen:]).Encode(header.ARPRequest, n.cfg.MAC, p.Addr(), header.MAC{}, p.Addr())
		n.writeRaw(f)
	}
}

func (n *nic) writeRaw(f []byte) {
	n.write([][]byte{f})
}

// write sends pkts on the device. A frame the device refuses (ENOBUFS on
// a full queue, say) is dropped and counted, and the rest still go out:
// TCP repairs the loss as it would a drop on the wire.
func (n *nic) write(pkts [][]byte) {
	n.txMu.Lock()
	defer n.txMu.Unlock()
	for len(pkts) > 0 {
		k, err := n.ep.WritePackets(pkts)
		if err == nil {
			return
		}
		if errors.Is(err, link.ErrClosed) {
			n.s.stats.LinkDrops.Add(uint64(len(pkts) - k))
			return
		}
		n.s.stats.LinkDrops.Add(1)
		pkts = pkts[min(k+1, len(pkts)):]
	}
}
