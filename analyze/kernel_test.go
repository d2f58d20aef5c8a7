package analyze_test

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/flatten"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
)

// These tests capture the kernel's MPTCP (the reference peer) talking to
// itself across network namespaces, analyze the capture and compare the
// reassembled streams with what the Go endpoints sent and received. They
// need root, iproute2, tcpdump and a kernel with MPTCP.

// kernelCase is one capture scenario.
type kernelCase struct {
	name  string
	paths int
	// offload keeps TSO/GSO/GRO on (captures show super-segments).
	offload  bool
	checksum bool
	// failPath takes this path down (1-based) once failAt of the upload
	// has been written.
	failPath int
	failAt   float64
	// ifaces to capture on the client (empty: "any", one pcap). Several
	// are merged into one pcapng with one interface each.
	ifaces []string
	pcapng bool
	// singleLink: the capture covers one path; holes are expected.
	singleLink bool
	// lateStart > 0 starts the capture once this part of the upload has
	// been written: the handshakes are not captured.
	lateStart float64
}

func needKernelLab(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel lab tests are skipped in -short mode")
	}
	labtest.Requirements(t, "tcpdump")
}

func TestKernelCaptures(t *testing.T) {
	needKernelLab(t)
	cases := []kernelCase{
		{name: "2paths-any-pcap", paths: 2},
		{name: "3paths-tso-pcapng", paths: 3, offload: true, ifaces: []string{"wifi", "cellular", "path3"}, pcapng: true},
		{name: "path-fails", paths: 2, failPath: 1, failAt: 0.3},
		{name: "single-link", paths: 2, ifaces: []string{"wifi"}, singleLink: true},
		{name: "single-link-tso", paths: 2, offload: true, ifaces: []string{"wifi"}, singleLink: true},
		{name: "checksums", paths: 2, checksum: true},
		{name: "late-start", paths: 2, lateStart: 0.3},
	}
	for _, kc := range cases {
		t.Run(kc.name, func(t *testing.T) { runKernelCase(t, kc) })
	}
}

