//go:build linux

package live

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/capture/filter"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Handle is an open live capture. Next must be called from one goroutine
// at a time; Stats and Close may be called from any goroutine.
type Handle struct {
	fd, efd  int
	ring     []byte
	linkType capture.LinkType
	loIndex  int
	snapLen  int
	blockSz  int
	blocks   int

	mu      sync.RWMutex // held shared by Next and Stats, exclusively by Close
	closing atomic.Bool
	closed  bool
	ctx     context.Context
	stopCtx func() bool

	// Ring position: current block, packets left in it, next packet.
	cur     int
	left    int
	pktOff  int
	holding bool // current block belongs to us

	statsMu sync.Mutex
	stats   Stats

	wakeMu sync.Mutex // guards efd against a wake racing with release

	pollFds [2]unix.PollFd
}

// tpacket3_hdr and tpacket_block_desc field offsets (linux/if_packet.h).
const (
	blkStatus   = 8  // tpacket_block_desc.hdr.bh1.block_status
	blkNumPkts  = 12 // .num_pkts
	blkFirstPkt = 16 // .offset_to_first_pkt

	pktNextOff = 0  // tpacket3_hdr.tp_next_offset
	pktSec     = 4  // tp_sec
	pktNsec    = 8  // tp_nsec
	pktSnapLen = 12 // tp_snaplen
	pktLen     = 16 // tp_len
	pktStatus  = 20 // tp_status
	pktMac     = 24 // tp_mac
	pktVLANTCI = 32 // hv1.tp_vlan_tci
	pktVLANTP  = 36 // hv1.tp_vlan_tpid
	pktHdrLen  = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr))

	// vlanTagLen is the room PACKET_RESERVE keeps in front of each frame
	// to put back the 802.1Q tag the kernel took out into metadata.
	vlanTagLen            = 4
	tpStatusVLANValid     = 1 << 4 // TP_STATUS_VLAN_VALID
	tpStatusVLANTPIDValid = 1 << 6 // TP_STATUS_VLAN_TPID_VALID

	sllIfindex = 4  // sockaddr_ll.sll_ifindex, after the tpacket3_hdr
	sllPktType = 10 // sockaddr_ll.sll_pkttype
	sllLen     = 20 // sizeof(struct sockaddr_ll)
)

// Open creates the socket, attaches the filter, maps the ring and binds to
// the interface. Cancelling ctx makes a blocked or later Next return
// ctx.Err(); Close is still needed to release the socket.
func Open(ctx context.Context, cfg Config) (*Handle, error) {
	h := &Handle{fd: -1, efd: -1, ctx: ctx, snapLen: cfg.SnapLen}
	if h.snapLen <= 0 {
		h.snapLen = 262144
	}
	h.blockSz, h.blocks = cfg.BlockSize, cfg.Blocks
	if h.blockSz <= 0 {
		h.blockSz = 1 << 20
	}
	if h.blocks <= 0 {
		h.blocks = 8
	}
	page := os.Getpagesize()
	h.blockSz = (h.blockSz + page - 1) / page * page
	tov := cfg.BlockTimeout
	if tov <= 0 {
		tov = 20 * time.Millisecond
	}

	ifindex := 0
	cooked := cfg.Cooked || cfg.Interface == ""
	if cfg.Interface != "" {
		ifc, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("live: %w", err)
		}
		ifindex = ifc.Index
		if !ethernetLike(cfg.Interface) {
			cooked = true
		}
	}
	if lo, err := net.InterfaceByName("lo"); err == nil {
		h.loIndex = lo.Index
	}
	h.linkType = capture.LinkTypeEthernet
	sockType := unix.SOCK_RAW
	if cooked {
		h.linkType, sockType = capture.LinkTypeRaw, unix.SOCK_DGRAM
	}
	prog := cfg.Filter
	if cfg.MPTCPFilter || cfg.Expression != nil {
		l, err := filter.ForLinkType(h.linkType)
		if err != nil {
			return nil, err
		}
		if prog, err = filter.AssembleExpr(l, uint32(h.snapLen), cfg.Expression, cfg.MPTCPFilter); err != nil {
			return nil, err
		}
	}

	ok := false
	defer func() {
		if !ok {
			h.release()
		}
	}()
	// Protocol 0: the socket receives nothing until bind, so the filter
	// and the ring are in place before the first packet.
	fd, err := unix.Socket(unix.AF_PACKET, sockType|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("live: socket(AF_PACKET): %w", err)
	}
	h.fd = fd
	if prog != nil {
		if err := attach(fd, prog); err != nil {
			return nil, err
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("live: PACKET_VERSION TPACKET_V3: %w", err)
	}
	if !cooked {
		// Room in front of each frame to restore a VLAN tag the kernel
		// (or the NIC) stripped, as libpcap does.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_RESERVE, vlanTagLen); err != nil {
			return nil, fmt.Errorf("live: PACKET_RESERVE: %w", err)
		}
	}
	const frameSize = 1 << 11 // TPACKET_V3 ignores frames but checks them
	req := unix.TpacketReq3{
		Block_size:     uint32(h.blockSz),
		Block_nr:       uint32(h.blocks),
		Frame_size:     frameSize,
		Frame_nr:       uint32(h.blockSz / frameSize * h.blocks),
		Retire_blk_tov: uint32(max(tov/time.Millisecond, 1)),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("live: PACKET_RX_RING %d x %d bytes: %w", h.blocks, h.blockSz, err)
	}
	h.ring, err = unix.Mmap(fd, 0, h.blockSz*h.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED)
	if err != nil {
		// MAP_LOCKED can fail under a low RLIMIT_MEMLOCK; retry without.
		h.ring, err = unix.Mmap(fd, 0, h.blockSz*h.blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return nil, fmt.Errorf("live: mmap ring: %w", err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("live: bind to %q: %w", cfg.Interface, err)
	}
	h.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("live: eventfd: %w", err)
	}
	h.stopCtx = context.AfterFunc(ctx, h.wake)
	ok = true
	return h, nil
}

