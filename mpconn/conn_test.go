package mpconn

import (
	"errors"
	"io"
	"testing"
	"time"
)

// established runs the handshake and returns the server's connection.
func established(t *testing.T, n *simNet, cli *simHost, srv *simHost, c *Conn) *Conn {
	t.Helper()
	if !n.runUntil(10*time.Second, func() bool { return c.State() == StateEstablished && len(srv.accepted) > 0 }) {
		t.Fatalf("handshake: client %v, %d accepted", c.State(), len(srv.accepted))
	}
	return srv.accepted[0]
}

func TestHandshakeAndTransferOnePath(t *testing.T) {
	n, cli, srv := twoHosts(t, 101, Config{DisableJoins: true}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(1<<20, 1)
	if got := n.pump(c, s, data, time.Minute, false); !sameSHA(got, data) {
		t.Fatal("client->server data differs")
	}
	back := randomData(300<<10, 2)
	if got := n.pump(s, c, back, time.Minute, false); !sameSHA(got, back) {
		t.Fatal("server->client data differs")
	}
	if c.Fallback() || s.Fallback() {
		t.Fatal("fell back to TCP")
	}
	lt, rt := c.Tokens()
	slt, srt := s.Tokens()
	if lt != srt || rt != slt || lt == 0 {
		t.Fatalf("tokens: client %08x/%08x server %08x/%08x", lt, rt, slt, srt)
	}
	if got := cli.mib.MPCapableSYNACKRX.Load(); got != 1 {
		t.Errorf("MPCapableSYNACKRX %d", got)
	}
	if srv.mib.MPCapableSYNRX.Load() != 1 || srv.mib.MPCapableACKRX.Load() != 1 {
		t.Errorf("server MPCapableSYNRX %d ACKRX %d", srv.mib.MPCapableSYNRX.Load(), srv.mib.MPCapableACKRX.Load())
	}
	if len(c.Subflows()) != 1 {
		t.Fatalf("%d subflows with joins disabled", len(c.Subflows()))
	}
}

func TestDataFinBothWays(t *testing.T) {
	n, cli, srv := twoHosts(t, 102, Config{DisableJoins: true}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(100<<10, 3)
	if got := n.pump(c, s, data, time.Minute, true); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	// The server can still send after the client's DATA_FIN (half close).
	back := randomData(50<<10, 4)
	if got := n.pump(s, c, back, time.Minute, true); !sameSHA(got, back) {
		t.Fatal("data back differs")
	}
	if !n.runUntil(2*time.Minute, func() bool { return c.Finished() && s.Finished() }) {
		t.Fatalf("not finished: %s / %s", brief(c), brief(s))
	}
	if c.Err() != nil || s.Err() != nil {
		t.Fatalf("errors after a clean close: %v / %v", c.Err(), s.Err())
	}
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after close: %v", err)
	}
}

func TestTwoPathsBothCarryData(t *testing.T) {
	n, cli, srv := twoHosts(t, 103, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	// The server announces 10.0.2.2; the client joins it from 10.0.2.1.
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	data := randomData(4<<20, 5)
	if got := n.pump(c, s, data, 5*time.Minute, false); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	if c.Fallback() || s.Fallback() {
		t.Fatal("fell back")
	}
	for _, sf := range c.Info().Subflows {
		if sf.DataSent == 0 {
			t.Errorf("subflow %d (%v) carried no data: %s", sf.ID, sf.Local, brief(c))
		}
	}
	if srv.mib.AddAddrTx.Load() == 0 || cli.mib.AddAddr.Load() != 1 || srv.mib.EchoAdd.Load() == 0 {
		t.Errorf("ADD_ADDR tx %d rx %d echo %d", srv.mib.AddAddrTx.Load(), cli.mib.AddAddr.Load(), srv.mib.EchoAdd.Load())
	}
	if srv.mib.MPJoinSynRx.Load() != 1 || srv.mib.MPJoinAckRx.Load() != 1 || cli.mib.MPJoinSynAckRx.Load() != 1 {
		t.Errorf("join counters: synrx %d ackrx %d synackrx %d", srv.mib.MPJoinSynRx.Load(), srv.mib.MPJoinAckRx.Load(), cli.mib.MPJoinSynAckRx.Load())
	}
}

func TestPathDownEveryByteArrives(t *testing.T) {
	n, cli, srv := twoHosts(t, 104, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	data := randomData(2<<20, 6)
	half := len(data) / 2
	if got := n.pump(c, s, data[:half], time.Minute, false); !sameSHA(got, data[:half]) {
		t.Fatal("first half differs")
	}
	// The first path (the lowest RTT, carrying most data) goes away.
	n.paths[[2]netipAddr{addr("10.0.1.1"), addr("10.0.1.2")}].down = true
	n.paths[[2]netipAddr{addr("10.0.1.2"), addr("10.0.1.1")}].down = true
	start := n.now
	if got := n.pump(c, s, data[half:], 5*time.Minute, false); !sameSHA(got, data[half:]) {
		t.Fatal("second half differs")
	}
	if c.Fallback() || s.Fallback() {
		t.Fatal("fell back")
	}
	if cli.mib.MPTCPRetrans.Load() == 0 {
		t.Fatalf("no reinjection after the path went down: %s", brief(c))
	}
	t.Logf("second half over the surviving path in %v; %s", n.now-start, brief(c))
}

func TestFastClose(t *testing.T) {
	n, cli, srv := twoHosts(t, 105, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	n.runUntil(10*time.Second, func() bool { return len(s.Subflows()) == 2 })
	c.Abort()
	if !n.runUntil(10*time.Second, func() bool { return s.State() == StateClosed }) {
		t.Fatalf("server still %v", s.State())
	}
	if !errors.Is(s.Err(), ErrFastClose) {
		t.Fatalf("server error %v, want MP_FASTCLOSE", s.Err())
	}
	if srv.mib.MPFastcloseRx.Load() == 0 || cli.mib.MPFastcloseTx.Load() == 0 {
		t.Fatalf("fastclose counters tx %d rx %d", cli.mib.MPFastcloseTx.Load(), srv.mib.MPFastcloseRx.Load())
	}
}