func runKernelCase(t *testing.T, kc kernelCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	// Bridged paths (a path fails by SetPathDown); the lab routes joins
	// on every path.
	l := labtest.New(t, lab.Config{Paths: make([]lab.PathSpec, kc.paths), Offload: kc.offload})
	if kc.checksum {
		for _, side := range []lab.Side{lab.Client, lab.Server} {
			if out, err := l.Command(ctx, side, "sysctl", "-w", "net.mptcp.checksum_enabled=1").CombinedOutput(); err != nil {
				t.Fatalf("checksum sysctl: %v: %s", err, out)
			}
		}
	}
	dir := t.TempDir()
	ifaces := kc.ifaces
	if len(ifaces) == 0 {
		ifaces = []string{"any"}
	}
	var stops []func() (lab.CaptureStats, error)
	var files []string
	startCaptures := func() {
		for _, ifc := range ifaces {
			f := filepath.Join(dir, ifc+".pcap")
			stop, err := l.Capture(ctx, lab.Client, ifc, f)
			if err != nil {
				t.Fatalf("capture %s: %v", ifc, err)
			}
			stops = append(stops, stop)
			files = append(files, f)
		}
	}
	var progress func(float64)
	if kc.lateStart == 0 {
		startCaptures()
	} else {
		started := false
		progress = func(frac float64) {
			if !started && frac >= kc.lateStart {
				started = true
				startCaptures()
			}
		}
	}
	up, down := kernelTransfer(t, ctx, l, kc, progress)
	// Let the subflows' closing exchanges finish; the capture itself
	// holds everything sent before stop.
	time.Sleep(300 * time.Millisecond)
	dropped := 0
	for _, stop := range stops {
		st, err := stop()
		if err != nil && !errors.Is(err, lab.ErrCaptureDropped) {
			t.Fatalf("stop capture: %v", err)
		}
		dropped += st.Dropped
	}
	if dropped > 0 {
		// A loaded machine makes the capture lose packets: the analyzer
		// must then report holes, and deliver exactly the rest.
		t.Logf("tcpdump dropped %d packets: holes are expected", dropped)
	}
	file := files[0]
	if kc.pcapng || len(files) > 1 {
		file = filepath.Join(dir, "merged.pcapng")
		mergeToPcapng(t, files, ifaces, file)
	}

	if keep := os.Getenv("ANALYZE_KEEP_CAPTURES"); keep != "" {
		// For debugging: keep the capture.
		b, _ := os.ReadFile(file)
		os.WriteFile(filepath.Join(keep, kc.name+filepath.Ext(file)), b, 0o644)
	}
	f, err := capture.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Flatten while analyzing: tshark's Follow TCP Stream of the result
	// must give back what the endpoints sent.
	flatName := filepath.Join(dir, "flat.pcap")
	flatFile, err := os.Create(flatName)
	if err != nil {
		t.Fatal(err)
	}
	defer flatFile.Close()
	pw, err := capture.NewPcapWriter(flatFile, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fw := flatten.New(pw)
	col := &collectSink{next: fw, data: map[[2]int][]chunk{}}
	a := analyze.New(analyze.Config{Hash: true, Sink: col})
	if _, err := analyze.ReadSource(ctx, a, f, nil); err != nil {
		t.Fatal(err)
	}
	r := a.Finish()
	if err := errors.Join(fw.Err(), pw.Flush()); err != nil {
		t.Fatal(err)
	}
	var cn *analyze.Connection
	for i := range r.Connections {
		c := &r.Connections[i]
		if c.Server.Port() == 5201 || c.Client.Port() == 5201 {
			if cn != nil {
				t.Errorf("more than one connection to port 5201")
			}
			cn = c
		}
	}
	if cn == nil {
		t.Fatalf("no MPTCP connection found in %s: %+v", file, r)
	}
	t.Logf("%s: %d packets, %d subflows, streams %d/%d bytes, holes %v / %v, events %d, findings %v",
		kc.name, r.Packets, len(cn.Subflows), cn.Streams[0].Bytes, cn.Streams[1].Bytes,
		cn.Streams[0].Holes, cn.Streams[1].Holes, len(cn.Events), cn.Findings)
	for _, f := range cn.Findings {
		if f.Severity == analyze.Error {
			t.Errorf("error finding: %+v", f)
		}
	}
	if kc.lateStart > 0 {
		// No handshake: the subflows are grouped by data sequence
		// continuity, unverified, and what was delivered is exactly a
		// part of what was sent.
		if cn.Verified || cn.GroupedBy != "dsn" || len(cn.Subflows) != kc.paths {
			t.Errorf("late capture: verified %v grouped by %q, %d subflows", cn.Verified, cn.GroupedBy, len(cn.Subflows))
		}
		if !hasFinding(cn.Findings, analyze.CodeUnverified) {
			t.Errorf("late capture: no %s finding", analyze.CodeUnverified)
		}
		sent := [][]byte{up, down}
		if cn.Client.Port() == 5201 {
			// Without the SYN the first packet seen decides who is the
			// client: here the server.
			sent[0], sent[1] = down, up
		}
		for d, want := range sent {
			// The download may be over before a loaded machine starts
			// the capture; the upload still has most of its way to go.
			col.check(t, cn.ID, d, want, &want[0] == &up[0])
		}
		return
	}
	if !cn.Verified || cn.Version != "v1" {
		t.Errorf("verified %v version %q", cn.Verified, cn.Version)
	}
	if cn.Checksums != kc.checksum {
		t.Errorf("checksums %v, want %v", cn.Checksums, kc.checksum)
	}
	if kc.checksum && (cn.Streams[0].ChecksumsOK == 0 || cn.Streams[0].ChecksumsFailed != 0) {
		t.Errorf("DSS checksums: %d verified, %d failed", cn.Streams[0].ChecksumsOK, cn.Streams[0].ChecksumsFailed)
	}
	if kc.singleLink {
		if len(cn.Subflows) != 1 {
			t.Errorf("single link: %d subflows", len(cn.Subflows))
		}
		missing := false
		for d, want := range [][]byte{up, down} {
			checkWithHoles(t, d, &cn.Streams[d], want, col.data[[2]int{cn.ID, d}])
			if cn.Streams[d].Bytes < uint64(len(want)) {
				missing = true
				if len(cn.Streams[d].Holes) == 0 {
					t.Errorf("dir %d: %d of %d bytes seen on one link, and no hole reported", d, cn.Streams[d].Bytes, len(want))
				}
			}
		}
		if missing && !hasFinding(cn.Findings, analyze.CodeHole) {
			t.Errorf("no hole finding")
		}
		if !missing {
			t.Logf("the other path carried no data this time: nothing is missing from the one link")
		}
	} else {
		if len(cn.Subflows) != kc.paths {
			t.Errorf("%d subflows, want %d", len(cn.Subflows), kc.paths)
		}
		for d, want := range [][]byte{up, down} {
			st := cn.Streams[d]
			if dropped > 0 {
				checkWithHoles(t, d, &st, want, col.data[[2]int{cn.ID, d}])
				continue
			}
			if st.SHA256 != sha(want) || len(st.Holes) != 0 {
				t.Errorf("%s: %d bytes sha %s holes %v; the endpoint had %d bytes sha %s",
					st.Direction, st.Bytes, st.SHA256, st.Holes, len(want), sha(want))
			}
		}
		for _, sf := range cn.Subflows[1:] {
			if sf.Role != "join" || sf.JoinHMAC != "verified" {
				t.Errorf("subflow %d: role %s hmac %s", sf.ID, sf.Role, sf.JoinHMAC)
			}
		}
	}
	if kc.failPath > 0 {
		found := false
		for _, e := range cn.Events {
			if e.Type == "handover" && e.Subflow == cn.Subflows[0].ID {
				found = true
			}
		}
		if !found {
			var shares []string
			for _, sf := range cn.Subflows {
				shares = append(shares, fmt.Sprintf("subflow %d: data %d/%d bytes, last seen %v, end %s",
					sf.ID, sf.Dirs[0].DataBytes, sf.Dirs[1].DataBytes, sf.LastSeen.Format("15:04:05.000000"), sf.End))
			}
			t.Errorf("no handover away from the failed path (%s): events %+v", strings.Join(shares, "; "), cn.Events)
		}
	}
	compareTsharkGrouping(t, file, r)
	if _, err := exec.LookPath("tshark"); err == nil && !kc.singleLink && dropped == 0 && len(r.Connections) == 1 {
		cli, srv := tsharkFollow(t, flatName)
		if sha(cli) != sha(up) || sha(srv) != sha(down) {
			t.Errorf("tshark's follow of the flattened capture: %d/%d bytes, want %d/%d", len(cli), len(srv), len(up), len(down))
		} else {
			t.Logf("flattened capture: tshark's follow,tcp,raw gives the endpoints' %d/%d bytes", len(cli), len(srv))
		}
	}
}

// tsharkFollow returns both directions of the first TCP stream of file as
// tshark's "Follow TCP Stream" (-z follow,tcp,raw,0) prints them.
func tsharkFollow(t *testing.T, file string) (cli, srv []byte) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-q", "-z", "follow,tcp,raw,0").Output()
	if err != nil {
		t.Fatalf("tshark follow: %v", err)
	}
	started := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Node 1:") {
			started = true
			continue
		}
		if !started || strings.HasPrefix(l, "===") || strings.TrimSpace(l) == "" {
			continue
		}
		b, err := hex.DecodeString(strings.TrimSpace(l))
		if err != nil {
			t.Fatalf("tshark follow line %q: %v", l, err)
		}
		if strings.HasPrefix(l, "\t") {
			srv = append(srv, b...)
		} else {
			cli = append(cli, b...)
		}
	}
	return cli, srv
}

