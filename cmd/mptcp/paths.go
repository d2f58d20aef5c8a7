package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mptcp-go/mptcp/netdev"
)

// pathSpec is one --path: an interface the stack owns, its address and
// gateway, and whether MPTCP uses it as a backup.
type pathSpec struct {
	dev    netdev.Config
	backup bool
}

// pathList is the repeatable --path DEV=ADDR/PLEN[,gw=ADDR][,backup][,tun].
type pathList []pathSpec

const pathSyntax = "DEV=ADDR/PLEN[,gw=ADDR][,backup][,tun]"

func (p *pathList) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, " ")
}

func (p pathSpec) String() string {
	var b strings.Builder
	b.WriteString(p.dev.Name + "=")
	for i, a := range p.dev.Addrs {
		if i > 0 {
			b.WriteString("+")
		}
		b.WriteString(a.String())
	}
	for _, g := range []netip.Addr{p.dev.Gateway4, p.dev.Gateway6} {
		if g.IsValid() {
			b.WriteString(",gw=" + g.String())
		}
	}
	if p.backup {
		b.WriteString(",backup")
	}
	if p.dev.TUN {
		b.WriteString(",tun")
	}
	return b.String()
}

// Set parses one --path. The same DEV given twice (an IPv4 and an IPv6
// address) is one interface with both addresses.
func (p *pathList) Set(v string) error {
	x, err := parsePath(v)
	if err != nil {
		return err
	}
	for i := range *p {
		q := &(*p)[i]
		if q.dev.Name != x.dev.Name {
			continue
		}
		if q.dev.TUN != x.dev.TUN {
			return fmt.Errorf("--path %s: given as TUN and as Ethernet", x.dev.Name)
		}
		q.dev.Addrs = append(q.dev.Addrs, x.dev.Addrs...)
		for _, g := range []netip.Addr{x.dev.Gateway4, x.dev.Gateway6} {
			if !g.IsValid() {
				continue
			}
			old := &q.dev.Gateway4
			if g.Is6() {
				old = &q.dev.Gateway6
			}
			if old.IsValid() && *old != g {
				return fmt.Errorf("--path %s: two gateways %v and %v", x.dev.Name, *old, g)
			}
			*old = g
		}
		q.backup = q.backup || x.backup
		return q.dev.Validate()
	}
	*p = append(*p, x)
	return nil
}

func parsePath(v string) (pathSpec, error) {
	var p pathSpec
	dev, rest, ok := strings.Cut(v, "=")
	if !ok || dev == "" || rest == "" {
		return p, fmt.Errorf("%q: want %s, e.g. wifi=198.18.1.1/24,gw=198.18.1.2", v, pathSyntax)
	}
	p.dev.Name = dev
	parts := strings.Split(rest, ",")
	var addrs prefixList
	if err := addrs.Set(parts[0]); err != nil {
		return p, fmt.Errorf("--path %s: %w", dev, err)
	}
	p.dev.Addrs = addrs
	for _, opt := range parts[1:] {
		k, val, _ := strings.Cut(opt, "=")
		switch k {
		case "gw":
			g, err := netip.ParseAddr(val)
			if err != nil {
				return p, fmt.Errorf("--path %s: gw %q: not an IP address", dev, val)
			}
			g = g.Unmap()
			if g.Is4() != addrs[0].Addr().Is4() {
				return p, fmt.Errorf("--path %s: gw %v is not of %v's family", dev, g, addrs[0].Addr())
			}
			if g.Is4() {
				p.dev.Gateway4 = g
			} else {
				p.dev.Gateway6 = g
			}
		case "backup":
			p.backup = true
		case "tun":
			p.dev.TUN = true
		default:
			return p, fmt.Errorf("--path %s: unknown option %q (want gw=ADDR, backup or tun)", dev, opt)
		}
	}
	return p, p.dev.Validate()
}

// pathsFromFlags turns --path, or the one-path spelling --iface/--tun
// with --addr, --gw and --mac, into the interfaces; mtu and offload apply
// to each.
func pathsFromFlags(paths pathList, iface, tun string, addrs prefixList, gws addrList, mac string, mtu int, offload bool) ([]pathSpec, error) {
	single := iface != "" || tun != "" || len(addrs) > 0 || len(gws) > 0 || mac != ""
	if len(paths) > 0 && single {
		return nil, errors.New("--path and --iface/--tun/--addr/--gw/--mac exclude each other (--path DEV=ADDR/PLEN,gw=ADDR is the same as --iface DEV --addr ADDR/PLEN --gw ADDR)")
	}
	if mtu < 0 || mtu > 0 && mtu < 576 {
		return nil, fmt.Errorf("--mtu %d: want 0 or at least 576", mtu)
	}
	if !single {
		if len(paths) == 0 {
			return nil, fmt.Errorf("--path %s is required (one per interface the stack owns), or --iface NAME with --addr CIDR", pathSyntax)
		}
		out := append([]pathSpec(nil), paths...)
		for i := range out {
			out[i].dev.MTU, out[i].dev.Offload = mtu, offload
		}
		return out, nil
	}
	switch {
	case iface == "" && tun == "":
		return nil, errors.New("--iface NAME or --tun NAME is required with --addr (or give --path " + pathSyntax + ")")
	case iface != "" && tun != "":
		return nil, errors.New("--iface and --tun exclude each other")
	case len(addrs) == 0:
		return nil, errors.New("--addr CIDR is required (e.g. --addr 198.18.1.1/24)")
	case mac != "" && tun != "":
		return nil, errors.New("--mac only applies to --iface (a TUN device has no MAC)")
	}
	p := pathSpec{dev: netdev.Config{Name: iface + tun, TUN: tun != "", Addrs: addrs, MTU: mtu, Offload: offload}}
	var have4, have6 bool
	for _, a := range addrs {
		if a.Addr().Is4() {
			if have4 {
				return nil, errors.New("--addr: at most one IPv4 address")
			}
			have4 = true
		} else {
			if have6 {
				return nil, errors.New("--addr: at most one IPv6 address")
			}
			have6 = true
		}
	}
	for _, g := range gws {
		switch {
		case g.Is4() && !have4:
			return nil, fmt.Errorf("--gw %v: no IPv4 --addr", g)
		case g.Is6() && !have6:
			return nil, fmt.Errorf("--gw %v: no IPv6 --addr", g)
		case g.Is4() && p.dev.Gateway4.IsValid(), g.Is6() && p.dev.Gateway6.IsValid():
			return nil, fmt.Errorf("--gw %v: one gateway per address family", g)
		case g.Is4():
			p.dev.Gateway4 = g
		default:
			p.dev.Gateway6 = g
		}
	}
	if mac != "" {
		hw, err := parseMAC(mac)
		if err != nil {
			return nil, err
		}
		p.dev.MAC = hw
	}
	if err := p.dev.Validate(); err != nil {
		return nil, err
	}
	return []pathSpec{p}, nil
}

// pathAddrs lists the addresses of every path.
func pathAddrs(ps []pathSpec) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, p.dev.Addrs...)
	}
	return out
}
