package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
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
				{Direction: "client->server", Bytes: 100, End: 300, Origin: 77, OriginSet: true, HoleBytes: 200, AckedHoleBytes: 50, HoleCount: 2,
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
	if err := WriteText(&b, sample(), nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"grouping UNVERIFIED (by token)",
		"#4 join (hmac unverifiable) backup 198.18.2.1:3 -> 198.18.1.2:2",
		"holes: 2, 200 B missing (150 B never seen, 50 B acked, not captured): 0+150 250+50(acked, not captured)",
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

func TestWriteJSONDocument(t *testing.T) {
	var b bytes.Buffer
	r := sample()
	if err := WriteJSON(&b, r, &Meta{Tool: Tool{Name: "mptcp", Version: "test"}}); err != nil {
		t.Fatal(err)
	}
	var back Document
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	c := back.Connections[0]
	if back.SchemaVersion != SchemaVersion || back.Tool.Version != "test" || len(back.Connections) != 1 ||
		*c.Streams.ClientToServer.Holes[1].Reason != "acked" || *c.Subflows[0].ClientAddrID != 2 || back.RejectedSubflows[0].ID != 9 {
		t.Errorf("document lost data: %+v", back)
	}
	if got := *c.Streams.ClientToServer.OriginDSN; got != "000000000000004d" {
		t.Errorf("origin_dsn %q", got)
	}
	if back.Summary.Worst == nil || *back.Summary.Worst != "error" || back.Summary.Findings["error"] != 1 || back.Summary.Findings["warning"] != 1 {
		t.Errorf("summary %+v", back.Summary)
	}
	// Keys are present even when there is nothing to say.
	for _, key := range []string{`"client_key": null`, `"fallback": null`, `"data_ack": null`, `"orphans": []`, `"server_addr_id": null`, `"reinjections": null`} {
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

// TestWriterOrder: connections that finish out of order come out sorted
// by ID, as soon as no lower one is open, in every format, also when they
// are held in the spill file.
func TestWriterOrder(t *testing.T) {
	r := sample()
	conn := r.Connections[0]
	r.Connections = nil
	for _, spill := range []bool{false, true} {
		for _, f := range []Format{Text, JSON, NDJSON} {
			var out bytes.Buffer
			w := NewWriter(&out, f, nil)
			if spill {
				w.held.memLimit = 10
			}
			open := map[int]bool{1: true, 2: true, 3: true, 4: true}
			w.OrderBy(func() int {
				for id := 1; id <= 4; id++ {
					if open[id] {
						return id
					}
				}
				return 0
			})
			finish := func(id int) {
				open[id] = false
				c := conn
				c.ID = id
				w.Connection(&c, nil, nil, r.First)
			}
			finish(3)
			finish(2)
			w.w.Flush()
			if out.Len() != 0 {
				t.Errorf("format %d: written before connection 1 finished:\n%s", f, out.String())
			}
			finish(1)
			w.w.Flush()
			if got := strings.Count(out.String(), "198.18.1.1:1"); got < 3 {
				t.Errorf("format %d: connections 1-3 not written once 1 finished (%d)", f, got)
			}
			finish(4)
			if err := w.Close(r); err != nil {
				t.Fatal(err)
			}
			var ids []int
			switch f {
			case Text:
				for _, l := range strings.Split(out.String(), "\n") {
					var id int
					if n, _ := fmt.Sscanf(l, "connection %d:", &id); n == 1 {
						ids = append(ids, id)
					}
				}
			case JSON:
				var d Document
				if err := json.Unmarshal(out.Bytes(), &d); err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				for _, c := range d.Connections {
					ids = append(ids, c.ID)
				}
			case NDJSON:
				for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var m map[string]any
					if err := json.Unmarshal([]byte(l), &m); err != nil {
						t.Fatalf("line %q: %v", l, err)
					}
					if m["type"] == "connection" {
						ids = append(ids, int(m["id"].(float64)))
					}
				}
			}
			if !slices.Equal(ids, []int{1, 2, 3, 4}) {
				t.Errorf("format %d spill %v: order %v", f, spill, ids)
			}
		}
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
		if err := WriteText(&b, r, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("verified=%v by=%s: text lacks %q", tc.verified, tc.by, tc.want)
		}
	}
}