// checkWithHoles checks that the delivered bytes are exactly the sent
// bytes minus the reported holes.
func checkWithHoles(t *testing.T, d int, st *analyze.Stream, want []byte, delivered []chunk) {
	t.Helper()
	var kept []byte
	pos := uint64(0)
	for _, h := range st.Holes {
		if h.Offset > uint64(len(want)) || h.Offset < pos {
			t.Errorf("dir %d: hole %+v outside the data (%d bytes)", d, h, len(want))
			return
		}
		kept = append(kept, want[pos:h.Offset]...)
		pos = h.Offset + h.Size
	}
	if pos < st.End && st.End <= uint64(len(want)) {
		kept = append(kept, want[pos:st.End]...)
	}
	if st.SHA256 != sha(kept) {
		t.Errorf("dir %d: delivered bytes (%d) are not the sent bytes minus the holes (%d)", d, st.Bytes, len(kept))
		diagnoseDelivery(t, d, want, delivered)
	}
}

// diagnoseDelivery logs the first delivered chunk whose bytes differ from
// what was sent at its offset, and where those bytes really are in the
// sent data, so that a failure in CI says which placement went wrong.
func diagnoseDelivery(t *testing.T, d int, want []byte, delivered []chunk) {
	t.Helper()
	for i, c := range delivered {
		end := c.off + uint64(len(c.data))
		if end <= uint64(len(want)) && bytes.Equal(c.data, want[c.off:end]) {
			continue
		}
		at := -1
		if len(c.data) > 0 {
			at = bytes.Index(want, c.data[:min(len(c.data), 64)])
		}
		first := 0
		for first < len(c.data) && c.off+uint64(first) < uint64(len(want)) && c.data[first] == want[c.off+uint64(first)] {
			first++
		}
		t.Logf("dir %d: chunk %d of %d at offset %d (%d bytes) differs from the sent data from byte %d on; its first bytes were sent at offset %d",
			d, i, len(delivered), c.off, len(c.data), first, at)
		return
	}
	t.Logf("dir %d: every delivered chunk matches the sent data at its offset (%d chunks): the hash or the hole list is off", d, len(delivered))
}

