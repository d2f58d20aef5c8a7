//go:build linux

package link

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TUNOptions configure OpenTUN.
type TUNOptions struct {
	// MTU sets the device MTU if non-zero (else the device's MTU, 1500 by
	// default, is used).
	MTU int
	// Offload opens the device with the virtio-net header (IFF_VNET_HDR)
	// and lets the kernel hand over TSO/GRO super-packets with partial
	// checksums (TUNSETOFFLOAD TUN_F_CSUM|TSO4|TSO6): one read then brings
	// up to 64 KiB of TCP data, which ReadPackets splits into MTU-sized
	// packets with complete checksums, so callers see ordinary packets.
	Offload bool
}

// TUN is an Endpoint on a Linux TUN device (/dev/net/tun, IFF_TUN |
// IFF_NO_PI): it reads and writes bare IP packets. The device lives in the
// network namespace of the thread that opened it; the file descriptor is
// non-blocking and served by the Go runtime's poller, so Close unblocks a
// pending read. The kernel computes checksums before it hands packets to
// a TUN without the virtio-net header, so packets arrive complete.
type TUN struct {
	f    *os.File
	name string
	mtu  int

	vnet   bool
	closed atomic.Bool // set by Close: the RawConn reports "use of closed file", not os.ErrClosed
	rbuf   []byte      // one super-packet with its virtio-net header
	// Counters (reader- and writer-owned, read with atomic loads).
	gsoOut, gsoIn atomic.Uint64
	wbuf          []byte // virtio-net header + one packet

	// ReadPacketsOffload state (reader only): readv into a virtio-net
	// header and the caller's buffer.
	rc     syscall.RawConn
	rvh    [vnetHdrLen]byte
	riov   [2]unix.Iovec
	rblock bool // wait in the poller for this packet
	rn     int  // bytes read, or -1 if none was ready
	rerr   error
	readvF func(fd uintptr) bool
}

var (
	_ Endpoint      = (*TUN)(nil)
	_ OffloadReader = (*TUN)(nil)
)

// ifreq is struct ifreq with the union as flags or an int.
type ifreq struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

type ifreqMTU struct {
	name [unix.IFNAMSIZ]byte
	mtu  int32
	_    [20]byte
}

// OpenTUN creates (or attaches to) the TUN device name in the calling
// thread's network namespace. The device is created down; bring it up and
// address it with ip(8) or netlink.
func OpenTUN(name string, opt TUNOptions) (*TUN, error) {
	if len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("tun %q: name too long", name)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req ifreq
	copy(req.name[:], name)
	req.flags = unix.IFF_TUN | unix.IFF_NO_PI
	if opt.Offload {
		req.flags |= unix.IFF_VNET_HDR
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("tun %s: TUNSETIFF: %w", name, errno)
	}
	if opt.Offload {
		const tunFTSO6 = 0x4
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETOFFLOAD,
			uintptr(unix.TUN_F_CSUM|unix.TUN_F_TSO4|tunFTSO6)); errno != 0 {
			unix.Close(fd)
			return nil, fmt.Errorf("tun %s: TUNSETOFFLOAD: %w", name, errno)
		}
	}
	t := &TUN{f: os.NewFile(uintptr(fd), "/dev/net/tun"), name: name, vnet: opt.Offload}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.f.Close()
		return nil, fmt.Errorf("tun %s: %w", name, err)
	}
	t.readvF = t.readvFn
	if t.vnet {
		t.rbuf = make([]byte, vnetHdrLen+65535)
		t.wbuf = make([]byte, vnetHdrLen+65535)
	}
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.f.Close()
		return nil, fmt.Errorf("tun %s: control socket: %w", name, err)
	}
	defer unix.Close(s)
	var mr ifreqMTU
	copy(mr.name[:], name)
	if opt.MTU > 0 {
		mr.mtu = int32(opt.MTU)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s), unix.SIOCSIFMTU, uintptr(unsafe.Pointer(&mr))); errno != 0 {
			t.f.Close()
			return nil, fmt.Errorf("tun %s: set MTU %d: %w", name, opt.MTU, errno)
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(s), unix.SIOCGIFMTU, uintptr(unsafe.Pointer(&mr))); errno != 0 {
		t.f.Close()
		return nil, fmt.Errorf("tun %s: get MTU: %w", name, errno)
	}
	t.mtu = int(mr.mtu)
	return t, nil
}

// GSOCounts returns how many super-packets were written (our segments
// coalesced for the kernel to split) and read (kernel GSO/GRO packets
// split here) with offloads on.
func (t *TUN) GSOCounts() (written, read uint64) { return t.gsoOut.Load(), t.gsoIn.Load() }

// Name returns the device name.
func (t *TUN) Name() string { return t.name }

// ReadPackets implements Endpoint. It blocks for the first packet and then
// takes whatever else is ready without blocking, up to len(bufs).
func (t *TUN) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	if t.vnet {
		return t.readVnet(bufs, sizes)
	}
	n := 0
	for n < len(bufs) {
		if n > 0 {
			// Only wait for the first packet.
			k, err := t.readNonblock(bufs[n])
			if err != nil || k < 0 {
				break
			}
			sizes[n] = k
			n++
			continue
		}
		k, err := t.f.Read(bufs[0])
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("tun %s read: %w", t.name, err)
		}
		sizes[0] = k
		n = 1
	}
	return n, nil
}

