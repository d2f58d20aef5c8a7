// Package netdev opens a network device for the userspace stack to own:
// an Ethernet interface through AF_PACKET (the stack sends and receives
// whole frames and answers ARP and neighbour discovery for its own
// addresses) or a TUN device (the kernel is the peer on the other side),
// with the stack's addresses, gateways, MTU and offloads.
//
// The kernel must not have the stack's addresses: it would take the
// peer's segments as its own and answer them with RSTs. Open refuses an
// address the kernel has on any interface of the namespace
// (ErrKernelAddr).
//
//	d, err := netdev.Open(netdev.Config{Name: "wifi", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.1.1/24")},
//		Gateway4: netip.MustParseAddr("198.18.1.2")})
//	st := stack.New(stack.Options{})
//	err = d.Attach(st) // st.AddInterface with the device's endpoint and config
package netdev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/stack"
	"golang.org/x/sys/unix"
)

// Errors callers act on (wrapped with the details).
var (
	// ErrKernelAddr: one of the stack's addresses belongs to the kernel.
	ErrKernelAddr = errors.New("netdev: address owned by the kernel")
	// ErrNoDevice: the device does not exist (or, for AF_PACKET, is not
	// an Ethernet interface).
	ErrNoDevice = errors.New("netdev: no such device")
	// ErrDown: the Ethernet interface is down.
	ErrDown = errors.New("netdev: interface down")
	// ErrConfig: the configuration is inconsistent.
	ErrConfig = errors.New("netdev: bad config")
)

// Config describes a device for the stack.
type Config struct {
	// Name is the device: an Ethernet interface (AF_PACKET), or with TUN
	// a TUN device (attached if it exists persistently, else created).
	Name string
	TUN  bool
	// MAC is the stack's Ethernet address (zero: the interface's own).
	MAC header.MAC
	// Addrs are the stack's addresses with their on-link prefixes (at most
	// one IPv4 and one IPv6).
	Addrs []netip.Prefix
	// Gateway4 and Gateway6 are default routers through this device
	// (invalid: only the prefixes of Addrs are reachable through it).
	Gateway4, Gateway6 netip.Addr
	// MTU lowers the device's MTU for the stack (0: the device's).
	MTU int
	// Offload exchanges virtio-net headers with the kernel
	// (PACKET_VNET_HDR, IFF_VNET_HDR): the device may keep TSO/GSO/GRO on.
	// Without it an Ethernet interface must have them off.
	Offload bool
}

// Validate checks the configuration without looking at the system.
func (c *Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("%w: no device name", ErrConfig)
	}
	if len(c.Addrs) == 0 {
		return fmt.Errorf("%w: %s has no address", ErrConfig, c.Name)
	}
	var have4, have6 bool
	for _, p := range c.Addrs {
		if !p.IsValid() {
			return fmt.Errorf("%w: %s: invalid prefix", ErrConfig, c.Name)
		}
		if p.Addr().Is4() {
			if have4 {
				return fmt.Errorf("%w: %s: at most one IPv4 address", ErrConfig, c.Name)
			}
			have4 = true
		} else {
			if have6 {
				return fmt.Errorf("%w: %s: at most one IPv6 address", ErrConfig, c.Name)
			}
			have6 = true
		}
	}
	switch {
	case c.Gateway4.IsValid() && (!c.Gateway4.Is4() || !have4):
		return fmt.Errorf("%w: %s: gateway %v without an IPv4 address", ErrConfig, c.Name, c.Gateway4)
	case c.Gateway6.IsValid() && (!c.Gateway6.Is6() || !have6):
		return fmt.Errorf("%w: %s: gateway %v without an IPv6 address", ErrConfig, c.Name, c.Gateway6)
	case c.TUN && c.MAC != header.MAC{}:
		return fmt.Errorf("%w: %s: a TUN device has no MAC", ErrConfig, c.Name)
	case c.MTU < 0 || c.MTU > 0 && c.MTU < 576:
		return fmt.Errorf("%w: %s: MTU %d: want 0 or at least 576", ErrConfig, c.Name, c.MTU)
	}
	return nil
}

// Device is an open device: its endpoint and the stack's configuration
// for it.
type Device struct {
	cfg Config
	ep  link.Endpoint
	// Warnings are problems that do not stop the device from working but
	// probably stop the peer from reaching it (a TUN device without a
	// kernel address in the stack's prefix).
	Warnings []string
}

// Open checks that the kernel does not have cfg's addresses and opens the
// device (a TUN device is brought up).
func Open(cfg Config) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &Device{cfg: cfg}
	if !cfg.TUN {
		ifc, err := net.InterfaceByName(cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w (%v)", cfg.Name, ErrNoDevice, err)
		}
		if ifc.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("interface %s: %w (ip link set %s up)", cfg.Name, ErrDown, cfg.Name)
		}
		if err := CheckKernelAddrs(cfg.Addrs); err != nil {
			return nil, err
		}
		if d.cfg.MAC == (header.MAC{}) {
			if len(ifc.HardwareAddr) != 6 {
				return nil, fmt.Errorf("interface %s has no Ethernet address: %w (a TUN device needs TUN; or give a MAC)", cfg.Name, ErrNoDevice)
			}
			copy(d.cfg.MAC[:], ifc.HardwareAddr)
		}
		ep, err := link.OpenAFPacket(cfg.Name, link.AFPacketOptions{Offload: cfg.Offload})
		if err != nil {
			return nil, permHint(err)
		}
		d.ep = ep
		return d, nil
	}
	if err := CheckKernelAddrs(cfg.Addrs); err != nil {
		return nil, err
	}
	t, err := link.OpenTUN(cfg.Name, link.TUNOptions{Offload: cfg.Offload})
	if err != nil {
		return nil, permHint(err)
	}
	if err := setLinkUp(cfg.Name); err != nil {
		t.Close()
		return nil, fmt.Errorf("tun %s: bring up: %w", cfg.Name, err)
	}
	d.ep = t
	if !kernelHasPrefixOn(cfg.Name, cfg.Addrs) {
		d.Warnings = append(d.Warnings, fmt.Sprintf("the kernel has no address in %v on the TUN device: it cannot reach us (ip addr add ADDR/LEN dev %s)", cfg.Addrs, cfg.Name))
	}
	return d, nil
}

