//go:build linux

package filter

import (
	"os"
	"testing"

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
	for _, l := range Links {
		for _, snap := range []uint32{0, 96} {
			raw, err := Assemble(l, snap)
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
