//go:build linux

package option_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// This file checks the codec against two independent implementations: the
// Linux kernel's MPTCP (which produces the options) and Wireshark's
// dissector (which decodes them). TestKernelVsTshark needs root, network
// namespaces, tcpdump and tshark; TestTsharkSynthetic needs only tshark.

// ---- tshark JSON, decoded in order ----

// kv is one member of a JSON object; tshark's JSON is only meaningful in
// order (fields follow the dissector), so objects are kept as []kv.
type kv struct {
	k string
	v any // string, []any or []kv
}

func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var obj []kv
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				obj = append(obj, kv{kt.(string), v})
			}
			_, err := dec.Token() // '}'
			return obj, err
		case '[':
			var arr []any
			for dec.More() {
				v, err := decodeOrdered(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ']'
			return arr, err
		}
	case string:
		return t, nil
	}
	return fmt.Sprint(tok), nil
}

func get(obj any, path ...string) any {
	for _, p := range path {
		o, ok := obj.([]kv)
		if !ok {
			return nil
		}
		obj = nil
		for _, m := range o {
			if m.k == p {
				obj = m.v
				break
			}
		}
	}
	return obj
}

func getString(obj any, path ...string) string {
	s, _ := get(obj, path...).(string)
	return s
}

// asList returns v as a list: tshark --no-duplicate-keys turns a repeated
// key into an array.
func asList(v any) []any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		return t
	}
	return []any{v}
}

// flattenMPTCP lists the (name, value) pairs of one tshark "mptcp" option
// subtree in order, leaving out expert info and the generated mptcp.*
// analysis fields, which depend on connection state, not on the option's
// bytes (mptcp.rm_addr.count is kept: it is the id count).
func flattenMPTCP(tree []kv) []option.Field {
	var out []option.Field
	var walk func([]kv)
	walk = func(o []kv) {
		for _, m := range o {
			if m.k == "_ws.expert" || (strings.HasPrefix(m.k, "mptcp.") && m.k != "mptcp.rm_addr.count") {
				continue
			}
			for _, v := range asList(m.v) {
				switch t := v.(type) {
				case string:
					out = append(out, option.Field{Name: m.k, Value: t})
				case []kv:
					walk(t)
				}
			}
		}
	}
	walk(tree)
	return out
}

// ourFields returns the option's fields as tshark 4.0 shows them. One
// known difference is folded in: Wireshark shows a DSS checksum only when
// optlen >= offset+4 after the data-level length (dissect_tcpopt_mptcp),
// which never holds for a well-formed DSS, so it never shows it; the
// returned bool says the checksum was dropped for that reason.
func ourFields(o *option.Option, theirs []option.Field) ([]option.Field, bool) {
	fs := o.Fields(nil)
	for i := range fs {
		fs[i].Info = ""
	}
	if o.Subtype == option.SubtypeDSS && o.DSS.HasChecksum {
		for _, f := range theirs {
			if f.Name == "tcp.options.mptcp.checksum" {
				return fs, false
			}
		}
		return fs[:len(fs)-1], true
	}
	return fs, false
}

func diffFields(ours, theirs []option.Field) string {
	var b strings.Builder
	n := max(len(ours), len(theirs))
	for i := range n {
		var o, t option.Field
		if i < len(ours) {
			o = ours[i]
		}
		if i < len(theirs) {
			t = theirs[i]
		}
		mark := " "
		if o != t {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %-40s %-24s | %-40s %s\n", mark, o.Name, o.Value, t.Name, t.Value)
	}
	return b.String()
}

// tsharkPacket is what the tests need of one packet of tshark's JSON.
type tsharkPacket struct {
	frame            int
	src, dst         netip.Addr
	sport, dport     uint16
	seq              uint32 // relative
	flags            uint16
	options, payload []byte
	mptcp            [][]kv // one subtree per MPTCP option, in order
}

func colonHex(t *testing.T, s string) []byte {
	t.Helper()
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		t.Fatalf("tshark hex %q: %v", s, err)
	}
	return b
}

