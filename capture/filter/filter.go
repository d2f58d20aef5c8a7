// Package filter builds the classic BPF program that keeps the packets an
// MPTCP analyzer needs, and nothing else: TCP segments that carry an MPTCP
// option (TCP option kind 30, RFC 8684 §3) anywhere in their option list,
// plus every SYN, FIN and RST segment (with or without MPTCP options), so
// that connections and subflows can be followed from start to end,
// including fallback to plain TCP.
//
// The program runs in the kernel (SO_ATTACH_FILTER on an AF_PACKET socket,
// libpcap's pcap_setfilter, iptables' bpf match) and in the userspace VM of
// golang.org/x/net/bpf, where it is tested. Match is the same predicate in
// plain Go.
//
// # What the filter matches
//
// A frame matches when all of these hold:
//   - the link layer (Ethernet, Linux cooked v1 or v2: at most two
//     802.1Q/802.1ad VLAN tags; raw IP: the version nibble) carries IPv4 or
//     IPv6;
//   - IPv4: version 4, protocol 6, fragment offset 0 (non-first fragments
//     have no TCP header and are rejected), header length >= 20;
//   - IPv6: version 6; the next-header chain reaches TCP (6) through at
//     most four hop-by-hop (0), routing (43), fragment (44, offset 0 only)
//     or destination-options (60) headers;
//   - TCP: the SYN, FIN or RST flag is set, or the option list holds an
//     option of kind 30 at an option boundary.
//
// The option walk follows RFC 9293 §3.1: kind 0 (EOL) ends the list, kind
// 1 (NOP) is one byte, every other option has a length byte that counts
// kind and length; a length below 2, or an option running past the data
// offset, ends the walk. cBPF has no backward jumps, so the walk is
// unrolled: 40 steps, enough for the 40 option bytes a data offset of 15
// words allows even if every option is a NOP, so the filter is exact.
// Like any cBPF program, a load beyond the end of the frame rejects it.
package filter

import (
	"fmt"

	"github.com/mptcp-go/mptcp/capture"
	"golang.org/x/net/bpf"
)

// Link is the link-layer header the filter expects in front of IP.
type Link int

// Links the filter supports.
const (
	Ethernet Link = iota + 1 // Ethernet II, up to 2 VLAN tags (AF_PACKET SOCK_RAW on Ethernet/veth/lo)
	SLL                      // Linux cooked v1 (LINKTYPE_LINUX_SLL, 16 bytes)
	SLL2                     // Linux cooked v2 (LINKTYPE_LINUX_SLL2, 20 bytes)
	Raw                      // raw IPv4/IPv6 (LINKTYPE_RAW; AF_PACKET SOCK_DGRAM, TUN)
)

// Links returns the supported links in flag order.
func Links() []Link { return []Link{Ethernet, SLL, SLL2, Raw} }

