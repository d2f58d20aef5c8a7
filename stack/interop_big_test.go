//go:build linux && !race

package stack

import (
	"fmt"
	"testing"
	"time"
)

// TestKernelInterop100MB moves 100 MB each way between our stack and the
// kernel over TUN, with our stack as client and as server, with and
// without the TUN offloads. It is left out of -race builds (the race
// detector makes it slow): run it with
// go test -run KernelInterop100MB ./stack
func TestKernelInterop100MB(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running")
	}
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { testKernelInterop100MB(t, offload) })
	}
}

func testKernelInterop100MB(t *testing.T, offload bool) {
	k := newKernelNS(t, Options{}, offload)
	for _, stackIsClient := range []bool{true, false} {
		for _, stackSends := range []bool{true, false} {
			t.Run(fmt.Sprintf("stackClient=%v/stackSends=%v", stackIsClient, stackSends), func(t *testing.T) {
				ours, theirs := k.connPair(t, stackIsClient, false)
				var el time.Duration
				if stackSends {
					el = sendAndVerify(t, ours, theirs, 100<<20, 3*time.Minute)
				} else {
					el = sendAndVerify(t, theirs, ours, 100<<20, 3*time.Minute)
				}
				t.Logf("100 MB in %v (%.0f Mbit/s)", el.Round(time.Millisecond), 100*8*1.048576/el.Seconds())
			})
		}
	}
}
