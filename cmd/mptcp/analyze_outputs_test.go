package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schema compiles docs/analyze.schema.json; line is its NDJSON line.
func schema(t *testing.T) (doc, line *jsonschema.Schema) {
	t.Helper()
	c := jsonschema.NewCompiler()
	f, err := os.Open(filepath.Join("..", "..", "docs", "analyze.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("schema file: %v", err)
	}
	const id = "https://github.com/mptcp-go/mptcp/docs/analyze.schema.json"
	if err := c.AddResource(id, v); err != nil {
		t.Fatal(err)
	}
	if doc, err = c.Compile(id); err != nil {
		t.Fatalf("schema: %v", err)
	}
	if line, err = c.Compile(id + "#/$defs/line"); err != nil {
		t.Fatalf("schema line: %v", err)
	}
	return doc, line
}

func validate(t *testing.T, s *jsonschema.Schema, what, text string) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, text)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("%s does not follow the schema: %v", what, err)
	}
}

// TestAnalyzeSchema: the JSON of every kind of input follows the schema
// file (every key documented, present, of its type), and every line of
// --packets --json follows its line schema. The example in docs is
// checked too.
func TestAnalyzeSchema(t *testing.T) {
	doc, line := schema(t)
	dir := t.TempDir()
	two := filepath.Join(dir, "two.pcap")
	analyzeScenario(t, two, false, false)
	forged := filepath.Join(dir, "forged.pcapng")
	analyzeScenario(t, forged, true, true)
	var inputs [][]string
	inputs = append(inputs, []string{two}, []string{forged}, []string{"--stats", two}, []string{"--stats", "--streams", filepath.Join(dir, "s"), two},
		[]string{two, forged}, []string{"--conn", "1", forged})
	tcpdumps, _ := filepath.Glob(filepath.Join("testdata", "tcpdump", "*.pcap"))
	for _, f := range tcpdumps {
		inputs = append(inputs, []string{f})
	}
	for _, in := range inputs {
		out, _, _ := runAnalyzeCmd(t, append([]string{"analyze", "--json", "--hash"}, in...)...)
		validate(t, doc, strings.Join(in, " "), out)
		out, _, _ = runAnalyzeCmd(t, append([]string{"analyze", "--packets", "--json", "--hash"}, in...)...)
		types := map[string]int{}
		for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			validate(t, line, strings.Join(in, " ")+" line "+itoa(i+1), l)
			var m struct{ Type string }
			json.Unmarshal([]byte(l), &m)
			types[m.Type]++
		}
		if types["summary"] != 1 || types["packet"] == 0 {
			t.Errorf("%v: lines by type %v", in, types)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "analyze-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, doc, "docs/analyze-example.json", string(b))
}

// TestAnalyzeNDJSON: --packets --json is pure NDJSON: one object per line,
// each with its type, packets carrying their analysis flags, connection,
// subflow and direction, the summary last.
func TestAnalyzeNDJSON(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcapng")
	analyzeScenario(t, pcap, true, false)
	raw, _ := os.ReadFile(pcap)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzFile := filepath.Join(dir, "two.pcapng.gz")
	os.WriteFile(gzFile, gz.Bytes(), 0o644)
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--packets", "--json", gzFile)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var types []string
	flags := map[string]int{}
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		typ, _ := m["type"].(string)
		types = append(types, typ)
		if typ == "packet" {
			for _, f := range m["analysis"].([]any) {
				flags[f.(string)]++
			}
			if m["connection"] != nil && (m["subflow"] == nil || m["direction"] == nil) {
				t.Errorf("packet line without subflow or direction: %s", sc.Text())
			}
		}
	}
	// The connection's line comes when it finishes (its last FIN), before
	// the last ACKs; the summary is last.
	count := map[string]int{}
	for _, typ := range types {
		count[typ]++
	}
	if len(types) != 41+2 || count["packet"] != 41 || count["connection"] != 1 || types[0] != "packet" || types[42] != "summary" {
		t.Errorf("line types %v", types)
	}
	if flags["mapping_start"] == 0 || flags["mapping_end"] == 0 {
		t.Errorf("analysis flags seen: %v", flags)
	}
}

