package link

import (
	"sync"
)

// PipeOptions configure an in-memory pipe made by NewPipe.
type PipeOptions struct {
	// MTU reported by both ends; 1500 if zero.
	MTU int
	// Type of the packets carried; TypeIP if zero.
	Type Type
	// QueueLen is how many packets each direction holds before it drops
	// new ones, as a full device queue would; 4096 if zero.
	QueueLen int
}

// Pipe is one end of an in-memory packet link made by NewPipe: what one end
// writes, the other reads, in order. Packets are copied into buffers the
// pipe recycles, so a steady flow allocates nothing. It is the link of
// whole-stack unit tests: two Stacks connected by a Pipe pair.
type Pipe struct {
	rx   *pipeQueue // packets for this end
	tx   *pipeQueue // packets for the peer
	mtu  int
	typ  Type
	once sync.Once
}

// NewPipe returns the two connected ends of an in-memory link.
func NewPipe(opts PipeOptions) (a, b *Pipe) {
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.Type == 0 {
		opts.Type = TypeIP
	}
	if opts.QueueLen == 0 {
		opts.QueueLen = 4096
	}
	q1, q2 := newPipeQueue(opts.QueueLen), newPipeQueue(opts.QueueLen)
	a = &Pipe{rx: q1, tx: q2, mtu: opts.MTU, typ: opts.Type}
	b = &Pipe{rx: q2, tx: q1, mtu: opts.MTU, typ: opts.Type}
	return a, b
}

// ReadPackets implements Endpoint.
func (p *Pipe) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	return p.rx.read(bufs, sizes)
}

// WritePackets implements Endpoint. A packet that does not fit the peer's
// queue is dropped (and counted as sent, as a device queue would); after
// either end is closed it returns ErrClosed.
func (p *Pipe) WritePackets(pkts [][]byte) (int, error) {
	if p.rx.isClosed() {
		return 0, ErrClosed
	}
	return p.tx.write(pkts)
}

// MTU implements Endpoint.
func (p *Pipe) MTU() int { return p.mtu }

// LinkType implements Endpoint.
func (p *Pipe) LinkType() Type { return p.typ }

// Close implements Endpoint: it unblocks this end's reader, and packets the
// peer writes afterwards fail with ErrClosed.
func (p *Pipe) Close() error {
	p.once.Do(p.rx.close)
	return nil
}

// Drops reports how many packets to this end were dropped on a full queue.
func (p *Pipe) Drops() uint64 {
	p.rx.mu.Lock()
	defer p.rx.mu.Unlock()
	return p.rx.drops
}

type pipeQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	pkts   [][]byte // FIFO ring of queued packets
	head   int
	n      int
	free   [][]byte // recycled buffers
	closed bool
	drops  uint64
}

func newPipeQueue(n int) *pipeQueue {
	q := &pipeQueue{pkts: make([][]byte, n)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *pipeQueue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *pipeQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

func (q *pipeQueue) write(pkts [][]byte) (int, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return 0, ErrClosed
	}
	wasEmpty := q.n == 0
	for _, p := range pkts {
		if q.n == len(q.pkts) {
			q.drops++
			continue
		}
		var buf []byte
		if k := len(q.free); k > 0 && cap(q.free[k-1]) >= len(p) {
			buf = q.free[k-1][:len(p)]
			q.free = q.free[:k-1]
		} else {
			buf = make([]byte, len(p), max(len(p), 2048))
		}
		copy(buf, p)
		q.pkts[(q.head+q.n)%len(q.pkts)] = buf
		q.n++
	}
	q.mu.Unlock()
	if wasEmpty {
		q.cond.Signal()
	}
	return len(pkts), nil
}

func (q *pipeQueue) read(bufs [][]byte, sizes []int) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.n == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return 0, ErrClosed
	}
	i := 0
	for ; i < len(bufs) && q.n > 0; i++ {
		p := q.pkts[q.head]
		q.pkts[q.head] = nil
		q.head = (q.head + 1) % len(q.pkts)
		q.n--
		sizes[i] = copy(bufs[i], p)
		q.free = append(q.free, p)
	}
	return i, nil
}
