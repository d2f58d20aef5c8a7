//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/mptcp-go/mptcp/header"
	"golang.org/x/sys/unix"
)

// afpacketMaxBatch is the most packets one recvmmsg or sendmmsg moves.
const afpacketMaxBatch = 128

// AFPacketOptions tune an AFPacket endpoint. The zero value gives the
// defaults a forwarder wants.
type AFPacketOptions struct {
	// Promisc puts the interface in promiscuous mode for the socket's
	// lifetime, so frames for other MAC addresses are seen too.
	Promisc bool
	// KeepOutgoing also reads the frames this host sends on the interface
	// (by default they are ignored with PACKET_IGNORE_OUTGOING, so a
	// forwarder never re-reads what it wrote).
	KeepOutgoing bool
	// UseQdisc sends through the interface's qdisc (kernel tbf/htb rate
	// limits then apply); by default frames bypass it
	// (PACKET_QDISC_BYPASS), which is faster.
	UseQdisc bool
	// SocketBuffer sets SO_RCVBUF and SO_SNDBUF in bytes (default 4 MiB).
	SocketBuffer int
	// Offload turns on the virtio-net header (PACKET_VNET_HDR), as TUN's
	// Offload does for TUN: WritePackets coalesces runs of one TCP flow's
	// segments into TSO super-frames with a partial checksum that the
	// kernel (or the veth peer) segments again, and ReadPackets splits the
	// GSO/GRO super-frames the kernel hands over into ordinary frames of
	// at most gso_size payload with complete checksums, so callers see
	// MTU-sized frames either way. The interface may then keep its
	// TSO/GSO/GRO offloads on. Super-frames are only written if the
	// interface has TSO on when the socket is opened, or with UseQdisc (the
	// qdisc path segments in software; the bypass drops what the device
	// cannot take whole).
	Offload bool
}

// Offload buffers: one receive slot holds a virtio-net header and the
// largest Ethernet super-frame; the write arena holds several.
const (
	afpacketVnetFrame = vnetHdrLen + header.EthernetHeaderLen + maxGSOLen
	afpacketVnetSlots = 16
	afpacketArena     = 4 * afpacketVnetFrame
)

// AFPacket is an Endpoint on a network interface through an AF_PACKET raw
// socket: it reads and writes whole Ethernet frames, many per system call
// (recvmmsg/sendmmsg). The socket lives in the network namespace of the
// thread that opened it, whatever thread uses it later. Reads block in the
// Go runtime's poller, so Close unblocks them.
//
// Without Offload, frames must not exceed the buffers given to
// ReadPackets: turn off GRO/GSO/TSO on the interface (ethtool -K DEV gro
// off gso off tso off) or the kernel hands over merged super-frames that
// are truncated. With Offload they are split (see AFPacketOptions).
type AFPacket struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
	mtu     int
	closed  atomic.Bool
	drops   atomic.Uint64 // kernel drops read so far (the kernel resets on read)

	// Reader state, used only inside readFn.
	rhdr  [afpacketMaxBatch]unix.Mmsghdr
	riov  [afpacketMaxBatch]unix.Iovec
	rwant int
	rn    int
	rerr  error
	readF func(fd uintptr) bool

	// tx is a second, send-only socket (bound with protocol 0, so it
	// receives nothing) kept out of the Go poller: the kernel then has
	// nobody to wake each time it frees a sent frame (sock_def_write_space
	// on the poller's epoll entry, a measurable cost per frame). -1 if it
	// could not be opened; the main socket sends then.
	tx       int
	txMu     sync.RWMutex // writers hold it shared; Close exclusively
	txClosed bool         // under txMu
	txPfd    [1]unix.PollFd

	// Writer state, used only inside writeFn.
	whdr   [afpacketMaxBatch]unix.Mmsghdr
	wiov   [afpacketMaxBatch]unix.Iovec
	wwant  int
	wn     int
	werr   error
	writeF func(fd uintptr) bool

	// Offload (PACKET_VNET_HDR) state.
	vnet          bool
	coalesce      bool // write super-frames (Offload, and TSO or UseQdisc)
	gsoOut, gsoIn atomic.Uint64
	rslot         [][]byte               // reader: receive slots
	rlen          [afpacketVnetSlots]int // reader: bytes in each slot
	rnext, rcount int                    // reader: slots not yet split
	warena        []byte                 // writer: super-frames being sent
	wcnt          [afpacketMaxBatch]int  // writer: packets in each message
	// ReadPacketsOffload: each message is a virtio-net header (rvh) and
	// the caller's buffer, two iovecs.
	rvh  [afpacketMaxBatch][vnetHdrLen]byte
	roiv [2 * afpacketMaxBatch]unix.Iovec
}