// kernelTransfer runs a paced two-way transfer between a Go MPTCP client
// and server in the lab and returns what the client sent and received.
func kernelTransfer(t *testing.T, ctx context.Context, l *lab.Lab, kc kernelCase, progress func(float64)) (up, down []byte) {
	t.Helper()
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(ctx, "tcp4", ":5201")
		return err
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	scale := 1
	if v, err := strconv.Atoi(os.Getenv("ANALYZE_KERNEL_SCALE")); err == nil && v > 0 {
		scale = v // bigger transfers, e.g. to make a benchmark capture
	}
	up = payload(scale*3<<20, 101)
	down = payload(scale*2<<20, 202)
	var srvGot []byte
	var srvErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		defer c.Close()
		werr := make(chan error, 1)
		go func() { werr <- pacedWrite(c, down, nil); c.(*net.TCPConn).CloseWrite() }()
		srvGot, srvErr = io.ReadAll(c)
		if err := <-werr; srvErr == nil {
			srvErr = err
		}
	}()
	joinsBefore, err := l.MPTCPCounters(lab.Client)
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if err := l.Do(lab.Client, func() error {
		var d net.Dialer
		d.SetMultipathTCP(true)
		var err error
		c, err = d.DialContext(ctx, "tcp4", netip.AddrPortFrom(l.ServerAddr(1), 5201).String())
		return err
	}); err != nil {
		t.Fatalf("dial: %v", err)
	}
	// The path manager opens the other subflows shortly after the
	// handshake: wait for them before data flows, so that a loaded machine
	// cannot carry the transfer (or a late capture's window) on one subflow.
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if _, err := l.WaitCounter(wctx, lab.Client, "MPTcpExtMPJoinSynAckRx",
		joinsBefore["MPTcpExtMPJoinSynAckRx"]+uint64(kc.paths-1)); err != nil {
		t.Logf("not every path joined before the transfer: %v", err)
	}
	cancel()
	c.SetDeadline(time.Now().Add(240 * time.Second))
	done := false
	fail := func(frac float64) {
		if progress != nil {
			progress(frac)
		}
		if kc.failPath > 0 && !done && frac >= kc.failAt {
			done = true
			if err := l.SetPathDown(kc.failPath); err != nil {
				t.Errorf("path down: %v", err)
			}
		}
	}
	var got []byte
	rdone := make(chan error, 1)
	go func() {
		var err error
		got, err = io.ReadAll(c)
		rdone <- err
	}()
	if err := pacedWrite(c, up, fail); err != nil {
		t.Fatalf("client write: %v", err)
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-rdone; err != nil {
		t.Fatalf("client read: %v", err)
	}
	c.Close()
	wg.Wait()
	if srvErr != nil {
		t.Fatalf("server: %v", srvErr)
	}
	if !bytes.Equal(srvGot, up) || !bytes.Equal(got, down) {
		t.Fatalf("the kernel's transfer itself is wrong: server got %d/%d, client %d/%d", len(srvGot), len(up), len(got), len(down))
	}
	return up, down
}