// twoConns writes a capture with two MPTCP connections (different keys,
// ports and data) and returns each connection's client-to-server data.
func twoConns(t *testing.T, path string) (data [2][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(ts time.Time, pkt []byte) {
		w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: pkt, CaptureLength: len(pkt), Length: len(pkt)})
	}
	var cs [2]*synth.Conn
	var sfs [2][2]*synth.Subflow
	for i := range 2 {
		cs[i] = synth.New(uint64(0x1111+i), uint64(0x2222+i), emit)
		cs[i].Now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
		sfs[i][0] = cs[i].Handshake(netip.AddrPortFrom(netip.MustParseAddr("198.18.1.1"), uint16(40000+i)), netip.MustParseAddrPort("198.18.1.2:443"))
		sfs[i][1] = cs[i].Join(netip.AddrPortFrom(netip.MustParseAddr("198.18.2.1"), uint16(41000+i)), netip.MustParseAddrPort("198.18.2.2:443"), synth.JoinOptions{})
		data[i] = bytes.Repeat([]byte{byte('a' + i), byte('0' + i)}, 5000+1000*i)
	}
	for off := 0; off < len(data[1]); off += 1000 {
		for i := range 2 {
			if off < len(data[i]) {
				sfs[i][off/1000%2].Send(0, data[i][off:min(off+1000, len(data[i]))])
			}
		}
	}
	for i := range 2 {
		sfs[i][0].DataFIN(0)
		sfs[i][0].DataFIN(1)
		sfs[i][0].Close()
		sfs[i][1].Close()
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return data
}

