package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/bpf"
)

// Expr is a capture-filter expression as tcpdump users write it, for TCP
// segments: host, net, port and portrange primitives (each optionally
// qualified by src or dst), ip, ip6 and tcp, combined with and (&&), or
// (||), not (!) and parentheses. As in tcpdump, a value after and/or
// without a keyword repeats the previous primitive's qualifiers:
// "host 198.18.1.1 or 198.18.2.1", "port 80 or 443".
//
// ProgramExpr compiles it to classic BPF and combines it with the MPTCP
// filter; Match evaluates it in Go on an IP packet.
type Expr struct {
	src  string
	root node
}

// String returns the expression as given.
func (e *Expr) String() string { return e.src }

// node is an expression tree node.
type node struct {
	op   string // "and", "or", "not", or "" for a primitive
	kids []node
	p    prim
}

// Directions of a primitive.
const (
	dirEither = iota
	dirSrc
	dirDst
	dirBoth // "src and dst"
)

// prim is a primitive: what to test and where.
type prim struct {
	kind   string // "host", "net", "port", "portrange", "ip", "ip6", "tcp"
	dir    int
	prefix netip.Prefix // host (full length) and net
	lo, hi uint16       // port, portrange
}

// ParseExpression parses a tcpdump-style expression.
func ParseExpression(s string) (*Expr, error) {
	p := &exprParser{toks: tokenize(s)}
	if len(p.toks) == 0 {
		return nil, fmt.Errorf("filter: empty expression")
	}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("filter: unexpected %q", p.toks[p.pos])
	}
	return &Expr{src: s, root: n}, nil
}

func tokenize(s string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unicode.IsSpace(rune(c)):
			flush()
		case c == '(' || c == ')':
			flush()
			out = append(out, string(c))
		case c == '!' && !(i+1 < len(s) && s[i+1] == '='):
			flush()
			out = append(out, "!")
		case (c == '&' || c == '|') && i+1 < len(s) && s[i+1] == c:
			flush()
			out = append(out, s[i:i+2])
			i++
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

type exprParser struct {
	toks []string
	pos  int
	last *prim // the previous primitive, for "host a or b"
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return strings.ToLower(p.toks[p.pos])
	}
	return ""
}

func (p *exprParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *exprParser) or() (node, error) {
	n, err := p.and()
	if err != nil {
		return n, err
	}
	for t := p.peek(); t == "or" || t == "||"; t = p.peek() {
		p.next()
		m, err := p.and()
		if err != nil {
			return n, err
		}
		n = node{op: "or", kids: []node{n, m}}
	}
	return n, nil
}

func (p *exprParser) and() (node, error) {
	n, err := p.unary()
	if err != nil {
		return n, err
	}
	for t := p.peek(); t == "and" || t == "&&"; t = p.peek() {
		p.next()
		m, err := p.unary()
		if err != nil {
			return n, err
		}
		n = node{op: "and", kids: []node{n, m}}
	}
	return n, nil
}

func (p *exprParser) unary() (node, error) {
	switch t := p.peek(); t {
	case "not", "!":
		p.next()
		n, err := p.unary()
		return node{op: "not", kids: []node{n}}, err
	case "(":
		p.next()
		n, err := p.or()
		if err != nil {
			return n, err
		}
		if p.next() != ")" {
			return n, fmt.Errorf("missing )")
		}
		return n, nil
	case "":
		return node{}, fmt.Errorf("expression ends too soon")
	}
	return p.primitive()
}

func (p *exprParser) primitive() (node, error) {
	pr := prim{}
	t := p.peek()
	switch t {
	case "ip", "ip6", "tcp":
		p.next()
		pr.kind = t
		switch p.peek() {
		case "src", "dst", "host", "net", "port", "portrange":
			// A protocol qualifier, as in "tcp port 80" or "ip6 host ::1".
			rest, err := p.primitive()
			if err != nil || t == "tcp" {
				return rest, err
			}
			return node{op: "and", kids: []node{{p: pr}, rest}}, nil
		}
		return node{p: pr}, nil
	case "src", "dst":
		p.next()
		pr.dir = dirSrc
		if t == "dst" {
			pr.dir = dirDst
		}
		if c := p.peek(); (c == "or" || c == "and") && p.pos+1 < len(p.toks) {
			if o := strings.ToLower(p.toks[p.pos+1]); o == "src" || o == "dst" {
				p.pos += 2
				pr.dir = dirEither
				if c == "and" {
					pr.dir = dirBoth
				}
			}
		}
		t = p.peek()
	}
	switch t {
	case "host", "net", "port", "portrange":
		p.next()
		pr.kind = t
	default:
		if p.last == nil || pr.dir != dirEither {
			if t == "" {
				return node{}, fmt.Errorf("expression ends too soon")
			}
			return node{}, fmt.Errorf("%q: want host, net, port, portrange, ip, ip6 or tcp", p.toks[p.pos])
		}
		// A bare value repeats the previous primitive's qualifiers.
		pr.kind, pr.dir = p.last.kind, p.last.dir
	}
	if p.pos >= len(p.toks) {
		return node{}, fmt.Errorf("%s: value missing", pr.kind)
	}
	v := p.toks[p.pos]
	p.pos++
	if err := pr.value(v); err != nil {
		return node{}, err
	}
	p.last = &pr
	return node{p: pr}, nil
}

