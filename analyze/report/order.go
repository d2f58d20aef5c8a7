package report

import (
	"container/heap"
	"fmt"
	"io"
	"os"
)

// held keeps rendered connections until every lower ID has been written,
// so output is sorted by ID although connections finish in any order.
// Past memLimit bytes they go to a temporary file: memory stays bounded
// however many connections a long-lived one holds back.
type held struct {
	ids      idHeap
	mem      map[int][]byte
	memBytes int
	spilled  map[int][2]int64 // offset, length in spill
	spill    *os.File
	spillEnd int64
	memLimit int
}

const defaultHoldLimit = 32 << 20

func newHeld() *held {
	return &held{mem: map[int][]byte{}, spilled: map[int][2]int64{}, memLimit: defaultHoldLimit}
}

func (h *held) len() int { return len(h.ids) }

// add holds the rendering b of connection id.
func (h *held) add(id int, b []byte) error {
	heap.Push(&h.ids, id)
	h.mem[id] = b
	h.memBytes += len(b)
	if h.memBytes <= h.memLimit {
		return nil
	}
	if h.spill == nil {
		f, err := os.CreateTemp("", "mptcp-report-*")
		if err != nil {
			return fmt.Errorf("report: holding connections for sorted output: %w", err)
		}
		os.Remove(f.Name()) // unlinked: gone when closed, whatever happens
		h.spill = f
	}
	for k, v := range h.mem {
		if _, err := h.spill.WriteAt(v, h.spillEnd); err != nil {
			return fmt.Errorf("report: holding connections for sorted output: %w", err)
		}
		h.spilled[k] = [2]int64{h.spillEnd, int64(len(v))}
		h.spillEnd += int64(len(v))
		delete(h.mem, k)
	}
	h.memBytes = 0
	return nil
}

// popBelow writes, in ID order, every held connection with an ID below
// limit (all of them when limit <= 0).
func (h *held) popBelow(limit int, w io.Writer) error {
	for len(h.ids) > 0 && (limit <= 0 || h.ids[0] < limit) {
		id := heap.Pop(&h.ids).(int)
		if b, ok := h.mem[id]; ok {
			delete(h.mem, id)
			h.memBytes -= len(b)
			if _, err := w.Write(b); err != nil {
				return err
			}
			continue
		}
		loc := h.spilled[id]
		delete(h.spilled, id)
		if _, err := io.Copy(w, io.NewSectionReader(h.spill, loc[0], loc[1])); err != nil {
			return err
		}
	}
	if len(h.ids) == 0 && h.spill != nil {
		h.spill.Close()
		h.spill, h.spillEnd = nil, 0
	}
	return nil
}

func (h *held) close() {
	if h.spill != nil {
		h.spill.Close()
		h.spill = nil
	}
}

type idHeap []int

func (x idHeap) Len() int           { return len(x) }
func (x idHeap) Less(i, j int) bool { return x[i] < x[j] }
func (x idHeap) Swap(i, j int)      { x[i], x[j] = x[j], x[i] }
func (x *idHeap) Push(v any)        { *x = append(*x, v.(int)) }
func (x *idHeap) Pop() any {
	old := *x
	v := old[len(old)-1]
	*x = old[:len(old)-1]
	return v
}