func decodeDoc(t *testing.T, out string) report.Document {
	t.Helper()
	var d report.Document
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

// TestAnalyzeConnWriteConn: --conn chooses a connection by ID, token, key,
// or ADDR:PORT/address of any subflow, for the summary, --packets and
// --streams; --write-conn extracts its packets, which analyze to the same
// connection with the same SHA-256, in pcap, pcapng and gzip.
func TestAnalyzeConnWriteConn(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two-conns.pcap")
	data := twoConns(t, pcap)
	out, _, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", pcap)
	all := decodeDoc(t, out)
	if code != exitOK || len(all.Connections) != 2 {
		t.Fatalf("exit %d, %d connections", code, len(all.Connections))
	}
	second := all.Connections[1]
	if *second.Streams.ClientToServer.SHA256 != shaHex(data[1]) {
		t.Fatalf("connection 2 does not carry the second data")
	}
	for _, sel := range []string{"2", "id:2", *second.ClientToken, *second.ServerToken, *second.ClientKey, second.Subflows[1].Client, "198.18.1.1:40001"} {
		out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", "--conn", sel, pcap)
		d := decodeDoc(t, out)
		if code != exitOK || len(d.Connections) != 1 || d.Connections[0].ID != 2 || d.Capture.Selected[0] != sel {
			t.Errorf("--conn %s: exit %d %s, %d connections", sel, code, stderr, len(d.Connections))
		}
	}
	// An address matches every connection with a subflow there.
	if d := decodeDoc(t, first(runAnalyzeCmd(t, "analyze", "--json", "--conn", "198.18.2.2", pcap))); len(d.Connections) != 2 {
		t.Errorf("--conn ADDR: %d connections", len(d.Connections))
	}
	// --packets and --streams follow the choice.
	out, _, _ = runAnalyzeCmd(t, "analyze", "--packets", "--conn", "2", pcap)
	if strings.Contains(out, "conn=1 ") || !strings.Contains(out, "conn=2 ") {
		t.Errorf("--packets --conn 2 shows other connections")
	}
	sdir := filepath.Join(dir, "streams")
	runAnalyzeCmd(t, "analyze", "--streams", sdir, "--conn", "2", pcap)
	if got, _ := os.ReadFile(filepath.Join(sdir, analyze.StreamFile(2, 0))); !bytes.Equal(got, data[1]) {
		t.Errorf("stream file of connection 2: %d bytes", len(got))
	}
	if _, err := os.Stat(filepath.Join(sdir, analyze.StreamFile(1, 0))); err == nil {
		t.Errorf("--streams wrote connection 1, not chosen")
	}
	// Every packet on connection 2's 4-tuples, its last ACKs included
	// (after the analysis saw the connection end).
	tuples := map[[2]netip.AddrPort]bool{}
	for _, sf := range second.Subflows {
		tuples[canonicalPair(netip.MustParseAddrPort(sf.Client), netip.MustParseAddrPort(sf.Server))] = true
	}
	want := 0
	src, err := capture.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := src.Next()
		if err != nil {
			break
		}
		if a, b, ok := tcpEnds(p); ok && tuples[canonicalPair(a, b)] {
			want++
		}
	}
	src.Close()
	for _, name := range []string{"one.pcapng", "one.pcap", "one.pcap.gz", "one.cap"} {
		ext := filepath.Join(dir, name)
		_, stderr, code := runAnalyzeCmd(t, "analyze", "--conn", "2", "--write-conn", ext, pcap)
		if code != exitOK || !strings.Contains(stderr, "written to "+ext) {
			t.Fatalf("--write-conn %s: exit %d %s", name, code, stderr)
		}
		if name == "one.cap" && !strings.Contains(stderr, "writing pcapng") {
			t.Errorf("--write-conn without a known extension does not say what it wrote: %s", stderr)
		}
		out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", ext)
		d := decodeDoc(t, out)
		if code != exitOK || len(d.Connections) != 1 {
			t.Fatalf("%s: exit %d %s: %d connections", name, code, stderr, len(d.Connections))
		}
		c := d.Connections[0]
		if *c.Streams.ClientToServer.SHA256 != *second.Streams.ClientToServer.SHA256 ||
			*c.Streams.ServerToClient.SHA256 != *second.Streams.ServerToClient.SHA256 ||
			len(c.Subflows) != 2 || *c.ClientKey != *second.ClientKey || !c.Verified {
			t.Errorf("%s: the extracted connection differs: %+v", name, c)
		}
		if d.Capture.Packets != uint64(want) {
			t.Errorf("%s: %d packets, want the %d of the connection's 4-tuples in the capture", name, d.Capture.Packets, want)
		}
	}
	// tshark reads the extraction (what it is for).
	if _, err := exec.LookPath("tshark"); err == nil {
		b, err := exec.Command("tshark", "-r", filepath.Join(dir, "one.pcapng"), "-T", "fields", "-e", "mptcp.stream").Output()
		if err != nil || len(strings.Fields(string(b))) == 0 {
			t.Errorf("tshark on the extraction: %v %q", err, b)
		}
	}
	if _, stderr, code := runAnalyzeCmd(t, "analyze", "--conn", "nonsense", pcap); code != exitUsage || !strings.Contains(stderr, "--conn") {
		t.Errorf("bad --conn: exit %d %q", code, stderr)
	}
}

func first(a string, _ string, _ int) string { return a }