var _ OffloadReader = (*AFPacket)(nil)

var _ Endpoint = (*AFPacket)(nil)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// OpenAFPacket opens an AF_PACKET endpoint on the interface named ifname
// in the calling thread's network namespace (see lab.Lab.Do to open one in
// another namespace).
func OpenAFPacket(ifname string, opt AFPacketOptions) (*AFPacket, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: %w", ifname, err)
	}
	// Protocol 0 at creation: no frames arrive before bind picks the
	// interface and ETH_P_ALL.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("afpacket %s: socket: %w", ifname, err)
	}
	fail := func(what string, err error) (*AFPacket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("afpacket %s: %s: %w", ifname, what, err)
	}
	if !opt.KeepOutgoing {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return fail("PACKET_IGNORE_OUTGOING", err)
		}
	}
	if !opt.UseQdisc {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return fail("PACKET_QDISC_BYPASS", err)
		}
	}
	buf := opt.SocketBuffer
	if buf <= 0 {
		buf = 4 << 20
	}
	// The *FORCE variants pass rmem_max as root; fall back to the plain ones.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, buf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, buf)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, buf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, buf)
	}
	if opt.Offload {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fail("PACKET_VNET_HDR", err)
		}
	}
	if opt.Promisc {
		mr := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
			return fail("promisc", err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	f := os.NewFile(uintptr(fd), "afpacket:"+ifname)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("afpacket %s: %w", ifname, err)
	}
	e := &AFPacket{f: f, rc: rc, ifindex: ifi.Index, mtu: ifi.MTU, vnet: opt.Offload}
	e.tx = openTxSocket(ifi.Index, opt, buf)
	e.txPfd[0] = unix.PollFd{Fd: int32(e.tx), Events: unix.POLLOUT}
	if e.vnet {
		e.coalesce = opt.UseQdisc || tsoOn(fd, ifname)
		e.rslot = make([][]byte, afpacketVnetSlots)
		for i := range e.rslot {
			e.rslot[i] = make([]byte, afpacketVnetFrame)
		}
		e.warena = make([]byte, afpacketArena)
	}
	for i := range e.rhdr {
		e.rhdr[i].Hdr.Iov = &e.riov[i]
		e.rhdr[i].Hdr.Iovlen = 1
		e.whdr[i].Hdr.Iov = &e.wiov[i]
		e.whdr[i].Hdr.Iovlen = 1
	}
	// Bound once here so ReadPackets and WritePackets allocate nothing.
	e.readF = e.readFn
	e.writeF = e.writeFn
	return e, nil
}

// Ifindex is the interface index the socket is bound to.
func (e *AFPacket) Ifindex() int { return e.ifindex }

// MTU returns the interface's MTU (without the Ethernet header).
func (e *AFPacket) MTU() int { return e.mtu }

// LinkType is TypeEthernet.
func (e *AFPacket) LinkType() Type { return TypeEthernet }