func runTshark(t *testing.T, ctx context.Context, pcap string) []tsharkPacket {
	t.Helper()
	cmd := exec.CommandContext(ctx, "tshark", "-r", pcap, "-n", "-T", "json", "--no-duplicate-keys",
		"-J", "frame ip ipv6 tcp", "-o", "tcp.desegment_tcp_streams:FALSE")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, stderr.String())
	}
	root, err := decodeOrdered(json.NewDecoder(bytes.NewReader(out)))
	if err != nil {
		t.Fatalf("tshark JSON: %v", err)
	}
	var pkts []tsharkPacket
	for _, p := range asList(root) {
		layers := get(p, "_source", "layers")
		tcp := get(layers, "tcp")
		if tcp == nil {
			continue
		}
		var tp tsharkPacket
		tp.frame, _ = strconv.Atoi(getString(layers, "frame", "frame.number"))
		ipSrc, ipDst := getString(layers, "ip", "ip.src"), getString(layers, "ip", "ip.dst")
		if ipSrc == "" {
			ipSrc, ipDst = getString(layers, "ipv6", "ipv6.src"), getString(layers, "ipv6", "ipv6.dst")
		}
		tp.src, _ = netip.ParseAddr(ipSrc)
		tp.dst, _ = netip.ParseAddr(ipDst)
		sp, _ := strconv.Atoi(getString(tcp, "tcp.srcport"))
		dp, _ := strconv.Atoi(getString(tcp, "tcp.dstport"))
		tp.sport, tp.dport = uint16(sp), uint16(dp)
		seq, _ := strconv.ParseUint(getString(tcp, "tcp.seq"), 10, 32)
		tp.seq = uint32(seq)
		fl, _ := strconv.ParseUint(strings.TrimPrefix(getString(tcp, "tcp.flags"), "0x"), 16, 16)
		tp.flags = uint16(fl)
		tp.options = colonHex(t, getString(tcp, "tcp.options"))
		tp.payload = colonHex(t, getString(tcp, "tcp.payload"))
		for _, m := range asList(get(tcp, "tcp.options_tree", "mptcp")) {
			if sub, ok := m.([]kv); ok {
				tp.mptcp = append(tp.mptcp, sub)
			}
		}
		pkts = append(pkts, tp)
	}
	return pkts
}

// ---- synthetic packets: every subtype, through tshark ----

// writeRawPcap writes IPv4/TCP packets carrying the given option blocks to
// a pcap file (LINKTYPE_RAW), one TCP conversation per packet so that
// Wireshark's per-connection MPTCP analysis cannot mix them.
func writeRawPcap(path string, blocks [][]byte) error {
	var buf bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	buf.Write(hdr)
	for i, opts := range blocks {
		for len(opts)%4 != 0 {
			opts = append(opts, 1) // NOP
		}
		tcpLen := 20 + len(opts)
		pkt := make([]byte, 20+tcpLen)
		pkt[0], pkt[8], pkt[9] = 0x45, 64, 6
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		copy(pkt[12:], []byte{198, 18, 0, 1})
		copy(pkt[16:], []byte{198, 18, 0, 2})
		tcp := pkt[20:]
		binary.BigEndian.PutUint16(tcp[0:], uint16(20000+i))
		binary.BigEndian.PutUint16(tcp[2:], 47000)
		binary.BigEndian.PutUint32(tcp[4:], 1000)
		binary.BigEndian.PutUint32(tcp[8:], 1)
		tcp[12] = byte(tcpLen/4) << 4
		tcp[13] = 0x10 // ACK
		binary.BigEndian.PutUint16(tcp[14:], 65535)
		copy(tcp[20:], opts)
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(pkt)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(pkt)))
		buf.Write(rec)
		buf.Write(pkt)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// TestTsharkSynthetic decodes one option of every subtype and layout
