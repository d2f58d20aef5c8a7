package stats

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

var (
	cli1 = netip.MustParseAddrPort("198.18.1.1:40000")
	srv1 = netip.MustParseAddrPort("198.18.1.2:80")
	cli2 = netip.MustParseAddrPort("198.18.2.1:40001")
	srv2 = netip.MustParseAddrPort("198.18.2.2:80")
)

func data(n int, b byte) []byte {
	d := make([]byte, n)
	for i := range d {
		d[i] = b + byte(i)
	}
	return d
}

// TestStats: RTT samples from data and the ACK that covers it, Karn's
// rule, goodput per subflow, and reinjections with their delay and
// whether the first copy had been acknowledged.
func TestStats(t *testing.T) {
	col := New(Config{Bin: 100 * time.Millisecond})
	a := analyze.New(analyze.Config{OnPacket: col.Add})
	c := synth.New(1, 2, a.Packet)
	c.Step = time.Millisecond
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	wait := func(d time.Duration) { c.Now = c.Now.Add(d) }
	c.Step = 0

	// RTT samples on subflow 1 (server to client): 30 ms, 50 ms, and 2 ms
	// below.
	s1.Send(1, data(1000, 1))
	wait(30 * time.Millisecond)
	s1.SendRaw(0, header.TCPFlagACK, nil)
	s1.Send(1, data(1000, 2))
	wait(50 * time.Millisecond)
	s1.SendRaw(0, header.TCPFlagACK, nil)
	// A retransmitted segment gives no sample (Karn).
	s1.Send(1, data(500, 3))
	s1.Seq[1] -= 500
	s1.SendRaw(1, header.TCPFlagACK, data(500, 3), s1.Mapping(1, c.DSN[1]-500, data(500, 3), false))
	wait(10 * time.Millisecond)
	s1.SendRaw(0, header.TCPFlagACK, nil)

	// A reinjection 40 ms after the first copy, not acknowledged: needed.
	dsn := c.DSN[1]
	s1.Send(1, data(700, 4))
	wait(40 * time.Millisecond)
	s2.SendAt(1, dsn, data(700, 4))
	// A reinjection of data whose first copy was DATA_ACKed: not needed.
	dsn2 := c.DSN[1]
	s1.Send(1, data(300, 5))
	wait(2 * time.Millisecond)
	s1.SendRaw(0, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: c.DSN[1]})
	wait(5 * time.Millisecond)
	s2.SendAt(1, dsn2, data(300, 5))
	r := a.Finish()

	st := col.Take(r.Connections[0].ID)
	if len(st.Subflows) != 2 {
		t.Fatalf("%d subflows", len(st.Subflows))
	}
	rtt := st.Subflows[0].Dirs[analyze.ServerToClient].RTT
	if rtt.Count != 3 || rtt.Min != 2*time.Millisecond || rtt.Max != 50*time.Millisecond || rtt.Mean() != 82*time.Millisecond/3 {
		t.Errorf("RTT %d samples, min %v mean %v max %v; want 3, 2ms, 27.333ms, 50ms", rtt.Count, rtt.Min, rtt.Mean(), rtt.Max)
	}
	ri := st.Reinjections[analyze.ServerToClient]
	if ri.Count != 2 || ri.Bytes != 1000 || ri.Unneeded != 1 || ri.UnneededBytes != 300 || len(ri.List) != 2 {
		t.Fatalf("reinjections %+v", ri)
	}
	if x := ri.List[0]; x.Subflow != 2 || x.Original != 1 || x.Delay != 40*time.Millisecond || !x.Needed || x.Len != 700 {
		t.Errorf("first reinjection %+v", x)
	}
	if x := ri.List[1]; x.Original != 1 || x.Needed || x.Delay <= 0 {
		t.Errorf("second reinjection %+v", x)
	}
	// Goodput: every byte delivered once, on the subflow that carried it
	// first; the reinjected copies are throughput, not goodput.
	var good, wire [2]uint64
	for i, sf := range st.Subflows {
		for _, b := range sf.Dirs[1].Goodput {
			good[i] += b
		}
		for _, b := range sf.Dirs[1].Bytes {
			wire[i] += b
		}
	}
	if good[0]+good[1] != r.Connections[0].Streams[1].Bytes || good[1] != 0 || wire[1] != 1000 || wire[0] != 4000 {
		t.Errorf("goodput %v, bytes %v; stream %d", good, wire, r.Connections[0].Streams[1].Bytes)
	}
	if col.Take(r.Connections[0].ID).Subflows != nil {
		t.Errorf("Take did not forget the connection")
	}
}

// TestBinsCoarsen: a capture longer than MaxBins bins doubles the bin
// width and keeps every byte.
func TestBinsCoarsen(t *testing.T) {
	col := New(Config{Bin: time.Millisecond, MaxBins: 16})
	a := analyze.New(analyze.Config{OnPacket: col.Add})
	c := synth.New(1, 2, a.Packet)
	c.Step = 3 * time.Millisecond
	s1 := c.Handshake(cli1, srv1)
	for i := range 40 {
		s1.Send(0, data(100, byte(i)))
	}
	r := a.Finish()
	st := col.Take(r.Connections[0].ID)
	if col.Bin() <= time.Millisecond || len(st.Subflows[0].Dirs[0].Goodput) > 16 {
		t.Errorf("bin %v, %d bins", col.Bin(), len(st.Subflows[0].Dirs[0].Goodput))
	}
	var sum uint64
	for _, b := range st.Subflows[0].Dirs[0].Goodput {
		sum += b
	}
	if sum != 4000 {
		t.Errorf("goodput sum %d, want 4000", sum)
	}
}
