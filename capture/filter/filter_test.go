package filter

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"
)

// Flags.
const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
)

// Common options.
var (
	optTS      = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}
	optDSS     = []byte{30, 8, 0x20, 0x01, 0, 0, 0, 7} // DSS with a 4-byte DATA_ACK
	optMPC     = []byte{30, 4, 0x01, 0x81}             // MP_CAPABLE v1 in a SYN
	optSACK2   = []byte{1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4}
	optSynBase = []byte{2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}
)

// segment builds a TCP header with the given flags and options. The data
// offset covers the options rounded up to 4 bytes (padded with EOL) unless
// doff is set (in 32-bit words).
func segment(flags byte, opts []byte, doff int, payload []byte) []byte {
	o := append([]byte(nil), opts...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	t := make([]byte, 20, 20+len(o)+len(payload))
	binary.BigEndian.PutUint16(t[0:], 40000)
	binary.BigEndian.PutUint16(t[2:], 443)
	if doff == 0 {
		doff = (20 + len(o)) / 4
	}
	t[12] = byte(doff) << 4
	t[13] = flags
	t = append(t, o...)
	return append(t, payload...)
}

// mkIPv4 wraps a TCP segment (or other payload) in IPv4. ipOpts adds IP
// options (multiple of 4 bytes); fragOff is the fragment field (flags and
// offset).
func mkIPv4(proto byte, l4 []byte, ipOpts []byte, fragField uint16) []byte {
	ihl := 20 + len(ipOpts)
	b := make([]byte, ihl, ihl+len(l4))
	b[0] = 0x40 | byte(ihl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(ihl+len(l4)))
	binary.BigEndian.PutUint16(b[6:], fragField)
	b[8] = 64
	b[9] = proto
	copy(b[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	copy(b[20:], ipOpts)
	return append(b, l4...)
}

// ext is one IPv6 extension header: its type and its full encoding minus
// the next-header byte (filled in by ipv6).
type ext struct {
	typ  byte
	body []byte // from the second byte on
}

func hopByHop() ext { return ext{0, []byte{0, 1, 4, 0, 0, 0, 0}} }
func destOpts(n int) ext {
	b := make([]byte, 7+8*n)
	b[0] = byte(n)
	b[1], b[2] = 1, byte(len(b)-3) // PadN filling the rest
	return ext{60, b}
}
func fragment(off uint16, more bool) ext {
	b := make([]byte, 7)
	v := off << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[1:], v)
	return ext{44, b}
}

func mkIPv6(proto byte, l4 []byte, exts ...ext) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	b[7] = 64
	b[8], b[39] = 0x20, 1
	nh := 6 // index of the next-header byte to fill in
	for _, e := range exts {
		b[nh] = e.typ
		nh = len(b)
		b = append(b, 0)
		b = append(b, e.body...)
	}
	b[nh] = proto
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40+len(l4)))
	return append(b, l4...)
}

// frame puts an IP packet behind the header of link l, with VLAN tags.
func frame(l Link, ip []byte, vlans ...uint16) []byte {
	et := uint16(0x0800)
	if len(ip) > 0 && ip[0]>>4 == 6 {
		et = 0x86dd
	}
	var tags []byte
	for _, v := range vlans {
		tags = binary.BigEndian.AppendUint16(tags, 0x8100)
		tags = binary.BigEndian.AppendUint16(tags, v)
	}
	var h []byte
	switch l {
	case Ethernet:
		h = []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}
		h = append(h, tags...)
		h = binary.BigEndian.AppendUint16(h, et)
	case SLL:
		h = []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}
		if len(tags) > 0 {
			h = append(h, tags[:2]...)
			h = append(h, tags[2:]...)
		}
		h = binary.BigEndian.AppendUint16(h, et)
	case SLL2:
		first := et
		if len(tags) > 0 {
			first = 0x8100
			tags = tags[2:]
		}
		h = binary.BigEndian.AppendUint16(nil, first)
		h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0)
		if len(vlans) > 0 {
			h = append(h, tags...)
			h = binary.BigEndian.AppendUint16(h, et)
		}
	case Raw:
		if len(vlans) > 0 {
			panic("no VLAN tags on raw IP")
		}
	}
	return append(h, ip...)
}