// (including v0, MP_FAIL, MP_FASTCLOSE, MP_TCPRST and REMOVE_ADDR, which
// the kernel test does not produce) with both the codec and tshark, and
// compares every field.
func TestTsharkSynthetic(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	inputs := []string{
		"1e0c00017acdc123cc42a7ec", "1e1400810102030405060708a1a2a3a4a5a6a7a8", "1e0c00ff7acdc123cc42a7ec",
		"1e040181", "1e0c0101aabbccdd11223344", "1e1401210102030405060708a1a2a3a4a5a6a7a8",
		"1e1601010102030405060708a1a2a3a4a5a6a7a80064", "1e1801810102030405060708a1a2a3a4a5a6a7a80064beef",
		"1e0c01ff7acdc123cc42a7ec",
		"1e0c1102deadbeef01020304", "1e10100511223344556677880a0b0c0d",
		"1e18100000112233445566778899aabbccddeeff00112233",
		"1e08200101020304", "1e0c20030102030405060708", "1e0e200400000002000000030004",
		"1e10200400000002000000030004abcd", "1e1a200f0000000000000064000000000000c350000000010578",
		"1e1c201f000000000000000100000000000000020000000300040000", "1e16201d000000010000000000000002000000000000",
		"1e042002", "1e0823e101020304",
		"1e083101c6120201", "1e12300ac6120201270f1122334455667788", "1e103002c61202011122334455667788",
		"1e1c3003fe800000000000000000000000000001aabbccddeeff0011",
		"1e1e300320010db8000000000000000000000001" + "01bbaabbccddeeff0011",
		"1e16310320010db8000000000000000000000001" + "01bb",
		"1e083404c6120201", "1e0a3404c61202010050", "1e16360720010db8000000000000000000000001" + "01bb",
		"1e044005", "1e0640010203", "1e0351", "1e045003",
		"1e0c60000000000000000102", "1e0c70000102030405060708",
		"1e048101", "1e048006", "1e0491ff", "1e05f01234",
	}
	var blocks [][]byte
	var opts []option.Option
	for _, s := range inputs {
		b, _ := hex.DecodeString(s)
		o, err := option.Parse(b)
		if err != nil {
			t.Fatalf("Parse(%s): %v", s, err)
		}
		blocks = append(blocks, b)
		opts = append(opts, o)
	}
	pcap := filepath.Join(t.TempDir(), "synthetic.pcap")
	if err := writeRawPcap(pcap, blocks); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pkts := runTshark(t, ctx, pcap)
	if len(pkts) != len(inputs) {
		t.Fatalf("tshark decoded %d packets, want %d", len(pkts), len(inputs))
	}
	for i, p := range pkts {
		if len(p.mptcp) != 1 {
			t.Errorf("%s: tshark shows %d MPTCP options", inputs[i], len(p.mptcp))
			continue
		}
		theirs := flattenMPTCP(p.mptcp[0])
		ours, _ := ourFields(&opts[i], theirs)
		if !equalFields(ours, theirs) {
			t.Errorf("%s (%v): fields differ (ours | tshark):\n%s", inputs[i], opts[i].Subtype, diffFields(ours, theirs))
		}
	}
}

func equalFields(a, b []option.Field) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ---- the kernel as reference peer ----

