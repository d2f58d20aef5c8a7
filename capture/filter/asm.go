package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Pseudo labels for jumps to the nearest following accept or reject
// return (see assembler.ret).
const (
	toAccept = "\x00accept"
	toReject = "\x00reject"
)

// insn is one instruction of the assembler: a plain instruction, a jump
// with symbolic targets, or a label definition.
type insn struct {
	plain bpf.Instruction
	label string // defines a label at this position (no instruction)

	jump   bool   // conditional jump
	always string // unconditional jump target (ja)
	cond   bpf.JumpTest
	val    uint32
	x      bool   // compare A with X instead of val
	jt, jf string // targets; "" means the next instruction

	ret    bool // a return: accept (snap length) or reject (0)
	accept bool
}

// assembler builds a cBPF program with symbolic, forward-only jumps.
type assembler struct {
	code []insn
	n    int  // counter for unique labels
	expr bool // an expression follows: keep the IP header's offset and family
}

func (a *assembler) emit(i bpf.Instruction) { a.code = append(a.code, insn{plain: i}) }
func (a *assembler) label(l string)         { a.code = append(a.code, insn{label: l}) }
func (a *assembler) ja(l string)            { a.code = append(a.code, insn{always: l}) }

// jmp emits "if A <cond> val goto jt else goto jf".
func (a *assembler) jmp(cond bpf.JumpTest, val uint32, jt, jf string) {
	a.code = append(a.code, insn{jump: true, cond: cond, val: val, jt: jt, jf: jf})
}

// jmpX emits "if A <cond> X goto jt else goto jf".
func (a *assembler) jmpX(cond bpf.JumpTest, jt, jf string) {
	a.code = append(a.code, insn{jump: true, cond: cond, x: true, jt: jt, jf: jf})
}

// rets emits a pair of returns (reject, then accept). Jumps to toAccept
// and toReject land on the nearest pair after them, which keeps every jump
// within cBPF's 8-bit conditional offsets however long the program is.
// Code that falls through into a pair is rejected.
func (a *assembler) rets() {
	a.code = append(a.code, insn{ret: true}, insn{ret: true, accept: true})
}

// unique returns a fresh label.
func (a *assembler) unique(prefix string) string {
	a.n++
	return fmt.Sprintf("%s%d", prefix, a.n)
}

// assemble resolves labels and returns the program. Conditional jumps
// farther than 255 instructions are an error (cBPF cannot express them).
func (a *assembler) assemble(snapLen uint32) ([]bpf.Instruction, error) {
	pos := make(map[string]int)
	var idx []int // instruction index of each code entry (labels: next)
	n := 0
	for _, c := range a.code {
		idx = append(idx, n)
		if c.label != "" {
			if _, dup := pos[c.label]; dup {
				return nil, fmt.Errorf("filter: duplicate label %q", c.label)
			}
			pos[c.label] = n
			continue
		}
		n++
	}
	// nextRet finds the first return of the given kind at or after
	// instruction i.
	nextRet := func(from int, accept bool) (int, bool) {
		for k, c := range a.code {
			if c.ret && c.accept == accept && idx[k] >= from {
				return idx[k], true
			}
		}
		return 0, false
	}
	target := func(at int, l string) (int, error) {
		var t int
		switch l {
		case "":
			return 0, nil
		case toAccept, toReject:
			var ok bool
			if t, ok = nextRet(at+1, l == toAccept); !ok {
				return 0, fmt.Errorf("filter: instruction %d: no return after it", at)
			}
		default:
			var ok bool
			if t, ok = pos[l]; !ok {
				return 0, fmt.Errorf("filter: undefined label %q", l)
			}
		}
		skip := t - at - 1
		if skip < 0 {
			return 0, fmt.Errorf("filter: instruction %d: backward jump to %q", at, l)
		}
		return skip, nil
	}
	out := make([]bpf.Instruction, 0, n)
	for k, c := range a.code {
		at := idx[k]
		switch {
		case c.label != "":
			continue
		case c.ret:
			v := uint32(0)
			if c.accept {
				v = snapLen
			}
			out = append(out, bpf.RetConstant{Val: v})
		case c.always != "":
			s, err := target(at, c.always)
			if err != nil {
				return nil, err
			}
			out = append(out, bpf.Jump{Skip: uint32(s)})
		case c.jump:
			jt, err := target(at, c.jt)
			if err != nil {
				return nil, err
			}
			jf, err := target(at, c.jf)
			if err != nil {
				return nil, err
			}
			if jt > 255 || jf > 255 {
				return nil, fmt.Errorf("filter: instruction %d: jump of %d/%d > 255", at, jt, jf)
			}
			if c.x {
				out = append(out, bpf.JumpIfX{Cond: c.cond, SkipTrue: uint8(jt), SkipFalse: uint8(jf)})
			} else {
				out = append(out, bpf.JumpIf{Cond: c.cond, Val: c.val, SkipTrue: uint8(jt), SkipFalse: uint8(jf)})
			}
		default:
			out = append(out, c.plain)
		}
	}
	return out, nil
}
