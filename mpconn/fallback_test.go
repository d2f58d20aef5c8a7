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

// stripMPTCP overwrites option 30 with NOPs (as a middlebox that removes
// unknown options does, keeping the header length).
func stripMPTCP(seg []byte) []byte {
	out := append([]byte(nil), seg...)
	h := header.TCP(out)
	opts := out[header.TCPMinHeaderLen:h.DataOffset()]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case header.TCPOptEOL:
			return out
		case header.TCPOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return out
		}
		l := int(opts[i+1])
		if opts[i] == header.TCPOptMPTCP {
			for k := i; k < i+l; k++ {
				opts[k] = header.TCPOptNOP
			}
		}
		i += l
	}
	return out
}

func isSynAck(seg []byte) bool {
	f := header.TCP(seg).Flags()
	return f&header.TCPFlagSYN != 0 && f&header.TCPFlagACK != 0
}

func TestFallbackSynAckStripped(t *testing.T) {
	n, cli, srv := twoHosts(t, 106, Config{}, Config{})
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		if isSynAck(seg) {
			return stripMPTCP(seg)
		}
		return seg
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(500<<10, 1)
	if got := n.pump(c, s, data, time.Minute, true); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	back := randomData(200<<10, 2)
	if got := n.pump(s, c, back, time.Minute, true); !bytes.Equal(got, back) {
		t.Fatal("data back differs")
	}
	if !c.Fallback() || !s.Fallback() {
		t.Fatalf("fallback client %v server %v", c.Fallback(), s.Fallback())
	}
	if cli.mib.MPCapableFallbackSYNACK.Load() != 1 || srv.mib.MPCapableFallbackACK.Load() != 1 {
		t.Fatalf("fallback counters: client SYNACK %d, server ACK %d", cli.mib.MPCapableFallbackSYNACK.Load(), srv.mib.MPCapableFallbackACK.Load())
	}
	if len(c.Subflows()) != 1 {
		t.Fatalf("%d subflows after fallback", len(c.Subflows()))
	}
	if !n.runUntil(2*time.Minute, func() bool { return c.Finished() && s.Finished() }) {
		t.Fatalf("not finished: %s / %s", brief(c), brief(s))
	}
}

func TestFallbackDataOptionsStripped(t *testing.T) {
	// Options go through the handshake; a middlebox strips them from
	// every segment that carries data afterwards, both ways.
	n, cli, srv := twoHosts(t, 107, Config{}, Config{})
	n.mangle = func(src, dst netip.AddrPort, seg []byte) []byte {
		if len(header.TCP(seg).Payload()) > 0 {
			return stripMPTCP(seg)
		}
		return seg
	}
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(400<<10, 3)
	back := randomData(300<<10, 4)
	if got := n.pump(c, s, data, time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if got := n.pump(s, c, back, time.Minute, false); !bytes.Equal(got, back) {
		t.Fatal("data back differs")
	}
	if !c.Fallback() || !s.Fallback() {
		t.Fatalf("fallback client %v server %v: %s / %s", c.Fallback(), s.Fallback(), brief(c), brief(s))
	}
	if srv.mib.MPCapableDataFallback.Load()+cli.mib.MPCapableDataFallback.Load() == 0 {
		t.Fatal("MPCapableDataFallback not counted")
	}
}

func TestPlainTCPPeer(t *testing.T) {
	n, cli, srv := twoHosts(t, 108, Config{}, Config{})
	srv.plainListen = true
	c := cli.dial("10.0.1.2:80")
	if !n.runUntil(10*time.Second, func() bool { return c.State() == StateEstablished && len(srv.plain) == 1 }) {
		t.Fatalf("no connection: %v", c.State())
	}
	ep := srv.plain[0]
	data := randomData(300<<10, 5)
	off := 0
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	n.runUntil(time.Minute, func() bool {
		if off < len(data) {
			w, _ := c.Write(data[off:])
			off += w
		}
		r, _ := ep.Read(buf)
		got.Write(buf[:r])
		return got.Len() == len(data)
	})
	if !bytes.Equal(got.Bytes(), data) || !c.Fallback() {
		t.Fatalf("got %d of %d bytes, fallback %v", got.Len(), len(data), c.Fallback())
	}
}

// rewriteOnce changes one payload byte of the first data segment that
// carries byte offset at of the subflow stream from src to dst.
func rewriteOnce(src, dst netip.Addr, at uint32) func(s, d netip.AddrPort, seg []byte) []byte {
	var base uint32
	haveBase, done := false, false
	return func(s, d netip.AddrPort, seg []byte) []byte {
		if done || s.Addr() != src || d.Addr() != dst {
			return seg
		}
		h := header.TCP(seg)
		if h.Flags()&header.TCPFlagSYN != 0 {
			base, haveBase = h.Seq()+1, true
			return seg
		}
		p := h.Payload()
		off := h.Seq() - base
		if !haveBase || len(p) == 0 || off > at || at-off >= uint32(len(p)) {
			return seg
		}
		out := append([]byte(nil), seg...)
		header.TCP(out).Payload()[at-off] ^= 0x5a
		done = true
		return out
	}
}

func TestChecksumFailureOnePath(t *testing.T) {
	cfg := Config{Checksum: true, DisableJoins: true}
	n, cli, srv := twoHosts(t, 109, cfg, cfg)
	n.mangle = rewriteOnce(addr("10.0.1.1"), addr("10.0.1.2"), 70000)
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(400<<10, 6)
	got := n.pump(c, s, data, 2*time.Minute, true)
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && i < len(data) && got[i] == data[i] {
			i++
		}
		t.Fatalf("got %d of %d bytes, first difference at %d", len(got), len(data), i)
	}
	if srv.mib.DataCsumErr.Load() != 1 || srv.mib.MPFailTx.Load() == 0 || cli.mib.MPFailRx.Load() == 0 {
		t.Fatalf("csum err %d, MP_FAIL tx %d rx %d", srv.mib.DataCsumErr.Load(), srv.mib.MPFailTx.Load(), cli.mib.MPFailRx.Load())
	}
	if cli.mib.InfiniteMapTx.Load() == 0 || srv.mib.InfiniteMapRx.Load() == 0 {
		t.Fatalf("infinite mapping tx %d rx %d", cli.mib.InfiniteMapTx.Load(), srv.mib.InfiniteMapRx.Load())
	}
	if !c.Fallback() || !s.Fallback() {
		t.Fatal("no fallback after MP_FAIL")
	}
	// Data keeps flowing the other way after the fallback.
	back := randomData(100<<10, 7)
	if got := n.pump(s, c, back, time.Minute, true); !bytes.Equal(got, back) {
		t.Fatal("data back differs")
	}
}