// writeVnet writes pkts with virtio-net headers, coalescing runs of
// consecutive segments of one TCP flow into GSO super-packets that the
// kernel segments again (TSO the other way round): one write per run.
func (t *TUN) writeVnet(pkts [][]byte) (int, error) {
	for i := 0; i < len(pkts); {
		n, iphl, hl := coalesceTCP(pkts[i:])
		var w []byte
		if n > 1 {
			w = t.wbuf[:buildGSO(t.wbuf, pkts[i:i+n], iphl, hl)]
			t.gsoOut.Add(1)
		} else {
			clear(t.wbuf[:vnetHdrLen])
			w = t.wbuf[:vnetHdrLen+copy(t.wbuf[vnetHdrLen:], pkts[i])]
		}
		if _, err := t.f.Write(w); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return i, ErrClosed
			}
			if !errors.Is(err, unix.EINVAL) {
				return i, fmt.Errorf("tun %s write: %w", t.name, err)
			}
		}
		i += n
	}
	return len(pkts), nil
}

// readVnet reads one packet with its virtio-net header and turns it into
// ordinary packets: a partial checksum is completed, a GSO super-packet
// is split into gso_size segments.
func (t *TUN) readVnet(bufs [][]byte, sizes []int) (int, error) {
	for {
		k, err := t.f.Read(t.rbuf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("tun %s read: %w", t.name, err)
		}
		n, err := splitVnet(t.rbuf[:k], bufs, sizes)
		if n > 1 {
			t.gsoIn.Add(1)
		}
		if err == nil && n > 0 {
			return n, nil
		}
		// A packet we cannot make sense of is dropped, as a NIC would.
	}
}

// ReadPacketsOffload implements OffloadReader: it blocks for the first
// packet, then takes whatever else is ready, each read straight into its
// buffer with a GSO super-packet kept whole. Without Offload it is
// ReadPackets with no flags set.
func (t *TUN) ReadPacketsOffload(bufs [][]byte, sizes []int, flags []PacketFlags) (int, error) {
	want := min(len(bufs), len(sizes), len(flags))
	if want == 0 {
		return 0, nil
	}
	if !t.vnet {
		n, err := t.ReadPackets(bufs[:want], sizes[:want])
		clear(flags[:n])
		return n, err
	}
	n := 0
	for n < want {
		t.riov[0].Base = &t.rvh[0]
		t.riov[0].SetLen(vnetHdrLen)
		t.riov[1].Base = unsafe.SliceData(bufs[n])
		t.riov[1].SetLen(len(bufs[n]))
		t.rblock = n == 0
		err := t.rc.Read(t.readvF)
		t.riov[1].Base = nil
		if err == nil {
			err = t.rerr
		}
		if err != nil {
			if n > 0 {
				break // report it on the next call
			}
			if t.closed.Load() || errors.Is(err, os.ErrClosed) {
				return 0, ErrClosed
			}
			return 0, fmt.Errorf("tun %s read: %w", t.name, err)
		}
		if t.rn < 0 {
			break // nothing more ready
		}
		l := t.rn - vnetHdrLen
		if l <= 0 || l > len(bufs[n]) {
			continue // runt, or truncated: dropped
		}
		f, err := acceptVnet(t.rvh[:], bufs[n][:l], 0)
		if err != nil {
			continue
		}
		if t.rvh[1]&^vnetGSOECN != vnetGSONone {
			t.gsoIn.Add(1)
		}
		sizes[n], flags[n] = l, f
		n++
	}
	return n, nil
}

func (t *TUN) readvFn(fd uintptr) bool {
	k, _, errno := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&t.riov[0])), 2)
	switch {
	case errno == unix.EAGAIN:
		if t.rblock {
			return false // wait in the poller
		}
		t.rn, t.rerr = -1, nil
	case errno == unix.EINTR:
		return false
	case errno != 0:
		t.rn, t.rerr = -1, errno
	default:
		t.rn, t.rerr = int(k), nil
	}
	return true
}

// readNonblock reads one packet if one is ready; it returns -1 if none is.
func (t *TUN) readNonblock(b []byte) (int, error) {
	rc, err := t.f.SyscallConn()
	if err != nil {
		return -1, err
	}
	n := -1
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		k, e := unix.Read(int(fd), b)
		if e == unix.EAGAIN {
			return true // do not wait
		}
		n, rerr = k, e
		return true
	})
	if err != nil {
		return -1, err
	}
	return n, rerr
}

// WritePackets implements Endpoint: one write per packet (with an empty
// virtio-net header when offloads are on).
func (t *TUN) WritePackets(pkts [][]byte) (int, error) {
	if t.vnet {
		return t.writeVnet(pkts)
	}
	for i, p := range pkts {
		w := p
		if _, err := t.f.Write(w); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return i, ErrClosed
			}
			// The kernel refuses malformed packets (EINVAL); keep going
			// with the rest as a device would drop the bad one.
			if errors.Is(err, unix.EINVAL) {
				continue
			}
			return i, fmt.Errorf("tun %s write: %w", t.name, err)
		}
	}
	return len(pkts), nil
}

// MTU implements Endpoint.
func (t *TUN) MTU() int { return t.mtu }

// LinkType implements Endpoint.
func (t *TUN) LinkType() Type { return TypeIP }

// Close implements Endpoint.
func (t *TUN) Close() error {
	t.closed.Store(true)
	return t.f.Close()
}
