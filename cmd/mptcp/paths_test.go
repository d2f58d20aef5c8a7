package main

import (
	"strings"
	"testing"
)

func TestPathFlag(t *testing.T) {
	var p pathList
	for _, v := range []string{"wifi=198.18.1.1/24,gw=198.18.1.2", "cell=198.18.2.1/24,backup", "wifi=fd00::1/64,gw=fd00::2", "tun0=10.9.0.2/24,tun"} {
		if err := p.Set(v); err != nil {
			t.Fatalf("%q: %v", v, err)
		}
	}
	if got := p.String(); got != "wifi=198.18.1.1/24+fd00::1/64,gw=198.18.1.2,gw=fd00::2 cell=198.18.2.1/24,backup tun0=10.9.0.2/24,tun" {
		t.Errorf("paths %q", got)
	}
	if !p[1].backup || p[0].backup || !p[2].dev.TUN || len(pathAddrs(p)) != 4 {
		t.Errorf("%+v", p)
	}
	for _, tc := range []struct{ v, want string }{
		{"wifi", "want DEV=ADDR/PLEN"},
		{"=1.2.3.4/24", "want DEV=ADDR/PLEN"},
		{"wifi=1.2.3.4", "lacks a prefix length"},
		{"wifi=nope/24", "not an address"},
		{"wifi=1.2.3.4/24,gw=fd00::1", "not of 1.2.3.4's family"},
		{"wifi=1.2.3.4/24,gw=x", "not an IP address"},
		{"wifi=1.2.3.4/24,mtu=1400", "unknown option"},
	} {
		var q pathList
		if err := q.Set(tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.v, err, tc.want)
		}
	}
	// The same device twice: one address per family, one gateway each.
	q := pathList{}
	q.Set("wifi=198.18.1.1/24,gw=198.18.1.2")
	for _, tc := range []struct{ v, want string }{
		{"wifi=198.18.1.5/24", "one IPv4"},
		{"wifi=198.18.1.1/24,tun", "TUN and as Ethernet"},
	} {
		c := append(pathList(nil), q...)
		if err := c.Set(tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.v, err, tc.want)
		}
	}
	if _, err := pathsFromFlags(q, "eth0", "", nil, nil, "", 0, false); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("--path with --iface: %v", err)
	}
	if _, err := pathsFromFlags(nil, "", "", nil, nil, "", 0, false); err == nil || !strings.Contains(err.Error(), "--path DEV=ADDR/PLEN") {
		t.Errorf("no interface: %v", err)
	}
}

func TestNCMPTCPUsageErrors(t *testing.T) {
	two := []string{"--path", "wifi=198.18.1.1/24", "--path", "cell=198.18.2.1/24"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(append([]string{"nc", "--tcp"}, two...), "198.18.1.2", "1"), "--tcp uses one path"},
		{[]string{"nc", "--tcp", "--checksum", "--path", "wifi=198.18.1.1/24", "198.18.1.2", "1"}, "--checksum is MPTCP's"},
		{[]string{"nc", "--tcp", "--path", "wifi=198.18.1.1/24,backup", "198.18.1.2", "1"}, "backup is MPTCP's"},
		{append(append([]string{"nc", "--iface", "eth0"}, two...), "198.18.1.2", "1"), "exclude each other"},
		{[]string{"nc", "--path", "wifi=198.18.1.1/24,bogus", "198.18.1.2", "1"}, "unknown option"},
		{append(append([]string{"nc", "-l"}, two...), "198.18.3.1:5001"), "not one of --addr or --path"},
		{[]string{"nc", "--tcp", "--mode", "handover", "--path", "wifi=198.18.1.1/24", "198.18.1.2", "1"}, "--mode and --scheduler are MPTCP's"},
		{append(append([]string{"nc", "--mode", "turbo"}, two...), "198.18.1.2", "1"), `unknown mode "turbo"`},
		{append(append([]string{"nc", "--scheduler", "fastest"}, two...), "198.18.1.2", "1"), `unknown scheduler "fastest"`},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
