package capture

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tsharkPacket is what tshark says about one packet.
type tsharkPacket struct {
	iface, length, capLen int
	ns                    int64 // timestamp in ns since 1970
}

// tsharkRead lists the packets of a file as tshark reads them.
func tsharkRead(t *testing.T, file string) []tsharkPacket {
	t.Helper()
	cmd := exec.Command("tshark", "-n", "-r", file, "-T", "fields", "-E", "separator=,",
		"-e", "frame.interface_id", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v: %s", file, err, stderr.String())
	}
	var pkts []tsharkPacket
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimSpace(line), ",")
		if len(f) != 4 {
			t.Fatalf("tshark line %q", line)
		}
		var p tsharkPacket
		p.iface, _ = strconv.Atoi(f[0]) // empty for pcap: 0
		sec, frac, _ := strings.Cut(f[1], ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		frac = (frac + "000000000")[:9]
		n, err2 := strconv.ParseInt(frac, 10, 64)
		p.length, _ = strconv.Atoi(f[2])
		p.capLen, _ = strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			t.Fatalf("tshark time %q", f[1])
		}
		p.ns = s*1e9 + n
		pkts = append(pkts, p)
	}
	return pkts
}

// ourRead lists the packets of a file as our reader reads them.
func ourRead(t *testing.T, file string) ([]tsharkPacket, []Packet, Format) {
	t.Helper()
	f, err := Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkts, err := readAll(t, f)
	if err != io.EOF {
		t.Fatalf("%s: %v", file, err)
	}
	var out []tsharkPacket
	for _, p := range pkts {
		out = append(out, tsharkPacket{p.Interface, p.Length, p.CaptureLength, p.Timestamp.UnixNano()})
	}
	return out, pkts, f.Format
}

// tcpdumpLoopback captures TCP traffic on one port of the loopback device
// and on the "any" device (Linux cooked headers) while traffic runs.
func tcpdumpLoopback(t *testing.T, dir string) (loFile, anyFile string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	filter := fmt.Sprintf("tcp port %d", port)
	loFile, anyFile = filepath.Join(dir, "lo.pcap"), filepath.Join(dir, "any.pcap")
	var dumps []*exec.Cmd
	for _, c := range [][]string{{"-i", "lo", "-w", loFile}, {"-i", "any", "-w", anyFile}} {
		cmd := exec.Command("tcpdump", append([]string{"-n", "-U", "-s", "0"}, append(c, filter)...)...)
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		dumps = append(dumps, cmd)
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		// tcpdump says "listening on" once its socket is ready.
		sc := bufio.NewScanner(stderr)
		ready := make(chan bool, 1)
		go func() {
			for sc.Scan() {
				if strings.Contains(sc.Text(), "listening on") {
					ready <- true
				}
			}
			close(ready)
		}()
		select {
		case ok := <-ready:
			if !ok {
				t.Fatal("tcpdump exited before listening")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("tcpdump did not start")
		}
	}
	// Traffic: a few connections, data both ways.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		msg := bytes.Repeat([]byte{byte(i)}, 20000*(i+1))
		go func() { _, _ = c.Write(msg); _ = c.(*net.TCPConn).CloseWrite() }()
		if n, err := io.Copy(io.Discard, c); err != nil || n != int64(len(msg)) {
			t.Fatalf("echo: %d bytes, %v", n, err)
		}
		c.Close()
	}
	time.Sleep(300 * time.Millisecond)
	for _, cmd := range dumps {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	return loFile, anyFile
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to capture on loopback")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// TestReadToolFiles reads captures written by tcpdump, editcap, mergecap
// and gzip and compares every packet with what tshark reads from the same
// file.
func TestReadToolFiles(t *testing.T) {
	requireTools(t, "tcpdump", "tshark", "editcap", "mergecap", "gzip")
	dir := t.TempDir()
	lo, anyf := tcpdumpLoopback(t, dir)
	files := map[string]Format{lo: FormatPcap, anyf: FormatPcap}
	conv := func(name string, format Format, args ...string) string {
		out := filepath.Join(dir, name)
		run(t, "editcap", append(args, lo, out)...)
		files[out] = format
		return out
	}
	ng := conv("lo.pcapng", FormatPcapng, "-F", "pcapng")
	conv("lo.nsec.pcap", FormatPcap, "-F", "nsecpcap")
	conv("lo.usec.pcap", FormatPcap, "-F", "pcap")
	conv("lo.snap.pcapng", FormatPcapng, "-F", "pcapng", "-s", "60")
	merged := filepath.Join(dir, "merged.pcapng")
	run(t, "mergecap", "-F", "pcapng", "-w", merged, lo, anyf)
	files[merged] = FormatPcapng
	for _, f := range []string{ng, merged} {
		gz := f + ".gz"
		out, err := exec.Command("gzip", "-c", f).Output()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(gz, out, 0o644); err != nil {
			t.Fatal(err)
		}
		files[gz] = FormatPcapng
	}
	for file, wantFormat := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ours, pkts, format := ourRead(t, file)
			if format != wantFormat {
				t.Errorf("format %v, want %v", format, wantFormat)
			}
			theirs := tsharkRead(t, file)
			if len(ours) < 10 {
				t.Fatalf("only %d packets captured", len(ours))
			}
			if len(ours) != len(theirs) {
				t.Fatalf("we read %d packets, tshark %d", len(ours), len(theirs))
			}
			linkTypes := map[LinkType]bool{}
			for i := range ours {
				if ours[i] != theirs[i] {
					t.Fatalf("packet %d: ours %+v, tshark %+v", i, ours[i], theirs[i])
				}
				n, err := DecodeLink(pkts[i].LinkType, pkts[i].Data)
				if err != nil || n.Version != 4 {
					t.Fatalf("packet %d (%v): decode %+v, %v", i, pkts[i].LinkType, n, err)
				}
				linkTypes[pkts[i].LinkType] = true
			}
			if strings.Contains(file, "merged") && len(linkTypes) != 2 {
				t.Errorf("merged file: link types %v, want Ethernet and Linux cooked", linkTypes)
			}
		})
	}
}