func (l Link) String() string {
	switch l {
	case Ethernet:
		return "ethernet"
	case SLL:
		return "sll"
	case SLL2:
		return "sll2"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("link(%d)", int(l))
}

// ParseLink parses a link name as String prints it.
func ParseLink(s string) (Link, error) {
	for _, l := range Links() {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("filter: unknown link %q (want ethernet, sll, sll2 or raw)", s)
}

// LinkType returns the pcap link type of l.
func (l Link) LinkType() capture.LinkType {
	switch l {
	case Ethernet:
		return capture.LinkTypeEthernet
	case SLL:
		return capture.LinkTypeLinuxSLL
	case SLL2:
		return capture.LinkTypeLinuxSLL2
	case Raw:
		return capture.LinkTypeRaw
	}
	return 0
}

// ForLinkType returns the Link for a pcap link type.
func ForLinkType(lt capture.LinkType) (Link, error) {
	switch lt {
	case capture.LinkTypeEthernet:
		return Ethernet, nil
	case capture.LinkTypeLinuxSLL:
		return SLL, nil
	case capture.LinkTypeLinuxSLL2:
		return SLL2, nil
	case capture.LinkTypeRaw, capture.LinkTypeRawDLT12:
		return Raw, nil
	}
	return 0, fmt.Errorf("filter: link type %v: %w", lt, capture.ErrLinkType)
}

// DefaultSnapLen is what the filter returns for an accepted packet: the
// number of bytes to keep (tcpdump's default, i.e. the whole packet).
const DefaultSnapLen = 262144

// Limits of the unrolled walks.
const (
	maxVLANTags  = 2
	maxIPv6Ext   = 4
	optionSteps  = 40 // TCP options fill at most 40 bytes
	stepsPerRets = 4  // option steps between return pairs
)

// TCP option kinds and flags used by the filter.
const (
	kindEOL   = 0
	kindNOP   = 1
	kindMPTCP = 30 // RFC 8684 §3

	flagsFinSynRst = 0x07 // FIN 0x01, SYN 0x02, RST 0x04 (RFC 9293 §3.1)
)

// Scratch memory slots.
const (
	memEnd  = 0 // offset just past the TCP options
	memEnd1 = 1 // memEnd - 1
	memNH   = 2 // IPv6 next header while walking extension headers
)

// Program returns the filter for link l, accepting up to snapLen bytes of
// a matching packet (0 means DefaultSnapLen).
func Program(l Link, snapLen uint32) ([]bpf.Instruction, error) {
	return program(l, snapLen, optionSteps)
}

func program(l Link, snapLen uint32, steps int) ([]bpf.Instruction, error) {
	return build(l, snapLen, steps, nil, true)
}

// ProgramExpr returns a filter for link l that keeps TCP segments matching
// expr and, if mptcp, the MPTCP filter too (both must hold); with mptcp
// false and expr nil it keeps every TCP segment.
func ProgramExpr(l Link, snapLen uint32, expr *Expr, mptcp bool) ([]bpf.Instruction, error) {
	return build(l, snapLen, optionSteps, expr, mptcp)
}

// AssembleExpr returns ProgramExpr in raw form.
func AssembleExpr(l Link, snapLen uint32, expr *Expr, mptcp bool) ([]bpf.RawInstruction, error) {
	prog, err := ProgramExpr(l, snapLen, expr, mptcp)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(prog)
}

func build(l Link, snapLen uint32, steps int, expr *Expr, mptcp bool) ([]bpf.Instruction, error) {
	if snapLen == 0 {
		snapLen = DefaultSnapLen
	}
	a := &assembler{expr: expr != nil}
	if err := linkLayer(a, l); err != nil {
		return nil, err
	}
	ipv4(a)
	ipv6(a)
	a.rets()
	a.label("tcp")
	if expr != nil {
		// The expression first, with its own return pair before any of
		// the MPTCP part's scratch stores (see tcp); then X is the TCP
		// header again.
		a.emit(bpf.StoreScratch{Src: bpf.RegX, N: memTCP})
		expr.root.emit(a, "expr_true", "expr_false")
		a.label("expr_false")
		a.ja(toReject)
		a.rets()
		a.label("expr_true")
		a.emit(bpf.LoadScratch{Dst: bpf.RegX, N: memTCP})
	}
	if mptcp {
		tcp(a, steps)
	} else {
		a.ja(toAccept)
		a.rets()
	}
	return a.assemble(snapLen)
}

// Assemble returns Program(l, snapLen) in raw form, as the kernel takes it.
func Assemble(l Link, snapLen uint32) ([]bpf.RawInstruction, error) {
	prog, err := Program(l, snapLen)
	if err != nil {
		return nil, err
	}
	return bpf.Assemble(prog)
}

// linkLayer leaves X = offset of the IP header and jumps to "ip4" or "ip6".
func linkLayer(a *assembler, l Link) error {
	var etherOff, l3Off uint32
	switch l {
	case Ethernet:
		etherOff, l3Off = 12, 14
	case SLL:
		etherOff, l3Off = 14, 16
	case SLL2:
		etherOff, l3Off = 0, 20
	case Raw:
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 0})
		a.emit(bpf.LoadAbsolute{Off: 0, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
		a.jmp(bpf.JumpEqual, 0x40, "ip4", "")
		a.jmp(bpf.JumpEqual, 0x60, "ip6", toReject)
		a.rets()
		return nil
	default:
		return fmt.Errorf("filter: unsupported link %v", l)
	}
	// EtherType, then up to maxVLANTags tags (IEEE 802.1Q: TCI, EtherType).
	a.emit(bpf.LoadAbsolute{Off: etherOff, Size: 2})
	for i := range uint32(maxVLANTags + 1) {
		here := l3Off + 4*i
		a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: here})
		a.jmp(bpf.JumpEqual, capture.EtherTypeIPv4, "ip4", "")
		a.jmp(bpf.JumpEqual, capture.EtherTypeIPv6, "ip6", "")
		if i == maxVLANTags {
			break
		}
		tag := a.unique("tag")
		a.jmp(bpf.JumpEqual, capture.EtherTypeVLAN, tag, "")
		a.jmp(bpf.JumpEqual, capture.EtherTypeQinQ, tag, "")
		a.jmp(bpf.JumpEqual, capture.EtherTypeQinQ2, tag, toReject)
		a.label(tag)
		a.emit(bpf.LoadAbsolute{Off: here + 2, Size: 2})
	}
	a.rets()
	return nil
}