// transfer runs one MPTCP connection from the client namespace to the
// server namespace: the client sends n bytes, the server answers "ok".
func transfer(ctx context.Context, l *lab.Lab, port int, n int) error {
	var ln net.Listener
	err := l.Do(lab.Server, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(ctx, "tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		got, err := io.Copy(io.Discard, c)
		if err != nil {
			srvErr <- fmt.Errorf("server read: %w", err)
			return
		}
		if got != int64(n) {
			srvErr <- fmt.Errorf("server got %d bytes, want %d", got, n)
			return
		}
		if mp, _ := c.(*net.TCPConn).MultipathTCP(); !mp {
			srvErr <- errors.New("server connection is not MPTCP")
			return
		}
		_, err = c.Write([]byte("ok"))
		srvErr <- err
	}()

	var conn net.Conn
	err = l.Do(lab.Client, func() error {
		var d net.Dialer
		d.SetMultipathTCP(true)
		var err error
		conn, err = d.DialContext(ctx, "tcp4", netip.AddrPortFrom(l.ServerAddr(1), uint16(port)).String())
		return err
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if mp, _ := conn.(*net.TCPConn).MultipathTCP(); !mp {
		return errors.New("client connection fell back to TCP")
	}
	// Give the path managers time to signal the address and open the
	// extra subflows before the data flows.
	time.Sleep(300 * time.Millisecond)
	chunk := bytes.Repeat([]byte("MPTCP kernel vs tshark "), 1000)[:16000]
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := conn.Write(chunk[:min(len(chunk), n-sent)]); err != nil {
			return fmt.Errorf("client write: %w", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("client read: %w", err)
	}
	if string(reply) != "ok" {
		return fmt.Errorf("client got reply %q", reply)
	}
	return <-srvErr
}

// conn4 identifies one subflow direction.
type conn4 struct {
	src, dst     netip.Addr
	sport, dport uint16
}

func (c conn4) String() string {
	return fmt.Sprintf("%v:%d->%v:%d", c.src, c.sport, c.dst, c.dport)
}

// TestKernelVsTshark runs Linux kernel MPTCP between the namespaces of a
// two-path lab (package lab), captures the traffic, and checks every MPTCP option
// three ways: the codec parses it strictly and re-encodes it byte for
// byte; tshark decodes it to the same fields; and the keys it carries
// reproduce the tokens, IDSNs, MP_JOIN HMACs, ADD_ADDR HMACs and DSS
// checksums found on the wire. Two connections are made: one with the
// default settings and one with DSS checksums enabled.
func TestKernelVsTshark(t *testing.T) {
	labtest.Requirements(t, "tcpdump", "tshark")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Two bridged paths, 198.18.1.0/24 and 198.18.2.0/24, client .1,
	// server .2, with wire-sized segments (offloads off) so each packet's
	// mapping is visible. The server announces its second address
	// (ADD_ADDR); the client opens a subflow from its second address
	// (MP_JOIN).
	l := labtest.New(t, lab.Config{Announce: true})

	pcap := filepath.Join(t.TempDir(), "kernel.pcap")
	const portPlain, portCsum = 47001, 47002
	stopDump, err := l.Capture(ctx, lab.Server, "any", pcap, fmt.Sprintf("tcp port %d or tcp port %d", portPlain, portCsum))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopDump() })

	const size = 256 << 10
	if err := transfer(ctx, l, portPlain, size); err != nil {
		t.Fatalf("transfer without checksums: %v", err)
	}
	for _, side := range []lab.Side{lab.Client, lab.Server} {
		if out, err := l.Command(ctx, side, "sysctl", "-q", "-w", "net.mptcp.checksum_enabled=1").CombinedOutput(); err != nil {
			t.Fatalf("checksum sysctl: %v: %s", err, out)
		}
	}
	if err := transfer(ctx, l, portCsum, size); err != nil {
		t.Fatalf("transfer with checksums: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // let the last FINs and ACKs be sent
	if _, err := stopDump(); err != nil {
		// Every option must be checked: the capture must be complete.
		t.Fatalf("capture: %v", err)
	}

	pkts := runTshark(t, ctx, pcap)
	serverAddrs := map[netip.Addr]bool{l.ServerAddr(1): true, l.ServerAddr(2): true}
	checkCapture(t, pkts, map[uint16]bool{portPlain: false, portCsum: true}, serverAddrs)
}

// mpConn collects what one MPTCP connection (identified by the server
// port) put on the wire.
type mpConn struct {
	clientKey, serverKey uint64
	haveKeys             bool
	capFlags             uint8
	firstDSN             map[netip.Addr]uint64 // lowest 64-bit mapping DSN by sender
	joins                map[conn4]*joinSeen   // keyed by the SYN's direction
	addAddrs             []addAddrSeen
	mappings             map[conn4][]option.DSS
	data                 map[conn4]map[uint32][]byte // payload by relative seq
}

type joinSeen struct {
	syn, synack, ack option.MPJoin
	have             [3]bool
}

type addAddrSeen struct {
	from netip.Addr
	a    option.AddAddr
}

func checkCapture(t *testing.T, pkts []tsharkPacket, csumPorts map[uint16]bool, serverAddrs map[netip.Addr]bool) {
	conns := map[uint16]*mpConn{}
	for port := range csumPorts {
		conns[port] = &mpConn{
			firstDSN: map[netip.Addr]uint64{}, joins: map[conn4]*joinSeen{},
			mappings: map[conn4][]option.DSS{}, data: map[conn4]map[uint32][]byte{},
		}
	}
	counts := map[string]int{}
	compared, hiddenCsum := 0, 0
	strict := option.Parser{Strict: true}
	for _, p := range pkts {
		port := p.dport
		fromServer := serverAddrs[p.src]
		if fromServer {
			port = p.sport
		}
		c := conns[port]
		if c == nil {
			t.Fatalf("frame %d: unexpected port %d/%d", p.frame, p.sport, p.dport)
		}
		dir := conn4{p.src, p.dst, p.sport, p.dport}
		if len(p.payload) > 0 {
			if c.data[dir] == nil {
				c.data[dir] = map[uint32][]byte{}
			}
			c.data[dir][p.seq] = p.payload
		}
		it := option.NewIter(p.options)
		i := 0
		for it.Next() {
			raw := it.Bytes()
			o, err := strict.Parse(raw)
			if err != nil {
				t.Errorf("frame %d: strict Parse(%x): %v", p.frame, raw, err)
				i++
				continue
			}
			if out, err := o.Append(nil); err != nil || !bytes.Equal(out, raw) {
				t.Errorf("frame %d: Append(Parse(%x)) = %x, %v", p.frame, raw, out, err)
			}
			if i >= len(p.mptcp) {
				t.Errorf("frame %d: tshark shows %d MPTCP options, the codec found more", p.frame, len(p.mptcp))
				i++
				continue
			}
			theirs := flattenMPTCP(p.mptcp[i])
			ours, hidden := ourFields(&o, theirs)
			if hidden {
				hiddenCsum++
			}
			if !equalFields(ours, theirs) {
				t.Errorf("frame %d option %x: fields differ (ours | tshark):\n%s", p.frame, raw, diffFields(ours, theirs))
			}
			compared++
			i++
			record(t, c, &o, p, dir, counts)
		}
		if err := it.Err(); err != nil {
			t.Errorf("frame %d: options %x: %v", p.frame, p.options, err)
		}
		if i != len(p.mptcp) {
			t.Errorf("frame %d: codec found %d MPTCP options, tshark %d", p.frame, i, len(p.mptcp))
		}
	}
	t.Logf("%d packets, %d MPTCP options compared with tshark field by field (%d DSS checksums tshark 4.0 does not display); by kind: %v",
		len(pkts), compared, hiddenCsum, counts)
	for _, k := range []string{"MP_CAPABLE SYN", "MP_CAPABLE SYN/ACK", "MP_CAPABLE ACK", "MP_JOIN SYN", "MP_JOIN SYN/ACK", "MP_JOIN ACK", "DSS", "ADD_ADDR"} {
		if counts[k] == 0 {
			t.Errorf("no %s seen", k)
		}
	}
	for port, c := range conns {
		checkCrypto(t, port, c, csumPorts[port], serverAddrs)
	}
}

func record(t *testing.T, c *mpConn, o *option.Option, p tsharkPacket, dir conn4, counts map[string]int) {
	switch o.Subtype {
	case option.SubtypeMPCapable:
		m := o.MPCapable
		counts["MP_CAPABLE "+m.Step()]++
		if m.Step() == "ACK with data" {
			counts["MP_CAPABLE ACK"]++
		}
		if m.Version != option.V1 {
			t.Errorf("frame %d: MP_CAPABLE version %v from Linux", p.frame, m.Version)
		}
		c.capFlags |= m.Flags
		if m.HasReceiverKey {
			if c.haveKeys && (c.clientKey != m.SenderKey || c.serverKey != m.ReceiverKey) {
				t.Errorf("frame %d: keys changed within a connection", p.frame)
			}
			c.clientKey, c.serverKey, c.haveKeys = m.SenderKey, m.ReceiverKey, true
		}
	case option.SubtypeMPJoin:
		j := o.MPJoin
		counts["MP_JOIN "+j.Stage.String()]++
		key := dir
		if j.Stage == option.JoinSYNACK {
			key = conn4{dir.dst, dir.src, dir.dport, dir.sport}
		}
		js := c.joins[key]
		if js == nil {
			js = &joinSeen{}
			c.joins[key] = js
		}
		switch j.Stage {
		case option.JoinSYN:
			js.syn, js.have[0] = j, true
		case option.JoinSYNACK:
			js.synack, js.have[1] = j, true
		case option.JoinACK:
			js.ack, js.have[2] = j, true
		}
	case option.SubtypeDSS:
		counts["DSS"]++
		d := o.DSS
		if d.HasMapping() {
			c.mappings[dir] = append(c.mappings[dir], d)
			if d.Flags&option.DSSDSN8 != 0 && d.DataLen > 0 {
				if cur, ok := c.firstDSN[p.src]; !ok || d.DSN < cur {
					c.firstDSN[p.src] = d.DSN
				}
			}
		}
	case option.SubtypeAddAddr:
		counts["ADD_ADDR"]++
		c.addAddrs = append(c.addAddrs, addAddrSeen{p.src, o.AddAddr})
	default:
		counts[o.Subtype.String()]++
	}
}

func checkCrypto(t *testing.T, port uint16, c *mpConn, csum bool, serverAddrs map[netip.Addr]bool) {
	t.Run(fmt.Sprintf("crypto port %d", port), func(t *testing.T) {
		if !c.haveKeys {
			t.Fatal("no MP_CAPABLE third ACK with both keys")
		}
		if got := c.capFlags&option.CapChecksum != 0; got != csum {
			t.Errorf("MP_CAPABLE checksum flag %v, want %v", got, csum)
		}
		clientToken, clientIDSN := mpcrypto.TokenIDSN(option.V1, c.clientKey)
		serverToken, serverIDSN := mpcrypto.TokenIDSN(option.V1, c.serverKey)
		// RFC 8684 §3.3: the first data byte of each direction has DSN IDSN+1.
		if dsn, ok := c.firstDSN[netip.MustParseAddr("198.18.1.1")]; !ok || dsn != clientIDSN+1 {
			t.Errorf("client's first DSN %#x, want IDSN+1 = %#x", dsn, clientIDSN+1)
		}
		verifiedJoins := 0
		for dir, js := range c.joins {
			if js.have != [3]bool{true, true, true} {
				t.Logf("join %v: incomplete handshake %v (a subflow may have been refused)", dir, js.have)
				continue
			}
			// Host A sent the SYN; its token names B's key.
			keyA, keyB := c.clientKey, c.serverKey
			switch js.syn.Token {
			case serverToken:
			case clientToken:
				keyA, keyB = c.serverKey, c.clientKey
			default:
				t.Errorf("join %v: token %#x matches neither key", dir, js.syn.Token)
				continue
			}
			if got := mpcrypto.JoinTruncatedHMAC(option.V1, keyB, keyA, js.synack.Nonce, js.syn.Nonce); got != js.synack.TruncHMAC {
				t.Errorf("join %v: SYN/ACK truncated HMAC %#x, computed %#x", dir, js.synack.TruncHMAC, got)
			}
			if got := mpcrypto.JoinHMAC(option.V1, keyA, keyB, js.syn.Nonce, js.synack.Nonce); got != js.ack.HMAC {
				t.Errorf("join %v: ACK HMAC %x, computed %x", dir, js.ack.HMAC, got)
			}
			verifiedJoins++
		}
		if verifiedJoins == 0 {
			t.Error("no complete MP_JOIN handshake to verify")
		}
		verifiedAddAddr := 0
		for _, aa := range c.addAddrs {
			if !aa.a.HasHMAC {
				continue
			}
			sender, receiver := c.clientKey, c.serverKey
			if serverAddrs[aa.from] {
				sender, receiver = c.serverKey, c.clientKey
			}
			if got := mpcrypto.AddAddrHMAC(sender, receiver, aa.a.AddrID, aa.a.Addr, aa.a.Port); got != aa.a.HMAC {
				t.Errorf("ADD_ADDR %v: HMAC %#x, computed %#x", aa.a, aa.a.HMAC, got)
			}
			verifiedAddAddr++
		}
		if verifiedAddAddr == 0 {
			t.Error("no ADD_ADDR with HMAC to verify")
		}
		verifiedCsum := 0
		for dir, maps := range c.mappings {
			for _, d := range maps {
				if d.HasChecksum != csum {
					t.Fatalf("%v: DSS mapping with checksum %v, want %v", dir, d.HasChecksum, csum)
				}
				if !csum || d.DataLen == 0 {
					continue
				}
				payload, ok := assemble(c.data[dir], d.SubflowSeq, int(d.DataLen))
				if !ok {
					continue
				}
				if !mpcrypto.VerifyDSSChecksum(d.DSN, d.SubflowSeq, d.DataLen, d.Checksum, payload) {
					t.Errorf("%v: DSS checksum %#04x wrong for %v (computed %#04x)", dir, d.Checksum, d,
						mpcrypto.DSSChecksum(d.DSN, d.SubflowSeq, d.DataLen, payload))
				}
				verifiedCsum++
			}
		}
		if csum && verifiedCsum == 0 {
			t.Error("no DSS checksum verified")
		}
		t.Logf("keys %#x/%#x (IDSN %#x/%#x): %d MP_JOIN handshakes, %d ADD_ADDR HMACs, %d DSS checksums verified",
			c.clientKey, c.serverKey, clientIDSN, serverIDSN, verifiedJoins, verifiedAddAddr, verifiedCsum)
	})
}

// assemble returns n bytes of a subflow direction's payload starting at
// relative sequence number seq, if the capture holds them all.
func assemble(segs map[uint32][]byte, seq uint32, n int) ([]byte, bool) {
	out := make([]byte, 0, n)
	for len(out) < n {
		cur := seq + uint32(len(out))
		found := false
		for start, b := range segs {
			if off := cur - start; cur >= start && off < uint32(len(b)) {
				out = append(out, b[off:min(len(b), int(off)+n-len(out))]...)
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	return out, true
}