// value parses the primitive's operand.
func (pr *prim) value(v string) error {
	switch pr.kind {
	case "host":
		a, err := netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("host %q: want an IPv4 or IPv6 address (names are not resolved)", v)
		}
		pr.prefix = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	case "net":
		pf, err := netip.ParsePrefix(v)
		if err != nil {
			a, err2 := netip.ParseAddr(v)
			if err2 != nil {
				return fmt.Errorf("net %q: want ADDR/BITS", v)
			}
			pf = netip.PrefixFrom(a, a.BitLen())
		}
		pr.prefix = pf.Masked()
	case "port":
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return fmt.Errorf("port %q: want a number 0..65535 (names are not resolved)", v)
		}
		pr.lo, pr.hi = uint16(n), uint16(n)
	case "portrange":
		a, b, ok := strings.Cut(v, "-")
		x, err1 := strconv.ParseUint(a, 10, 16)
		y, err2 := strconv.ParseUint(b, 10, 16)
		if !ok || err1 != nil || err2 != nil || x > y {
			return fmt.Errorf("portrange %q: want LOW-HIGH", v)
		}
		pr.lo, pr.hi = uint16(x), uint16(y)
	}
	return nil
}

// Match evaluates the expression on an IP packet (IPv4 or IPv6) whose TCP
// header starts at tcpOff. ok is false when the evaluation needed a byte
// past the end of ip: the BPF program then rejects the packet whatever
// the expression says.
func (e *Expr) Match(ip []byte, tcpOff int) (match, ok bool) { return e.root.match(ip, tcpOff) }

func (n *node) match(ip []byte, tcpOff int) (bool, bool) {
	switch n.op {
	case "and":
		m, ok := n.kids[0].match(ip, tcpOff)
		if !ok || !m {
			return m, ok
		}
		return n.kids[1].match(ip, tcpOff)
	case "or":
		m, ok := n.kids[0].match(ip, tcpOff)
		if !ok || m {
			return m, ok
		}
		return n.kids[1].match(ip, tcpOff)
	case "not":
		m, ok := n.kids[0].match(ip, tcpOff)
		return !m, ok
	}
	return n.p.match(ip, tcpOff)
}

func (pr *prim) match(ip []byte, tcpOff int) (bool, bool) {
	if len(ip) == 0 {
		return false, false
	}
	v4 := ip[0]>>4 == 4
	switch pr.kind {
	case "ip":
		return v4, true
	case "ip6":
		return !v4, true
	case "tcp":
		return true, true
	case "host", "net":
		if pr.prefix.Addr().Is4() != v4 {
			return false, true
		}
		bits := pr.prefix.Bits()
		words := (bits + 31) / 32
		srcOff, dstOff := 12, 16
		if !v4 {
			srcOff, dstOff = 8, 24
		}
		in := func(off int) (bool, bool) {
			// Word by word, as the BPF code loads them.
			addr := pr.prefix.Addr().AsSlice()
			for w := 0; w < words; w++ {
				o := off + 4*w
				if o+4 > len(ip) {
					return false, false
				}
				got := uint32(ip[o])<<24 | uint32(ip[o+1])<<16 | uint32(ip[o+2])<<8 | uint32(ip[o+3])
				want := uint32(addr[4*w])<<24 | uint32(addr[4*w+1])<<16 | uint32(addr[4*w+2])<<8 | uint32(addr[4*w+3])
				mask := ^uint32(0)
				if left := bits - 32*w; left < 32 {
					mask = ^uint32(0) << (32 - left)
				}
				if got&mask != want&mask {
					return false, true
				}
			}
			return true, true
		}
		return pr.combine(func() (bool, bool) { return in(srcOff) }, func() (bool, bool) { return in(dstOff) })
	case "port", "portrange":
		port := func(off int) (bool, bool) {
			if tcpOff+off+2 > len(ip) {
				return false, false
			}
			p := uint16(ip[tcpOff+off])<<8 | uint16(ip[tcpOff+off+1])
			return p >= pr.lo && p <= pr.hi, true
		}
		return pr.combine(func() (bool, bool) { return port(0) }, func() (bool, bool) { return port(2) })
	}
	return false, true
}

