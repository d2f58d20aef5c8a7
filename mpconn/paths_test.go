package mpconn

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

func TestBackupPathUsedOnlyWhenNeeded(t *testing.T) {
	// The client marks its cellular address as backup: the join carries
	// the B flag and no data goes there while wifi works.
	ccfg := Config{Backup: []netip.Addr{addr("10.0.2.1")}}
	n, cli, srv := twoHosts(t, 201, ccfg, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no backup subflow: %s", brief(c))
	}
	if srv.mib.MPJoinSynBackupRx.Load() != 1 {
		t.Fatalf("MPJoinSynBackupRx %d: the join did not ask for backup", srv.mib.MPJoinSynBackupRx.Load())
	}
	data := randomData(2<<20, 1)
	if got := n.pump(c, s, data[:1<<20], time.Minute, false); !bytes.Equal(got, data[:1<<20]) {
		t.Fatal("data differs")
	}
	back := randomData(512<<10, 2)
	if got := n.pump(s, c, back, time.Minute, false); !bytes.Equal(got, back) {
		t.Fatal("data back differs")
	}
	in, sin := c.Info(), s.Info()
	if in.Subflows[1].DataSent != 0 || sin.Subflows[1].DataSent != 0 {
		t.Fatalf("backup subflow carried data while wifi worked: client %d, server %d", in.Subflows[1].DataSent, sin.Subflows[1].DataSent)
	}
	// Wifi goes away: the backup takes over, nothing is lost.
	n.paths[[2]netipAddr{addr("10.0.1.1"), addr("10.0.1.2")}].down = true
	n.paths[[2]netipAddr{addr("10.0.1.2"), addr("10.0.1.1")}].down = true
	if got := n.pump(c, s, data[1<<20:], 5*time.Minute, false); !bytes.Equal(got, data[1<<20:]) {
		t.Fatal("data after the handover differs")
	}
	if c.Info().Subflows[1].DataSent == 0 {
		t.Fatalf("backup never used: %s", brief(c))
	}
}

func TestMPPrioChangesScheduling(t *testing.T) {
	n, cli, srv := twoHosts(t, 202, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(s.Subflows()) == 2 && s.Subflows()[1].fully }) {
		t.Fatalf("no second subflow")
	}
	// The client asks the server not to use its cellular subflow but as
	// a backup (MP_PRIO B=1): the server's data then goes over wifi only.
	c.SetBackup(addr("10.0.2.1"), true)
	n.runFor(200 * time.Millisecond)
	if srv.mib.MPPrioRx.Load() != 1 || cli.mib.MPPrioTx.Load() != 1 {
		t.Fatalf("MP_PRIO tx %d rx %d", cli.mib.MPPrioTx.Load(), srv.mib.MPPrioRx.Load())
	}
	before := s.Info().Subflows[1].DataSent
	back := randomData(1<<20, 3)
	if got := n.pump(s, c, back, time.Minute, false); !bytes.Equal(got, back) {
		t.Fatal("data differs")
	}
	if after := s.Info().Subflows[1].DataSent; after != before {
		t.Fatalf("server sent %d bytes on the subflow marked backup", after-before)
	}
	if !s.Info().Subflows[1].PeerBackup {
		t.Fatal("server does not show the peer's backup request")
	}
}

func TestRemoveAddr(t *testing.T) {
	n, cli, srv := twoHosts(t, 203, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow")
	}
	data := randomData(1<<20, 4)
	if got := n.pump(c, s, data[:512<<10], time.Minute, false); !bytes.Equal(got, data[:512<<10]) {
		t.Fatal("data differs")
	}
	// The server withdraws 10.0.2.2: REMOVE_ADDR, and the subflow to it
	// goes away on both sides; the rest of the data flows on wifi.
	s.RemoveAddr(addr("10.0.2.2"))
	if !n.runUntil(5*time.Second, func() bool { return len(c.Subflows()) == 1 && len(s.Subflows()) == 1 }) {
		t.Fatalf("subflow not removed: %s", brief(c))
	}
	if cli.mib.RmAddr.Load() != 1 || srv.mib.RmAddrTx.Load() != 1 {
		t.Fatalf("REMOVE_ADDR tx %d rx %d", srv.mib.RmAddrTx.Load(), cli.mib.RmAddr.Load())
	}
	if got := n.pump(c, s, data[512<<10:], time.Minute, false); !bytes.Equal(got, data[512<<10:]) {
		t.Fatal("data after REMOVE_ADDR differs")
	}
}