func TestChecksumFailureTwoPaths(t *testing.T) {
	cfg := Config{Checksum: true}
	n, cli, srv := twoHosts(t, 110, cfg, cfg)
	// Corrupt a byte on the second path only.
	n.mangle = rewriteOnce(addr("10.0.2.1"), addr("10.0.2.2"), 30000)
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	data := randomData(3<<20, 8)
	if got := n.pump(c, s, data, 5*time.Minute, false); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if srv.mib.DataCsumErr.Load() != 1 || srv.mib.MPFailTx.Load() != 1 || srv.mib.MPRstTx.Load() == 0 {
		t.Fatalf("csum err %d, MP_FAIL tx %d, MP_TCPRST tx %d", srv.mib.DataCsumErr.Load(), srv.mib.MPFailTx.Load(), srv.mib.MPRstTx.Load())
	}
	if c.Fallback() || s.Fallback() {
		t.Fatal("fell back although another subflow carries on")
	}
	closed := c.Info().Closed
	if len(closed) != 1 || closed[0].Local.Addr() != addr("10.0.2.1") {
		t.Fatalf("closed subflows %+v", closed)
	}
	if cli.mib.MPTCPRetrans.Load() == 0 {
		t.Fatal("the failed subflow's data was not reinjected")
	}
}

// joinSYN builds an MP_JOIN SYN from src to dst for token.
func joinSYN(src, dst netip.AddrPort, token, nonce uint32, seq uint32) []byte {
	o := option.Option{Subtype: option.SubtypeMPJoin, MPJoin: option.MPJoin{Stage: option.JoinSYN, Token: token, Nonce: nonce, AddrID: 9}}
	opts, _ := o.Append(nil)
	return buildSeg(src, dst, seq, 0, header.TCPFlagSYN, opts, nil)
}

func buildSeg(src, dst netip.AddrPort, seq, ack uint32, flags header.TCPFlags, opts, payload []byte) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, header.TCPOptNOP)
	}
	hl := header.TCPMinHeaderLen + len(opts)
	b := make([]byte, hl+len(payload))
	header.TCP(b).Encode(&header.TCPFields{SrcPort: src.Port(), DstPort: dst.Port(), Seq: seq, Ack: ack,
		DataOffset: hl, Flags: flags, Window: 65535})
	copy(b[header.TCPMinHeaderLen:], opts)
	copy(b[hl:], payload)
	return b
}

// attacker records what a scripted peer at addr receives.
type attacker struct {
	got []tcp.Segment
	raw [][]byte
}

func (n *simNet) addAttacker(a string, to ...string) *attacker {
	at := &attacker{}
	h := n.addHost("attacker", Config{}, a)
	h.deliverHook = func(src, dst netip.AddrPort, b []byte) {
		seg, _ := tcp.ParseSegment(header.TCP(b))
		at.got = append(at.got, seg)
		at.raw = append(at.raw, b)
	}
	for _, d := range to {
		n.link(a, d, 5*time.Millisecond, 0)
	}
	return at
}