// vms holds one VM per link.
func vms(t testing.TB) map[Link]*bpf.VM {
	t.Helper()
	out := map[Link]*bpf.VM{}
	for _, l := range Links() {
		prog, err := Program(l, 0)
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		out[l] = vm
	}
	return out
}

// run returns whether the VM accepts the frame; it fails the test if the
// VM and Match disagree or the VM returns anything but 0 or the snap length.
func run(t testing.TB, vm *bpf.VM, l Link, f []byte) bool {
	t.Helper()
	n, err := vm.Run(f)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	if n != 0 && n != DefaultSnapLen {
		t.Fatalf("VM returned %d", n)
	}
	if got, want := n != 0, Match(l, f); got != want {
		t.Fatalf("%v frame %x: VM %v, Match %v", l, f, got, want)
	}
	return n != 0
}

func TestFilterCrafted(t *testing.T) {
	nops := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = 1
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	tcp4 := func(flags byte, opts []byte) []byte {
		return mkIPv4(6, segment(flags, opts, 0, []byte("data")), nil, 0)
	}
	cases := []struct {
		name string
		ip   []byte
		want bool
	}{
		{"syn-mp-capable", tcp4(syn, cat(optSynBase, optMPC)), true},
		{"syn-plain", tcp4(syn, optSynBase), true},
		{"synack-plain", tcp4(syn|ack, optSynBase), true},
		{"fin-no-options", tcp4(fin|ack, nil), true},
		{"rst-no-options", tcp4(rst, nil), true},
		{"ack-no-options", tcp4(ack, nil), false},
		{"ack-timestamps", tcp4(ack, optTS), false},
		{"ack-sack-ts", tcp4(ack, cat(optTS, optSACK2)), false},
		{"dss-first", tcp4(ack|psh, cat(optDSS, optTS)), true},
		{"ts-then-dss", tcp4(ack|psh, cat(optTS, optDSS)), true},
		{"sack-ts-dss", tcp4(ack, cat(optTS, optSACK2[2:], optDSS[:4])), true},
		{"dss-after-eol", tcp4(ack, cat(optTS, []byte{0}, optDSS[:4])), false},
		{"30-inside-ts-value", tcp4(ack, []byte{1, 1, 8, 10, 30, 30, 30, 30, 30, 30, 30, 30}), false},
		{"39-nops-then-30", tcp4(ack, cat(nops(39), []byte{30})), true},
		{"40-nops", tcp4(ack, nops(40)), false},
		{"30-last-byte-no-length", tcp4(ack, cat(nops(3), []byte{30})), true},
		{"zero-length-option", tcp4(ack, cat([]byte{8, 0}, optDSS)), false},
		{"one-length-option", tcp4(ack, cat([]byte{8, 1}, optDSS)), false},
		{"option-overruns-then-30", tcp4(ack, cat([]byte{8, 40, 0, 0}, optDSS)), false},
		{"length-byte-past-end", mkIPv4(6, segment(ack, []byte{1, 1, 1, 8, 30}, 6, nil), nil, 0), false},
		{"30-in-payload-only", mkIPv4(6, segment(ack, optTS, 0, optDSS), nil, 0), false},
		{"doff-below-5", mkIPv4(6, segment(ack, optDSS, 4, nil), nil, 0), false},
		{"doff-5-30-in-payload", mkIPv4(6, segment(ack, nil, 5, optDSS), nil, 0), false},
		{"ip-options", mkIPv4(6, segment(ack, optDSS, 0, nil), []byte{1, 1, 1, 0}, 0), true},
		{"udp", mkIPv4(17, segment(ack, optDSS, 0, nil), nil, 0), false},
		{"first-fragment-more", mkIPv4(6, segment(ack, optDSS, 0, nil), nil, 0x2000), true},
		{"df-set", mkIPv4(6, segment(ack, optDSS, 0, nil), nil, 0x4000), true},
		{"non-first-fragment", mkIPv4(6, segment(syn, optDSS, 0, nil), nil, 0x2000|185), false},
		{"last-fragment", mkIPv4(6, segment(syn, optDSS, 0, nil), nil, 1), false},
		{"ipv6-dss", mkIPv6(6, segment(ack, cat(optTS, optDSS), 0, nil)), true},
		{"ipv6-ts", mkIPv6(6, segment(ack, optTS, 0, nil)), false},
		{"ipv6-fin", mkIPv6(6, segment(fin|ack, nil, 0, nil)), true},
		{"ipv6-udp", mkIPv6(17, segment(syn, nil, 0, nil)), false},
		{"ipv6-hbh-dest-dss", mkIPv6(6, segment(ack, optDSS, 0, nil), hopByHop(), destOpts(1)), true},
		{"ipv6-first-fragment", mkIPv6(6, segment(ack, optDSS, 0, nil), fragment(0, true)), true},
		{"ipv6-non-first-fragment", mkIPv6(6, segment(syn, optDSS, 0, nil), fragment(100, false)), false},
		{"ipv6-4-ext", mkIPv6(6, segment(rst, nil, 0, nil), hopByHop(), destOpts(0), fragment(0, false), destOpts(2)), true},
		{"ipv6-5-ext", mkIPv6(6, segment(rst, nil, 0, nil), hopByHop(), destOpts(0), fragment(0, false), destOpts(2), destOpts(0)), false},
		{"ipv6-no-next-header", mkIPv6(59, nil), false},
	}
	// Kind 30 at every position of a full 40-byte option area.
	for p := 0; p < 40; p++ {
		opts := nops(40)
		opts[p] = 30
		if p+1 < 40 {
			opts[p+1] = byte(min(4, 40-p))
		}
		cases = append(cases, struct {
			name string
			ip   []byte
			want bool
		}{"mptcp-at-" + itoa(p), tcp4(ack, opts), true})
	}
	vm := vms(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, l := range Links() {
				var tagSets [][]uint16
				tagSets = append(tagSets, nil)
				if l != Raw {
					tagSets = append(tagSets, []uint16{100}, []uint16{100, 200})
				}
				for _, tags := range tagSets {
					f := frame(l, tc.ip, tags...)
					if got := run(t, vm[l], l, f); got != tc.want {
						t.Errorf("%v with %d tags: got %v, want %v", l, len(tags), got, tc.want)
					}
					// Cut short at every length: never accepted unless
					// what decides the match is still there.
					for cut := range f {
						run(t, vm[l], l, f[:cut])
					}
				}
			}
		})
	}
}