// openTxSocket opens the send-only socket (see AFPacket.tx) with the
// options of the main one that matter for sending; -1 on any failure.
func openTxSocket(ifindex int, opt AFPacketOptions, buf int) int {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	ok := opt.UseQdisc || unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1) == nil
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, buf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, buf)
	}
	if opt.Offload {
		ok = ok && unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	}
	ok = ok && unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: ifindex}) == nil
	if !ok {
		unix.Close(fd)
		return -1
	}
	return fd
}

// send runs sendmmsg on the messages set up in whdr: on the send-only
// socket, waiting in poll(2) while its buffer is full, or else through
// the poller on the main one.
func (e *AFPacket) send() error {
	if e.tx < 0 {
		return e.rc.Write(e.writeF)
	}
	e.txMu.RLock()
	defer e.txMu.RUnlock()
	for {
		if e.closed.Load() {
			return ErrClosed
		}
		if e.writeFn(uintptr(e.tx)) {
			return nil
		}
		// Full: wait for room, waking now and then to notice Close.
		_, _ = unix.Poll(e.txPfd[:], 100)
	}
}

// Close closes the socket and unblocks a pending ReadPackets.
func (e *AFPacket) Close() error {
	e.closed.Store(true)
	if e.tx >= 0 {
		// Senders check closed under the shared lock, so none uses the
		// descriptor after this.
		e.txMu.Lock()
		if !e.txClosed {
			unix.Close(e.tx)
			e.txClosed = true
		}
		e.txMu.Unlock()
	}
	err := e.f.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// Drops returns how many frames the kernel dropped for this socket since
// it was opened because they were not read fast enough (its receive
// buffer was full): losses no forwarder counter would otherwise show.
func (e *AFPacket) Drops() uint64 {
	var st *unix.TpacketStats
	_ = e.rc.Control(func(fd uintptr) {
		st, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if st != nil {
		return e.drops.Add(uint64(st.Drops))
	}
	return e.drops.Load()
}

func (e *AFPacket) readFn(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&e.rhdr[0])),
		uintptr(e.rwant), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	if errno != 0 {
		e.rn, e.rerr = 0, errno
		return true
	}
	e.rn, e.rerr = int(n), nil
	return true
}

// GSOCounts returns how many super-frames were written (our segments
// coalesced for the kernel to split) and read (kernel GSO/GRO frames split
// here) with Offload on.
func (e *AFPacket) GSOCounts() (written, read uint64) { return e.gsoOut.Load(), e.gsoIn.Load() }

// ReadPackets reads up to len(bufs) frames (at most 128 per call).
func (e *AFPacket) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	want := min(len(bufs), len(sizes), afpacketMaxBatch)
	if want == 0 {
		return 0, nil
	}
	if e.vnet {
		return e.readVnet(bufs[:want], sizes[:want])
	}
	for i := range want {
		e.riov[i].Base = unsafe.SliceData(bufs[i])
		e.riov[i].SetLen(len(bufs[i]))
		e.rhdr[i].Len = 0
	}
	e.rwant = want
	if err := e.recv(); err != nil {
		return 0, err
	}
	for i := range e.rn {
		sizes[i] = min(int(e.rhdr[i].Len), len(bufs[i]))
		e.riov[i].Base = nil
	}
	return e.rn, nil
}

