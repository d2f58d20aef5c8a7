//go:build linux

package link

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

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
}

// AFPacket is an Endpoint on a network interface through an AF_PACKET raw
// socket: it reads and writes whole Ethernet frames, many per system call
// (recvmmsg/sendmmsg). The socket lives in the network namespace of the
// thread that opened it, whatever thread uses it later. Reads block in the
// Go runtime's poller, so Close unblocks them.
//
// Frames must not exceed the buffers given to ReadPackets: turn off
// GRO/GSO/TSO on the interface (ethtool -K DEV gro off gso off tso off) or
// the kernel hands over merged super-frames that are truncated.
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

	// Writer state, used only inside writeFn.
	whdr   [afpacketMaxBatch]unix.Mmsghdr
	wiov   [afpacketMaxBatch]unix.Iovec
	wwant  int
	wn     int
	werr   error
	writeF func(fd uintptr) bool
}

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
	e := &AFPacket{f: f, rc: rc, ifindex: ifi.Index, mtu: ifi.MTU}
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

// Close closes the socket and unblocks a pending ReadPackets.
func (e *AFPacket) Close() error {
	e.closed.Store(true)
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

// ReadPackets reads up to len(bufs) frames (at most 128 per call).
func (e *AFPacket) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	want := min(len(bufs), len(sizes), afpacketMaxBatch)
	if want == 0 {
		return 0, nil
	}
	for i := range want {
		e.riov[i].Base = unsafe.SliceData(bufs[i])
		e.riov[i].SetLen(len(bufs[i]))
		e.rhdr[i].Len = 0
	}
	e.rwant = want
	for {
		err := e.rc.Read(e.readF)
		if err != nil {
			return 0, e.mapErr(err)
		}
		if e.rerr != nil {
			return 0, fmt.Errorf("afpacket recvmmsg: %w", e.rerr)
		}
		if e.rn > 0 {
			break
		}
	}
	for i := range e.rn {
		sizes[i] = min(int(e.rhdr[i].Len), len(bufs[i]))
		e.riov[i].Base = nil
	}
	return e.rn, nil
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
	sent := 0
	for sent < len(pkts) {
		want := min(len(pkts)-sent, afpacketMaxBatch)
		for i := range want {
			p := pkts[sent+i]
			e.wiov[i].Base = unsafe.SliceData(p)
			e.wiov[i].SetLen(len(p))
		}
		e.wwant, e.wn, e.werr = want, 0, nil
		err := e.rc.Write(e.writeF)
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
