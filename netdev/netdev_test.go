package netdev

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/header"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func TestValidate(t *testing.T) {
	ok := Config{Name: "wifi", Addrs: []netip.Prefix{pfx("198.18.1.1/24"), pfx("fd00::1/64")},
		Gateway4: netip.MustParseAddr("198.18.1.2"), Gateway6: netip.MustParseAddr("fd00::2")}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.Name = "" }, "no device name"},
		{func(c *Config) { c.Addrs = nil }, "has no address"},
		{func(c *Config) { c.Addrs = append(c.Addrs, pfx("198.18.2.1/24")) }, "one IPv4"},
		{func(c *Config) { c.Addrs = append(c.Addrs, pfx("fd01::1/64")) }, "one IPv6"},
		{func(c *Config) { c.Addrs = c.Addrs[1:] }, "without an IPv4 address"},
		{func(c *Config) { c.Gateway6 = netip.MustParseAddr("198.18.1.9") }, "without an IPv6"},
		{func(c *Config) { c.TUN, c.MAC = true, header.MAC{2, 0, 0, 0, 0, 1} }, "no MAC"},
		{func(c *Config) { c.MTU = 100 }, "MTU 100"},
	} {
		c := ok
		c.Addrs = append([]netip.Prefix(nil), ok.Addrs...)
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrConfig with %q", c, err, tc.want)
		}
		if _, oerr := Open(c); !errors.Is(oerr, ErrConfig) {
			t.Errorf("Open(%+v): %v, want ErrConfig", c, oerr)
		}
	}
}

// TestKernelAddrRefused: 127.0.0.1 is the kernel's on lo in any
// namespace.
func TestKernelAddrRefused(t *testing.T) {
	err := CheckKernelAddrs([]netip.Prefix{pfx("198.18.99.1/24"), pfx("127.0.0.1/8")})
	if !errors.Is(err, ErrKernelAddr) || !strings.Contains(err.Error(), "127.0.0.1 is the kernel's address on lo") {
		t.Fatalf("%v", err)
	}
	if err := CheckKernelAddrs([]netip.Prefix{pfx("198.18.99.1/24")}); err != nil {
		t.Fatalf("198.18.99.1: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(Config{Name: "nosuchif9", Addrs: []netip.Prefix{pfx("198.18.99.1/24")}})
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "interface nosuchif9") {
		t.Errorf("missing device: %v", err)
	}
	// lo is up but has no Ethernet address.
	_, err = Open(Config{Name: "lo", Addrs: []netip.Prefix{pfx("198.18.99.1/24")}})
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "no Ethernet address") {
		t.Errorf("lo: %v", err)
	}
}
