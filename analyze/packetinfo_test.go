package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// pktLog records the per-packet view of every segment.
type pktLog struct {
	infos []PacketInfo
}

func (l *pktLog) add(pi *PacketInfo) {
	c := *pi
	c.Options = nil
	l.infos = append(l.infos, c)
}

func (l *pktLog) last() PacketInfo { return l.infos[len(l.infos)-1] }

// TestPacketFlags: each analysis flag of the per-packet view is set on
// the segment it describes, and only there.
func TestPacketFlags(t *testing.T) {
	var log pktLog
	rec, a := newRec(Config{OnPacket: log.add})
	c := synth.New(11, 12, rec.emit)
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{})
	flags := func() PacketFlags { return log.last().Analysis }

	// One segment carrying a whole mapping: its first and last byte.
	dsnA := c.DSN[1]
	a1 := payload(1000, 1)
	s1.Send(1, a1)
	if got := flags(); got != PacketMappingStart|PacketMappingEnd {
		t.Errorf("whole mapping: flags %v", got.Names())
	}
	// The same packet again: a retransmission.
	a.Packet(rec.ts[len(rec.ts)-1], rec.pkts[len(rec.pkts)-1])
	if got := flags(); got&PacketRetransmission == 0 || got&PacketReinjection != 0 {
		t.Errorf("retransmitted segment: flags %v", got.Names())
	}
	// The same data on the other subflow: new there, a reinjection.
	s2.SendAt(1, dsnA, a1)
	if got := flags(); got&PacketReinjection == 0 || got&PacketRetransmission != 0 {
		t.Errorf("reinjection: flags %v", got.Names())
	}
	// Data beyond a gap at the data level is out of order; the data that
	// fills the gap is not.
	gap := payload(100, 2)
	dsnGap := c.DSN[1]
	c.DSN[1] += uint64(len(gap))
	s1.Send(1, payload(500, 3))
	if got := flags(); got&PacketDataOutOfOrder == 0 {
		t.Errorf("data after a gap: flags %v", got.Names())
	}
	s2.SendAt(1, dsnGap, gap)
	if got := flags(); got&(PacketDataOutOfOrder|PacketReinjection|PacketRetransmission) != 0 {
		t.Errorf("data filling the gap: flags %v", got.Names())
	}
	// One mapping over two segments: the first holds its start, the
	// second its end.
	two := payload(2000, 4)
	m := s1.Mapping(1, c.DSN[1], two, false)
	c.DSN[1] += uint64(len(two))
	s1.SendRaw(1, header.TCPFlagACK, two[:1000], m)
	if got := flags(); got&(PacketMappingStart|PacketMappingEnd) != PacketMappingStart {
		t.Errorf("first segment of a mapping: flags %v", got.Names())
	}
	s1.SendRaw(1, header.TCPFlagACK, two[1000:])
	if got := flags(); got&(PacketMappingStart|PacketMappingEnd) != PacketMappingEnd {
		t.Errorf("second segment of a mapping: flags %v", got.Names())
	}
	// Two identical pure ACKs: the second is a duplicate ACK. Its
	// DATA_ACK is reported relative to the stream's origin.
	ack := &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: dsnA + 600}
	s1.SendRaw(0, header.TCPFlagACK, nil, ack)
	if got := flags(); got&PacketDuplicateACK != 0 {
		t.Errorf("first ACK: flags %v", got.Names())
	}
	if pi := log.last(); !pi.HasDataACK || pi.DataACK != 600 || pi.Dir != 0 {
		t.Errorf("DATA_ACK: has %v, %d (dir %d), want 600", pi.HasDataACK, pi.DataACK, pi.Dir)
	}
	s1.SendRaw(0, header.TCPFlagACK, nil, ack)
	if got := flags(); got != PacketDuplicateACK {
		t.Errorf("repeated ACK: flags %v", got.Names())
	}
	if pi := log.last(); pi.Window != 0xffff {
		t.Errorf("window %d", pi.Window)
	}
	// A source tag given with PacketFrom reaches the view.
	a.PacketFrom(rec.ts[len(rec.ts)-1], 3, rec.pkts[len(rec.pkts)-1])
	if pi := log.last(); pi.Source != 3 {
		t.Errorf("source %d, want 3", pi.Source)
	}
	if n := (PacketRetransmission | PacketMappingEnd).Names(); !slices.Equal(n, []string{"retransmission", "mapping_end"}) {
		t.Errorf("names %v", n)
	}
}