// pacedWrite writes b in 256 KiB bursts about every 25 ms (some 10 MB/s):
// the transfer lasts long enough for a path to fail in its middle, and
// each burst is more than one subflow's window, so every subflow carries
// data.
func pacedWrite(w io.Writer, b []byte, progress func(float64)) error {
	const chunk = 256 << 10
	for off := 0; off < len(b); off += chunk {
		if _, err := w.Write(b[off:min(off+chunk, len(b))]); err != nil {
			return err
		}
		if progress != nil {
			progress(float64(off) / float64(len(b)))
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil
}

// mergeToPcapng merges pcap files (one per interface) into one pcapng
// with one interface each, in timestamp order.
func mergeToPcapng(t *testing.T, files, names []string, out string) {
	t.Helper()
	type rec struct {
		p   capture.Packet
		ifc int
	}
	var all []rec
	var lts []capture.LinkType
	for i, name := range files {
		f, err := capture.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		lt := capture.LinkType(0)
		for {
			p, err := f.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			p.Data = bytes.Clone(p.Data)
			lt = p.LinkType
			all = append(all, rec{p, i})
		}
		f.Close()
		lts = append(lts, lt)
	}
	slices.SortStableFunc(all, func(a, b rec) int { return a.p.Timestamp.Compare(b.p.Timestamp) })
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	w, err := capture.NewPcapngWriter(o, capture.PcapngWriterOptions{Application: "analyze kernel test"})
	if err != nil {
		t.Fatal(err)
	}
	for i, lt := range lts {
		if lt == 0 {
			lt = capture.LinkTypeEthernet
		}
		if _, err := w.AddInterface(capture.Interface{LinkType: lt, Name: names[i]}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range all {
		r.p.Interface = r.ifc
		if err := w.WritePacket(r.p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// compareTsharkGrouping checks that subflows are grouped into connections
// as tshark's mptcp.stream groups them.
func compareTsharkGrouping(t *testing.T, file string, r *analyze.Result) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: grouping not compared")
		return
	}
	cmd := exec.Command("tshark", "-r", file, "-o", "mptcp.analyze_mptcp:TRUE", "-Y", "mptcp",
		"-T", "fields", "-E", "separator=,", "-e", "mptcp.stream",
		"-e", "ip.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "tcp.dstport")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	theirs := map[flowKey]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) != 5 || f[0] == "" {
			continue
		}
		src, err1 := netip.ParseAddrPort(f[1] + ":" + f[2])
		dst, err2 := netip.ParseAddrPort(f[3] + ":" + f[4])
		if err1 != nil || err2 != nil {
			continue
		}
		theirs[canonical(src, dst)] = f[0]
	}
	ours := map[flowKey]int{}
	for _, c := range r.Connections {
		for _, sf := range c.Subflows {
			ours[canonical(sf.Client, sf.Server)] = c.ID
		}
	}
	keys := make([]flowKey, 0, len(theirs))
	for k := range theirs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b flowKey) int { return cmp.Or(a.a.Compare(b.a), a.b.Compare(b.b)) })
	if len(keys) == 0 {
		t.Errorf("tshark found no MPTCP subflows")
	}
	for i, k := range keys {
		if _, ok := ours[k]; !ok {
			t.Errorf("tshark's subflow %v-%v is in none of our connections", k.a, k.b)
			continue
		}
		for _, k2 := range keys[i+1:] {
			if (theirs[k] == theirs[k2]) != (ours[k] == ours[k2]) {
				t.Errorf("grouping differs for %v and %v: tshark streams %s/%s, ours %d/%d",
					k, k2, theirs[k], theirs[k2], ours[k], ours[k2])
			}
		}
	}
}

// Helpers of the external test package.

type flowKey struct{ a, b netip.AddrPort }

func canonical(x, y netip.AddrPort) flowKey {
	if x.Compare(y) < 0 {
		return flowKey{x, y}
	}
	return flowKey{y, x}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func payload(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func hasFinding(fs []analyze.Finding, code string) bool {
	for _, f := range fs {
		if f.Code == code {
			return true
		}
	}
	return false
}

// chunk is data a Sink received.
type chunk struct {
	off  uint64
	data []byte
}

// collectSink keeps every stream's delivered data (the tests' transfers
// are a few MB) and passes the calls on.
type collectSink struct {
	next analyze.Sink
	data map[[2]int][]chunk
}

func (s *collectSink) Data(c *analyze.ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	k := [2]int{c.ID, dir}
	s.data[k] = append(s.data[k], chunk{off, bytes.Clone(b)})
	s.next.Data(c, dir, ts, off, b)
}

func (s *collectSink) Hole(c *analyze.ConnInfo, dir int, ts time.Time, off, size uint64) {
	s.next.Hole(c, dir, ts, off, size)
}

func (s *collectSink) End(c *analyze.ConnInfo, dir int, ts time.Time) { s.next.End(c, dir, ts) }

// check verifies that the data delivered for a stream whose origin is
// unknown (no keys) is sent data at one fixed offset: found from its first
// bytes, then every chunk compared.
func (s *collectSink) check(t *testing.T, conn, dir int, sent []byte, required bool) {
	t.Helper()
	cs := s.data[[2]int{conn, dir}]
	if len(cs) == 0 {
		if required {
			t.Errorf("dir %d: nothing delivered", dir)
		} else {
			t.Logf("dir %d: nothing captured", dir)
		}
		return
	}
	probe := cs[0].data[:min(len(cs[0].data), 256)]
	base := bytes.Index(sent, probe)
	if base < 0 {
		t.Errorf("dir %d: the first delivered bytes are not in what was sent", dir)
		return
	}
	base -= int(cs[0].off)
	total := 0
	for _, c := range cs {
		lo := base + int(c.off)
		if lo < 0 || lo+len(c.data) > len(sent) || !bytes.Equal(sent[lo:lo+len(c.data)], c.data) {
			t.Errorf("dir %d: %d bytes at offset %d differ from what was sent", dir, len(c.data), c.off)
			return
		}
		total += len(c.data)
	}
	t.Logf("dir %d: %d delivered bytes all match the sent data from offset %d", dir, total, base)
}
