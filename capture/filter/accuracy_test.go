//go:build linux

package filter

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/capture/internal/nstest"
	"github.com/mptcp-go/mptcp/lab"
	"golang.org/x/net/bpf"
)

var updateAccuracy = flag.Bool("update-accuracy", false,
	"write the real-traffic figures to ../testdata/filter-accuracy.txt and a sample capture to ../testdata/mptcp-sample.pcapng.gz")

// heuristic is the filter people use today for MPTCP: a TCP data offset of
// at least 56 bytes.
const heuristic = "tcp[12]&0xf0 >= 0xe0"

// tcpdumpProgram compiles expr with tcpdump for the link type of file.
func tcpdumpProgram(t *testing.T, file, expr string) []bpf.Instruction {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", file, "-ddd", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd %q: %v", expr, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var raw []bpf.RawInstruction
	for _, l := range lines[1:] {
		var op, jt, jf, k uint64
		if _, err := fmt.Sscan(l, &op, &jt, &jf, &k); err != nil {
			t.Fatalf("tcpdump -ddd line %q: %v", l, err)
		}
		raw = append(raw, bpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	if n, _ := strconv.Atoi(lines[0]); n != len(raw) {
		t.Fatalf("tcpdump -ddd: count %q for %d instructions", lines[0], len(raw))
	}
	prog, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("cannot disassemble tcpdump's program")
	}
	return prog
}

// Categories of packets to keep, for the breakdown of misses.
var categories = []string{"SYN", "FIN", "RST", "DSS with data", "DSS without data", "other MPTCP"}

func category(v verdict) int {
	switch {
	case v.flags&0x02 != 0:
		return 0
	case v.flags&0x01 != 0:
		return 1
	case v.flags&0x04 != 0:
		return 2
	case v.subtype == 2 && v.payload > 0:
		return 3
	case v.subtype == 2:
		return 4
	}
	return 5
}

// counts is a confusion matrix with the positives and misses per category.
type counts struct {
	packets, positives int
	tp, fn, fp, tn     int
	cat, catMissed     [6]int
	v6, v6Pos, v6FN    int // IPv6 packets, of them to keep, of those missed
	v6FP               int
}

func (c *counts) add(truth verdict, got bool) {
	c.packets++
	if truth.version == 6 {
		c.v6++
		switch {
		case truth.keep && !got:
			c.v6Pos++
			c.v6FN++
		case truth.keep:
			c.v6Pos++
		case got:
			c.v6FP++
		}
	}
	if truth.keep {
		c.positives++
		c.cat[category(truth)]++
	}
	switch {
	case truth.keep && got:
		c.tp++
	case truth.keep:
		c.fn++
		c.catMissed[category(truth)]++
	case got:
		c.fp++
	default:
		c.tn++
	}
}

func (c *counts) merge(o *counts) {
	c.packets += o.packets
	c.positives += o.positives
	c.tp += o.tp
	c.fn += o.fn
	c.fp += o.fp
	c.tn += o.tn
	c.v6 += o.v6
	c.v6Pos += o.v6Pos
	c.v6FN += o.v6FN
	c.v6FP += o.v6FP
	for i := range c.cat {
		c.cat[i] += o.cat[i]
		c.catMissed[i] += o.catMissed[i]
	}
}

// line formats a confusion matrix for the report.
func (c *counts) line(name string, detail bool) string {
	s := fmt.Sprintf("  %-10s FN %d (%s of packets to keep), FP %d (%s of packets to drop)\n",
		name+":", c.fn, pct(c.fn, c.positives), c.fp, pct(c.fp, c.packets-c.positives))
	if detail {
		s += "             missed:"
		for i, name := range categories {
			s += fmt.Sprintf(" %s %d/%d;", name, c.catMissed[i], c.cat[i])
		}
		s = strings.TrimSuffix(s, ";") + "\n"
		s += fmt.Sprintf("             IPv6 only: %d packets, %d to keep: FN %d (%s), FP %d\n", c.v6, c.v6Pos, c.v6FN, pct(c.v6FN, c.v6Pos), c.v6FP)
		pos4, neg4 := c.positives-c.v6Pos, c.packets-c.positives-(c.v6-c.v6Pos)
		s += fmt.Sprintf("             without IPv6: %d packets, %d to keep: FN %d (%s), FP %d (%s)\n",
			c.packets-c.v6, pos4, c.fn-c.v6FN, pct(c.fn-c.v6FN, pos4), c.fp-c.v6FP, pct(c.fp-c.v6FP, neg4))
	}
	return s
}

func pct(a, b int) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}

