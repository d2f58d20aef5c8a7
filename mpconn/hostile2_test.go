package mpconn

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
	"github.com/mptcp-go/mptcp/tcp"
)

// rewriteDSS calls f on the parsed DSS option of seg, if any, and writes
// it back in place when f returns true and the encoding keeps its length.
func rewriteDSS(seg []byte, f func(d *option.DSS) bool) []byte {
	return rewriteOption(seg, option.SubtypeDSS, func(raw []byte) {
		o, err := option.Parse(raw)
		if err != nil || !f(&o.DSS) {
			return
		}
		if b, err := o.Append(nil); err == nil && len(b) == len(raw) {
			copy(raw, b)
		}
	})
}

// TestContradictoryMappingRejected: an attacker in the path rewrites the
// data sequence number of a mapping the receiver already holds for the
// same subflow bytes (RFC 8684 §3.3.1: a mapping, once made, cannot
// change). The contradiction is counted (DSSNotMatching), the subflow is
// reset with MP_TCPRST and its data reinjected elsewhere; the receiver
// never places a byte by the forged mapping: the transfer ends intact.
func TestContradictoryMappingRejected(t *testing.T) {
	n, cli, srv := twoHosts(t, 505, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && len(s.Subflows()) == 2 }) {
		t.Fatal("no second subflow")
	}
	type mkey struct {
		port uint16
		ssn  uint32
		len  uint16
	}
	seen := make(map[mkey]uint64)
	forged := 0
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		if src.Addr() != addr("10.0.2.1") || forged >= 3 || len(seg) <= header.TCP(seg).DataOffset() {
			return seg
		}
		return rewriteDSS(seg, func(d *option.DSS) bool {
			if !d.HasMapping() || d.DataLen == 0 {
				return false
			}
			k := mkey{src.Port(), d.SubflowSeq, d.DataLen}
			dsn, ok := seen[k]
			if !ok {
				seen[k] = d.DSN
				return false
			}
			if dsn != d.DSN {
				return false // a retransmission of our own forgery
			}
			d.DSN += 1000 // the same subflow bytes, elsewhere in the data
			forged++
			return true
		})
	}
	data := randomData(4<<20, 24)
	if got := n.pump(c, s, data, 2*time.Minute, false); !bytes.Equal(got, data) {
		t.Fatalf("data differs (%d forged mappings)", forged)
	}
	if forged == 0 {
		t.Fatal("no mapping was forged: the test does not exercise the check")
	}
	if got := srv.mib.DSSNotMatching.Load(); got == 0 {
		t.Fatalf("%d contradictory mappings, DSSNotMatching %d", forged, got)
	}
	if srv.mib.MPRstTx.Load() == 0 {
		t.Fatal("the subflow with contradictory mappings was not reset")
	}
	t.Logf("%d forged mappings, DSSNotMatching %d, MPRstTx %d", forged, srv.mib.DSSNotMatching.Load(), srv.mib.MPRstTx.Load())
}

// TestAddAddrElsewhere: a peer announces, with valid HMACs, addresses
// that are not its own: a plain TCP server (it answers the join's SYN
// without MP_JOIN), an MPTCP host that does not know the token (MP_TCPRST)
// and an address where nobody answers. Each gets one join attempt and no
// more (RFC 8684 §3.2: a SYN/ACK without MP_JOIN closes the subflow; a
// failed pair is not tried again), the silent one its SYN
// retransmissions only; the connection carries on on its own path.
func TestAddAddrElsewhere(t *testing.T) {
	n := newSimNet(t, 506)
	cli := n.addHost("client", Config{}, "10.0.1.1")
	srv := n.addHost("server", Config{}, "10.0.1.2", "10.0.7.7", "10.0.8.8", "10.0.6.6")
	srv.listen = 80
	// The announced addresses belong to others: the network delivers
	// them there, not to the server.
	plain := n.addHost("plain-tcp", Config{}, "10.0.7.7")
	plain.listen, plain.plainListen = 80, true
	n.addHost("mptcp-other", Config{}, "10.0.8.8")
	delete(n.hosts, addr("10.0.6.6"))
	for _, a := range []string{"10.0.1.2", "10.0.7.7", "10.0.8.8", "10.0.6.6"} {
		n.link("10.0.1.1", a, 10*time.Millisecond, 0)
	}
	syns := make(map[netip.Addr]int)
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		if header.TCP(seg).Flags() == header.TCPFlagSYN {
			syns[dst.Addr()]++
		}
		return seg
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(1<<20, 25)
	if got := n.pump(c, s, data, time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	n.runFor(3 * time.Minute)
	if got := cli.mib.AddAddr.Load(); got != 3 {
		t.Fatalf("%d ADD_ADDRs accepted, want the 3 announced", got)
	}
	t.Logf("join SYNs: plain TCP %d, other MPTCP host %d, silent %d", syns[addr("10.0.7.7")], syns[addr("10.0.8.8")], syns[addr("10.0.6.6")])
	if syns[addr("10.0.7.7")] != 1 || syns[addr("10.0.8.8")] != 1 {
		t.Fatalf("join SYNs to the answering addresses: %d and %d, want one each", syns[addr("10.0.7.7")], syns[addr("10.0.8.8")])
	}
	if got := syns[addr("10.0.6.6")]; got < 1 || got > 1+7 {
		t.Fatalf("%d join SYNs to the silent address", got)
	}
	if len(plain.plain) != 1 || plain.plain[0].State() != tcp.StateClosed {
		t.Fatalf("the plain TCP server: %d connections, not reset by the client", len(plain.plain))
	}
	alive := 0
	for _, sf := range c.Subflows() {
		if sf.ep.State() != tcp.StateClosed {
			alive++
		}
	}
	if alive != 1 || c.State() != StateEstablished {
		t.Fatalf("%d subflows alive, connection %v", alive, c.State())
	}
	more := randomData(256<<10, 26)
	if got := n.pump(c, s, more, time.Minute, false); !bytes.Equal(got, more) {
		t.Fatal("data after the joins differs")
	}
}
