package lab

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/mptcp-go/mptcp/link/emu"
)

// Side names one end of the lab.
type Side string

// The two ends of every path.
const (
	Client Side = "client"
	Server Side = "server"
)

// Mode says who drives a side's interfaces.
type Mode string

const (
	// Kernel: the side's interfaces carry the lab addresses, the kernel's
	// MPTCP is on with endpoints and limits that use every path.
	Kernel Mode = "kernel"
	// User: the interfaces are up but have no addresses (and IPv6 is off),
	// so a userspace stack can own them through AF_PACKET and use the
	// addresses ClientAddr/ServerAddr report without the kernel answering.
	User Mode = "user"
)

// LinkSpec is one direction's impairments (see emu.Spec): Rate in bits/s,
// Delay, Jitter, Loss, Burst (Gilbert-Elliott), Reorder, QueueLimit and
// scheduled Events.
type LinkSpec = emu.Spec

// PathSpec is one path between client and server.
type PathSpec struct {
	// Name is the path's name and the name of its interface in the client
	// and server namespaces (at most 15 bytes: [a-z0-9_-], starting with a
	// letter). Empty: "wifi", "cellular", then "path3", "path4"...
	Name string `json:"name"`
	// Up is the client-to-server direction, Down server-to-client. When
	// both are zero the path is a plain kernel bridge.
	Up   LinkSpec `json:"up,omitzero"`
	Down LinkSpec `json:"down,omitzero"`
	// Emulate runs the emulator even when Up and Down impose nothing
	// (to measure its cost, or to take the path down from a test).
	Emulate bool `json:"emulate,omitempty"`
}

// Symmetric returns a path with the same impairments both ways.
func Symmetric(name string, s LinkSpec) PathSpec { return PathSpec{Name: name, Up: s, Down: s} }

// Emulated reports whether the path needs the emulator (rather than a
// bridge).
func (p PathSpec) Emulated() bool { return p.Emulate || !p.Up.IsZero() || !p.Down.IsZero() }

// Config describes a lab.
type Config struct {
	// Name is the lab's name: namespaces are "<Name>-cli", "<Name>-srv" and
	// "<Name>-p<i>". At most 40 bytes of [a-zA-Z0-9_-].
	Name string
	// Paths between client and server; two unimpaired paths ("wifi",
	// "cellular") if empty. At most MaxPaths.
	Paths []PathSpec
	// ClientMode and ServerMode: Kernel (default) or User.
	ClientMode, ServerMode Mode
	// Offload keeps TSO/GSO/GRO and checksum offload on the client and
	// server interfaces of bridged paths (captures then show super-frames).
	// Emulated paths always have them off: the emulator must see wire-sized
	// frames with complete checksums.
	Offload bool
	// IPv6 adds ULA addresses fd00:198:18:i::1/64 (client) and ::2
	// (server) on path i, with the same routing and MPTCP endpoints as
	// IPv4. Off by default: IPv6 is disabled in lab namespaces so captures
	// carry no neighbour-discovery noise.
	IPv6 bool
	// Announce gives a Kernel server one "signal" endpoint per additional
	// path: it announces path i's address (i >= 2) with ADD_ADDR on every
	// connection (to see ADD_ADDR on the wire; the kernel client's own
	// "subflow" endpoints already join every path).
	Announce bool
	// CongestionControl, if set, is the kernel's TCP congestion control in
	// the client and server namespaces (net.ipv4.tcp_congestion_control:
	// "cubic", "reno", "bbr", ...). Empty leaves what a new namespace
	// inherits from the host's setting, which need not be Linux's own
	// default (cubic): a comparison with our stack should name it. Outside
	// the host's namespace Linux takes as default only an algorithm of
	// net.ipv4.tcp_allowed_congestion_control (Up fails otherwise);
	// TCP_CONGESTION on each socket has no such limit for root (what
	// package bench does).
	CongestionControl string
	// Seed seeds the emulators' random sources (path i uses Seed+2i).
	Seed uint64
	// EmulatorCommand, when set, runs each emulated path's forwarder as a
	// separate long-lived process instead of goroutines of this process:
	// the lab runs EmulatorCommand followed by "--state-dir DIR NAME PATH"
	// inside the path's middle namespace, detached, and records its PID;
	// the command is expected to call RunEmulator. The CLI uses this so
	// that a lab outlives "mptcp lab up".
	EmulatorCommand []string
	// StateDir holds one directory per lab (DefaultStateDir if empty).
	StateDir string
	// Logger receives progress and non-fatal errors (nil: discard).
	Logger *slog.Logger
}

// MaxPaths is the most paths a lab can have.
const MaxPaths = 32

// DefaultStateDir is where labs record what they made.
const DefaultStateDir = "/run/mptcp-lab"

// ErrBadConfig is wrapped by every error about a Config's values.
var ErrBadConfig = errors.New("bad lab config")

// DefaultPathName is the name of path i (1-based) when its PathSpec has none.
func DefaultPathName(i int) string {
	switch i {
	case 1:
		return "wifi"
	case 2:
		return "cellular"
	}
	return fmt.Sprintf("path%d", i)
}

