package filter

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/bpf"
)

// Format is an output format for a program.
type Format int

// Output formats.
const (
	// DDD is tcpdump's -ddd: the instruction count on the first line,
	// then "code jt jf k" in decimal, one instruction per line. Joined
	// with commas instead of newlines it is what tc's cls_bpf ("bpf
	// bytecode") and iptables' bpf match ("--bytecode") take.
	DDD Format = iota + 1
	// C is tcpdump's -dd: a C array initializer of struct sock_filter.
	C
	// Asm is a listing in the style of tcpdump's -d.
	Asm
	// JSON is an object with the link, the snap length and the
	// instructions as {"code","jt","jf","k"} objects.
	JSON
)

// ParseFormat parses "ddd", "c", "asm" or "json".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "ddd":
		return DDD, nil
	case "c":
		return C, nil
	case "asm":
		return Asm, nil
	case "json":
		return JSON, nil
	}
	return 0, fmt.Errorf("filter: unknown format %q (want ddd, c, asm or json)", s)
}

// Write writes prog in format f. link and snapLen are used by JSON only.
func Write(w io.Writer, f Format, prog []bpf.RawInstruction, link Link, snapLen uint32) error {
	var b strings.Builder
	switch f {
	case DDD:
		fmt.Fprintf(&b, "%d\n", len(prog))
		for _, ins := range prog {
			fmt.Fprintf(&b, "%d %d %d %d\n", ins.Op, ins.Jt, ins.Jf, ins.K)
		}
	case C:
		for _, ins := range prog {
			fmt.Fprintf(&b, "{ 0x%x, %d, %d, 0x%08x },\n", ins.Op, ins.Jt, ins.Jf, ins.K)
		}
	case Asm:
		for i, ins := range prog {
			fmt.Fprintln(&b, disasm(i, ins))
		}
	case JSON:
		type jins struct {
			Code uint16 `json:"code"`
			Jt   uint8  `json:"jt"`
			Jf   uint8  `json:"jf"`
			K    uint32 `json:"k"`
		}
		out := struct {
			Link         string `json:"link"`
			SnapLen      uint32 `json:"snaplen"`
			Instructions []jins `json:"instructions"`
		}{Link: link.String(), SnapLen: snapLen}
		for _, ins := range prog {
			out.Instructions = append(out.Instructions, jins{ins.Op, ins.Jt, ins.Jf, ins.K})
		}
		enc, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		b.Write(enc)
		b.WriteByte('\n')
	default:
		return fmt.Errorf("filter: unknown format %d", f)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// disasm prints instruction i like tcpdump -d: "(003) jeq #0x800 jt 4 jf 9".
func disasm(i int, raw bpf.RawInstruction) string {
	ins := raw.Disassemble()
	op, arg := "", ""
	switch v := ins.(type) {
	case bpf.LoadAbsolute:
		op, arg = "ld"+sizeSuffix(v.Size), fmt.Sprintf("[%d]", v.Off)
	case bpf.LoadIndirect:
		op, arg = "ld"+sizeSuffix(v.Size), fmt.Sprintf("[x + %d]", v.Off)
	case bpf.LoadConstant:
		op, arg = "ld", fmt.Sprintf("#0x%x", v.Val)
		if v.Dst == bpf.RegX {
			op = "ldx"
		}
	case bpf.LoadScratch:
		op, arg = "ld", fmt.Sprintf("M[%d]", v.N)
		if v.Dst == bpf.RegX {
			op = "ldx"
		}
	case bpf.StoreScratch:
		op, arg = "st", fmt.Sprintf("M[%d]", v.N)
		if v.Src == bpf.RegX {
			op = "stx"
		}
	case bpf.LoadMemShift:
		op, arg = "ldxb", fmt.Sprintf("4*([%d]&0xf)", v.Off)
	case bpf.ALUOpConstant:
		op, arg = aluName(v.Op), fmt.Sprintf("#0x%x", v.Val)
		if v.Op == bpf.ALUOpShiftLeft || v.Op == bpf.ALUOpShiftRight {
			arg = fmt.Sprintf("#%d", v.Val)
		}
	case bpf.ALUOpX:
		op, arg = aluName(v.Op), "x"
	case bpf.TAX:
		op = "tax"
	case bpf.TXA:
		op = "txa"
	case bpf.NegateA:
		op = "neg"
	case bpf.Jump:
		op, arg = "ja", fmt.Sprintf("%d", i+1+int(v.Skip))
	case bpf.RetConstant:
		op, arg = "ret", fmt.Sprintf("#%d", v.Val)
	case bpf.RetA:
		op, arg = "ret", "a"
	}
	if op != "" {
		return strings.TrimRight(fmt.Sprintf("(%03d) %-8s %s", i, op, arg), " ")
	}
	// Conditional jumps: decode the raw form, whose jt/jf are what tcpdump
	// prints (x/net/bpf may have flipped the condition).
	var name string
	switch raw.Op & 0xf0 {
	case 0x10:
		name = "jeq"
	case 0x20:
		name = "jgt"
	case 0x30:
		name = "jge"
	case 0x40:
		name = "jset"
	default:
		return fmt.Sprintf("(%03d) .word 0x%x, %d, %d, 0x%x", i, raw.Op, raw.Jt, raw.Jf, raw.K)
	}
	arg = fmt.Sprintf("#0x%x", raw.K)
	if raw.Op&0x08 != 0 {
		arg = "x"
	}
	return fmt.Sprintf("(%03d) %-8s %-16s jt %d\tjf %d", i, name, arg, i+1+int(raw.Jt), i+1+int(raw.Jf))
}

func sizeSuffix(n int) string {
	switch n {
	case 1:
		return "b"
	case 2:
		return "h"
	}
	return ""
}

func aluName(op bpf.ALUOp) string {
	switch op {
	case bpf.ALUOpAdd:
		return "add"
	case bpf.ALUOpSub:
		return "sub"
	case bpf.ALUOpMul:
		return "mul"
	case bpf.ALUOpDiv:
		return "div"
	case bpf.ALUOpOr:
		return "or"
	case bpf.ALUOpAnd:
		return "and"
	case bpf.ALUOpShiftLeft:
		return "lsh"
	case bpf.ALUOpShiftRight:
		return "rsh"
	case bpf.ALUOpMod:
		return "mod"
	case bpf.ALUOpXor:
		return "xor"
	}
	return "alu?"
}
