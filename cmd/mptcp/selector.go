package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/mpcrypto"
	"github.com/mptcp-go/mptcp/option"
)

// selector is one --conn: a connection ID, a token (8 hex digits), a key
// (16 hex digits), an ADDR:PORT or an address of any of its subflows.
type selector struct {
	raw   string
	kind  string // "id", "token", "key", "addrport", "addr"
	id    int
	token uint32
	key   uint64
	ap    netip.AddrPort
	addr  netip.Addr
}

const connHelp = "choose a connection: its `ID`, a TOKEN (8 hex digits), a KEY (16 hex digits), or an ADDR:PORT or ADDR of any of its subflows (id:, token:, key: force the kind); repeatable"

// parseSelector parses a --conn value.
func parseSelector(v string) (selector, error) {
	s := selector{raw: v}
	kind, val, explicit := strings.Cut(v, ":")
	if !explicit || (kind != "id" && kind != "token" && kind != "key") {
		kind, val = "", v
	}
	isHex := func(x string, n int) bool {
		if len(x) != n {
			return false
		}
		_, err := strconv.ParseUint(x, 16, 64)
		return err == nil
	}
	x := strings.TrimPrefix(strings.ToLower(val), "0x")
	switch {
	case kind == "id" || kind == "" && len(val) < 8 && val != "" && strings.Trim(val, "0123456789") == "":
		n, err := strconv.Atoi(val)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("--conn %q: a connection ID is a positive number", v)
		}
		s.kind, s.id = "id", n
	case kind == "token" || kind == "" && isHex(x, 8):
		t, err := strconv.ParseUint(x, 16, 32)
		if err != nil || len(x) > 8 {
			return s, fmt.Errorf("--conn %q: a token is 8 hex digits", v)
		}
		s.kind, s.token = "token", uint32(t)
	case kind == "key" || kind == "" && isHex(x, 16):
		k, err := strconv.ParseUint(x, 16, 64)
		if err != nil {
			return s, fmt.Errorf("--conn %q: a key is 16 hex digits", v)
		}
		s.kind, s.key = "key", k
	default:
		if ap, err := netip.ParseAddrPort(val); err == nil {
			s.kind, s.ap = "addrport", ap
		} else if a, err := netip.ParseAddr(val); err == nil {
			s.kind, s.addr = "addr", a
		} else {
			return s, fmt.Errorf("--conn %q: not an ID, token, key, ADDR:PORT or address", v)
		}
	}
	return s, nil
}

// matchConn reports whether connection c is chosen by s.
func (s *selector) matchConn(c *analyze.Connection) bool {
	switch s.kind {
	case "id":
		return c.ID == s.id
	case "token":
		t := fmt.Sprintf("%08x", s.token)
		return c.ClientToken == t || c.ServerToken == t
	case "key":
		k := fmt.Sprintf("%016x", s.key)
		return c.ClientKey == k || c.ServerKey == k
	}
	if s.matchEnds(c.Client, c.Server) {
		return true
	}
	for i := range c.Subflows {
		if s.matchEnds(c.Subflows[i].Client, c.Subflows[i].Server) {
			return true
		}
	}
	return false
}

func (s *selector) matchEnds(a, b netip.AddrPort) bool {
	switch s.kind {
	case "addrport":
		return a == s.ap || b == s.ap
	case "addr":
		return a.Addr() == s.addr || b.Addr() == s.addr
	}
	return false
}

