package tcp

import "time"

// Record flags.
const (
	recSacked      uint8 = 1 << iota // selectively acknowledged
	recLost                          // deemed lost, needs (or had) a retransmission
	recRetrans                       // retransmitted since it was marked lost, in flight
	recEverRetrans                   // retransmitted at least once (RTT samples ambiguous, Karn)
	recFIN                           // carries the FIN (its last sequence number)
	recSYN                           // carries the SYN (its first sequence number)
	recAppLimited                    // sent while application-limited (rate estimation P.is_app_limited)
)

// txRec is one transmitted segment: the sender's scoreboard entry. The
// scoreboard is what RFC 6675 keeps as SACK state and RFC 8985 needs for
// per-segment transmit times.
type txRec struct {
	start, end uint32
	xmit       time.Duration
	flags      uint8
	// Delivery rate state at the last transmission
	// (draft-cheng-iccrg-delivery-rate-estimation §3.2): C.delivered,
	// C.delivered_time and C.first_sent_time then.
	delivered     int64
	deliveredTime time.Duration
	firstTx       time.Duration
}

func (r *txRec) len() int { return int(r.end - r.start) }

// recQueue is a deque of records in sequence order, growing as needed and
// reusing its storage, so the steady state allocates nothing.
type recQueue struct {
	buf  []txRec
	head int
	n    int
}

func (q *recQueue) len() int { return q.n }

func (q *recQueue) at(i int) *txRec { return &q.buf[(q.head+i)&(len(q.buf)-1)] }

func (q *recQueue) push(r txRec) {
	if q.n == len(q.buf) {
		q.growTo(max(64, 2*len(q.buf)))
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = r
	q.n++
}

func (q *recQueue) growTo(size int) {
	nb := make([]txRec, size)
	for i := 0; i < q.n; i++ {
		nb[i] = *q.at(i)
	}
	q.buf, q.head = nb, 0
}

func (q *recQueue) popFront() {
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
}

func (q *recQueue) last() *txRec {
	if q.n == 0 {
		return nil
	}
	return q.at(q.n - 1)
}

// insertAfter inserts r after index i (used to split a record).
func (q *recQueue) insertAfter(i int, r txRec) {
	q.push(r)
	for j := q.n - 1; j > i+1; j-- {
		*q.at(j) = *q.at(j - 1)
	}
	*q.at(i + 1) = r
}
