package main

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/mptcp-go/mptcp/lab"
)

// testNCCoupled: nc --cc NAME (a coupled congestion control) over two
// paths to the kernel's MPTCP server: the data arrives intact, both paths
// carry it, and every subflow in the JSON summary runs the coupled
// controller.
func testNCCoupled(t *testing.T, bin, name string) {
	l := mpLab(t, 2, false)
	up := randBytes(t, 8<<20)
	ap, srv := kernelMPTCPServer(t, l, nil)
	args := append(append([]string{"nc", "--json", "--cc", name}, pathArgs(l)...), ap.Addr().String(), fmt.Sprint(ap.Port()))
	p := startNC(t, bin, l, args...)
	if _, err := p.stdin.Write(up[:64<<10]); err != nil {
		t.Fatal(err)
	}
	waitCounter(t, l, lab.Server, "MPTcpExtMPJoinAckRx", 1, p)
	if _, err := p.stdin.Write(up[64<<10:]); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	if code := p.wait(t); code != exitOK {
		t.Fatalf("nc exit %d:\n%s", code, p.errText())
	}
	res := <-srv
	if res.err != nil || sha256.Sum256(res.got) != sha256.Sum256(up) || !res.mptcp {
		t.Fatalf("kernel server got %d bytes (SHA-256 equal: %v), MPTCP %v, %v", len(res.got), sha256.Sum256(res.got) == sha256.Sum256(up), res.mptcp, res.err)
	}
	s := lastJSON(t, p.errText())
	if s.MPTCP == nil || s.Fallback || s.TCP == nil || s.TCP.CC != name {
		t.Fatalf("summary %+v", s)
	}
	all := append(s.MPTCP.Subflows, s.MPTCP.Closed...)
	if len(all) != 2 {
		t.Fatalf("%d subflows, want 2: %+v", len(all), all)
	}
	for _, sf := range all {
		if sf.TCP.CC != name || sf.DataSent == 0 {
			t.Errorf("subflow %s: cc %q, %d bytes sent; want %q and data", sf.Local, sf.TCP.CC, sf.DataSent, name)
		}
	}
	t.Logf("--cc %s: %.0f Mbit/s up, %d + %d bytes on the subflows", name, s.SendMbitS, all[0].DataSent, all[1].DataSent)
}