// TestToolsReadOurFiles writes what tcpdump captured with our writers (pcap
// in µs and ns, pcapng with two interfaces) and checks that tshark and
// capinfos read our files packet for packet like the originals.
func TestToolsReadOurFiles(t *testing.T) {
	requireTools(t, "tcpdump", "tshark", "capinfos")
	dir := t.TempDir()
	lo, anyf := tcpdumpLoopback(t, dir)
	_, loPkts, _ := ourRead(t, lo)
	_, anyPkts, _ := ourRead(t, anyf)
	write := func(name string, fn func(f *os.File) (Writer, error), pkts ...[]Packet) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w, err := fn(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range pkts {
			for _, p := range list {
				if err := w.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	usec := write("ours.usec.pcap", func(f *os.File) (Writer, error) {
		return NewPcapWriter(f, LinkTypeEthernet, PcapWriterOptions{})
	}, loPkts)
	nsec := write("ours.nsec.pcap", func(f *os.File) (Writer, error) {
		return NewPcapWriter(f, LinkTypeEthernet, PcapWriterOptions{Nanosecond: true})
	}, loPkts)
	for i := range anyPkts {
		anyPkts[i].Interface = 1
	}
	ng := write("ours.pcapng", func(f *os.File) (Writer, error) {
		w, err := NewPcapngWriter(f, PcapngWriterOptions{Application: "mptcp capture test"})
		if err != nil {
			return nil, err
		}
		if _, err := w.AddInterface(Interface{LinkType: LinkTypeEthernet, Name: "lo"}); err != nil {
			return nil, err
		}
		_, err = w.AddInterface(Interface{LinkType: anyPkts[0].LinkType, Name: "any"})
		return w, err
	}, loPkts, anyPkts)
	for _, tc := range []struct{ ours, orig string }{{usec, lo}, {nsec, lo}} {
		got, want := tsharkRead(t, tc.ours), tsharkRead(t, tc.orig)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: tshark reads\n%v\nwant\n%v", tc.ours, got, want)
		}
	}
	got := tsharkRead(t, ng)
	want := append(tsharkRead(t, lo), tsharkRead(t, anyf)...)
	for i := len(loPkts); i < len(want); i++ {
		want[i].iface = 1
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: tshark reads\n%v\nwant\n%v", ng, got, want)
	}
	out, err := exec.CommandContext(context.Background(), "capinfos", "-T", "-r", "-c", "-t", "-E", ng).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v: %s", err, out)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), "\t")
	if len(fields) < 4 || fields[1] != "pcapng" || fields[3] != strconv.Itoa(len(want)) {
		t.Errorf("capinfos: %q, want pcapng with %d packets", out, len(want))
	}
}