// rstReason returns the MP_TCPRST reason of a reset, or -1.
func rstReason(seg tcp.Segment) int {
	for it := header.NewTCPOptionIterator(seg.Options); it.Next(); {
		if it.Kind() != header.TCPOptMPTCP {
			continue
		}
		if o, err := option.Parse(it.Raw()); err == nil && o.Subtype == option.SubtypeMPTCPRst {
			return int(o.MPTCPRst.Reason)
		}
	}
	return -1
}

func TestForgedJoins(t *testing.T) {
	n, cli, srv := twoHosts(t, 111, Config{}, Config{})
	at := n.addAttacker("10.0.1.66", "10.0.1.2")
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(200<<10, 9)
	if got := n.pump(c, s, data[:100<<10], time.Minute, false); !bytes.Equal(got, data[:100<<10]) {
		t.Fatal("data differs")
	}
	evil := netip.MustParseAddrPort("10.0.1.66:4444")
	srvAddr := netip.MustParseAddrPort("10.0.1.2:80")
	_, token := s.Tokens()
	token = s.localToken

	// 1. A guessed token: refused with MP_TCPRST, counted.
	n.send(evil, srvAddr, joinSYN(evil, srvAddr, token^0x5a5a5a5a, 1, 1000))
	n.runFor(100 * time.Millisecond)
	if len(at.got) != 1 || at.got[0].Flags&header.TCPFlagRST == 0 || rstReason(at.got[0]) != int(option.RstMPTCPError) {
		t.Fatalf("unknown token: got %d segments, want one RST with MP_TCPRST", len(at.got))
	}
	if srv.mib.MPJoinNoTokenFound.Load() != 1 {
		t.Fatalf("MPJoinNoTokenFound %d", srv.mib.MPJoinNoTokenFound.Load())
	}

	// 2. The right token (it is on the wire) but no key: the attacker
	// cannot compute the third ACK's HMAC. The SYN/ACK comes, the ACK with
	// a made-up HMAC is refused and the subflow never joins.
	at.got = nil
	n.send(evil, srvAddr, joinSYN(evil, srvAddr, token, 777, 5000))
	n.runFor(100 * time.Millisecond)
	if len(at.got) != 1 || at.got[0].Flags != header.TCPFlagSYN|header.TCPFlagACK {
		t.Fatalf("join with a known token: %d segments", len(at.got))
	}
	synack := at.got[0]
	ack := option.Option{Subtype: option.SubtypeMPJoin, MPJoin: option.MPJoin{Stage: option.JoinACK, HMAC: [20]byte{1, 2, 3}}}
	opts, _ := ack.Append(nil)
	at.got = nil
	n.send(evil, srvAddr, buildSeg(evil, srvAddr, 5001, synack.Seq+1, header.TCPFlagACK, opts, nil))
	n.runFor(100 * time.Millisecond)
	if len(at.got) == 0 || at.got[0].Flags&header.TCPFlagRST == 0 || rstReason(at.got[0]) != int(option.RstMPTCPError) {
		t.Fatalf("bad HMAC: got %v, want RST with MP_TCPRST", at.got)
	}
	if srv.mib.MPJoinAckHMacFailure.Load() != 1 || srv.mib.MPJoinAckRx.Load() != 1 {
		// MPJoinAckRx counts the legitimate join of the client only.
		t.Fatalf("MPJoinAckHMacFailure %d, MPJoinAckRx %d", srv.mib.MPJoinAckHMacFailure.Load(), srv.mib.MPJoinAckRx.Load())
	}

	// 3. The same SYN replayed (same nonce): refused outright.
	at.got = nil
	evil2 := netip.MustParseAddrPort("10.0.1.66:4445")
	n.send(evil2, srvAddr, joinSYN(evil2, srvAddr, token, 777, 9000))
	n.runFor(100 * time.Millisecond)
	if len(at.got) != 1 || at.got[0].Flags&header.TCPFlagRST == 0 || srv.mib.MPJoinReplayed.Load() != 1 {
		t.Fatalf("replayed nonce: %d segments, MPJoinReplayed %d", len(at.got), srv.mib.MPJoinReplayed.Load())
	}

	// The connection is untouched: the rest of the data arrives, and the
	// attacker's address never carried any.
	if got := n.pump(c, s, data[100<<10:], time.Minute, false); !bytes.Equal(got, data[100<<10:]) {
		t.Fatal("data after the attacks differs")
	}
	for _, sf := range append(s.Info().Subflows, s.Info().Closed...) {
		if sf.Remote.Addr() == evil.Addr() && sf.DataRecv > 0 {
			t.Fatal("data accepted from the attacker's subflow")
		}
	}
}

func TestJoinLimit(t *testing.T) {
	n, cli, srv := twoHosts(t, 112, Config{}, Config{MaxSubflows: 1})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	n.runFor(2 * time.Second)
	if len(s.Subflows()) != 1 || srv.mib.MPJoinRejected.Load() == 0 {
		t.Fatalf("server has %d subflows, %d joins rejected", len(s.Subflows()), srv.mib.MPJoinRejected.Load())
	}
	data := randomData(100<<10, 10)
	if got := n.pump(c, s, data, time.Minute, true); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}