func validName(s string, maxLen int, allowUpper bool) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z':
		case allowUpper && c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '_'):
		case allowUpper && c >= '0' && c <= '9':
		default:
			return false
		}
	}
	return true
}

// normalize fills defaults and validates.
func (c Config) normalize() (Config, error) {
	if !validName(c.Name, 40, true) || strings.HasPrefix(c.Name, "-") {
		return c, fmt.Errorf("%w: name %q: want 1-40 bytes of [a-zA-Z0-9_-]", ErrBadConfig, c.Name)
	}
	if len(c.Paths) == 0 {
		c.Paths = []PathSpec{{}, {}}
	}
	if len(c.Paths) > MaxPaths {
		return c, fmt.Errorf("%w: %d paths > %d", ErrBadConfig, len(c.Paths), MaxPaths)
	}
	c.Paths = append([]PathSpec(nil), c.Paths...)
	seen := map[string]bool{}
	for i := range c.Paths {
		p := &c.Paths[i]
		if p.Name == "" {
			p.Name = DefaultPathName(i + 1)
		}
		if !validName(p.Name, 15, false) || p.Name == "lo" {
			return c, fmt.Errorf("%w: path name %q: want 1-15 bytes of [a-z0-9_-] starting with a letter", ErrBadConfig, p.Name)
		}
		if seen[p.Name] {
			return c, fmt.Errorf("%w: duplicate path name %q", ErrBadConfig, p.Name)
		}
		seen[p.Name] = true
		if err := p.Up.Validate(); err != nil {
			return c, fmt.Errorf("%w: path %s up: %w", ErrBadConfig, p.Name, err)
		}
		if err := p.Down.Validate(); err != nil {
			return c, fmt.Errorf("%w: path %s down: %w", ErrBadConfig, p.Name, err)
		}
	}
	if c.CongestionControl != "" && !validName(c.CongestionControl, 15, false) {
		return c, fmt.Errorf("%w: congestion control %q: want a name like cubic, reno or bbr", ErrBadConfig, c.CongestionControl)
	}
	for _, m := range []*Mode{&c.ClientMode, &c.ServerMode} {
		switch *m {
		case "":
			*m = Kernel
		case Kernel, User:
		default:
			return c, fmt.Errorf("%w: mode %q: want kernel or user", ErrBadConfig, *m)
		}
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// ClientAddrOf is the client's address on path i (1-based): 198.18.i.1.
func ClientAddrOf(path int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(path), 1}) }

// ServerAddrOf is the server's address on path i (1-based): 198.18.i.2.
func ServerAddrOf(path int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(path), 2}) }

// ClientAddr6Of is the client's IPv6 address on path i: fd00:198:18:i::1.
func ClientAddr6Of(path int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, 0x01, 0x98, 0, 0x18, 0, byte(path), 15: 1})
}

// ServerAddr6Of is the server's IPv6 address on path i: fd00:198:18:i::2.
func ServerAddr6Of(path int) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, 0x01, 0x98, 0, 0x18, 0, byte(path), 15: 2})
}

// ParsePathSpec reads a path's settings in the CLI's form
//
//	NAME:KEY=VALUE,KEY=VALUE,...
//
// with emu.ParseSpec's keys applying to both directions, or to one with an
// "ul." (client to server) or "dl." (server to client) prefix, e.g.
//
//	cellular:rate=10mbit,delay=40ms,loss=1%,dl.rate=20mbit,down@2s,up@5s
//
// base gives the settings before these (the global flags).
func ParsePathSpec(text string, base PathSpec) (PathSpec, error) {
	name, rest, ok := strings.Cut(text, ":")
	if !ok {
		return PathSpec{}, fmt.Errorf("parse path spec %q: want NAME:SETTINGS: %w", text, ErrBadConfig)
	}
	p := base
	p.Name = name
	p.Up.Events = append([]emu.Event(nil), base.Up.Events...)
	p.Down.Events = append([]emu.Event(nil), base.Down.Events...)
	if !validName(name, 15, false) || name == "lo" {
		return PathSpec{}, fmt.Errorf("parse path spec %q: bad name %q: %w", text, name, ErrBadConfig)
	}
	if strings.TrimSpace(rest) == "" {
		return p, nil
	}
	for item := range strings.SplitSeq(rest, ",") {
		item = strings.TrimSpace(item)
		targets := []*LinkSpec{&p.Up, &p.Down}
		if s, ok := strings.CutPrefix(item, "ul."); ok {
			item, targets = s, targets[:1]
		} else if s, ok := strings.CutPrefix(item, "dl."); ok {
			item, targets = s, targets[1:]
		}
		for _, t := range targets {
			if err := t.ApplyOption(item); err != nil {
				return PathSpec{}, fmt.Errorf("parse path spec %q: %w", text, err)
			}
		}
	}
	if err := p.Up.Validate(); err != nil {
		return PathSpec{}, fmt.Errorf("parse path spec %q: %w", text, err)
	}
	if err := p.Down.Validate(); err != nil {
		return PathSpec{}, fmt.Errorf("parse path spec %q: %w", text, err)
	}
	return p, nil
}