// splitBySubflow writes the packets of a capture into two files by the
// client port: subflow 1's (40000) to a, the rest to b (pcapng).
func splitBySubflow(t *testing.T, in, a, b string, port uint16) {
	t.Helper()
	src, err := capture.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fa, _ := os.Create(a)
	fb, _ := os.Create(b)
	wa, _ := capture.NewPcapWriter(fa, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
	wb, _ := capture.NewPcapngWriter(fb, capture.PcapngWriterOptions{})
	wb.AddInterface(capture.Interface{LinkType: capture.LinkTypeRaw, Name: "cell"})
	for {
		p, err := src.Next()
		if err != nil {
			break
		}
		src, dst, _ := tcpEnds(p)
		if src.Port() == port || dst.Port() == port {
			wa.WritePacket(p)
		} else {
			wb.WritePacket(p)
		}
	}
	wa.Flush()
	wb.Flush()
	fa.Close()
	fb.Close()
}

// TestAnalyzeMergedCaptures: subflows captured on different links, given
// as two files, make the same connection with the same data as one file;
// the packets say which file they came from.
func TestAnalyzeMergedCaptures(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	wifi, cell := filepath.Join(dir, "wifi.pcap"), filepath.Join(dir, "cell.pcapng")
	splitBySubflow(t, pcap, wifi, cell, 40000)
	out, stderr, code := runAnalyzeCmd(t, "analyze", "--json", "--hash", wifi, cell)
	d := decodeDoc(t, out)
	if code != exitOK || len(d.Connections) != 1 || len(d.Inputs) != 2 || d.Inputs[1].Format != "pcapng" {
		t.Fatalf("exit %d %s: %+v", code, stderr, d.Inputs)
	}
	c := d.Connections[0]
	if !c.Verified || len(c.Subflows) != 2 || *c.Streams.ClientToServer.SHA256 != shaHex(up) || *c.Streams.ServerToClient.SHA256 != shaHex(down) {
		t.Errorf("merged: %+v", c)
	}
	out, _, _ = runAnalyzeCmd(t, "analyze", "--packets", wifi, cell)
	if !strings.Contains(out, "["+wifi+"]") || !strings.Contains(out, "["+cell+"]") {
		t.Errorf("--packets does not tag the files")
	}
	// Extracting from two inputs makes a pcapng (said), with an interface
	// per input, that analyzes to the same connection.
	ext := filepath.Join(dir, "both.pcap")
	_, stderr, code = runAnalyzeCmd(t, "analyze", "--conn", "1", "--write-conn", ext, wifi, cell)
	if code != exitOK || !strings.Contains(stderr, "need pcapng: writing pcapng") || !strings.Contains(stderr, "41 packets") {
		t.Errorf("--write-conn from two inputs: exit %d %s", code, stderr)
	}
	d2 := decodeDoc(t, first(runAnalyzeCmd(t, "analyze", "--json", "--hash", ext)))
	if len(d2.Connections) != 1 || *d2.Connections[0].Streams.ServerToClient.SHA256 != shaHex(down) || d2.Inputs[0].Format != "pcapng" {
		t.Errorf("extraction of the merged inputs: %+v", d2.Inputs)
	}
	// Both ends captured: the same segments in two files, 3 ms apart.
	late := filepath.Join(dir, "server-side.pcap")
	shiftCapture(t, pcap, late, 3*time.Millisecond)
	out, _, code = runAnalyzeCmd(t, "analyze", "--json", "--hash", "--stats", pcap, late)
	d = decodeDoc(t, out)
	if code != exitOK || len(d.Connections) != 1 || d.Inputs[1].Duplicates != 41 {
		t.Fatalf("both ends: exit %d, inputs %+v", code, d.Inputs)
	}
	c = d.Connections[0]
	if *c.Streams.ClientToServer.SHA256 != shaHex(up) || c.Subflows[0].ClientToServer.Retransmissions != 0 {
		t.Errorf("both ends: copies were analyzed twice: %+v", c.Subflows[0].ClientToServer)
	}
	owd := c.Subflows[0].ClientToServer.Stats.OneWayDelay
	if owd.Samples == 0 || *owd.MinS < 0.0029 || *owd.MaxS > 0.0031 {
		t.Errorf("one-way delay %+v, want 3 ms", owd)
	}
}

// shiftCapture copies a pcap with every timestamp moved by d.
func shiftCapture(t *testing.T, in, out string, d time.Duration) {
	t.Helper()
	src, err := capture.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, _ := os.Create(out)
	w, _ := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{Nanosecond: true})
	for {
		p, err := src.Next()
		if err != nil {
			break
		}
		p.Timestamp = p.Timestamp.Add(d)
		w.WritePacket(p)
	}
	w.Flush()
	f.Close()
}

