package mpconn

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// eventLog collects a host's events as "kind addr/subflow" lines.
type eventLog struct{ lines []string }

func (l *eventLog) add(e Event) {
	s := e.Kind.String()
	switch e.Kind {
	case EventSubflowEstablished, EventSubflowClosed, EventPrio:
		s += fmt.Sprintf(" %v->%v join=%v", e.Subflow.Local.Addr(), e.Subflow.Remote.Addr(), e.Subflow.Join)
	case EventAddAddr, EventAddAddrSent:
		s += fmt.Sprintf(" %v id=%d", e.Addr.Addr(), e.AddrID)
	case EventEstablished:
		s += fmt.Sprintf(" fallback=%v", e.Fallback)
	}
	if e.Token == 0 && e.Kind != EventEstablished {
		s += " token=0"
	}
	l.lines = append(l.lines, s)
}

// TestEvents: Config.OnEvent tells both ends of the handshake, the
// server's ADD_ADDR, the join, a subflow closing with its path's address
// withdrawn, and the end.
func TestEvents(t *testing.T) {
	var cev, sev eventLog
	n, cli, srv := twoHosts(t, 131, Config{OnEvent: cev.add}, Config{OnEvent: sev.add})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully && len(s.Subflows()) == 2 }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	for _, want := range []string{"established fallback=false", "add_addr 10.0.2.2 id=1", "subflow_established 10.0.2.1->10.0.2.2 join=true"} {
		if !slices.Contains(cev.lines, want) {
			t.Errorf("client events lack %q: %q", want, cev.lines)
		}
	}
	for _, want := range []string{"established fallback=false", "add_addr_sent 10.0.2.2 id=1", "subflow_established 10.0.2.2->10.0.2.1 join=true"} {
		if !slices.Contains(sev.lines, want) {
			t.Errorf("server events lack %q: %q", want, sev.lines)
		}
	}
	c.RemoveAddr(addr("10.0.2.1"))
	if !n.runUntil(10*time.Second, func() bool { return len(c.Info().Closed) == 1 }) {
		t.Fatalf("subflow not closed: %s", brief(c))
	}
	if !slices.Contains(cev.lines, "subflow_closed 10.0.2.1->10.0.2.2 join=true") {
		t.Errorf("client events lack the closed subflow: %q", cev.lines)
	}
	data := randomData(64<<10, 9)
	if got := n.pump(c, s, data, time.Minute, true); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	s.CloseWrite()
	if !n.runUntil(time.Minute, func() bool { return c.State() == StateClosed && s.State() == StateClosed }) {
		t.Fatalf("not finished: %s / %s", brief(c), brief(s))
	}
	for _, l := range [][]string{cev.lines, sev.lines} {
		if n := strings.Count(strings.Join(l, "\n"), "established fallback"); n != 1 || !strings.HasPrefix(l[0], "established") || l[len(l)-1] != "closed" {
			t.Errorf("events %q: want established first and once, closed last", l)
		}
		for _, x := range l {
			if strings.Contains(x, "token=0") || strings.HasPrefix(x, "fallback") {
				t.Errorf("event %q", x)
			}
		}
	}
	t.Logf("client: %q\nserver: %q", cev.lines, sev.lines)
}

// TestEventFallback: a SYN/ACK without MP_CAPABLE is reported as an
// established connection in fallback.
func TestEventFallback(t *testing.T) {
	var cev eventLog
	n, cli, srv := twoHosts(t, 132, Config{OnEvent: cev.add}, Config{})
	n.mangle = func(_, _ netip.AddrPort, seg []byte) []byte {
		if isSynAck(seg) {
			return stripMPTCP(seg)
		}
		return seg
	}
	c := cli.dial("10.0.1.2:80")
	established(t, n, cli, srv, c)
	if len(cev.lines) == 0 || cev.lines[0] != "established fallback=true" {
		t.Errorf("events %q", cev.lines)
	}
}

