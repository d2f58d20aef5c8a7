package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/report"
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

// normalize replaces what changes from build to build (the tool version)
// and run to run (the temporary directory) in an output.
func normalize(out, dir string) string {
	v := toolVersion()
	out = strings.ReplaceAll(out, fmt.Sprintf("%q", v), `"TEST"`)
	return strings.ReplaceAll(out, dir, "DIR")
}

func TestAnalyzeGolden(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	ng := filepath.Join(dir, "forged.pcapng")
	analyzeScenario(t, ng, true, true)

	out, stderr, code := runAnalyzeCmd(t, "analyze", "--hash", "--stats", pcap)
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	golden(t, "two_paths", out)
	// The golden file is reviewed, but check the essentials directly too.
	for _, want := range []string{shaHex(up), shaHex(down), "grouping verified by keys", "join (hmac verified) backup", "rtt min/mean/max"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	out, _, code = runAnalyzeCmd(t, "analyze", "--json", "--hash", "--stats", pcap)
	if code != exitOK {
		t.Fatalf("--json exit %d", code)
	}
	golden(t, "two_paths_json", normalize(out, dir))

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
	// and every packet line must be followed by its options' lines.
	var pktLines []string
	nopts, inPackets := 0, true
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "connection ") {
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

// TestAnalyzeTcpdumpCaptures: golden summaries of the captures of
// tcpdump's test suite (testdata/tcpdump): real kernels' traffic, among it
// Linux 5.6's leftmost-bits ADD_ADDR HMAC and segments of no connection.
func TestAnalyzeTcpdumpCaptures(t *testing.T) {
	for _, tc := range []struct {
		file string
		code int
		want []string
	}{
		{"mptcp-v0.pcap", exitOK, []string{"MPTCP v0, grouping verified by keys", "join (hmac verified)", "DSS checksums 58 ok, 0 FAILED"}},
		{"mptcp-v1.pcap", exitOK, []string{"MPTCP v1", "client->server 10268 B"}},
		{"mptcp-aa-v1.pcap", exitOK, []string{"WARNING add_addr_hmac_leftmost", "leftmost 64 bits"}},
		{"mptcp-aa-echo.pcap", exitOK, []string{"add_addr_echo", "segments with MPTCP options of no connection seen: 2"}},
		{"mptcp-tcprst.pcap", exitOK, []string{"mp_tcprst (unspecified error)", "mp_tcprst (MPTCP-specific error)"}},
		{"mptcp-fclose.pcap", exitOK, []string{"ended: fastclose"}},
		{"mptcp-dss-oobr.pcap", exitOK, []string{"malformed_option"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, stderr, code := runAnalyzeCmd(t, "analyze", "--hash", filepath.Join("testdata", "tcpdump", tc.file))
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			golden(t, "tcpdump_"+strings.TrimSuffix(tc.file, ".pcap"), out)
			js, _, _ := runAnalyzeCmd(t, "analyze", "--json", "--hash", filepath.Join("testdata", "tcpdump", tc.file))
			golden(t, "tcpdump_"+strings.TrimSuffix(tc.file, ".pcap")+"_json", normalize(js, "\x00"))
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
	// ADD_ADDR's HMAC check is what makes mptcp-aa-v1 an error without the
	// leftmost-bits rule: --fail-on warning makes it fail again.
	if _, _, code := runAnalyzeCmd(t, "analyze", "--fail-on", "warning", filepath.Join("testdata", "tcpdump", "mptcp-aa-v1.pcap")); code != exitFailure {
		t.Errorf("--fail-on warning: exit %d", code)
	}
}

func TestAnalyzeJSON(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcapng")
	up, down := analyzeScenario(t, pcap, true, false)
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", pcap)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var d report.Document
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Connections) != 1 || len(d.Connections[0].Subflows) != 2 || d.SchemaVersion != report.SchemaVersion || d.Tool.Version != toolVersion() {
		t.Fatalf("document %+v", d)
	}
	c := d.Connections[0]
	if *c.Streams.ClientToServer.SHA256 != shaHex(up) || *c.Streams.ServerToClient.SHA256 != shaHex(down) {
		t.Errorf("stream hashes differ")
	}
	// 64-bit values are strings; absent values are null, not missing.
	for _, k := range []string{`"client_key": "0123456789abcdef"`, `"origin_dsn": "`, `"idsn": "`, `"fallback": null`, `"reinjections": null`, `"orphans": []`} {
		if !strings.Contains(out, k) {
			t.Errorf("JSON lacks %s", k)
		}
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

// TestAnalyzeCorruptRecord: a record in the middle of a pcap with an
// impossible length is reported with its place, and the packets after it
// are still analyzed; the exit status says the input was not read whole.
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
	if code != exitInput {
		t.Errorf("exit %d, want %d (input not read whole)", code, exitInput)
	}
	if !strings.Contains(stderr, "corrupt") || !strings.Contains(stderr, "two.pcap: after packet 19") {
		t.Errorf("stderr does not say what and where: %q", stderr)
	}
	var d report.Document
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if d.Capture.Packets < 40 || len(d.Connections) != 1 || !d.Summary.InputErrors || len(d.Inputs[0].Errors) != 1 {
		t.Fatalf("packets after the corrupt record were not analyzed: %+v", d.Capture)
	}
	// One data segment is lost with the record: a hole, not invented bytes.
	c := d.Connections[0]
	holes := len(c.Streams.ClientToServer.Holes) + len(c.Streams.ServerToClient.Holes)
	if holes != 1 || c.Streams.ClientToServer.Bytes+c.Streams.ServerToClient.Bytes >= uint64(len(up)+len(down)) {
		t.Errorf("streams: %+v", c.Streams)
	}
}
