package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
)

var updateAnalyze = flag.Bool("update-analyze", false, "rewrite the analyze golden files in testdata")

// analyzeScenario writes a synthetic two-path MPTCP exchange (with a
// forged join if forged) to a capture file and returns the data each
// direction carried.
func analyzeScenario(t *testing.T, path string, ng, forged bool) (up, down []byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var w capture.Writer
	eth := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00}
	lt := capture.LinkTypeRaw
	if ng {
		nw, err := capture.NewPcapngWriter(f, capture.PcapngWriterOptions{Application: "analyze test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nw.AddInterface(capture.Interface{LinkType: capture.LinkTypeEthernet, Name: "veth0"}); err != nil {
			t.Fatal(err)
		}
		w, lt = nw, capture.LinkTypeEthernet
	} else {
		pw, err := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w = pw
	}
	emit := func(ts time.Time, pkt []byte) {
		data := pkt
		if lt == capture.LinkTypeEthernet {
			data = append(append([]byte(nil), eth...), pkt...)
			if pkt[0]>>4 == 6 {
				data[12], data[13] = 0x86, 0xdd
			}
		}
		if err := w.WritePacket(capture.Packet{Timestamp: ts, LinkType: lt, Data: data, CaptureLength: len(data), Length: len(data)}); err != nil {
			t.Fatal(err)
		}
	}
	c := synth.New(0x0123456789abcdef, 0xfedcba9876543210, emit)
	cli1 := netip.MustParseAddrPort("198.18.1.1:40000")
	srv1 := netip.MustParseAddrPort("198.18.1.2:5201")
	cli2 := netip.MustParseAddrPort("198.18.2.1:40001")
	srv2 := netip.MustParseAddrPort("198.18.2.2:5201")
	s1 := c.Handshake(cli1, srv1)
	s2 := c.Join(cli2, srv2, synth.JoinOptions{Backup: true})
	if forged {
		c.Join(netip.MustParseAddrPort("203.0.113.9:666"), srv1, synth.JoinOptions{BadHMAC: true})
	}
	up = bytes.Repeat([]byte("GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n"), 40)
	for i := range 30 {
		down = append(down, []byte(strings.Repeat(string(rune('a'+i%26)), 997))...)
	}
	for off := 0; off < len(up); off += 500 {
		[]*synth.Subflow{s1, s2}[off/500%2].Send(0, up[off:min(off+500, len(up))])
	}
	for off := 0; off < len(down); off += 1400 {
		[]*synth.Subflow{s1, s2}[off/1400%3%2].Send(1, down[off:min(off+1400, len(down))])
	}
	s1.DataFIN(0)
	s2.DataFIN(1)
	s1.Close()
	s2.Close()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return up, down
}

func runAnalyzeCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "analyze_"+name+".golden")
	if *updateAnalyze {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-analyze to create)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func shaHex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestAnalyzeGolden(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	ng := filepath.Join(dir, "forged.pcapng")
	analyzeScenario(t, ng, true, true)

	out, stderr, code := runAnalyzeCmd(t, "analyze", "--hash", pcap)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	golden(t, "two_paths", out)
	// The golden file is reviewed, but check the essentials directly too.
	for _, want := range []string{shaHex(up), shaHex(down), "grouping verified by keys", "join (hmac verified) backup"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	out, _, code = runAnalyzeCmd(t, "analyze", "--hash", ng)
	if code != exitFailure {
		t.Errorf("forged join: exit %d, want %d", code, exitFailure)
	}
	golden(t, "forged_join", out)
	if !strings.Contains(out, "join_hmac_mismatch") || !strings.Contains(out, "rejected subflows") {
		t.Errorf("forged join not reported:\n%s", out)
	}

	out, _, code = runAnalyzeCmd(t, "analyze", "--packets", pcap)
	if code != exitOK {
		t.Fatalf("--packets exit %d", code)
	}
	// The option lines come from the decoder, whose own tests own their
	// wording: the golden file keeps the per-packet lines and the summary,
	// and every packet line must be followed by its option's line.
	var pktLines []string
	nopts, inPackets := 0, true
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			inPackets = false
		}
		if inPackets && strings.HasPrefix(l, "    ") {
			nopts++
			continue
		}
		pktLines = append(pktLines, l)
	}
	if nopts != 41 {
		t.Errorf("%d option lines for the 41 packets", nopts)
	}
	golden(t, "packets", strings.Join(pktLines, "\n"))
}

func TestAnalyzeJSON(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcapng")
	up, down := analyzeScenario(t, pcap, true, false)
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", pcap)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r analyze.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Connections) != 1 || len(r.Connections[0].Subflows) != 2 {
		t.Fatalf("connections %+v", r.Connections)
	}
	c := r.Connections[0]
	if c.Streams[0].SHA256 != shaHex(up) || c.Streams[1].SHA256 != shaHex(down) {
		t.Errorf("stream hashes differ")
	}
	// Stable field names scripts rely on.
	for _, k := range []string{`"connections"`, `"subflows"`, `"streams"`, `"sha256"`, `"join_hmac"`, `"grouped_by"`, `"holes"`} {
		if k == `"holes"` {
			continue // omitted when empty
		}
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

func TestAnalyzeStreamsFlattenPlot(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	sdir := filepath.Join(dir, "streams")
	flat := filepath.Join(dir, "flat.pcap")
	svg := filepath.Join(dir, "seq.svg")
	png := filepath.Join(dir, "seq.png")
	_, stderr, code := runAnalyzeCmd(t, "analyze", "--streams", sdir, "--flatten", flat, "--plot", svg, pcap)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for d, want := range [][]byte{up, down} {
		got, err := os.ReadFile(filepath.Join(sdir, analyze.StreamFile(1, d)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("stream file %d: %d bytes, want %d", d, len(got), len(want))
		}
	}
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("subflow #2")) {
		t.Errorf("svg: %v", err)
	}
	if _, _, code := runAnalyzeCmd(t, "analyze", "--plot", png, pcap); code != exitOK {
		t.Errorf("png: exit %d", code)
	}
	if b, err := os.ReadFile(png); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("png: %v", err)
	}

	// The flattened capture, read back by our analyzer: one plain TCP
	// conversation carrying both streams.
	f, err := capture.Open(flat)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for {
		p, err := f.Next()
		if err != nil {
			break
		}
		n++
		if p.LinkType != capture.LinkTypeRaw {
			t.Fatalf("link type %v", p.LinkType)
		}
	}
	if n < 4 {
		t.Fatalf("%d packets in the flattened capture", n)
	}

	// tshark's Follow TCP Stream must give the same bytes.
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: skipping the Follow TCP Stream check")
	}
	gotUp, gotDown := tsharkFollow(t, flat, 0)
	if !bytes.Equal(gotUp, up) || !bytes.Equal(gotDown, down) {
		t.Errorf("tshark follow: %d/%d bytes, want %d/%d", len(gotUp), len(gotDown), len(up), len(down))
	}
}