// TestConnInfoJSON: keys, tokens and sequence numbers as hex strings,
// subflows with their TCP info, and the round trip through
// ConnInfoJSON.
func TestConnInfoJSON(t *testing.T) {
	n, cli, srv := twoHosts(t, 133, Config{}, Config{})
	c := cli.dial("10.0.1.2:80")
	established(t, n, cli, srv, c)
	if !n.runUntil(10*time.Second, func() bool { return len(c.Subflows()) == 2 && c.Subflows()[1].fully }) {
		t.Fatalf("no second subflow: %s", brief(c))
	}
	in := c.Info()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var j ConnInfoJSON
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.LocalKey != fmt.Sprintf("%016x", in.LocalKey) || j.RemoteToken != fmt.Sprintf("%08x", in.RemoteToken) ||
		j.SndNxt != fmt.Sprintf("%016x", in.SndNxt) || j.State != "established" || len(j.Subflows) != 2 || j.Closed == nil {
		t.Errorf("json %s", b)
	}
	sf := j.Subflows[1]
	if sf.Local != "10.0.2.1:"+fmt.Sprint(in.Subflows[1].Local.Port()) || !sf.Join || !sf.Fully ||
		sf.TCP.State != "ESTABLISHED" || sf.TCP.SRTTms <= 0 || sf.TCP.MSS == 0 {
		t.Errorf("subflow json %+v", sf)
	}
	for _, key := range []string{`"local_key":`, `"subflows":[`, `"closed_subflows":[]`, `"tcp":{"state":`, `"srtt_ms":`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("json lacks %s: %s", key, b)
		}
	}
}

// TestNoFallbackAfterClose: once both DATA_FINs were exchanged, the
// subflow's closing segments without MPTCP options (Linux's last ACKs
// carry none) do not turn the closed connection into a fallback one.
func TestNoFallbackAfterClose(t *testing.T) {
	var cev eventLog
	n, cli, srv := twoHosts(t, 134, Config{DisableJoins: true, OnEvent: cev.add}, Config{DisableJoins: true})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	data := randomData(32<<10, 3)
	if got := n.pump(c, s, data, time.Minute, true); !sameSHA(got, data) {
		t.Fatal("data differs")
	}
	s.CloseWrite()
	if !n.runUntil(time.Minute, func() bool { return c.State() == StateClosed }) {
		t.Fatalf("not closed: %s / %s", brief(c), brief(s))
	}
	// From now on the server's segments (its subflow's FIN and ACKs) reach
	// the client without MPTCP options.
	n.mangle = func(_, dst netip.AddrPort, seg []byte) []byte {
		if dst.Addr() == addr("10.0.1.1") {
			return stripMPTCP(seg)
		}
		return seg
	}
	n.runFor(5 * time.Second)
	if c.Fallback() || slices.Contains(cev.lines, "fallback") {
		t.Errorf("fallback after close: %v, events %q", c.Fallback(), cev.lines)
	}
}

// TestDataFinWithoutData: a client that sends no data and closes its side
// right after the handshake sends its DATA_FIN on a pure ACK instead of
// repeating MP_CAPABLE for ever (a server with nothing to say never sends
// the DSS that would end the repetition; Linux's
// mptcp_established_options_mp gives way to a pending DATA_FIN too).
func TestDataFinWithoutData(t *testing.T) {
	n, cli, srv := twoHosts(t, 135, Config{DisableJoins: true}, Config{DisableJoins: true})
	c := cli.dial("10.0.1.2:80")
	s := established(t, n, cli, srv, c)
	c.CloseWrite()
	buf := make([]byte, 16)
	if !n.runUntil(time.Minute, func() bool { _, err := s.Read(buf); return err == io.EOF }) {
		t.Fatalf("the server never read EOF: %s / %s", brief(c), brief(s))
	}
	s.CloseWrite()
	if !n.runUntil(time.Minute, func() bool {
		_, err := c.Read(buf)
		return err == io.EOF && c.State() == StateClosed && s.State() == StateClosed
	}) {
		t.Fatalf("not closed: %s / %s", brief(c), brief(s))
	}
	if c.Fallback() || s.Fallback() {
		t.Fatal("fell back")
	}
}