// TestOrphanSegments: segments with MPTCP options that belong to no
// connection are grouped by kind (and MP_TCPRST reason), counted by
// source, and never listed as connections; a SYN never answered is an
// orphan, not a connection.
func TestOrphanSegments(t *testing.T) {
	rec, a := newRec(Config{})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var buf []byte
	send := func(src, dst netip.AddrPort, flags header.TCPFlags, opts ...interface {
		Append([]byte) ([]byte, error)
	}) {
		var ob []byte
		for _, o := range opts {
			ob, _ = o.Append(ob)
		}
		for len(ob)%4 != 0 {
			ob = append(ob, 1)
		}
		buf = synth.Packet(buf[:0], src, dst, 1000, 2000, flags, ob, nil)
		now = now.Add(time.Millisecond)
		rec.emit(now, buf)
	}
	victim := netip.MustParseAddrPort("198.18.9.9:443")
	// A flood of MP_TCPRSTs from 300 sources, 1000 segments.
	for i := range 1000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i % 300 / 256), byte(i % 300)}), uint16(20000+i))
		send(src, victim, header.TCPFlagRST|header.TCPFlagACK, &option.MPTCPRst{Reason: option.RstReason(1)})
	}
	// An ADD_ADDR echo alone, twice on the same 4-tuple.
	lone := netip.MustParseAddrPort("198.18.7.1:40000")
	echo := &option.AddAddr{Version: option.V1, Echo: true, AddrID: 1, Addr: netip.MustParseAddr("198.18.7.2")}
	send(lone, victim, header.TCPFlagACK, echo)
	send(lone, victim, header.TCPFlagACK, echo)
	// A SYN with MP_CAPABLE, never answered, retransmitted once.
	syner := netip.MustParseAddrPort("198.18.6.1:40000")
	send(syner, victim, header.TCPFlagSYN, &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256})
	send(syner, victim, header.TCPFlagSYN, &option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256})
	// A real connection, whose first segment seen is a pure DATA_ACK
	// (capture started late): not an orphan.
	c := synth.New(21, 22, nil)
	c.Now = now
	s1 := c.Handshake(cli1, srv1)
	c.Emit = rec.emit
	s1.SendRaw(0, header.TCPFlagACK, nil, &option.DSS{Flags: option.DSSDataACK | option.DSSDataACK8, DataACK: c.DSN[1]})
	s1.Send(1, payload(3000, 5))
	r := a.Finish()

	if len(r.Connections) != 1 || r.Connections[0].Streams[1].Bytes != 3000 {
		t.Fatalf("connections: %+v", r.Connections)
	}
	byKind := map[string]Orphan{}
	for _, o := range r.Orphans {
		byKind[o.Kind+"/"+o.Detail] = o
	}
	rst, ok := byKind["mp_tcprst/"+option.RstReason(1).String()]
	if !ok {
		t.Fatalf("no MP_TCPRST group in %+v", r.Orphans)
	}
	if rst.Segments != 1000 || rst.Subflows != 1000 || len(rst.Sources) != maxOrphanSources {
		t.Errorf("MP_TCPRST group: %d segments, %d subflows, %d sources listed", rst.Segments, rst.Subflows, len(rst.Sources))
	}
	var listed uint64
	for _, s := range rst.Sources {
		listed += s.Segments
	}
	if listed+rst.OtherSources != 1000 || rst.Sources[0].Segments != 4 {
		t.Errorf("sources: %d listed + %d others; top %+v", listed, rst.OtherSources, rst.Sources[0])
	}
	if e, ok := byKind[OrphanAddAddrEcho+"/"]; !ok || e.Segments != 2 || e.Subflows != 1 || e.Example != lone.String()+" -> "+victim.String() {
		t.Errorf("ADD_ADDR echo: %+v", e)
	}
	if s, ok := byKind[OrphanSYN+"/"]; !ok || s.Segments != 2 || s.Sources[0].Addr != syner.Addr() {
		t.Errorf("unanswered SYN: %+v", s)
	}
	if _, ok := byKind[OrphanDSS+"/"]; ok || len(r.Orphans) != 3 {
		t.Errorf("orphans: %+v", r.Orphans)
	}
}

// TestUnansweredSYNWithHook: with OnConnection (what the CLI uses) an
// unanswered SYN is not handed over as a connection either.
func TestUnansweredSYNWithHook(t *testing.T) {
	var got []Connection
	rec, a := newRec(Config{OnConnection: func(c Connection) { got = append(got, c) }})
	c := synth.New(31, 32, nil)
	c.Emit = func(ts time.Time, p []byte) {
		if header.TCP(p[20:]).Flags()&header.TCPFlagSYN != 0 && header.TCP(p[20:]).Flags()&header.TCPFlagACK == 0 {
			rec.emit(ts, p)
		}
	}
	c.Handshake(cli1, srv1)
	r := a.Finish()
	if len(got) != 0 || len(r.Orphans) != 1 || r.Orphans[0].Kind != OrphanSYN {
		t.Errorf("connections %d, orphans %+v", len(got), r.Orphans)
	}
}