// tsharkFollow returns both directions of TCP stream idx as tshark's
// "-z follow,tcp,raw" prints them (hex, the second direction indented).
func tsharkFollow(t *testing.T, file string, idx int) (cli, srv []byte) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", file, "-q", "-z", "follow,tcp,raw,"+itoa(idx)).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(string(out), "\n")
	started := false
	for _, l := range lines {
		if strings.HasPrefix(l, "Node 1:") {
			started = true
			continue
		}
		if !started || strings.HasPrefix(l, "===") || strings.TrimSpace(l) == "" {
			continue
		}
		isSrv := strings.HasPrefix(l, "\t")
		b, err := hex.DecodeString(strings.TrimSpace(l))
		if err != nil {
			t.Fatalf("tshark line %q: %v", l, err)
		}
		if isSrv {
			srv = append(srv, b...)
		} else {
			cli = append(cli, b...)
		}
	}
	return cli, srv
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestAnalyzeUsageAndBadInput(t *testing.T) {
	if _, _, code := runAnalyzeCmd(t, "analyze"); code != exitUsage {
		t.Errorf("no file: exit %d", code)
	}
	if _, _, code := runAnalyzeCmd(t, "analyze", "--plot", "x.gif", "f"); code != exitUsage {
		t.Errorf("bad plot: exit %d", code)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a capture at all"), 0o644)
	if _, stderr, code := runAnalyzeCmd(t, "analyze", bad); code != exitFailure || !strings.Contains(stderr, "unknown capture format") {
		t.Errorf("bad file: exit %d %q", code, stderr)
	}
	// A truncated capture: reported, and what came before is analyzed.
	pcap := filepath.Join(dir, "two.pcap")
	analyzeScenario(t, pcap, false, false)
	b, _ := os.ReadFile(pcap)
	os.WriteFile(pcap, b[:len(b)-30], 0o644)
	out, stderr, code := runAnalyzeCmd(t, "analyze", pcap)
	if code != exitFailure || !strings.Contains(stderr, "truncated") || !strings.Contains(out, "connection 1") {
		t.Errorf("truncated: exit %d stderr %q", code, stderr)
	}
}

func TestAnalyzeGzipAndPacketsJSON(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcapng")
	up, _ := analyzeScenario(t, pcap, true, false)
	raw, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzFile := filepath.Join(dir, "two.pcapng.gz")
	if err := os.WriteFile(gzFile, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--hash", gzFile)
	if code != exitOK || !strings.Contains(out, shaHex(up)) {
		t.Fatalf("gzip: exit %d %s\n%s", code, stderr, out)
	}
	out, _, code = runAnalyzeCmd(t, "analyze", "--packets", "--json", pcap)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var dsnSeen, optsSeen int
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			break
		}
		if _, ok := m["connections"]; ok {
			break // the result follows the packets
		}
		if _, ok := m["dsn"]; ok {
			dsnSeen++
		}
		if _, ok := m["mptcp_options"]; ok {
			optsSeen++
		}
	}
	if dsnSeen == 0 || optsSeen == 0 {
		t.Errorf("--packets --json: %d packets with dsn, %d with options", dsnSeen, optsSeen)
	}
}

// TestAnalyzeCorruptRecord: a record in the middle of a pcap with an
// impossible length is reported with its place, and the packets after it
// are still analyzed.
func TestAnalyzeCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	b, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	// Walk to the 20th record and give it a captured length of 2 GiB.
	off := 24
	for range 19 {
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	binary.LittleEndian.PutUint32(b[off+8:], 0x7fffffff)
	if err := os.WriteFile(pcap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", pcap)
	if code != exitFailure {
		t.Errorf("exit %d, want %d (input error)", code, exitFailure)
	}
	if !strings.Contains(stderr, "corrupt") || !strings.Contains(stderr, "after packet 19") {
		t.Errorf("stderr does not say what and where: %q", stderr)
	}
	var r analyze.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Packets < 40 || len(r.Connections) != 1 {
		t.Fatalf("packets after the corrupt record were not analyzed: %d packets", r.Packets)
	}
	// One data segment is lost with the record: a hole, not invented bytes.
	c := r.Connections[0]
	holes := len(c.Streams[0].Holes) + len(c.Streams[1].Holes)
	if holes != 1 || c.Streams[0].Bytes+c.Streams[1].Bytes >= uint64(len(up)+len(down)) {
		t.Errorf("streams: %+v", c.Streams)
	}
}
