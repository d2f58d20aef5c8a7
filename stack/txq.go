package stack

import (
	"sync"
)

// txQueue decouples connections from the device: connections build
// packets in buffers from the queue's pool and hand them over; one writer
// goroutine per interface sends them in batches (sendmmsg on AF_PACKET).
// Engines thus never wait for a system call under their connection's
// lock, and on a multi-core machine packet building, device writes and
// ACK processing overlap. The queue is bounded: a producer waits while it
// is full, which is the stack's backpressure (like a qdisc's).
type txQueue struct {
	n       *nic
	bufSize int

	mu     sync.Mutex
	cond   *sync.Cond // signalled when packets arrive or space frees
	q      [][]byte
	free   [][]byte
	closed bool
}

const txQueueMax = 2048

func newTxQueue(n *nic, bufSize int) *txQueue {
	t := &txQueue{n: n, bufSize: bufSize}
	t.cond = sync.NewCond(&t.mu)
	return t
}

// get returns a packet buffer of at least size bytes, length size.
func (t *txQueue) get(size int) []byte {
	t.mu.Lock()
	if k := len(t.free); k > 0 && size <= t.bufSize {
		b := t.free[k-1]
		t.free[k-1] = nil
		t.free = t.free[:k-1]
		t.mu.Unlock()
		return b[:size]
	}
	t.mu.Unlock()
	return make([]byte, size, max(size, t.bufSize))
}

// put returns unsent buffers to the pool.
func (t *txQueue) put(bufs [][]byte) {
	t.mu.Lock()
	for _, b := range bufs {
		if cap(b) >= t.bufSize && len(t.free) < 4*txQueueMax {
			t.free = append(t.free, b)
		}
	}
	t.mu.Unlock()
}

// enqueue hands packets to the writer; the queue owns them afterwards.
func (t *txQueue) enqueue(pkts [][]byte) {
	t.mu.Lock()
	for len(t.q) >= txQueueMax && !t.closed {
		t.cond.Wait()
	}
	if t.closed {
		t.mu.Unlock()
		return
	}
	wasEmpty := len(t.q) == 0
	t.q = append(t.q, pkts...)
	t.mu.Unlock()
	if wasEmpty {
		t.cond.Broadcast()
	}
}

func (t *txQueue) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.cond.Broadcast()
}

// run is the writer goroutine.
func (t *txQueue) run() {
	var work [][]byte
	for {
		t.mu.Lock()
		for len(t.q) == 0 && !t.closed {
			t.cond.Wait()
		}
		if len(t.q) == 0 { // closed and drained
			t.mu.Unlock()
			return
		}
		work, t.q = t.q, work[:0]
		t.mu.Unlock()
		t.cond.Broadcast() // producers waiting for space
		t.n.write(work)
		t.put(work)
		for i := range work {
			work[i] = nil
		}
	}
}