// TestAddAddrHMACLeftmost: an ADD_ADDR whose HMAC is the leftmost 64 bits
// (early Linux) is its own warning, not a forgery; one that matches
// neither is an error; the RFC's rightmost bits are silent.
func TestAddAddrHMACLeftmost(t *testing.T) {
	addr := netip.MustParseAddr("198.18.3.2")
	for _, tc := range []struct {
		name string
		hmac func(kS, kR uint64) uint64
		want string
	}{
		{"rightmost", func(kS, kR uint64) uint64 { return mpcrypto.AddAddrHMAC(kS, kR, 5, addr, 0) }, ""},
		{"leftmost", func(kS, kR uint64) uint64 { return mpcrypto.AddAddrHMACLeftmost(kS, kR, 5, addr, 0) }, CodeAddAddrHMACLegacy},
		{"neither", func(kS, kR uint64) uint64 { return 0x0123456789abcdef }, CodeAddAddrHMAC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, a := newRec(Config{})
			c := synth.New(41, 42, rec.emit)
			s1 := c.Handshake(cli1, srv1)
			// The server announces an address: keyed server key first.
			s1.SendRaw(1, header.TCPFlagACK, nil, &option.AddAddr{Version: option.V1, AddrID: 5, Addr: addr,
				HasHMAC: true, HMAC: tc.hmac(c.Keys[1], c.Keys[0])})
			r := a.Finish()
			var codes []string
			for _, f := range r.Connections[0].Findings {
				if strings.HasPrefix(f.Code, "add_addr") {
					codes = append(codes, fmt.Sprintf("%s/%s", f.Code, f.Severity))
				}
			}
			switch tc.want {
			case "":
				if len(codes) != 0 {
					t.Errorf("findings %v", codes)
				}
			case CodeAddAddrHMACLegacy:
				if !slices.Equal(codes, []string{CodeAddAddrHMACLegacy + "/warning"}) {
					t.Errorf("findings %v", codes)
				}
			default:
				if !slices.Equal(codes, []string{CodeAddAddrHMAC + "/error"}) {
					t.Errorf("findings %v", codes)
				}
			}
		})
	}
}

// TestMinOpenID: the lowest ID still open, as connections finish out of
// order.
func TestMinOpenID(t *testing.T) {
	var done []int
	rec, a := newRec(Config{OnConnection: func(c Connection) { done = append(done, c.ID) }})
	if a.MinOpenID() != 0 {
		t.Fatalf("empty analyzer: %d", a.MinOpenID())
	}
	c1 := synth.New(51, 52, rec.emit)
	s1 := c1.Handshake(cli1, srv1)
	c2 := synth.New(53, 54, rec.emit)
	s2 := c2.Handshake(cli2, srv2)
	s1.Send(0, payload(10, 1))
	s2.Send(0, payload(10, 2))
	if a.MinOpenID() != 1 {
		t.Errorf("two open: %d", a.MinOpenID())
	}
	s2.DataFIN(0)
	s2.DataFIN(1)
	s2.Close()
	if !slices.Equal(done, []int{2}) || a.MinOpenID() != 1 {
		t.Errorf("connection 2 finished first: done %v, min open %d", done, a.MinOpenID())
	}
	s1.DataFIN(0)
	s1.DataFIN(1)
	s1.Close()
	if !slices.Equal(done, []int{2, 1}) || a.MinOpenID() != 0 {
		t.Errorf("both finished: done %v, min open %d", done, a.MinOpenID())
	}
}

// TestReusedTupleClosesOldSubflow: a new connection's SYN on a 4-tuple
// whose subflow's end the capture missed closes that subflow (end
// "reused"), so its connection, over at the data level, is finished then
// rather than kept open until the end of the capture.
func TestReusedTupleClosesOldSubflow(t *testing.T) {
	var done []Connection
	rec, a := newRec(Config{OnConnection: func(c Connection) { done = append(done, c) }})
	c1 := synth.New(71, 72, rec.emit)
	s1 := c1.Handshake(cli1, srv1)
	s1.Send(0, payload(100, 1))
	s1.DataFIN(0)
	s1.DataFIN(1)
	// No FINs captured. A new connection on the same 4-tuple, with
	// another ISN (its second subflow's numbers).
	c2 := synth.New(73, 74, nil)
	c2.Now = c1.Now
	c2.Handshake(cli2, srv2)
	c2.Emit = rec.emit
	c2.Handshake(cli1, srv1)
	if len(done) != 1 || done[0].Subflows[0].End != "reused" || done[0].End != "data_fin" {
		t.Fatalf("old connection not finished at the reuse: %d handed over %+v", len(done), done)
	}
	r := a.Finish()
	if len(done) != 2 || done[1].ClientKey != "0000000000000049" {
		t.Errorf("new connection: %d handed over, result %+v", len(done), r.Connections)
	}
}