func TestDataFinAlone(t *testing.T) {
	// The DATA_FIN goes out after every byte was DATA_ACKed: it rides on
	// a pure ACK (subflow sequence number 0, data-level length 1) and is
	// retransmitted until acknowledged, here through a lossy path.
	n, cli, srv := twoHosts(t, 204, Config{DisableJoins: true}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(64<<10, 5)
	if got := n.pump(c, s, data, time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	n.runFor(time.Second)
	n.paths[[2]netipAddr{addr("10.0.1.1"), addr("10.0.1.2")}].loss = 0.5
	c.CloseWrite()
	buf := make([]byte, 10)
	if !n.runUntil(time.Minute, func() bool {
		_, err := s.Read(buf)
		return err != nil
	}) {
		t.Fatalf("server never saw the DATA_FIN: %s", brief(s))
	}
	if _, err := s.Read(buf); err == nil || err.Error() != "EOF" {
		t.Fatalf("server read after DATA_FIN: %v", err)
	}
	if !n.runUntil(time.Minute, func() bool { return c.snd.finAcked }) {
		t.Fatal("DATA_FIN never acknowledged")
	}
}

// TestLocalAddrDownUp: the client's interfaces go away and come back.
// Cellular's address goes down: its subflow closes with REMOVE_ADDR on
// both sides and the data stays on wifi; it comes back: a new join, and
// cellular carries data again. Then wifi's address (id 0, the initial
// subflow's) goes down and comes back: the connection goes on over
// cellular and rejoins from wifi under a new address id.
func TestLocalAddrDownUp(t *testing.T) {
	n, cli, c, s := twoSubflows(t, 208, Config{}, Config{})
	srvMIB := &s.env.(*simEnv).h.mib
	data := randomData(6<<20, 15)
	chunk := func(i int) []byte { return data[i<<20 : (i+1)<<20] }
	if r := n.transfer(c, s, chunk(0), time.Minute); !bytes.Equal(r.got, chunk(0)) {
		t.Fatal("data differs")
	}
	alive := func(c *Conn, local string) int {
		k := 0
		for _, sf := range c.Subflows() {
			if sf.io.Local().Addr() == addr(local) && sf.ep.State() != tcp.StateClosed {
				k++
			}
		}
		return k
	}
	sentFrom := func(local string) uint64 {
		var b uint64
		for _, sf := range c.Subflows() {
			if sf.io.Local().Addr() == addr(local) {
				b += sf.dataSent
			}
		}
		return b
	}

	c.LocalAddrDown(addr("10.0.2.1"))
	if !n.runUntil(5*time.Second, func() bool { return alive(c, "10.0.2.1") == 0 && len(s.Subflows()) == 1 }) {
		t.Fatalf("cellular subflow still open after its address went down: %s", brief(c))
	}
	if cli.mib.RmAddrTx.Load() != 1 || srvMIB.RmAddr.Load() != 1 {
		t.Fatalf("REMOVE_ADDR tx %d rx %d", cli.mib.RmAddrTx.Load(), srvMIB.RmAddr.Load())
	}
	if r := n.transfer(c, s, chunk(1), time.Minute); !bytes.Equal(r.got, chunk(1)) {
		t.Fatal("data with cellular down differs")
	}
	c.LocalAddrUp(addr("10.0.2.1"))
	if !n.runUntil(5*time.Second, func() bool { return alive(c, "10.0.2.1") == 1 && c.Subflows()[len(c.Subflows())-1].fully }) {
		t.Fatalf("no new subflow from cellular after it came back: %s", brief(c))
	}
	before := sentFrom("10.0.2.1")
	if r := n.transfer(c, s, chunk(2), time.Minute); !bytes.Equal(r.got, chunk(2)) {
		t.Fatal("data after cellular's return differs")
	}
	if sentFrom("10.0.2.1") == before {
		t.Fatal("cellular carried nothing after it came back")
	}

	// Wifi, the initial subflow's address.
	c.LocalAddrDown(addr("10.0.1.1"))
	if !n.runUntil(5*time.Second, func() bool { return alive(c, "10.0.1.1") == 0 }) {
		t.Fatalf("initial subflow still open after wifi went down: %s", brief(c))
	}
	if r := n.transfer(c, s, chunk(3), time.Minute); !bytes.Equal(r.got, chunk(3)) {
		t.Fatal("data with wifi down differs")
	}
	c.LocalAddrUp(addr("10.0.1.1"))
	if !n.runUntil(5*time.Second, func() bool { return alive(c, "10.0.1.1") == 1 && c.Subflows()[len(c.Subflows())-1].fully }) {
		t.Fatalf("no new subflow from wifi after it came back: %s", brief(c))
	}
	last := c.Subflows()[len(c.Subflows())-1]
	if last.localID == 0 {
		t.Fatal("the rejoin from wifi used address id 0")
	}
	before = sentFrom("10.0.1.1")
	if r := n.transfer(c, s, data[4<<20:], time.Minute); !bytes.Equal(r.got, data[4<<20:]) {
		t.Fatal("data after wifi's return differs")
	}
	if sentFrom("10.0.1.1") == before {
		t.Fatal("wifi carried nothing after it came back")
	}
	if c.State() != StateEstablished || c.Fallback() {
		t.Fatalf("connection %v fallback %v", c.State(), c.Fallback())
	}
}

// TestOnlyAddrDownParks: the only path's address goes down: the subflow is
// parked (no REMOVE_ADDR, no reset) and carries the data again when the
// path returns.
func TestOnlyAddrDownParks(t *testing.T) {
	n, cli, srv := twoHosts(t, 209, Config{DisableJoins: true}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(2<<20, 16)
	if r := n.transfer(c, s, data[:1<<20], time.Minute); !bytes.Equal(r.got, data[:1<<20]) {
		t.Fatal("data differs")
	}
	n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.down = true })
	c.LocalAddrDown(addr("10.0.1.1"))
	n.runFor(2 * time.Second)
	if cli.mib.RmAddrTx.Load() != 0 || c.Subflows()[0].ep.State() != tcp.StateEstablished {
		t.Fatalf("the only subflow was removed (REMOVE_ADDR %d, %v)", cli.mib.RmAddrTx.Load(), c.Subflows()[0].ep.State())
	}
	n.setPath("10.0.1.1", "10.0.1.2", func(p *simPath) { p.down = false })
	c.LocalAddrUp(addr("10.0.1.1"))
	if r := n.transfer(c, s, data[1<<20:], 2*time.Minute); !bytes.Equal(r.got, data[1<<20:]) {
		t.Fatal("data after the path returned differs")
	}
}

// TestUseAnnounced: a client told to use only announced addresses in
// 10.0.3.0/24 echoes the server's ADD_ADDR for 10.0.2.2 but opens no
// subflow to it; without the limit it does.
func TestUseAnnounced(t *testing.T) {
	for _, limit := range []bool{false, true} {
		cfg := Config{JoinFrom: []netip.Addr{}}
		if limit {
			cfg.UseAnnounced = []netip.Prefix{netip.MustParsePrefix("10.0.3.0/24")}
		}
		n, cli, srv := twoHosts(t, 210, cfg, Config{})
		c := cli.dial("10.0.1.2:80")
		established(t, n, cli, srv, c)
		n.runFor(5 * time.Second)
		if cli.mib.AddAddr.Load() != 1 || cli.mib.EchoAddTx.Load() == 0 {
			t.Fatalf("limit %v: ADD_ADDR %d, echoes %d", limit, cli.mib.AddAddr.Load(), cli.mib.EchoAddTx.Load())
		}
		joined := false
		for _, sf := range c.Subflows() {
			if sf.io.Remote().Addr() == addr("10.0.2.2") {
				joined = true
			}
		}
		if joined == limit {
			t.Fatalf("limit %v: joined the announced 10.0.2.2: %v", limit, joined)
		}
	}
}

// TestRemoveAddrLostRepeated: the pure ACK that carries the first
// REMOVE_ADDR is lost (nothing acknowledges a REMOVE_ADDR, RFC 8684
// §3.4.2): it goes out again a retransmission timeout later and the peer
// learns the address is gone. With repeats off the peer never learns it,
// which is the case the repeats exist for. An address that comes back
// before a repeat is due cancels it: the new subflow from it survives.
func TestRemoveAddrLostRepeated(t *testing.T) {
	for _, tc := range []struct {
		name    string
		repeats int
		want    uint64 // REMOVE_ADDRs the server took
	}{
		{"repeats", 0, 1},
		{"no-repeats", -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, cli, c, s := twoSubflows(t, 209, Config{RemoveAddrRepeats: tc.repeats}, Config{})
			srvMIB := &s.env.(*simEnv).h.mib
			data := randomData(1<<20, 16)
			if r := n.transfer(c, s, data, time.Minute); !bytes.Equal(r.got, data) {
				t.Fatal("data differs")
			}
			dropped := 0
			n.mangle = func(_, _ netip.AddrPort, seg []byte) []byte {
				found := false
				rewriteOption(seg, option.SubtypeRemoveAddr, func([]byte) { found = true })
				if found && dropped == 0 {
					dropped++
					return nil
				}
				return seg
			}
			c.LocalAddrDown(addr("10.0.2.1"))
			n.runFor(5 * time.Second)
			if dropped != 1 {
				t.Fatalf("%d REMOVE_ADDRs dropped, want the first", dropped)
			}
			if got := srvMIB.RmAddr.Load(); got < tc.want || tc.want == 0 && got != 0 {
				t.Fatalf("server took %d REMOVE_ADDRs, want %d (client sent %d)", got, tc.want, cli.mib.RmAddrTx.Load())
			}
			if tc.want == 0 {
				return
			}
			if tx := cli.mib.RmAddrTx.Load(); tx != 3 {
				t.Fatalf("client sent %d REMOVE_ADDRs, want 3 (first and 2 repeats)", tx)
			}
			// Down and up again at once: the repeats scheduled for the
			// address are cancelled, the new subflow from it stays.
			c.LocalAddrUp(addr("10.0.2.1"))
			if !n.runUntil(5*time.Second, func() bool {
				last := c.Subflows()[len(c.Subflows())-1]
				return last.io.Local().Addr() == addr("10.0.2.1") && last.fully && last.ep.State() == tcp.StateEstablished
			}) {
				t.Fatalf("no new subflow from cellular: %s", brief(c))
			}
			n.mangle = nil
			tx := cli.mib.RmAddrTx.Load()
			c.LocalAddrDown(addr("10.0.2.1"))
			c.LocalAddrUp(addr("10.0.2.1"))
			n.runFor(5 * time.Second)
			if got := cli.mib.RmAddrTx.Load(); got > tx+1 {
				t.Fatalf("%d REMOVE_ADDRs after the address came back", got-tx)
			}
			open := 0
			for _, sf := range s.Subflows() {
				if sf.ep.State() == tcp.StateEstablished {
					open++
				}
			}
			if open != 2 {
				t.Fatalf("server has %d established subflows after cellular came back, want 2: %s", open, brief(s))
			}
		})
	}
}