// TestFilterAccuracyRealTraffic runs kernel MPTCP (two subflows, data both
// ways) and plain TCP between two namespaces, captures it with tcpdump on
// Ethernet and Linux cooked (v1 and v2) interfaces, and runs our filter and
// the data-offset heuristic in the BPF VM over every packet, against ground
// truth from the header package. Ours must be exact; the heuristic's
// misses are logged (and written with -update-accuracy).
func TestFilterAccuracyRealTraffic(t *testing.T) {
	nstest.Require(t, "tcpdump")
	if testing.Short() {
		t.Skip("real-traffic measurement skipped in -short mode")
	}
	dir := t.TempDir()
	pair := nstest.NewPair(t)
	// A small token bucket on path 1 in both directions drops bursts, so
	// the plain TCP and MPTCP subflows there carry SACK blocks. Best
	// effort: without sch_tbf the traffic has no loss.
	var lossy []string
	for _, q := range []struct {
		ns  *nstest.NS
		dev string
	}{{pair.Client, pair.Iface(1)}, {pair.Server, pair.Iface(1)}} {
		if out, err := q.ns.Command("tc", "qdisc", "add", "dev", q.dev, "root", "tbf", "rate", "400mbit", "burst", "16kb", "limit", "24kb").CombinedOutput(); err != nil {
			t.Logf("no loss on %s: tc tbf: %v: %s", q.dev, err, out)
		} else {
			lossy = append(lossy, q.dev)
		}
	}
	files := []struct {
		name string
		side lab.Side
		dev  string
		args []string
	}{
		{"client-c1-ethernet.pcap", lab.Client, pair.Iface(1), nil},
		{"client-c2-ethernet.pcap", lab.Client, pair.Iface(2), nil},
		{"server-any-sll2.pcap", lab.Server, "any", []string{"-y", "LINUX_SLL2"}},
		{"server-any-sll.pcap", lab.Server, "any", []string{"-y", "LINUX_SLL"}},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var dumps []func() (lab.CaptureStats, error)
	for _, f := range files {
		stop, err := pair.Lab.Capture(ctx, f.side, f.dev, filepath.Join(dir, f.name), f.args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stop() })
		dumps = append(dumps, stop)
	}

	const mptcpBytes, tcpBytes, mptcp6Bytes = 8 << 20, 4 << 20, 2 << 20
	res, err := pair.Transfer(ctx, 5001, true, mptcpBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !res.MPTCP {
		t.Fatal("the MPTCP connection fell back to plain TCP")
	}
	if _, err := pair.Transfer(ctx, 5002, false, tcpBytes); err != nil {
		t.Fatal(err)
	}
	// IPv6: MPTCP and plain TCP, smaller.
	if res, err := pair.TransferTo(ctx, pair.ServerAddr6, 5003, true, mptcp6Bytes); err != nil || !res.MPTCP {
		t.Fatalf("IPv6 MPTCP transfer: MPTCP %v, %v", res.MPTCP, err)
	}
	if _, err := pair.TransferTo(ctx, pair.ServerAddr6, 5004, false, mptcp6Bytes); err != nil {
		t.Fatal(err)
	}
	// A refused connection: SYN answered by RST.
	_ = pair.Client.Do(func() error {
		c, err := (&netDialer{}).dial(ctx, pair.ServerAddr+":5999")
		if err == nil {
			c.Close()
			return errors.New("port 5999 accepted")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	for i, stop := range dumps {
		// The figures are over what was captured: drops only shrink
		// the sample.
		if st, err := stop(); errors.Is(err, lab.ErrCaptureDropped) {
			t.Logf("%s: %v (%+v)", files[i].name, err, st)
		} else if err != nil {
			t.Fatal(err)
		}
	}

	var report strings.Builder
	fmt.Fprintf(&report, "MPTCP filter accuracy on real traffic (TestFilterAccuracyRealTraffic, %s)\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&report, "Traffic: kernel MPTCP between two namespaces, 2 subflows (MP_JOIN over a second path,\n"+
		"ADD_ADDR), %d MiB each way; plain TCP (SACK, timestamps), %d MiB each way; one refused\n"+
		"connection (RST); then over IPv6 one MPTCP and one plain TCP connection, %d MiB each way.\n"+
		"Offloads off (wire-sized segments). Loss from a token bucket on: %v.\n"+
		"Ground truth: TCP with option kind 30, or SYN/FIN/RST (header package parser).\n"+
		"Heuristic: tcpdump -ddd '%s' for the same link type.\n\n", mptcpBytes>>20, tcpBytes>>20, mptcp6Bytes>>20, lossy, heuristic)
	var sample []capture.Packet
	totalOurs, totalHeur := &counts{}, &counts{}
	joins, sacks, dss, dssData, dssDataLong := 0, 0, 0, 0, 0
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var lt capture.LinkType
		var vmOurs, vmHeur *bpf.VM
		ours, heur := &counts{}, &counts{}
		for i := 0; ; i++ {
			p, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if vmOurs == nil {
				lt = p.LinkType
				l, err := ForLinkType(lt)
				if err != nil {
					t.Fatal(err)
				}
				prog, err := Program(l, 0)
				if err != nil {
					t.Fatal(err)
				}
				if vmOurs, err = bpf.NewVM(prog); err != nil {
					t.Fatal(err)
				}
				if vmHeur, err = bpf.NewVM(tcpdumpProgram(t, path, heuristic)); err != nil {
					t.Fatal(err)
				}
			}
			truth := groundTruth(p.LinkType, p.Data)
			a, err := vmOurs.Run(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			b, err := vmHeur.Run(p.Data)
			if err != nil {
				t.Fatal(err)
			}
			ours.add(truth, a != 0)
			heur.add(truth, b != 0)
			if (a != 0) != truth.keep {
				t.Errorf("%s packet %d: our filter says %v, ground truth %+v: %x", f.name, i+1, a != 0, truth, p.Data)
			}
			if f.name == "client-c1-ethernet.pcap" || f.name == "client-c2-ethernet.pcap" {
				if truth.mptcp && truth.subtype == 1 && truth.flags&0x02 != 0 && truth.flags&0x10 == 0 {
					joins++
				}
				if truth.sack {
					sacks++
				}
				if truth.subtype == 2 {
					dss++
					if truth.payload > 0 {
						dssData++
						if truth.doff >= 56 {
							dssDataLong++
						}
					}
				}
				// A sample for the non-root test: every SYN/FIN/RST,
				// the start of each file and every 25th packet.
				if *updateAccuracy && (truth.flags&0x07 != 0 || i < 300 || i%25 == 0) {
					cp := p
					cp.Data = append([]byte(nil), p.Data...)
					if f.name == "client-c2-ethernet.pcap" {
						cp.Interface = 1
					}
					sample = append(sample, cp)
				}
			}
		}
		r.Close()
		fmt.Fprintf(&report, "%s (%v): %d packets, %d to keep\n", f.name, lt, ours.packets, ours.positives)
		report.WriteString(ours.line("ours", false))
		report.WriteString(heur.line("heuristic", true))
		totalOurs.merge(ours)
		totalHeur.merge(heur)
	}
	fmt.Fprintf(&report, "\nAll files: %d packets, %d to keep\n", totalOurs.packets, totalOurs.positives)
	report.WriteString(totalOurs.line("ours", false))
	report.WriteString(totalHeur.line("heuristic", true))
	fmt.Fprintf(&report, "On the client's two paths: %d MP_JOIN SYNs, %d DSS packets (%d with payload, of which %d\n"+
		"have a TCP header of 56 bytes or more), %d packets with SACK blocks.\n", joins, dss, dssData, dssDataLong, sacks)
	t.Log("\n" + report.String())

	if totalOurs.fn != 0 || totalOurs.fp != 0 {
		t.Errorf("our filter: %d false negatives, %d false positives", totalOurs.fn, totalOurs.fp)
	}
	if joins == 0 {
		t.Error("no MP_JOIN SYN captured: the second subflow did not start")
	}
	if dss < 1000 {
		t.Errorf("only %d DSS packets: traffic too thin", dss)
	}
	if *updateAccuracy {
		if err := os.WriteFile(filepath.Join("..", "testdata", "filter-accuracy.txt"), []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		writeSample(t, filepath.Join("..", "testdata", "mptcp-sample.pcapng.gz"), sample)
	}
}

// writeSample stores packets from the client's two interfaces as a gzip
// pcapng file, in timestamp order.
func writeSample(t *testing.T, path string, pkts []capture.Packet) {
	t.Helper()
	sort.SliceStable(pkts, func(i, j int) bool { return pkts[i].Timestamp.Before(pkts[j].Timestamp) })
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := newGzip(f)
	w, err := capture.NewPcapngWriter(zw, capture.PcapngWriterOptions{Application: "mptcp capture/filter accuracy test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c1", "c2"} {
		if _, err := w.AddInterface(capture.Interface{LinkType: capture.LinkTypeEthernet, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pkts {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
}
