package analyze

import (
	"container/heap"
	"fmt"
	"time"
)

// connSet holds the live connections in the order they were made. Removal
// leaves a hole (nil), so that finishing or forgetting any number of
// connections costs time linear in their number; holes are squeezed out
// when they are most of the list. open keeps the connections not yet
// finished by ID, for MinOpenID (a connection leaves it when it finishes).
type connSet struct {
	list  []*conn
	holes int
	open  openHeap
	// lruHead is the most recently active open connection, lruTail the
	// least (the next to evict).
	lruHead, lruTail *conn
	// frozen: a loop over list is running (Finish): no compaction.
	frozen bool
}

// DefaultMaxConnections is the default of Config.MaxConnections.
const DefaultMaxConnections = 1 << 15

// addConn enters c, the most recently active connection. Past
// Config.MaxConnections open connections, the least recently active one
// is given up (evict).
func (a *Analyzer) addConn(c *conn) {
	cs := &a.conns
	c.pos = len(cs.list)
	cs.list = append(cs.list, c)
	heap.Push(&cs.open, c)
	a.touch(c)
	for cs.open.Len() > a.cfg.MaxConnections && cs.lruTail != nil && cs.lruTail != c {
		a.evict(cs.lruTail)
	}
}

// touch makes c the most recently active connection.
func (a *Analyzer) touch(c *conn) {
	cs := &a.conns
	if cs.lruHead == c || c.done {
		return
	}
	cs.unlink(c)
	c.lruNext = cs.lruHead
	if cs.lruHead != nil {
		cs.lruHead.lruPrev = c
	}
	cs.lruHead = c
	if cs.lruTail == nil {
		cs.lruTail = c
	}
	c.inLRU = true
}

func (cs *connSet) unlink(c *conn) {
	if !c.inLRU {
		return
	}
	if c.lruPrev != nil {
		c.lruPrev.lruNext = c.lruNext
	} else {
		cs.lruHead = c.lruNext
	}
	if c.lruNext != nil {
		c.lruNext.lruPrev = c.lruPrev
	} else {
		cs.lruTail = c.lruPrev
	}
	c.lruPrev, c.lruNext, c.inLRU = nil, nil, false
}

// evict gives up connection c to stay within Config.MaxConnections: it is
// finished now (what is missing becomes holes) and its subflows leave the
// flow table, so that later packets of theirs are analyzed as a new
// connection seen without its handshake.
func (a *Analyzer) evict(c *conn) {
	a.connsEvicted++
	a.finding(c, nil, a.res.Last, Warning, CodeTableFull, fmt.Sprintf(
		"connection given up before its end (last packet %s) to hold at most %d open connections at once; later packets of its subflows are analyzed as another connection",
		c.last.Format(time.RFC3339Nano), a.cfg.MaxConnections))
	for _, sf := range c.subflows {
		if a.flows[sf.key] == sf {
			delete(a.flows, sf.key)
		}
	}
	for side := range c.tokens {
		if c.haveToken[side] && a.tokens[c.tokens[side]] == c {
			delete(a.tokens, c.tokens[side])
		}
	}
	a.closeConn(c, a.res.Last)
}

// removeConn takes c out of the live connections.
func (a *Analyzer) removeConn(c *conn) {
	cs := &a.conns
	if c.pos < 0 || c.pos >= len(cs.list) || cs.list[c.pos] != c {
		return
	}
	a.finished(c)
	cs.list[c.pos] = nil
	c.pos = -1
	cs.holes++
	if !cs.frozen && cs.holes > 64 && cs.holes > len(cs.list)/2 {
		n := 0
		for _, x := range cs.list {
			if x != nil {
				x.pos = n
				cs.list[n] = x
				n++
			}
		}
		clear(cs.list[n:])
		cs.list, cs.holes = cs.list[:n], 0
	}
}

// live returns the number of live connections.
func (cs *connSet) live() int { return len(cs.list) - cs.holes }

// openHeap is a min-heap of connections by ID; finished ones are dropped
// when they reach the top.
type openHeap []*conn

func (h openHeap) Len() int           { return len(h) }
func (h openHeap) Less(i, j int) bool { return h[i].id < h[j].id }
func (h openHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *openHeap) Push(x any) {
	c := x.(*conn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}
func (h *openHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	x.heapIdx = -1
	*h = old[:n-1]
	return x
}

// finished takes c out of the open connections (it is done) and out of
// the indexes.
func (a *Analyzer) finished(c *conn) {
	a.conns.unlink(c)
	a.unindex(c, 0)
	a.unindex(c, 1)
	a.unfileTokenConn(c)
	if h := &a.conns.open; c.heapIdx >= 0 && c.heapIdx < h.Len() && (*h)[c.heapIdx] == c {
		heap.Remove(h, c.heapIdx)
	}
}

// minOpenConn returns the lowest ID of a connection not finished (0: none).
func (a *Analyzer) minOpenConn() int {
	if h := a.conns.open; len(h) > 0 {
		return h[0].id
	}
	return 0
}
