package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/synth"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/option"
)

// TestAnalyzeLimitFlags: --max-half-open bounds the connection attempts
// held (a SYN flood is one finding that says how many were given up), and
// a bound of 0 is a usage error.
func TestAnalyzeLimitFlags(t *testing.T) {
	name := filepath.Join(t.TempDir(), "synflood.pcap")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewPcapWriter(f, capture.LinkTypeRaw, capture.PcapWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := (&option.MPCapable{Version: option.V1, Flags: option.CapHMACSHA256}).Append(nil)
	for len(opt)%4 != 0 {
		opt = append(opt, 1)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := netip.MustParseAddrPort("198.18.9.9:443")
	for i := range 2000 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), uint16(1024+i))
		p := synth.Packet(nil, src, srv, uint32(i)*7919, 0, header.TCPFlagSYN, opt, nil)
		if err := w.WritePacket(capture.Packet{Timestamp: ts, LinkType: capture.LinkTypeRaw, Data: p, CaptureLength: len(p), Length: len(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	out, errs, code := runAnalyzeCmd(t, "analyze", "--json", "--max-half-open", "100", name)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Connections []json.RawMessage                `json:"connections"`
		Findings    []struct{ Code, Message string } `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range doc.Findings {
		if f.Code == "syn_unanswered" && strings.Contains(f.Message, "2000 connection attempts") &&
			strings.Contains(f.Message, "1900 were given up") && strings.Contains(f.Message, "at most 100 attempts") {
			found = true
		}
	}
	if !found || len(doc.Connections) != 0 {
		t.Errorf("%d connections, findings %+v", len(doc.Connections), doc.Findings)
	}
	if _, errs, code := runAnalyzeCmd(t, "analyze", "--max-conns", "0", name); code != exitUsage || !strings.Contains(errs, "--max-conns") {
		t.Errorf("--max-conns 0: exit %d, %s", code, errs)
	}
}