// matchPacket reports whether a packet of a connection identifies it as
// chosen by s (live selection: its ID, an end of its subflow, or a key or
// token its MPTCP options carry).
func (s *selector) matchPacket(pi *analyze.PacketInfo) bool {
	switch s.kind {
	case "id":
		return pi.Conn == s.id
	case "addrport", "addr":
		return s.matchEnds(pi.Src, pi.Dst)
	}
	it := option.NewIter(pi.Options)
	var p option.Parser
	for it.Next() {
		o, err := p.Parse(it.Bytes())
		if err != nil {
			continue
		}
		switch o.Subtype {
		case option.SubtypeMPCapable:
			c := &o.MPCapable
			for _, k := range []struct {
				has bool
				key uint64
			}{{c.HasSenderKey, c.SenderKey}, {c.HasReceiverKey, c.ReceiverKey}} {
				if !k.has {
					continue
				}
				if s.kind == "key" && k.key == s.key || s.kind == "token" && mpcrypto.Token(c.Version, k.key) == s.token {
					return true
				}
			}
		case option.SubtypeMPJoin:
			if s.kind == "token" && o.MPJoin.Stage == option.JoinSYN && o.MPJoin.Token == s.token {
				return true
			}
		}
	}
	return false
}

// selection is the set of chosen connections. With selectors resolved
// ahead (a first pass over a file), ids is exact; live, a connection is
// chosen from the first packet that identifies it.
type selection struct {
	sels []selector
	// ids: connections chosen (true) or known not to be (false).
	ids map[int]bool
	// live: decide from packets as they come (no first pass).
	live bool
	// flows are the chosen connections' subflows (and rejected joins
	// claiming them), for --write-conn.
	flows []flowSpan
}

// flowSpan is a 4-tuple during the time a subflow used it; chosen says
// whether its connection was chosen.
type flowSpan struct {
	a, b        netip.AddrPort
	first, last time.Time
	conn        int
	chosen      bool
}

func newSelection(raw []string) (*selection, error) {
	s := &selection{ids: map[int]bool{}}
	for _, r := range raw {
		sel, err := parseSelector(r)
		if err != nil {
			return nil, err
		}
		s.sels = append(s.sels, sel)
	}
	return s, nil
}

// all reports whether every connection is chosen (no --conn).
func (s *selection) all() bool { return s == nil || len(s.sels) == 0 }

// note records connection c (pass one): chosen or not, and its 4-tuples.
func (s *selection) note(c *analyze.Connection, rejected []analyze.Subflow) {
	chosen := s.all()
	for i := range s.sels {
		if s.sels[i].matchConn(c) {
			chosen = true
		}
	}
	s.ids[c.ID] = chosen
	// Every connection's 4-tuples are kept, chosen or not, so that a
	// packet goes to the subflow that used its 4-tuple at its time.
	for i := range c.Subflows {
		sf := &c.Subflows[i]
		s.flows = append(s.flows, flowSpan{sf.Client, sf.Server, sf.FirstSeen, sf.LastSeen, c.ID, chosen})
	}
	for i := range rejected {
		if sf := &rejected[i]; sf.Connection == c.ID {
			s.flows = append(s.flows, flowSpan{sf.Client, sf.Server, sf.FirstSeen, sf.LastSeen, c.ID, chosen})
		}
	}
}

// chosen reports whether connection id is chosen.
func (s *selection) chosen(id int) bool {
	if s.all() {
		return true
	}
	return s.ids[id]
}

// packet decides, live, whether the connection of pi is chosen.
func (s *selection) packet(pi *analyze.PacketInfo) bool {
	if pi.Conn == 0 {
		return s.all()
	}
	if s.all() {
		return true
	}
	if v, ok := s.ids[pi.Conn]; ok && (v || !s.live) {
		return v
	}
	if !s.live {
		return false
	}
	for i := range s.sels {
		if s.sels[i].matchPacket(pi) {
			s.ids[pi.Conn] = true
			return true
		}
	}
	return false
}

// connection decides on a finished connection (live: from all it showed).
func (s *selection) connection(c *analyze.Connection) bool {
	if s.all() {
		return true
	}
	if s.live {
		for i := range s.sels {
			if s.sels[i].matchConn(c) {
				s.ids[c.ID] = true
			}
		}
		v := s.ids[c.ID]
		delete(s.ids, c.ID)
		return v
	}
	return s.ids[c.ID]
}

// raw returns the selectors as given.
func (s *selection) raw() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, x := range s.sels {
		out = append(out, x.raw)
	}
	return out
}