// combine evaluates the source and destination tests in the order and
// with the short circuits of the BPF code.
func (pr *prim) combine(src, dst func() (bool, bool)) (bool, bool) {
	switch pr.dir {
	case dirSrc:
		return src()
	case dirDst:
		return dst()
	case dirBoth:
		m, ok := src()
		if !ok || !m {
			return m, ok
		}
		return dst()
	}
	m, ok := src()
	if !ok || m {
		return m, ok
	}
	return dst()
}

// Scratch slots used by the expression's code (see filter.go).
const (
	memIP  = 3 // offset of the IP header
	memFam = 4 // 4 or 6
	memTCP = 5 // offset of the TCP header
)

// emit compiles the expression: control goes to tl when it holds, fl when
// not. Conditional jumps stay within each primitive (their targets are
// near); the unconditional ones (32-bit offsets) go to tl and fl.
func (n *node) emit(a *assembler, tl, fl string) {
	switch n.op {
	case "and":
		mid := a.unique("and")
		n.kids[0].emit(a, mid, fl)
		a.label(mid)
		n.kids[1].emit(a, tl, fl)
		return
	case "or":
		mid := a.unique("or")
		n.kids[0].emit(a, tl, mid)
		a.label(mid)
		n.kids[1].emit(a, tl, fl)
		return
	case "not":
		n.kids[0].emit(a, fl, tl)
		return
	}
	t, f := a.unique("pt"), a.unique("pf")
	n.p.emit(a, t, f)
	a.label(t)
	a.ja(tl)
	a.label(f)
	a.ja(fl)
}

// emit compiles a primitive with jumps to the near labels t and f.
func (pr *prim) emit(a *assembler, t, f string) {
	fam := func(v uint32) {
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memFam})
		a.jmp(bpf.JumpEqual, v, "", f)
	}
	switch pr.kind {
	case "tcp":
		a.ja(t)
	case "ip":
		fam(4)
		a.ja(t)
	case "ip6":
		fam(6)
		a.ja(t)
	case "host", "net":
		v4 := pr.prefix.Addr().Is4()
		if v4 {
			fam(4)
		} else {
			fam(6)
		}
		a.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memIP})
		srcOff, dstOff := uint32(12), uint32(16)
		if !v4 {
			srcOff, dstOff = 8, 24
		}
		addr := pr.prefix.Addr().AsSlice()
		bits := pr.prefix.Bits()
		// cmp compares the address at off with the prefix, word by word,
		// going to yes or no.
		cmp := func(off uint32, yes, no string) {
			for w := 0; w*32 < bits; w++ {
				want := uint32(addr[4*w])<<24 | uint32(addr[4*w+1])<<16 | uint32(addr[4*w+2])<<8 | uint32(addr[4*w+3])
				mask := ^uint32(0)
				if left := bits - 32*w; left < 32 {
					mask = ^uint32(0) << (32 - left)
				}
				a.emit(bpf.LoadIndirect{Off: off + uint32(4*w), Size: 4})
				if mask != ^uint32(0) {
					a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
				}
				a.jmp(bpf.JumpEqual, want&mask, "", no)
			}
			a.ja(yes)
		}
		switch pr.dir {
		case dirSrc:
			cmp(srcOff, t, f)
		case dirDst:
			cmp(dstOff, t, f)
		case dirBoth:
			mid := a.unique("hb")
			cmp(srcOff, mid, f)
			a.label(mid)
			cmp(dstOff, t, f)
		default:
			mid := a.unique("he")
			cmp(srcOff, t, mid)
			a.label(mid)
			cmp(dstOff, t, f)
		}
	case "port", "portrange":
		a.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memTCP})
		check := func(off uint32, yes, no string) {
			a.emit(bpf.LoadIndirect{Off: off, Size: 2})
			if pr.lo == pr.hi {
				a.jmp(bpf.JumpEqual, uint32(pr.lo), yes, no)
				return
			}
			a.jmp(bpf.JumpGreaterOrEqual, uint32(pr.lo), "", no)
			a.jmp(bpf.JumpGreaterThan, uint32(pr.hi), no, yes)
		}
		switch pr.dir {
		case dirSrc:
			check(0, t, f)
		case dirDst:
			check(2, t, f)
		case dirBoth:
			mid := a.unique("pb")
			check(0, mid, f)
			a.label(mid)
			check(2, t, f)
		default:
			mid := a.unique("pe")
			check(0, t, mid)
			a.label(mid)
			check(2, t, f)
		}
	}
}