func TestAnalyzeStreamsFlattenPlot(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	up, down := analyzeScenario(t, pcap, false, false)
	sdir := filepath.Join(dir, "streams")
	flat := filepath.Join(dir, "flat.pcap")
	svg := filepath.Join(dir, "seq.svg")
	png := filepath.Join(dir, "seq.png")
	csvf := filepath.Join(dir, "points.csv")
	_, stderr, code := runAnalyzeCmd(t, "analyze", "--streams", sdir, "--flatten", flat, "--plot", svg, "--plot-data", csvf, pcap)
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
	if b, err := os.ReadFile(svg); err != nil || !bytes.Contains(b, []byte("<svg")) || !bytes.Contains(b, []byte("#2 join")) ||
		!bytes.Contains(b, []byte("time since the capture")) || !bytes.Contains(b, []byte("goodput")) {
		t.Errorf("svg: %v", err)
	}
	rows, err := csv.NewReader(bytes.NewReader(must(os.ReadFile(csvf)))).ReadAll()
	if err != nil || len(rows) < 20 || strings.Join(rows[0], ",") != "kind,connection,direction,subflow,rel_s,offset,bytes,bps,detail" {
		t.Errorf("plot data: %v, %d rows", err, len(rows))
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

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestAnalyzeCSV: --csv is a row per subflow direction with statistics;
// --packets --csv a row per packet, --fields choosing the columns.
func TestAnalyzeCSV(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	analyzeScenario(t, pcap, false, false)
	out, _, code := runAnalyzeCmd(t, "analyze", "--csv", pcap)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != exitOK || err != nil || len(rows) != 1+4 || strings.Join(rows[0], ",") != strings.Join(report.CSVColumns, ",") {
		t.Fatalf("--csv: exit %d, %v, %d rows:\n%s", code, err, len(rows), out)
	}
	if rows[1][0] != "1" || rows[1][1] != "1" || rows[1][3] != "client_to_server" || rows[1][16] == "0" {
		t.Errorf("first row %v (want RTT samples)", rows[1])
	}
	out, _, _ = runAnalyzeCmd(t, "analyze", "--packets", "--csv", "--fields", "index,subflow,dsn,analysis", pcap)
	rows, err = csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 42 || strings.Join(rows[0], ",") != "index,subflow,dsn,analysis" {
		t.Fatalf("--packets --csv: %v, %d rows", err, len(rows))
	}
	if _, stderr, code := runAnalyzeCmd(t, "analyze", "--csv", "--fields", "nope", pcap); code != exitUsage || !strings.Contains(stderr, "--fields") {
		t.Errorf("bad --fields: exit %d %q", code, stderr)
	}
}

// TestAnalyzeExitCodesAndMessages: input problems (exit 3) apart from
// findings (exit 1, as --fail-on says) and usage errors (2); every message
// names the file or flag at fault.
func TestAnalyzeExitCodesAndMessages(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "two.pcap")
	analyzeScenario(t, pcap, false, false)
	forged := filepath.Join(dir, "forged.pcapng")
	analyzeScenario(t, forged, true, true)
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("not a capture at all"), 0o644)
	trunc := filepath.Join(dir, "trunc.pcap")
	b, _ := os.ReadFile(pcap)
	os.WriteFile(trunc, b[:len(b)-30], 0o644)
	os.Mkdir(filepath.Join(dir, "ro"), 0o555)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"analyze"}, exitUsage, "want at least one capture file"},
		{[]string{"analyze", "--plot", "x.gif", pcap}, exitUsage, "--plot"},
		{[]string{"analyze", "--max-buffer", "lots", pcap}, exitUsage, "max-buffer"},
		{[]string{"analyze", "--fail-on", "sometimes", pcap}, exitUsage, "--fail-on"},
		{[]string{"analyze", "--json", "--csv", pcap}, exitUsage, "--json and --csv"},
		{[]string{"analyze", filepath.Join(dir, "missing.pcap")}, exitInput, "missing.pcap: open: no such file"},
		{[]string{"analyze", dir}, exitInput, dir + ": is a directory"},
		{[]string{"analyze", bad}, exitInput, bad + ": not a pcap or pcapng file"},
		{[]string{"analyze", trunc}, exitInput, "trunc.pcap: after packet 40"},
		{[]string{"analyze", "--flatten", filepath.Join(dir, "nodir", "x.pcap"), pcap}, exitInput, "--flatten: open " + filepath.Join(dir, "nodir")},
		{[]string{"analyze", "--plot", dir + ".svg", "--streams", pcap, pcap}, exitInput, "--streams " + pcap + ": exists and is not a directory"},
		{[]string{"analyze", forged}, exitFailure, ""},
		{[]string{"analyze", "--fail-on", "none", forged}, exitOK, ""},
		{[]string{"analyze", "--fail-on", "info", pcap}, exitOK, ""},
		{[]string{"analyze", "--max-buffer", "64k", pcap}, exitOK, ""},
	} {
		out, stderr, code := runAnalyzeCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d with %q", tc.args[1:], code, stderr, tc.code, tc.msg)
		}
		if tc.args[len(tc.args)-1] == trunc && !strings.Contains(out, "connection 1") {
			t.Errorf("truncated input: what was read is not reported")
		}
	}
	if os.Geteuid() != 0 { // root writes anywhere
		if _, stderr, code := runAnalyzeCmd(t, "analyze", "--flatten", filepath.Join(dir, "ro", "x.pcap"), pcap); code != exitInput || !strings.Contains(stderr, "--flatten") {
			t.Errorf("unwritable --flatten: exit %d %q", code, stderr)
		}
	}
}

