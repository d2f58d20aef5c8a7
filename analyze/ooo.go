package analyze

import "time"

// oooSeg is data held until the bytes before it arrive.
type oooSeg struct {
	off  uint64
	data []byte
	h    *half
	ts   time.Time
}

func (g *oooSeg) end() uint64 { return g.off + uint64(len(g.data)) }

// oooSegCost is what one held segment costs besides its buffer (the
// segment itself, its share of a block), counted against Config.MaxBuffer.
const oooSegCost = 72

// oooBlockLen is the most segments a block of an oooList holds.
const oooBlockLen = 64

// oooList holds a stream's out-of-order segments sorted by offset, without
// overlap, in blocks of at most oooBlockLen segments. Finding a place is
// two binary searches; inserting moves at most a block's segments, and a
// block that splits moves block pointers on the shorter side of the list
// only. Segments arriving in any order (reversed, shuffled) cost
// O(log n + oooBlockLen) each, not O(n) as a flat sorted slice does.
type oooList struct {
	blocks []*oooBlock // live from bh; sorted
	bh     int
	n      int
	spare  *oooBlock
}

// oooBlock is a sorted run of segments, live from head.
type oooBlock struct {
	segs []oooSeg
	head int
}

func (b *oooBlock) live() []oooSeg { return b.segs[b.head:] }

// empty reports whether nothing is held.
func (l *oooList) empty() bool { return l.n == 0 }

// first returns the lowest segment (the list must not be empty).
func (l *oooList) first() *oooSeg {
	b := l.blocks[l.bh]
	return &b.segs[b.head]
}

// popFirst removes the lowest segment (already released).
func (l *oooList) popFirst() {
	b := l.blocks[l.bh]
	b.segs[b.head] = oooSeg{}
	b.head++
	l.n--
	if b.head == len(b.segs) {
		l.dropBlock(l.bh)
	}
}

// dropBlock removes the empty block at index i.
func (l *oooList) dropBlock(i int) {
	b := l.blocks[i]
	b.segs, b.head = b.segs[:0], 0
	l.spare = b
	if i == l.bh {
		l.blocks[i] = nil
		l.bh++
	} else {
		copy(l.blocks[i:], l.blocks[i+1:])
		l.blocks[len(l.blocks)-1] = nil
		l.blocks = l.blocks[:len(l.blocks)-1]
	}
	if l.bh == len(l.blocks) {
		l.blocks, l.bh = l.blocks[:0], 0
	}
}

// pos is a place in the list: block index and index in the block's segs.
type pos struct{ bi, si int }

// search returns the place of the first segment that ends after off (the
// end of the list if none: bi == len(blocks)).
func (l *oooList) search(off uint64) pos {
	lo, hi := l.bh, len(l.blocks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		b := l.blocks[m]
		if b.segs[len(b.segs)-1].end() <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(l.blocks) {
		return pos{lo, 0}
	}
	b := l.blocks[lo]
	i, j := b.head, len(b.segs)
	for i < j {
		m := int(uint(i+j) >> 1)
		if b.segs[m].end() <= off {
			i = m + 1
		} else {
			j = m
		}
	}
	return pos{lo, i}
}

// at returns the segment at p, or nil at the end of the list.
func (l *oooList) at(p pos) *oooSeg {
	if p.bi >= len(l.blocks) {
		return nil
	}
	return &l.blocks[p.bi].segs[p.si]
}

// next returns the place after p.
func (l *oooList) next(p pos) pos {
	p.si++
	if p.si == len(l.blocks[p.bi].segs) {
		p.bi++
		if p.bi < len(l.blocks) {
			p.si = l.blocks[p.bi].head
		} else {
			p.si = 0
		}
	}
	return p
}

// prev returns the segment before p, or nil.
func (l *oooList) prev(p pos) *oooSeg {
	if p.bi < len(l.blocks) && p.si > l.blocks[p.bi].head {
		return &l.blocks[p.bi].segs[p.si-1]
	}
	if p.bi-1 >= l.bh {
		b := l.blocks[p.bi-1]
		return &b.segs[len(b.segs)-1]
	}
	return nil
}

// insert puts g at p (found by search for g.off).
func (l *oooList) insert(p pos, g oooSeg) {
	l.n++
	if p.bi == len(l.blocks) {
		// After everything: append to the last block, or a new one.
		if p.bi > l.bh {
			if b := l.blocks[p.bi-1]; len(b.segs) < oooBlockLen {
				b.segs = append(b.segs, g)
				return
			}
		}
		b := l.newBlock()
		b.segs = append(b.segs, g)
		l.blocks = append(l.blocks, b)
		return
	}
	b := l.blocks[p.bi]
	if p.si == b.head && b.head > 0 {
		// Before the block's first live segment, where one was popped.
		b.head--
		b.segs[b.head] = g
		return
	}
	if p.si == b.head && p.bi > l.bh {
		// Between two blocks: at the end of the previous one if it has
		// room.
		if pb := l.blocks[p.bi-1]; len(pb.segs) < oooBlockLen {
			pb.segs = append(pb.segs, g)
			return
		}
	}
	if len(b.segs) < oooBlockLen {
		b.segs = append(b.segs, oooSeg{})
		copy(b.segs[p.si+1:], b.segs[p.si:])
		b.segs[p.si] = g
		return
	}
	// The block is full: split it in two halves around the middle.
	nb := l.newBlock()
	mid := b.head + (len(b.segs)-b.head)/2
	nb.segs = append(nb.segs, b.segs[mid:]...)
	clear(b.segs[mid:])
	b.segs = b.segs[:mid]
	l.insertBlock(p.bi+1, nb)
	if p.si <= mid {
		b.segs = append(b.segs, oooSeg{})
		copy(b.segs[p.si+1:], b.segs[p.si:])
		b.segs[p.si] = g
	} else {
		i := p.si - mid
		nb.segs = append(nb.segs, oooSeg{})
		copy(nb.segs[i+1:], nb.segs[i:])
		nb.segs[i] = g
	}
}

// insertBlock puts b at index i of blocks, moving the shorter side.
func (l *oooList) insertBlock(i int, b *oooBlock) {
	if l.bh > 0 && i-l.bh < len(l.blocks)-i {
		copy(l.blocks[l.bh-1:], l.blocks[l.bh:i])
		l.bh--
		l.blocks[i-1] = b
		return
	}
	if l.bh > 0 && len(l.blocks) == cap(l.blocks) {
		// Reclaim the room at the front before growing.
		n := copy(l.blocks, l.blocks[l.bh:])
		clear(l.blocks[n:])
		l.blocks, i, l.bh = l.blocks[:n], i-l.bh, 0
	}
	l.blocks = append(l.blocks, nil)
	copy(l.blocks[i+1:], l.blocks[i:])
	l.blocks[i] = b
}

func (l *oooList) newBlock() *oooBlock {
	if b := l.spare; b != nil {
		l.spare = nil
		return b
	}
	return &oooBlock{segs: make([]oooSeg, 0, oooBlockLen)}
}

// each calls f for every segment, lowest first, until f returns false.
func (l *oooList) each(f func(g *oooSeg) bool) {
	for _, b := range l.blocks[l.bh:] {
		for i := b.head; i < len(b.segs); i++ {
			if !f(&b.segs[i]) {
				return
			}
		}
	}
}

// reset drops everything (the buffers must have been released).
func (l *oooList) reset() {
	*l = oooList{}
}