// ipv4 checks an IPv4 header at X and leaves X = TCP header offset.
func ipv4(a *assembler) {
	a.label("ip4")
	if a.expr {
		a.emit(bpf.StoreScratch{Src: bpf.RegX, N: memIP})
		a.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 4})
		a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memFam})
	}
	a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jmp(bpf.JumpEqual, 0x40, "", toReject) // RFC 791 §3.1: version
	a.emit(bpf.LoadIndirect{Off: 9, Size: 1})
	a.jmp(bpf.JumpEqual, 6, "", toReject) // protocol TCP
	a.emit(bpf.LoadIndirect{Off: 6, Size: 2})
	a.jmp(bpf.JumpBitsSet, 0x1fff, toReject, "") // fragment offset != 0
	a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2}) // IHL in bytes
	a.jmp(bpf.JumpGreaterOrEqual, 20, "", toReject)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.emit(bpf.TAX{})
	a.ja("tcp")
}

// ipv6 checks an IPv6 header at X, walks extension headers (RFC 8200 §4)
// and leaves X = TCP header offset.
func ipv6(a *assembler) {
	a.label("ip6")
	if a.expr {
		a.emit(bpf.StoreScratch{Src: bpf.RegX, N: memIP})
		a.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 6})
		a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memFam})
	}
	a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jmp(bpf.JumpEqual, 0x60, "", toReject)
	a.emit(bpf.LoadIndirect{Off: 6, Size: 1})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memNH})
	a.emit(bpf.TXA{})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	a.emit(bpf.TAX{})
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memNH})
	for range maxIPv6Ext {
		opt, frag, next := a.unique("ext"), a.unique("frag"), a.unique("nh")
		a.jmp(bpf.JumpEqual, 6, "tcp", "")
		a.jmp(bpf.JumpEqual, 44, frag, "")
		a.jmp(bpf.JumpEqual, 0, opt, "")
		a.jmp(bpf.JumpEqual, 43, opt, "")
		a.jmp(bpf.JumpEqual, 60, opt, toReject)
		// Hop-by-hop, routing, destination options: length in 8-octet
		// units, not counting the first 8 octets.
		a.label(opt)
		a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
		a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memNH})
		a.emit(bpf.LoadIndirect{Off: 1, Size: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 3})
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
		a.emit(bpf.TAX{})
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memNH})
		a.ja(next)
		// Fragment header (RFC 8200 §4.5): 8 octets; only the first
		// fragment (offset 0) holds the TCP header.
		a.label(frag)
		a.emit(bpf.LoadIndirect{Off: 2, Size: 2})
		a.jmp(bpf.JumpBitsSet, 0xfff8, toReject, "")
		a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
		a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memNH})
		a.emit(bpf.TXA{})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8})
		a.emit(bpf.TAX{})
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memNH})
		a.label(next)
	}
	a.jmp(bpf.JumpEqual, 6, "tcp", toReject)
}

// tcp checks the flags of the TCP header at X and walks its options.
//
// The option end is stored in scratch memory before the first jump: the
// kernel's classic BPF checker (check_load_and_stores in net/core/filter.c)
// follows memory validity linearly, through return instructions, so a jump
// to a return pair taken before the stores would make the loads after that
// pair look uninitialized and the kernel would refuse the program.
func tcp(a *assembler, steps int) {
	a.emit(bpf.LoadIndirect{Off: 12, Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2}) // data offset in bytes
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memEnd})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 1})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: memEnd1})
	a.emit(bpf.LoadIndirect{Off: 13, Size: 1})
	a.jmp(bpf.JumpBitsSet, flagsFinSynRst, toAccept, "")
	a.emit(bpf.TXA{})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 20})
	a.emit(bpf.TAX{}) // X = first option; the first step rejects a data offset <= 20
	for i := range steps {
		next, notNOP := a.unique("opt"), a.unique("len")
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEnd})
		a.jmpX(bpf.JumpGreaterThan, "", toReject) // end > X: an option starts here
		a.emit(bpf.LoadIndirect{Off: 0, Size: 1})
		a.jmp(bpf.JumpEqual, kindMPTCP, toAccept, "")
		a.jmp(bpf.JumpEqual, kindNOP, "", notNOP)
		a.emit(bpf.TXA{})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
		a.emit(bpf.TAX{})
		a.ja(next)
		a.label(notNOP)
		a.jmp(bpf.JumpEqual, kindEOL, toReject, "")
		a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: memEnd1})
		a.jmpX(bpf.JumpGreaterThan, "", toReject) // end-1 > X: the length byte is inside
		a.emit(bpf.LoadIndirect{Off: 1, Size: 1})
		a.jmp(bpf.JumpGreaterOrEqual, 2, "", toReject)
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
		a.emit(bpf.TAX{})
		a.label(next)
		if (i+1)%stepsPerRets == 0 && i+1 < steps {
			over := a.unique("over")
			a.ja(over)
			a.rets()
			a.label(over)
		}
	}
	a.rets()
}