// ReadPacketsOffload implements OffloadReader for an endpoint opened with
// Offload: up to 128 frames per call, each received straight into its
// buffer (one copy, the kernel's) with GSO/GRO super-frames kept whole.
// Without Offload it is ReadPackets with no flags set. Do not mix it with
// ReadPackets on one endpoint: super-frames ReadPackets has received but
// not yet split would be lost.
func (e *AFPacket) ReadPacketsOffload(bufs [][]byte, sizes []int, flags []PacketFlags) (int, error) {
	want := min(len(bufs), len(sizes), len(flags), afpacketMaxBatch)
	if want == 0 {
		return 0, nil
	}
	if !e.vnet {
		n, err := e.ReadPackets(bufs[:want], sizes[:want])
		clear(flags[:n])
		return n, err
	}
	for {
		for i := range want {
			e.roiv[2*i].Base = &e.rvh[i][0]
			e.roiv[2*i].SetLen(vnetHdrLen)
			e.roiv[2*i+1].Base = unsafe.SliceData(bufs[i])
			e.roiv[2*i+1].SetLen(len(bufs[i]))
			e.rhdr[i].Hdr.Iov = &e.roiv[2*i]
			e.rhdr[i].Hdr.Iovlen = 2
			e.rhdr[i].Hdr.Flags = 0
			e.rhdr[i].Len = 0
		}
		e.rwant = want
		err := e.recv()
		got := e.rn
		for i := range want {
			e.roiv[2*i+1].Base = nil
			e.rhdr[i].Hdr.Iov = &e.riov[i]
			e.rhdr[i].Hdr.Iovlen = 1
		}
		if err != nil {
			return 0, err
		}
		n := 0
		for i := range got {
			l := int(e.rhdr[i].Len) - vnetHdrLen
			if e.rhdr[i].Hdr.Flags&unix.MSG_TRUNC != 0 || l < header.EthernetHeaderLen || l > len(bufs[i]) {
				continue // truncated or runt: dropped, as a NIC drops it
			}
			f, err := acceptVnet(e.rvh[i][:], bufs[i][:l], header.EthernetHeaderLen)
			if err != nil {
				continue
			}
			if e.rvh[i][1]&^vnetGSOECN != vnetGSONone {
				e.gsoIn.Add(1)
			}
			bufs[n], bufs[i] = bufs[i], bufs[n]
			sizes[n], flags[n] = l, f
			n++
		}
		if n > 0 {
			return n, nil
		}
	}
}

// readVnet receives frames with virtio-net headers into the slots and
// splits them into bufs; a super-frame that does not fit in what is left
// of bufs waits for the next call. A frame that cannot be parsed or split
// is dropped, as a NIC drops a bad frame.
func (e *AFPacket) readVnet(bufs [][]byte, sizes []int) (int, error) {
	for {
		if e.rnext == e.rcount {
			for i := range e.rslot {
				e.riov[i].Base = unsafe.SliceData(e.rslot[i])
				e.riov[i].SetLen(len(e.rslot[i]))
				e.rhdr[i].Len = 0
			}
			e.rwant = len(e.rslot)
			if err := e.recv(); err != nil {
				return 0, err
			}
			for i := range e.rn {
				e.rlen[i] = min(int(e.rhdr[i].Len), len(e.rslot[i]))
			}
			e.rnext, e.rcount = 0, e.rn
		}
		n := 0
		for e.rnext < e.rcount {
			f := e.rslot[e.rnext][:e.rlen[e.rnext]]
			if n > 0 && vnetSegments(f, header.EthernetHeaderLen) > len(bufs)-n {
				break
			}
			e.rnext++
			k, err := splitVnetFrame(f, header.EthernetHeaderLen, bufs[n:], sizes[n:])
			if err != nil {
				continue
			}
			if k > 1 {
				e.gsoIn.Add(1)
			}
			n += k
		}
		if n > 0 {
			return n, nil
		}
	}
}

// recv runs recvmmsg on the rwant messages set up in rhdr, blocking in
// the poller until at least one frame arrives.
func (e *AFPacket) recv() error {
	for {
		err := e.rc.Read(e.readF)
		if err != nil {
			return e.mapErr(err)
		}
		if e.rerr != nil {
			return fmt.Errorf("afpacket recvmmsg: %w", e.rerr)
		}
		if e.rn > 0 {
			return nil
		}
	}
}

func (e *AFPacket) writeFn(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&e.whdr[e.wn])),
		uintptr(e.wwant-e.wn), 0, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	if errno != 0 {
		e.werr = errno
		return true
	}
	e.wn += int(n)
	return e.wn >= e.wwant
}

