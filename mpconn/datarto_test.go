package mpconn

import (
	"testing"
	"time"
)

// TestNoReinjectionWhileDataAcked checks that the connection-level
// retransmission timer restarts whenever the DATA_ACK advances (Linux's
// mptcp_reset_rtx_timer): a long transfer over two healthy rate-limited
// paths, its DATA_ACK moving all the time, reinjects nothing. Before, the
// timer ran from the first unacknowledged byte and fired every RTO however
// the transfer progressed, each time sending up to 63 KiB again on another
// subflow: 10% of a bulk transfer's bytes, found by the coupled congestion
// control tests (mpconn/cc), where it cost MPTCP a tenth of its share.
func TestNoReinjectionWhileDataAcked(t *testing.T) {
	n, cli, srv := twoHosts(t, 301, Config{}, Config{})
	for _, p := range n.paths {
		p.rate = 1 << 20 // bytes/s: a transfer of several seconds
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	data := randomData(8<<20, 7)
	if got := n.pump(c, s, data, 2*time.Minute, false); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	in := c.Info()
	if in.BytesRetrans != 0 || cli.mib.MPTCPRetrans.Load() != 0 {
		t.Fatalf("%d bytes reinjected (%d times; opportunistic %d, penalties %d, stale %d) over healthy paths in %v: %s", in.BytesRetrans, cli.mib.MPTCPRetrans.Load(), in.BytesOpportunistic, in.Penalized, cli.mib.SubflowStale.Load(), n.now, brief(c))
	}
	for _, sf := range in.Subflows {
		if sf.DataSent == 0 {
			t.Fatalf("subflow %d carried nothing: the test needs both paths busy", sf.ID)
		}
	}
}
