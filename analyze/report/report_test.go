package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
)

func sample() *analyze.Result {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id := uint8(2)
	return &analyze.Result{
		Packets: 10, TCP: 9, MPTCP: 8, NotTCP: 1, First: t0, Last: t0.Add(2 * time.Second),
		Connections: []analyze.Connection{{
			ID: 1, Version: "v1", Verified: false, GroupedBy: "token",
			Client: netip.MustParseAddrPort("198.18.1.1:1"), Server: netip.MustParseAddrPort("198.18.1.2:2"),
			ServerToken: "abcd0123", FirstSeen: t0, LastSeen: t0.Add(time.Second), End: "open",
			Subflows: []analyze.Subflow{{ID: 4, Role: "join", JoinHMAC: "unverifiable", Backup: true, ClientAddrID: &id,
				Client: netip.MustParseAddrPort("198.18.2.1:3"), Server: netip.MustParseAddrPort("198.18.1.2:2"),
				ClientIsConnClient: true, FirstSeen: t0, LastSeen: t0, End: "rst",
				Dirs: [2]analyze.SubflowDir{{DataBytes: 100, Share: 1}, {}}}},
			Streams: []analyze.Stream{
				{Direction: "client->server", Bytes: 100, End: 300, Origin: 77,
					Holes:     []analyze.Hole{{Offset: 0, Size: 150, Reason: "missing"}, {Offset: 250, Size: 50, Reason: "acked"}},
					Conflicts: []analyze.Hole{{Offset: 160, Size: 2}}},
				{Direction: "server->client"},
			},
			Events:   []analyze.Event{{Time: t0.Add(time.Second), Type: "handover", Subflow: 4, To: 5, Detail: "moved"}},
			Findings: []analyze.Finding{{Severity: analyze.Error, Code: analyze.CodeDataConflict, Subflow: 4, Message: "differ"}},
		}},
		Rejected: []analyze.Subflow{{ID: 9, Connection: 1, Token: "abcd0123",
			Client: netip.MustParseAddrPort("203.0.113.1:5"), Server: netip.MustParseAddrPort("198.18.1.2:2")}},
		Findings: []analyze.Finding{{Severity: analyze.Warning, Code: analyze.CodeInput, Message: "truncated"}},
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := WriteText(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"grouping UNVERIFIED (by token)",
		"#4 join (hmac unverifiable) backup 198.18.2.1:3 -> 198.18.1.2:2",
		"holes: 2, 200 B missing: 0+150 250+50(acked)",
		"CONFLICTING copies at: 160+2",
		"offsets from the first DSN seen (0x4d)",
		"handover -> #5  moved",
		"ERROR   data_conflict #4: differ",
		"#9 claimed connection 1: 203.0.113.1:5 -> 198.18.1.2:2",
		"WARNING input_error: truncated",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	var b bytes.Buffer
	r := sample()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var back analyze.Result
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Connections[0].Streams[0].Holes[1] != r.Connections[0].Streams[0].Holes[1] ||
		*back.Connections[0].Subflows[0].ClientAddrID != 2 || back.Rejected[0].ID != 9 {
		t.Errorf("round trip lost data: %+v", back)
	}
	for _, key := range []string{`"connections"`, `"subflows"`, `"streams"`, `"holes"`, `"rejected_subflows"`, `"client_addr_id"`} {
		if !strings.Contains(b.String(), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func TestWorst(t *testing.T) {
	r := sample()
	if w := Worst(r); w != analyze.Error {
		t.Errorf("worst %q", w)
	}
	r.Connections[0].Findings = nil
	if w := Worst(r); w != analyze.Warning {
		t.Errorf("worst %q", w)
	}
	if w := Worst(&analyze.Result{}); w != "" {
		t.Errorf("worst %q", w)
	}
}

func TestStream(t *testing.T) {
	r := sample()
	conns := r.Connections
	r.Connections = nil
	var text, js bytes.Buffer
	ts, jsn := NewStream(&text, false), NewStream(&js, true)
	for i := range 2 {
		c := conns[0]
		c.ID = i + 1
		ts.Connection(&c, r.First)
		jsn.Connection(&c, r.First)
	}
	if err := ts.Close(r); err != nil {
		t.Fatal(err)
	}
	if err := jsn.Close(r); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	if !strings.HasPrefix(out, "connection 1:") || !strings.Contains(out, "\nconnection 2:") || !strings.Contains(out, "MPTCP connections: 2") {
		t.Errorf("text stream:\n%s", out)
	}
	var back analyze.Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("%v:\n%s", err, js.String())
	}
	if len(back.Connections) != 2 || back.Connections[1].ID != 2 || back.Packets != 10 || back.Rejected[0].ID != 9 {
		t.Errorf("json stream: %+v", back)
	}
	// No connection at all is still a valid document.
	var empty bytes.Buffer
	if err := NewStream(&empty, true).Close(&analyze.Result{}); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(empty.Bytes(), &back); err != nil || len(back.Connections) != 0 {
		t.Errorf("empty json stream: %v %s", err, empty.String())
	}
}

// TestWriteTextGroupingWording checks that each grouping basis reads as what
// it is: verified by both keys, or unverified with the reason.
func TestWriteTextGroupingWording(t *testing.T) {
	for _, tc := range []struct {
		verified bool
		by, want string
	}{
		{true, "keys", "grouping verified by keys"},
		{false, "keys", "grouping UNVERIFIED (by keys: only one side's key seen)"},
		{false, "dsn", "grouping UNVERIFIED (by dsn)"},
	} {
		r := sample()
		r.Connections[0].Verified, r.Connections[0].GroupedBy = tc.verified, tc.by
		var b bytes.Buffer
		if err := WriteText(&b, r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("verified=%v by=%s: text lacks %q", tc.verified, tc.by, tc.want)
		}
	}
}
