//go:build linux

package filter

import (
	"os"
	"strings"
	"testing"

	"github.com/mptcp-go/mptcp/capture/internal/nstest"
	"golang.org/x/sys/unix"
)

// TestKernelAcceptsFilter attaches every variant to an AF_PACKET socket
// (protocol 0, so it receives nothing): the kernel's classic BPF checker
// (bpf_check_classic, check_load_and_stores) must accept it. The VM of
// x/net/bpf does not check scratch-memory initialization, the kernel does.
func TestKernelAcceptsFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW) for an AF_PACKET socket")
	}
	for _, l := range Links() {
		for i, snap := range []uint32{0, 96, 0, 0} {
			raw, err := Assemble(l, snap)
			if i >= 2 {
				// With an expression: alone, and combined with MPTCP.
				e, perr := ParseExpression("host 198.18.0.1 and (port 443 or src net fd00::/64) or portrange 1-9")
				if perr != nil {
					t.Fatal(perr)
				}
				raw, err = AssembleExpr(l, snap, e, i == 3)
			}
			if err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			filt := make([]unix.SockFilter, len(raw))
			for i, ins := range raw {
				filt[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
			}
			fp := unix.SockFprog{Len: uint16(len(filt)), Filter: &filt[0]}
			if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
				t.Errorf("%v (%d instructions): kernel refuses the filter: %v", l, len(raw), err)
			}
			unix.Close(fd)
		}
	}
}

// TestTCLoadsFilter loads the ddd output, joined with commas, with tc's
// classic-BPF classifier in a throw-away namespace, as the mptcp filter
// help text tells users to.
func TestTCLoadsFilter(t *testing.T) {
	nstest.Require(t, "tc")
	ns := nstest.New(t, "tc")
	if out, err := ns.Command("tc", "qdisc", "add", "dev", "lo", "clsact").CombinedOutput(); err != nil {
		t.Skipf("no clsact qdisc: %v: %s", err, out)
	}
	for _, l := range []Link{Ethernet, Raw} {
		raw, err := Assemble(l, 0xffffffff)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := Write(&b, DDD, raw, l, 0xffffffff); err != nil {
			t.Fatal(err)
		}
		code := strings.ReplaceAll(strings.TrimSpace(b.String()), "\n", ",")
		if out, err := ns.Command("tc", "filter", "add", "dev", "lo", "ingress", "bpf", "bytecode", code).CombinedOutput(); err != nil {
			t.Errorf("%v: tc refuses the filter: %v: %s", l, err, out)
		}
	}
}
