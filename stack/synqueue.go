package stack

import (
	"container/list"
	"sync"
)

// SYNQueue is a listener's account of the connections it has not handed
// to Accept yet: those in their handshake (SYN-RECEIVED, "half-open") and
// those established and queued for Accept. Both are bounded. A SYN that
// finds the accept queue full is dropped (the peer retries, as Linux's
// ListenOverflows). A SYN that finds the half-open table full recycles the
// oldest half-open connection (RFC 4987 §3.4): under a flood of SYNs from
// forged sources, which never complete, memory stays bounded and a real
// client still gets in as long as its handshake is quicker than the time
// the flood takes to fill the table, instead of waiting for the forged
// entries to time out (over a minute of SYN/ACK retransmissions).
//
// T is the listener's connection type. The queue's methods take its own
// lock only; callers evict a victim under the victim's lock, after Admit
// returned.
type SYNQueue[T comparable] struct {
	mu        sync.Mutex
	maxHalf   int
	maxQueued int
	half      *list.List          // of T, oldest first: in their handshake
	open      map[T]*list.Element // every connection not yet accepted; nil once queued
	queued    int                 // established, waiting for Accept
	reserved  int                 // admitted, not yet added
	closed    bool
}

// NewSYNQueue returns a queue of at most maxHalf half-open and maxQueued
// established connections.
func NewSYNQueue[T comparable](maxHalf, maxQueued int) *SYNQueue[T] {
	return &SYNQueue[T]{maxHalf: max(maxHalf, 1), maxQueued: max(maxQueued, 1), half: list.New(), open: make(map[T]*list.Element)}
}

// Admit decides about a new SYN. ok false: drop it (the listener is
// closed, or the accept queue is full). With evict, victim is the oldest
// half-open connection, already forgotten by the queue: the caller drops
// it. An admitted SYN is followed by Add, or Cancel if the connection
// could not be made.
func (q *SYNQueue[T]) Admit() (victim T, evict, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.queued >= q.maxQueued {
		return victim, false, false
	}
	if q.half.Len()+q.reserved >= q.maxHalf {
		e := q.half.Front()
		if e == nil {
			return victim, false, false // all reserved by concurrent SYNs
		}
		victim = q.half.Remove(e).(T)
		delete(q.open, victim)
		evict = true
	}
	q.reserved++
	return victim, evict, true
}

// Add records c, admitted, as half-open. It returns false if the queue
// was closed meanwhile (the caller drops c).
func (q *SYNQueue[T]) Add(c T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reserved--
	if q.closed {
		return false
	}
	q.open[c] = q.half.PushBack(c)
	return true
}

// Cancel gives back an admission not followed by Add.
func (q *SYNQueue[T]) Cancel() {
	q.mu.Lock()
	q.reserved--
	q.mu.Unlock()
}

// Established moves c from the half-open table to the accept queue. It
// returns false if c is not the queue's (evicted, or the queue closed) or
// the accept queue is full: the caller drops c (Linux with
// tcp_abort_on_overflow).
func (q *SYNQueue[T]) Established(c T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.open[c]
	if !ok {
		return false
	}
	if e == nil {
		return true
	}
	q.half.Remove(e)
	if q.queued >= q.maxQueued {
		delete(q.open, c)
		return false
	}
	q.open[c] = nil
	q.queued++
	return true
}

// Forget removes c: accepted, or ended before it was.
func (q *SYNQueue[T]) Forget(c T) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.open[c]
	if !ok {
		return
	}
	if e != nil {
		q.half.Remove(e)
	} else {
		q.queued--
	}
	delete(q.open, c)
}

// Close refuses further SYNs and returns the connections not yet
// accepted (the caller resets them).
func (q *SYNQueue[T]) Close() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	out := make([]T, 0, len(q.open))
	for c := range q.open {
		out = append(out, c)
	}
	clear(q.open)
	q.half.Init()
	q.queued = 0
	return out
}

// Len returns the number of half-open and of queued connections.
func (q *SYNQueue[T]) Len() (half, queued int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.half.Len(), q.queued
}

// ListenLimits returns the bounds of the stack's listeners: the accept
// queue (Options.Backlog) and the half-open table (Options.MaxHalfOpen).
// Listeners of layers above (MPTCP's) use them too.
func (s *Stack) ListenLimits() (backlog, maxHalfOpen int) {
	return s.opts.Backlog, s.opts.MaxHalfOpen
}
