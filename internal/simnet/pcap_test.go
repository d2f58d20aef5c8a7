package simnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/link/emu"
)

// mptcpOverTwoPaths plays a synthetic MPTCP connection (real keys, a
// verified join, DSS with checksums) over two paths of a Net: the initial
// subflow A:40000->B:80 on path 1 (10 ms), the join A2:40001->B2:80 on
// path 2 (30 ms, with the given middlebox spec client to server), the
// data alternating between them so that it arrives out of order at the
// data level. It returns the capture and the data sent client to server.
func mptcpOverTwoPaths(t *testing.T, path2 emu.Spec) (pcap []byte, data []byte, n *Net) {
	t.Helper()
	n = New(5)
	for _, a := range []netip.Addr{addrA, addrA2, addrB, addrB2} {
		if err := n.Attach(&sink{n: n}, a); err != nil {
			t.Fatal(err)
		}
	}
	path2.Delay = 30 * ms
	n.Link(addrA, addrB, emu.Spec{Delay: 10 * ms}, emu.Spec{Delay: 10 * ms})
	n.Link(addrA2, addrB2, path2, emu.Spec{Delay: 30 * ms})
	var buf bytes.Buffer
	c, err := n.Capture(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	conn := synth.New(0xa1a2a3a4a5a6a7a8, 0xb1b2b3b4b5b6b7b8, func(_ time.Time, p []byte) { pkts = append(pkts, bytes.Clone(p)) })
	conn.Checksum = true
	s1 := conn.Handshake(ap(addrA, 40000), ap(addrB, 80))
	data = randomData(200_000, 11)
	s1.Send(0, data[:1000])
	s1.Send(1, []byte("server says hi"))
	s2 := conn.Join(ap(addrA2, 40001), ap(addrB2, 80), synth.JoinOptions{})
	for off, i := 1000, 0; off < len(data); off, i = off+1400, i+1 {
		chunk := data[off:min(off+1400, len(data))]
		if i%2 == 0 {
			s1.Send(0, chunk)
		} else {
			s2.Send(0, chunk)
		}
	}
	closing := len(pkts)
	s1.DataFIN(0)
	s1.DataFIN(1)
	s1.Close()
	s2.Close()
	// One packet per 100 us; the DATA_FINs and FINs once everything else
	// has arrived, as a real sender waits for the DATA_ACK.
	for i, p := range pkts {
		at := time.Duration(i) * 100 * time.Microsecond
		if i >= closing {
			at += 100 * ms
		}
		n.At(at, func() { n.Send(p) })
	}
	drain(t, n)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.Packets() != len(pkts) {
		t.Fatalf("captured %d of %d packets", c.Packets(), len(pkts))
	}
	return buf.Bytes(), data, n
}

func analyzePcap(t *testing.T, pcap []byte) *analyze.Result {
	t.Helper()
	src, format, err := capture.NewReader(bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	if format != capture.FormatPcap {
		t.Fatalf("format %v", format)
	}
	a := analyze.New(analyze.Config{Hash: true})
	if _, err := analyze.ReadSource(context.Background(), a, src, nil); err != nil {
		t.Fatal(err)
	}
	return a.Finish()
}

// TestPcapAnalyzed: the capture of simulated MPTCP traffic reads back with
// package capture, and package analyze finds the connection, verifies the
// join, and rebuilds the client's stream byte-exact although its pieces
// arrive out of order over paths of different delays.
func TestPcapAnalyzed(t *testing.T) {
	pcap, data, _ := mptcpOverTwoPaths(t, emu.Spec{})
	r := analyzePcap(t, pcap)
	if len(r.Connections) != 1 {
		t.Fatalf("%d connections, findings %+v", len(r.Connections), r.Findings)
	}
	cn := r.Connections[0]
	sum := sha256.Sum256(data)
	if !cn.Verified || len(cn.Subflows) != 2 || cn.Subflows[1].JoinHMAC != "verified" || !cn.Checksums {
		t.Errorf("connection %+v", cn)
	}
	st := cn.Streams[analyze.ClientToServer]
	if st.SHA256 != hex.EncodeToString(sum[:]) || st.Bytes != uint64(len(data)) || st.HoleCount != 0 ||
		st.ChecksumsFailed != 0 || st.ChecksumsOK == 0 || !st.DataFIN {
		t.Errorf("client stream %+v", st)
	}
	if r.First != PcapEpoch.Add(10*ms) || r.Last.Sub(r.First) < 100*ms { // the SYN left path 1 at 10 ms
		t.Errorf("timestamps %v .. %v", r.First, r.Last)
	}
}

// TestPcapMiddleboxSeenByAnalyzer: a middlebox on path 2 rewrites a byte of
// the join's payload (TCP checksum fixed): the analyzer of the capture
// catches it with the DSS checksum, as the receiver would.
func TestPcapMiddleboxSeenByAnalyzer(t *testing.T) {
	pcap, _, n := mptcpOverTwoPaths(t, emu.Spec{Rewrite: 3000})
	if st := n.paths[1].Stats(AToB); st.Rewritten != 1 {
		t.Fatalf("path 2 stats %+v", st)
	}
	r := analyzePcap(t, pcap)
	if len(r.Connections) != 1 {
		t.Fatalf("%d connections", len(r.Connections))
	}
	if st := r.Connections[0].Streams[analyze.ClientToServer]; st.ChecksumsFailed != 1 {
		t.Errorf("analyzer saw %d DSS checksum failures, want 1 (stream %+v)", st.ChecksumsFailed, st)
	}
}