// Config returns the device's configuration, completed (the MAC).
func (d *Device) Config() Config { return d.cfg }

// Endpoint returns the device's packet endpoint.
func (d *Device) Endpoint() link.Endpoint { return d.ep }

// InterfaceConfig is the stack's configuration for the device.
func (d *Device) InterfaceConfig() stack.InterfaceConfig {
	return stack.InterfaceConfig{Name: d.cfg.Name, MAC: d.cfg.MAC, Addrs: d.cfg.Addrs,
		Gateway4: d.cfg.Gateway4, Gateway6: d.cfg.Gateway6, MTU: d.cfg.MTU}
}

// Attach gives the device to st (the stack closes the endpoint when it
// closes). On error the device is closed.
func (d *Device) Attach(st *stack.Stack) error {
	if err := st.AddInterface(d.ep, d.InterfaceConfig()); err != nil {
		d.ep.Close()
		return fmt.Errorf("%s: %w", d.cfg.Name, err)
	}
	return nil
}

// Close closes the endpoint (for a device never attached).
func (d *Device) Close() error { return d.ep.Close() }

// Counters are the device's drop and offload counters.
type Counters struct {
	KernelDrops uint64 // AF_PACKET receive queue drops (the kernel's count)
	SuperOut    uint64 // GSO super-frames written (Offload)
	SuperIn     uint64 // GRO super-frames read whole or split (Offload)
}

// Counters returns the device's counters.
func (d *Device) Counters() Counters {
	var c Counters
	switch ep := d.ep.(type) {
	case *link.AFPacket:
		c.KernelDrops = ep.Drops()
		c.SuperOut, c.SuperIn = ep.GSOCounts()
	case *link.TUN:
		c.SuperOut, c.SuperIn = ep.GSOCounts()
	}
	return c
}

func permHint(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (needs root or CAP_NET_RAW/CAP_NET_ADMIN)", err)
	}
	return err
}

// CheckKernelAddrs refuses an address the kernel has on any interface of
// this namespace (ErrKernelAddr): the kernel would take the stack's
// peer's segments as its own and answer them with RSTs (weak host model:
// any interface counts). It says nothing when the interfaces cannot be
// listed.
func CheckKernelAddrs(addrs []netip.Prefix) error {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	for _, ifc := range ifs {
		as, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range as {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			for _, p := range addrs {
				if p.Addr() != ip {
					continue
				}
				ones, _ := ipn.Mask.Size()
				return fmt.Errorf("%v is the kernel's address on %s: the kernel would answer our peer's segments with RSTs; "+
					"give the stack an address the kernel does not have, or remove it (ip addr del %v/%d dev %s; a lab made with --client user has none): %w",
					ip, ifc.Name, ip, ones, ifc.Name, ErrKernelAddr)
			}
		}
	}
	return nil
}

// kernelHasPrefixOn reports whether the kernel has an address on dev in
// one of the prefixes (a TUN device's other end).
func kernelHasPrefixOn(dev string, addrs []netip.Prefix) bool {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return false
	}
	as, _ := ifc.Addrs()
	for _, a := range as {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok {
				for _, p := range addrs {
					if p.Masked().Contains(ip.Unmap()) {
						return true
					}
				}
			}
		}
	}
	return false
}

// setLinkUp sets IFF_UP on dev (a TUN device is created down).
func setLinkUp(dev string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	if ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// LinkUp reports whether the kernel's interface dev is operational (up,
// with a carrier: IFF_UP and IFF_RUNNING), as seen from the calling
// thread's network namespace.
func LinkUp(dev string) (bool, error) {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return false, fmt.Errorf("link %s: %w", dev, err)
	}
	return ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagRunning != 0, nil
}

// WatchLink polls dev's state every interval (100 ms if zero) until ctx
// ends, and calls changed with the new state at each change (not for the
// state it starts in). A stack that owns an interface is not told by the
// kernel when it goes down; its MPTCP host needs to know to close or park
// the subflows over it and bring them back (mptcp.Host.AddrDown, AddrUp).
// It blocks; an interface that disappears counts as down.
func WatchLink(ctx context.Context, dev string, interval time.Duration, changed func(up bool)) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	// The state it starts in is not news (a veth just brought up may take
	// a moment to be running). A link must look down twice in a row to
	// count as down: a moment without carrier is not worth closing
	// subflows over.
	was, err := LinkUp(dev)
	if err != nil {
		was = false
	}
	downs := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		up, err := LinkUp(dev)
		if err != nil {
			up = false
		}
		if up {
			downs = 0
		} else if downs++; downs < 2 {
			continue
		}
		if up != was {
			was = up
			changed(up)
		}
	}
}
