package lab

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/link/emu"
)

func TestParsePathSpec(t *testing.T) {
	base := Symmetric("", LinkSpec{Rate: 50e6})
	tests := []struct {
		in   string
		want PathSpec
		err  bool
	}{
		{"wifi:", PathSpec{Name: "wifi", Up: LinkSpec{Rate: 50e6}, Down: LinkSpec{Rate: 50e6}}, false},
		{"wifi:rate=10mbit,delay=10ms", Symmetric("wifi", LinkSpec{Rate: 10e6, Delay: 10 * time.Millisecond}), false},
		{"cellular:ul.rate=5mbit,dl.rate=20mbit,loss=1%", PathSpec{Name: "cellular",
			Up: LinkSpec{Rate: 5e6, Loss: 0.01}, Down: LinkSpec{Rate: 20e6, Loss: 0.01}}, false},
		{"wifi:down@2s,up@5s", Symmetric("wifi", LinkSpec{Rate: 50e6,
			Events: []emu.Event{emu.Down(2 * time.Second), emu.Up(5 * time.Second)}}), false},
		{"lte:dl.down@1s", PathSpec{Name: "lte", Up: LinkSpec{Rate: 50e6},
			Down: LinkSpec{Rate: 50e6, Events: []emu.Event{emu.Down(time.Second)}}}, false},
		{"wifi:dl.strip=synack,ul.rewrite=1000", PathSpec{Name: "wifi", Up: LinkSpec{Rate: 50e6, Rewrite: 1000},
			Down: LinkSpec{Rate: 50e6, Strip: emu.StripSYNACK}}, false},
		{"wifi:strip=data", Symmetric("wifi", LinkSpec{Rate: 50e6, Strip: emu.StripData}), false},
		{"wifi:strip=fins", PathSpec{}, true},
		{"rate=5mbit", PathSpec{}, true},
		{"Wifi:rate=5mbit", PathSpec{}, true},
		{"averyveryverylongname:rate=1", PathSpec{}, true},
		{"lo:", PathSpec{}, true},
		{"wifi:ul.speed=5", PathSpec{}, true},
		{"wifi:loss=200%", PathSpec{}, true},
	}
	for _, tc := range tests {
		got, err := ParsePathSpec(tc.in, base)
		if (err != nil) != tc.err {
			t.Errorf("ParsePathSpec(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePathSpec(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// The base's events are not shared with the result.
	b := Symmetric("", LinkSpec{Events: []emu.Event{emu.Down(time.Second)}})
	p, err := ParsePathSpec("x:up@3s", b)
	if err != nil || len(b.Up.Events) != 1 || len(p.Up.Events) != 2 {
		t.Errorf("base events modified: %+v -> %+v, %v", b, p, err)
	}
}

func TestConfigNormalize(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  bool
	}{
		{"defaults", Config{Name: "demo"}, false},
		{"no name", Config{}, true},
		{"bad name", Config{Name: "a b"}, true},
		{"dash first", Config{Name: "-x"}, true},
		{"dup paths", Config{Name: "x", Paths: []PathSpec{{Name: "a"}, {Name: "a"}}}, true},
		{"bad mode", Config{Name: "x", ClientMode: "fast"}, true},
		{"bad spec", Config{Name: "x", Paths: []PathSpec{{Up: LinkSpec{Loss: 2}}}}, true},
		{"too many", Config{Name: "x", Paths: make([]PathSpec, MaxPaths+1)}, true},
	}
	for _, tc := range tests {
		got, err := tc.cfg.normalize()
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.err)
		}
		if err != nil && !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v does not wrap ErrBadConfig", tc.name, err)
		}
		if tc.name == "defaults" {
			if len(got.Paths) != 2 || got.Paths[0].Name != "wifi" || got.Paths[1].Name != "cellular" ||
				got.ClientMode != Kernel || got.StateDir != DefaultStateDir {
				t.Errorf("defaults = %+v", got)
			}
		}
	}
}

func TestAddresses(t *testing.T) {
	if ClientAddrOf(3).String() != "198.18.3.1" || ServerAddrOf(1).String() != "198.18.1.2" {
		t.Errorf("addresses: %v %v", ClientAddrOf(3), ServerAddrOf(1))
	}
}

func TestOwnedBy(t *testing.T) {
	tests := []struct {
		ns, lab string
		want    bool
	}{
		{"demo-cli", "demo", true},
		{"demo-srv", "demo", true},
		{"demo-p1", "demo", true},
		{"demo-p12", "demo", true},
		{"demo-px", "demo", false},
		{"demo-p", "demo", false},
		{"demo2-cli", "demo", false},
		{"demo-p1-cli", "demo", false},
		{"other", "demo", false},
	}
	for _, tc := range tests {
		if got := ownedBy(tc.ns, tc.lab); got != tc.want {
			t.Errorf("ownedBy(%q, %q) = %v", tc.ns, tc.lab, got)
		}
	}
}

// FuzzParsePathSpec checks the CLI's path parser never panics and that
// what it accepts is valid.
func FuzzParsePathSpec(f *testing.F) {
	for _, s := range []string{"wifi:rate=50mbit,delay=10ms", "cellular:rate=10mbit,delay=40ms,loss=1%",
		"wifi:ul.rate=5mbit,dl.rate=20mbit", "wifi:down@2s,up@5s,rate=5mbit@3s", "lte:burst=1%/25%/100%/0%,queue=64",
		"x:", "wifi:reorder=1%,reorder-delay=3ms,jitter=2ms"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePathSpec(in, PathSpec{})
		if err != nil {
			return
		}
		if err := p.Up.Validate(); err != nil {
			t.Fatalf("%q accepted with invalid up spec: %v", in, err)
		}
		if err := p.Down.Validate(); err != nil {
			t.Fatalf("%q accepted with invalid down spec: %v", in, err)
		}
		if !validName(p.Name, 15, false) {
			t.Fatalf("%q accepted with bad name %q", in, p.Name)
		}
	})
}

func TestAddresses6(t *testing.T) {
	if got := ClientAddr6Of(2).String(); got != "fd00:198:18:2::1" {
		t.Errorf("ClientAddr6Of(2) = %s", got)
	}
	if got := ServerAddr6Of(12).String(); got != "fd00:198:18:c::2" {
		t.Errorf("ServerAddr6Of(12) = %s", got)
	}
}

func TestParseMPTCPExt(t *testing.T) {
	in := "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 0 0\n" +
		"MPTcpExt: MPCapableSYNRX MPJoinSynAckRx MPJoinAckRx\nMPTcpExt: 3 2 1\n"
	got, err := parseMPTCPExt(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"MPTcpExtMPCapableSYNRX": 3, "MPTcpExtMPJoinSynAckRx": 2, "MPTcpExtMPJoinAckRx": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if _, err := parseMPTCPExt(strings.NewReader("TcpExt: A\nTcpExt: 1\n")); err == nil {
		t.Error("no MPTcpExt lines: want an error")
	}
	if _, err := parseMPTCPExt(strings.NewReader("MPTcpExt: A\nMPTcpExt: x\n")); err == nil {
		t.Error("non-numeric value: want an error")
	}
}