// TestMaxBufferSizes: --max-buffer takes size suffixes, and a hole made by
// the cap says so.
func TestMaxBufferSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"65536", 65536}, {"64k", 64 << 10}, {"64KiB", 64 << 10}, {"1m", 1 << 20}, {"2G", 2 << 30}, {"512b", 512}} {
		if n, err := parseSize(tc.in); err != nil || n != tc.want {
			t.Errorf("%q: %d %v, want %d", tc.in, n, err, tc.want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "1x", "k", "1.5m"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// Data held back behind a gap bigger than the cap is dropped: the
	// report says so, not "never seen".
	dir := t.TempDir()
	pcap := filepath.Join(dir, "gap.pcap")
	f, _ := os.Create(pcap)
	w, _ := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	c := synth.New(7, 8, func(ts time.Time, p []byte) {
		w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)})
	})
	s1 := c.Handshake(netip.MustParseAddrPort("198.18.1.1:1000"), netip.MustParseAddrPort("198.18.1.2:80"))
	c.DSN[0] += 1000 // a gap nobody fills
	for range 10 {
		s1.Send(0, bytes.Repeat([]byte{1}, 1000))
	}
	w.Flush()
	f.Close()
	out, _, _ := runAnalyzeCmd(t, "analyze", "--max-buffer", "4k", pcap)
	if !strings.Contains(out, "dropped: memory cap") {
		t.Errorf("memory cap hole not named:\n%s", out)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, code := runAnalyzeCmd(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "mptcp ") || !strings.Contains(out, "go1.") || !strings.Contains(out, "schema version 1") {
			t.Errorf("%v: exit %d %q", args, code, out)
		}
	}
	out, _, _ := runAnalyzeCmd(t, "version", "--json")
	var v struct {
		Name, Version string
		SchemaVersion int `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Name != "mptcp" || v.SchemaVersion != report.SchemaVersion {
		t.Errorf("version --json: %v %q", err, out)
	}
}

// TestSchemaKnowsPacketFlags: every analysis flag the analyzer can set is
// in the schema's list (a new flag must be documented there).
func TestSchemaKnowsPacketFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "analyze.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Packet struct {
				Properties struct {
					Analysis struct {
						Items struct {
							Enum []string `json:"enum"`
						} `json:"items"`
					} `json:"analysis"`
				} `json:"properties"`
			} `json:"packet_line"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	enum := s.Defs.Packet.Properties.Analysis.Items.Enum
	for _, n := range analyze.PacketFlags(0xffff).Names() {
		if !slices.Contains(enum, n) {
			t.Errorf("flag %q is not in the schema's list %v", n, enum)
		}
	}
}