// ethernetLike reports whether the interface's ARPHRD type gives frames
// with an Ethernet header (Ethernet, veth, bridges, loopback).
func ethernetLike(name string) bool {
	b, err := os.ReadFile("/sys/class/net/" + name + "/type")
	if err != nil {
		return true
	}
	t, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return t == unix.ARPHRD_ETHER || t == unix.ARPHRD_LOOPBACK
}

// attach installs a classic BPF program with SO_ATTACH_FILTER.
func attach(fd int, prog []bpf.RawInstruction) error {
	if len(prog) == 0 || len(prog) > 4096 {
		return fmt.Errorf("live: filter of %d instructions (1..4096)", len(prog))
	}
	filt := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filt[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fp := unix.SockFprog{Len: uint16(len(filt)), Filter: &filt[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("live: SO_ATTACH_FILTER (%d instructions): %w", len(prog), err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// LinkType is the link type of every packet: Ethernet, or Raw when cooked.
func (h *Handle) LinkType() capture.LinkType { return h.linkType }

func (h *Handle) u32(off int) uint32 { return *(*uint32)(unsafe.Pointer(&h.ring[off])) }
func (h *Handle) u16(off int) uint16 { return *(*uint16)(unsafe.Pointer(&h.ring[off])) }
func (h *Handle) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&h.ring[block*h.blockSz+blkStatus]))
}

// Next returns the next packet, blocking until one arrives, the context is
// cancelled (ctx.Err()) or the handle is closed (ErrClosed). Packet.Data
// points into the ring and is valid until the next call. Interface is the
// kernel's ifindex. Packets a loopback device sends are skipped (each is
// also seen when received), as libpcap does.
func (h *Handle) Next() (capture.Packet, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for {
		if h.closed || h.closing.Load() {
			return capture.Packet{}, ErrClosed
		}
		if err := h.ctx.Err(); err != nil {
			return capture.Packet{}, err
		}
		if h.left > 0 {
			p, keep := h.packet()
			if keep {
				return p, nil
			}
			continue
		}
		if h.holding {
			// Give the finished block back to the kernel.
			atomic.StoreUint32(h.status(h.cur), unix.TP_STATUS_KERNEL)
			h.holding = false
			h.cur = (h.cur + 1) % h.blocks
		}
		base := h.cur * h.blockSz
		if atomic.LoadUint32(h.status(h.cur))&unix.TP_STATUS_USER != 0 {
			h.holding = true
			h.left = int(h.u32(base + blkNumPkts))
			h.pktOff = base + int(h.u32(base+blkFirstPkt))
			continue
		}
		h.pollFds = [2]unix.PollFd{{Fd: int32(h.fd), Events: unix.POLLIN | unix.POLLERR}, {Fd: int32(h.efd), Events: unix.POLLIN}}
		if _, err := unix.Poll(h.pollFds[:], -1); err != nil && err != unix.EINTR {
			return capture.Packet{}, fmt.Errorf("live: poll: %w", err)
		}
	}
}

// packet decodes the packet at h.pktOff and advances; keep is false for a
// packet to skip.
func (h *Handle) packet() (capture.Packet, bool) {
	off := h.pktOff
	next := int(h.u32(off + pktNextOff))
	h.left--
	h.pktOff = off + next
	snap := int(h.u32(off + pktSnapLen))
	mac := int(h.u16(off + pktMac))
	sll := off + pktHdrLen
	ifindex := int(int32(h.u32(sll + sllIfindex)))
	if h.ring[sll+sllPktType] == unix.PACKET_OUTGOING && ifindex == h.loIndex {
		return capture.Packet{}, false
	}
	end := off + mac + snap
	if mac <= 0 || end > (off/h.blockSz+1)*h.blockSz {
		return capture.Packet{}, false // cannot happen with a sane kernel
	}
	// Config.SnapLen holds whatever the filter returns: without a filter,
	// or with one that keeps more, the kernel copies up to a whole block.
	if snap > h.snapLen {
		snap = h.snapLen
		end = off + mac + snap
	}
	length := int(h.u32(off + pktLen))
	start := off + mac
	if st := h.u32(off + pktStatus); st&tpStatusVLANValid != 0 && h.linkType == capture.LinkTypeEthernet &&
		snap >= 12 && mac >= pktHdrLen+sllLen+vlanTagLen {
		// The kernel keeps a received 802.1Q tag out of the frame
		// (skb->vlan_tci): put it back between the MAC addresses and the
		// EtherType, in the room PACKET_RESERVE left, so the capture shows
		// the frame as it was on the wire.
		tpid := uint16(capture.EtherTypeVLAN)
		if st&tpStatusVLANTPIDValid != 0 {
			tpid = h.u16(off + pktVLANTP)
		}
		tci := uint16(h.u32(off + pktVLANTCI))
		copy(h.ring[start-vlanTagLen:], h.ring[start:start+12])
		start -= vlanTagLen
		binary.BigEndian.PutUint16(h.ring[start+12:], tpid)
		binary.BigEndian.PutUint16(h.ring[start+14:], tci)
		snap += vlanTagLen
		length += vlanTagLen
	}
	data := h.ring[start:end:end]
	return capture.Packet{
		Timestamp:     time.Unix(int64(h.u32(off+pktSec)), int64(h.u32(off+pktNsec))).UTC(),
		Interface:     ifindex,
		LinkType:      h.linkType,
		CaptureLength: snap,
		Length:        length,
		Data:          data,
	}, true
}

// Stats returns the kernel's counters accumulated since Open.
func (h *Handle) Stats() (Stats, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.closed {
		return Stats{}, ErrClosed
	}
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	// Reading PACKET_STATISTICS resets the kernel's counters.
	s, err := unix.GetsockoptTpacketStatsV3(h.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return h.stats, fmt.Errorf("live: PACKET_STATISTICS: %w", err)
	}
	h.stats.Packets += uint64(s.Packets)
	h.stats.Drops += uint64(s.Drops)
	h.stats.FreezeQueue += uint64(s.Freeze_q_cnt)
	return h.stats, nil
}

// wake makes a blocked poll in Next return.
func (h *Handle) wake() {
	h.wakeMu.Lock()
	defer h.wakeMu.Unlock()
	if h.efd >= 0 {
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(h.efd, one[:])
	}
}

// Close wakes a blocked Next, waits for it to return and releases the
// socket and the ring.
func (h *Handle) Close() error {
	if h.closing.Swap(true) {
		return nil
	}
	h.wake()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	if h.stopCtx != nil {
		h.stopCtx()
	}
	return h.release()
}

func (h *Handle) release() error {
	var errs []error
	if h.ring != nil {
		errs = append(errs, unix.Munmap(h.ring))
		h.ring = nil
	}
	if h.fd >= 0 {
		errs = append(errs, unix.Close(h.fd))
		h.fd = -1
	}
	h.wakeMu.Lock()
	if h.efd >= 0 {
		errs = append(errs, unix.Close(h.efd))
		h.efd = -1
	}
	h.wakeMu.Unlock()
	return errors.Join(errs...)
}

var _ capture.Source = (*Handle)(nil)
