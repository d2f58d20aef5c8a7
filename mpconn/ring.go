package mpconn

// ring is a byte ring buffer that grows on demand (powers of two, up to
// a limit the caller enforces) and gives its memory back when empty, so
// an idle connection holds no buffers. For the send buffer it holds the
// bytes from the oldest unacknowledged DSN on; for the receive buffer the
// unread bytes, followed by out-of-order data at its offset.
type ring struct {
	buf  []byte
	head int // index of the first byte
	n    int // readable (contiguous) bytes
}

const ringMin = 16 << 10

func (r *ring) cap() int { return len(r.buf) }

// ensure makes room for size bytes from head (keeping every byte from
// head, out-of-order data included).
func (r *ring) ensure(size int) {
	if size <= len(r.buf) {
		return
	}
	nc := max(len(r.buf), ringMin)
	for nc < size {
		nc *= 2
	}
	nb := make([]byte, nc)
	if len(r.buf) > 0 {
		a, b := r.peek(0, len(r.buf))
		copy(nb, a)
		copy(nb[len(a):], b)
	}
	r.buf, r.head = nb, 0
}

// writeAt copies p at offset off from head without changing n; the caller
// ensured off+len(p) bytes.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	pos := (r.head + off) & (len(r.buf) - 1)
	c := copy(r.buf[pos:], p)
	if c < len(p) {
		copy(r.buf, p[c:])
	}
}

// peek returns the n bytes at offset off from head as up to two slices.
func (r *ring) peek(off, n int) ([]byte, []byte) {
	if n == 0 {
		return nil, nil
	}
	pos := (r.head + off) & (len(r.buf) - 1)
	if pos+n <= len(r.buf) {
		return r.buf[pos : pos+n], nil
	}
	return r.buf[pos:], r.buf[:n-(len(r.buf)-pos)]
}

// read copies up to len(p) readable bytes into p and consumes them.
func (r *ring) read(p []byte) int {
	k := min(len(p), r.n)
	a, b := r.peek(0, k)
	copy(p, a)
	copy(p[len(a):], b)
	r.discard(k)
	return k
}

// discard consumes k readable bytes.
func (r *ring) discard(k int) {
	if k == 0 {
		return
	}
	r.head = (r.head + k) & (len(r.buf) - 1)
	r.n -= k
}

// release frees the memory of an empty ring (nothing readable and,
// as the caller knows, nothing beyond).
func (r *ring) release() {
	r.buf, r.head, r.n = nil, 0, 0
}