// WritePackets sends pkts in order. If the kernel refuses a frame (too
// big, or ENOBUFS from a full device) it returns the number sent before it
// and the error; the caller may skip that frame and go on.
func (e *AFPacket) WritePackets(pkts [][]byte) (int, error) {
	if e.vnet {
		return e.writeVnet(pkts)
	}
	sent := 0
	for sent < len(pkts) {
		want := min(len(pkts)-sent, afpacketMaxBatch)
		for i := range want {
			p := pkts[sent+i]
			e.wiov[i].Base = unsafe.SliceData(p)
			e.wiov[i].SetLen(len(p))
		}
		e.wwant, e.wn, e.werr = want, 0, nil
		err := e.send()
		for i := range want {
			e.wiov[i].Base = nil
		}
		sent += e.wn
		if err != nil {
			return sent, e.mapErr(err)
		}
		if e.werr != nil {
			return sent, fmt.Errorf("afpacket sendmmsg: %w", e.werr)
		}
	}
	return sent, nil
}

func (e *AFPacket) mapErr(err error) error {
	// The poller reports a closed file as "use of closed file", which is
	// not os.ErrClosed; the flag tells.
	if e.closed.Load() || errors.Is(err, os.ErrClosed) {
		return ErrClosed
	}
	return err
}

// writeVnet sends pkts with virtio-net headers, coalescing runs of
// consecutive segments of one TCP flow into TSO super-frames
// (coalesceFrames, buildGSOFrame): one message per run, up to 128
// messages per sendmmsg. If the kernel refuses a message it returns the
// number of packets in the messages sent before it and the error.
func (e *AFPacket) writeVnet(pkts [][]byte) (int, error) {
	const l2 = header.EthernetHeaderLen
	sent := 0
	for sent < len(pkts) {
		msgs, used, off := 0, 0, 0
		for sent+used < len(pkts) && msgs < afpacketMaxBatch {
			rest := pkts[sent+used:]
			n, iphl, hl := 1, 0, 0
			if e.coalesce {
				n, iphl, hl = coalesceFrames(rest, l2)
			}
			need := vnetHdrLen + len(rest[0])
			if n > 1 {
				need = vnetHdrLen + l2 + hl
				for _, q := range rest[:n] {
					need += len(q) - l2 - hl
				}
			}
			if off+need > len(e.warena) {
				if msgs > 0 {
					break
				}
				// A frame larger than any the device takes: let the
				// kernel refuse it.
				n, need = 1, min(need, len(e.warena))
			}
			w := e.warena[off : off+need]
			if n > 1 {
				w = w[:buildGSOFrame(w, rest[:n], l2, iphl, hl)]
				e.gsoOut.Add(1)
			} else {
				clear(w[:vnetHdrLen])
				w = w[:vnetHdrLen+copy(w[vnetHdrLen:], rest[0])]
			}
			e.wiov[msgs].Base = unsafe.SliceData(w)
			e.wiov[msgs].SetLen(len(w))
			e.wcnt[msgs] = n
			msgs++
			used += n
			off += len(w)
		}
		e.wwant, e.wn, e.werr = msgs, 0, nil
		err := e.send()
		for i := range msgs {
			e.wiov[i].Base = nil
		}
		for _, c := range e.wcnt[:e.wn] {
			sent += c
		}
		if err != nil {
			return sent, e.mapErr(err)
		}
		if e.werr != nil {
			return sent, fmt.Errorf("afpacket sendmmsg: %w", e.werr)
		}
	}
	return sent, nil
}

// tsoOn reports whether the interface has TCP segmentation offload on
// (ETHTOOL_GTSO through SIOCETHTOOL on the socket fd); false if it cannot
// tell.
func tsoOn(fd int, ifname string) bool {
	val := struct{ cmd, data uint32 }{cmd: unix.ETHTOOL_GTSO}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&val)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	return errno == 0 && val.data != 0
}