func TestFilterOtherFrames(t *testing.T) {
	vm := vms(t)
	dss := mkIPv4(6, segment(ack, optDSS, 0, nil), nil, 0)
	for _, tc := range []struct {
		name string
		l    Link
		f    []byte
	}{
		{"arp", Ethernet, append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 6}, make([]byte, 28)...)},
		{"three-vlan-tags", Ethernet, frame(Ethernet, dss, 1, 2, 3)},
		{"ethertype-ipv4-version-6", Ethernet, append([]byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0}, mkIPv6(6, segment(ack, optDSS, 0, nil))...)},
		{"raw-version-5", Raw, append([]byte{0x55}, dss[1:]...)},
		{"empty", Ethernet, nil},
	} {
		if run(t, vm[tc.l], tc.l, tc.f) {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestFilterRandom compares the VM with Match on random option lists,
// data offsets, truncations, IP versions and link types.
func TestFilterRandom(t *testing.T) {
	vm := vms(t)
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := [][]byte{{0}, {1}, {1, 1}, {2, 4, 5, 180}, {3, 3, 7}, {4, 2}, optTS[2:], optSACK2[2:], optDSS, optMPC,
		{30, 12, 0x11, 0, 1, 2, 3, 4, 5, 6, 7, 8}, {30}, {30, 0}, {30, 1}, {8, 0}, {8, 1}, {253, 4, 0, 0}, {5, 255}}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	accepted := 0
	for range n {
		var opts []byte
		for len(opts) < 40 && rng.IntN(8) != 0 {
			opts = append(opts, vocab[rng.IntN(len(vocab))]...)
		}
		if len(opts) > 40 {
			opts = opts[:40]
		}
		doff := 0
		if rng.IntN(4) == 0 {
			doff = rng.IntN(16)
		}
		flags := byte(ack)
		if rng.IntN(10) == 0 {
			flags = byte(rng.IntN(256))
		}
		seg := segment(flags, opts, doff, []byte{30, 4, 0, 0})
		var ip []byte
		if rng.IntN(2) == 0 {
			var frag uint16
			if rng.IntN(10) == 0 {
				frag = uint16(rng.IntN(0x10000))
			}
			ip = mkIPv4(6, seg, nil, frag)
		} else {
			var exts []ext
			for rng.IntN(4) == 0 {
				exts = append(exts, []ext{hopByHop(), destOpts(rng.IntN(3)), fragment(uint16(rng.IntN(3)), true)}[rng.IntN(3)])
			}
			ip = mkIPv6(6, seg, exts...)
		}
		l := Links()[rng.IntN(len(Links()))]
		var tags []uint16
		if l != Raw {
			tags = make([]uint16, rng.IntN(3))
		}
		f := frame(l, ip, tags...)
		if rng.IntN(5) == 0 {
			f = f[:rng.IntN(len(f)+1)]
		}
		if run(t, vm[l], l, f) {
			accepted++
		}
	}
	if accepted < n/10 || accepted > n*9/10 {
		t.Errorf("accepted %d of %d random frames: the generator is not exercising both outcomes", accepted, n)
	}
}

func TestMatchAllocs(t *testing.T) {
	f := frame(Ethernet, mkIPv4(6, segment(ack, append(append([]byte(nil), optTS...), optDSS...), 0, nil), nil, 0))
	if a := testing.AllocsPerRun(1000, func() {
		if !Match(Ethernet, f) {
			t.Fatal("no match")
		}
	}); a != 0 {
		t.Errorf("%v allocations", a)
	}
}

func TestProgramFitsKernel(t *testing.T) {
	for _, l := range Links() {
		raw, err := Assemble(l, 0)
		if err != nil {
			t.Fatal(err)
		}
		// BPF_MAXINSNS in include/uapi/linux/bpf_common.h.
		if len(raw) > 4096 {
			t.Errorf("%v: %d instructions > 4096", l, len(raw))
		}
		t.Logf("%v: %d instructions", l, len(raw))
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func BenchmarkFilterVM(b *testing.B) {
	vm := vms(b)[Ethernet]
	f := frame(Ethernet, mkIPv4(6, segment(ack, append(append([]byte(nil), optTS...), optDSS...), 0, make([]byte, 1400)), nil, 0))
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := vm.Run(f); n == 0 {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	f := frame(Ethernet, mkIPv4(6, segment(ack, append(append([]byte(nil), optTS...), optDSS...), 0, make([]byte, 1400)), nil, 0))
	b.ReportAllocs()
	for b.Loop() {
		if !Match(Ethernet, f) {
			b.Fatal("rejected")
		}
	}
}

// FuzzFilter is a differential fuzz target: for any frame and link, the
// BPF program in the VM and Match must agree, and the VM must return 0 or
// the snap length.
func FuzzFilter(f *testing.F) {
	f.Add(uint8(0), frame(Ethernet, mkIPv4(6, segment(ack, append(append([]byte(nil), optTS...), optDSS...), 0, nil), nil, 0), 100))
	f.Add(uint8(1), frame(SLL, mkIPv6(6, segment(syn, append(append([]byte(nil), optSynBase...), optMPC...), 0, nil), hopByHop())))
	f.Add(uint8(2), frame(SLL2, mkIPv4(6, segment(ack, optSACK2, 0, nil), []byte{1, 1, 1, 0}, 0x2000)))
	f.Add(uint8(3), mkIPv6(6, segment(fin, nil, 0, nil), fragment(0, true), destOpts(1)))
	f.Add(uint8(3), mkIPv4(6, segment(ack, []byte{1, 1, 1, 8, 30}, 6, nil), nil, 0))
	vm := vms(f)
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		l := Links()[int(link)%len(Links())]
		run(t, vm[l], l, data)
	})
}
