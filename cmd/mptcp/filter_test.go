package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/capture/filter"
	"golang.org/x/net/bpf"
)

var updateFilterGolden = flag.Bool("update-filter", false, "rewrite cmd/mptcp/testdata/filter_* golden files")

func runCmd(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

// TestFilterGolden compares each link and format with its golden file.
func TestFilterGolden(t *testing.T) {
	cases := [][2]string{
		{"ethernet", "ddd"}, {"sll", "ddd"}, {"sll2", "ddd"}, {"raw", "ddd"},
		{"ethernet", "asm"}, {"ethernet", "c"}, {"raw", "json"},
	}
	for _, c := range cases {
		name := "filter_" + c[0] + "." + c[1]
		t.Run(name, func(t *testing.T) {
			out, stderr, code := runCmd("filter", "--link", c[0], "--format", c[1])
			if code != exitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			path := filepath.Join("testdata", name)
			if *updateFilterGolden {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-filter to create)", err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s (run with -update-filter after checking the change)", path)
			}
		})
	}
}

// TestFilterDDDLoads parses the default output the way a loader would
// (count line, then "code jt jf k") and checks that it is the package's
// program and runs in the BPF VM.
func TestFilterDDDLoads(t *testing.T) {
	out, _, code := runCmd("filter", "--link", "raw")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	n, err := strconv.Atoi(lines[0])
	if err != nil || n != len(lines)-1 {
		t.Fatalf("count line %q for %d instructions", lines[0], len(lines)-1)
	}
	var prog []bpf.RawInstruction
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 4 {
			t.Fatalf("line %q", l)
		}
		v := make([]uint64, 4)
		for i := range f {
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	want, err := filter.Assemble(filter.Raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) != len(want) {
		t.Fatalf("%d instructions, want %d", len(prog), len(want))
	}
	for i := range want {
		if prog[i] != want[i] {
			t.Fatalf("instruction %d: %+v, want %+v", i, prog[i], want[i])
		}
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("cannot disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	// An IPv4 SYN without options is kept, a bare ACK is not.
	pkt := []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
		0x9c, 0x40, 1, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	if n, _ := vm.Run(pkt); n != filter.DefaultSnapLen {
		t.Errorf("SYN: %d", n)
	}
	pkt[33] = 0x10
	if n, _ := vm.Run(pkt); n != 0 {
		t.Errorf("ACK: %d", n)
	}
}

func TestFilterUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string // substring of stdout+stderr
	}{
		{[]string{"filter", "--help"}, exitOK, "Usage: mptcp filter"},
		{[]string{"filter", "--link", "tokenring"}, exitUsage, "mptcp filter: unknown link \"tokenring\" (want ethernet, sll, sll2 or raw)\n"},
		{[]string{"filter", "--format", "xml"}, exitUsage, "mptcp filter: unknown format \"xml\" (want ddd, c, asm or json)\n"},
		{[]string{"filter", "extra"}, exitUsage, "mptcp filter: \"extra\": want host, net, port, portrange, ip, ip6 or tcp"},
		{[]string{"filter", "--all"}, exitUsage, "--all needs an EXPRESSION"},
		{[]string{"filter", "--snaplen", "0"}, exitUsage, "out of range"},
		{[]string{"filter", "--snaplen", "4294967296"}, exitUsage, "out of range"},
		{[]string{"filter", "--snaplen", "4294967295", "--format", "c"}, exitOK, "{ 0x6, 0, 0, 0xffffffff },"},
		{[]string{"filter", "--snaplen", "96", "--format", "c"}, exitOK, "{ 0x6, 0, 0, 0x00000060 },"},
	} {
		out, stderr, code := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(out+stderr, tc.out) {
			t.Errorf("%v: exit %d, output %q; want exit %d with %q", tc.args, code, out+stderr, tc.code, tc.out)
		}
	}
}

// TestFilterExpression: an expression narrows the printed filter, with or
// without the MPTCP part, as filter.AssembleExpr compiles it.
func TestFilterExpression(t *testing.T) {
	e, err := filter.ParseExpression("host 198.18.0.1 and port 443")
	if err != nil {
		t.Fatal(err)
	}
	for _, all := range []bool{false, true} {
		args := []string{"filter", "--link", "raw", "host", "198.18.0.1", "and", "port", "443"}
		if all {
			args = append(args, "--all")
		}
		var out, errb strings.Builder
		code := run(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
		raw, err := filter.AssembleExpr(filter.Raw, filter.DefaultSnapLen, e, !all)
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		filter.Write(&want, filter.DDD, raw, filter.Raw, filter.DefaultSnapLen)
		if code != exitOK || out.String() != want.String() {
			t.Errorf("--all=%v: exit %d %s; output differs from AssembleExpr", all, code, errb.String())
		}
	}
}
