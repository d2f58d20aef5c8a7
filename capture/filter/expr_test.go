package filter

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mptcp-go/mptcp/capture"
	"golang.org/x/net/bpf"
)

// exprs are the expressions the tests compile: every primitive, both
// directions, v4 and v6, combinations and tcpdump's shorthand.
var exprs = []string{
	"host 198.18.0.1",
	"src host 198.18.0.1",
	"dst host 198.18.0.2",
	"host fd00::1",
	"dst host fd00::2",
	"net 198.18.0.0/24",
	"src net 198.18.0.0/31 and dst net 198.18.0.2/32",
	"net fd00::/120",
	"port 443",
	"src port 40000",
	"dst port 443",
	"portrange 440-450",
	"src or dst port 80",
	"src and dst port 443",
	"ip",
	"ip6",
	"tcp and not port 443",
	"host 198.18.0.1 and (port 443 or port 80)",
	"not (ip6 or host 198.18.0.9)",
	"port 80 or 443 or 40000",
	"host 198.18.0.9 or 198.18.0.1",
	"!port 443 && ip || ip6",
	"tcp port 443",
	"ip6 src net fd00::/126 or tcp dst port 80",
}

func TestParseExpression(t *testing.T) {
	for _, e := range exprs {
		if _, err := ParseExpression(e); err != nil {
			t.Errorf("%q: %v", e, err)
		}
	}
	for _, bad := range []string{"", "host", "host example.com", "port http", "portrange 5-1", "(port 1", "port 1)",
		"and port 1", "udp", "host 198.18.0.1 or", "net 10.0.0.0/33", "ether host 1:2:3:4:5:6"} {
		if _, err := ParseExpression(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// randomFrame returns a TCP frame over IPv4 or IPv6 with addresses and
// ports from small pools (so that expressions match some), random MPTCP
// options or none, possibly cut short.
func randomFrame(rng *rand.Rand, l Link) []byte {
	opts := [][]byte{nil, optDSS, optMPC, optTS}[rng.IntN(4)]
	flags := byte(ack)
	if rng.IntN(8) == 0 {
		flags |= syn
	}
	seg := segment(flags, opts, 0, []byte{1, 2, 3})
	ports := []uint16{80, 443, 445, 40000, 50000}
	binary.BigEndian.PutUint16(seg[0:], ports[rng.IntN(len(ports))])
	binary.BigEndian.PutUint16(seg[2:], ports[rng.IntN(len(ports))])
	var ip []byte
	if rng.IntN(2) == 0 {
		ip = mkIPv4(6, seg, nil, 0)
		ip[15], ip[19] = []byte{1, 2, 9}[rng.IntN(3)], []byte{1, 2, 9}[rng.IntN(3)]
	} else {
		ip = mkIPv6(6, seg)
		copy(ip[8:40], make([]byte, 32))
		ip[8], ip[24] = 0xfd, 0xfd // fd00::X -> fd00::Y
		ip[23], ip[39] = []byte{1, 2, 9}[rng.IntN(3)], []byte{1, 2, 9}[rng.IntN(3)]
	}
	var tags []uint16
	if l != Raw && rng.IntN(4) == 0 {
		tags = []uint16{7}
	}
	f := frame(l, ip, tags...)
	if rng.IntN(6) == 0 {
		f = f[:rng.IntN(len(f)+1)]
	}
	return f
}

// TestExprVMMatchesGo: the compiled program (with and without the MPTCP
// part) accepts exactly the frames MatchExpr accepts, for every link.
func TestExprVMMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range exprs {
		e, err := ParseExpression(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, mptcp := range []bool{false, true} {
			seen := [2]int{}
			for _, l := range Links() {
				prog, err := ProgramExpr(l, 0, e, mptcp)
				if err != nil {
					t.Fatalf("%q: %v", s, err)
				}
				vm, err := bpf.NewVM(prog)
				if err != nil {
					t.Fatalf("%q on %v: %v", s, l, err)
				}
				for range 600 {
					f := randomFrame(rng, l)
					n, err := vm.Run(f)
					if err != nil {
						t.Fatal(err)
					}
					got, want := n != 0, MatchExpr(l, f, e, mptcp)
					if got != want {
						t.Fatalf("%q mptcp=%v %v frame %x: VM %v, MatchExpr %v", s, mptcp, l, f, got, want)
					}
					if got {
						seen[1]++
					} else {
						seen[0]++
					}
				}
			}
			if seen[0] == 0 || seen[1] == 0 {
				t.Errorf("%q mptcp=%v: outcomes %v: the frames do not exercise it", s, mptcp, seen)
			}
		}
	}
}

// TestExprAgainstTcpdump: tcpdump compiles the same expressions
// ("tcp and (EXPR)", untagged Ethernet and raw IP): its program and ours
// agree on every random TCP frame.
func TestExprAgainstTcpdump(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	compared := 0
	defer func() {
		if compared < len(exprs)*400 {
			t.Errorf("only %d frames compared", compared)
		}
	}()
	for _, l := range []Link{Ethernet, Raw} {
		file := filepath.Join(dir, l.String()+".pcap")
		var b bytes.Buffer
		w, _ := capture.NewPcapWriter(&b, l.LinkType(), capture.PcapWriterOptions{})
		w.Flush()
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, s := range exprs {
			e, _ := ParseExpression(s)
			ours, _ := ProgramExpr(l, 0, e, false)
			theirs := tcpdumpProgram(t, file, "tcp and ("+s+")")
			vo, _ := bpf.NewVM(ours)
			vt, err := bpf.NewVM(theirs)
			if err != nil {
				t.Fatalf("tcpdump's program for %q: %v", s, err)
			}
			for range 400 {
				f := randomFrame(rng, l)
				if l == Ethernet && binary.BigEndian.Uint16(f[12:14]) == 0x8100 {
					continue // tcpdump needs "vlan" to look inside tags
				}
				if _, _, ok := locate(l, f); !ok {
					continue // not a whole TCP header: tcpdump's own rules differ
				}
				if _, x, _ := locate(l, f); x+20 > len(f) {
					continue
				}
				compared++
				no, _ := vo.Run(f)
				nt, _ := vt.Run(f)
				if (no != 0) != (nt != 0) {
					t.Fatalf("%q on %v frame %x: ours %v, tcpdump's %v", s, l, f, no != 0, nt != 0)
				}
			}
		}
	}
}

// FuzzParseExpression: any text parses or is refused without panicking;
// what parses compiles for every link, and the program agrees with
// MatchExpr on a few frames.
func FuzzParseExpression(f *testing.F) {
	for _, e := range exprs {
		f.Add(e)
	}
	f.Add("((((port 1))))")
	f.Add("not not not ip")
	f.Add("host ::ffff:1.2.3.4 or net 0.0.0.0/0")
	rng := rand.New(rand.NewPCG(7, 8))
	var frames [][]byte
	for range 20 {
		frames = append(frames, randomFrame(rng, Ethernet))
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpression(s)
		if err != nil {
			return
		}
		prog, err := ProgramExpr(Ethernet, 0, e, true)
		if err != nil {
			return // too long for cBPF's jumps: refused, not wrong
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("%q: program does not load: %v", s, err)
		}
		for _, fr := range frames {
			n, err := vm.Run(fr)
			if err != nil {
				t.Fatal(err)
			}
			if (n != 0) != MatchExpr(Ethernet, fr, e, true) {
				t.Fatalf("%q on %x: VM %v, MatchExpr disagrees", s, fr, n != 0)
			}
		}
	})
}
