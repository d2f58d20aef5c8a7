package tcp

// ring is a byte ring buffer. For the send buffer it holds the bytes from
// SND.UNA on; for the receive buffer it holds the unread bytes from the
// application's read position, and out-of-order data is written beyond the
// readable part at its offset from the read position.
//
// Its memory is allocated at the first write, so a connection that never
// sends (or, with a DataReceiver, never receives out of order) holds no
// buffer for that direction.
type ring struct {
	buf  []byte
	size int // capacity, allocated or not
	head int // index of the first byte
	n    int // number of readable (contiguous) bytes
}

func newRing(size int) ring { return ring{size: size} }

func (r *ring) cap() int  { return r.size }
func (r *ring) free() int { return r.size - r.n }

// alloc makes the memory exist before a write.
func (r *ring) alloc() {
	if r.buf == nil {
		r.buf = make([]byte, r.size)
		r.head = 0
	}
}

// write appends as much of p as fits and returns how much it took.
func (r *ring) write(p []byte) int {
	n := min(len(p), r.free())
	if n == 0 {
		return 0
	}
	r.writeAt(r.n, p[:n])
	r.n += n
	return n
}

// writeAt copies p at offset off from head without changing n. The caller
// ensures off+len(p) <= cap.
func (r *ring) writeAt(off int, p []byte) {
	if len(p) == 0 {
		return
	}
	r.alloc()
	pos := (r.head + off) % len(r.buf)
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
	pos := (r.head + off) % len(r.buf)
	if pos+n <= len(r.buf) {
		return r.buf[pos : pos+n], nil
	}
	return r.buf[pos:], r.buf[:n-(len(r.buf)-pos)]
}

// read copies readable bytes into p and consumes them.
func (r *ring) read(p []byte) int {
	n := min(len(p), r.n)
	a, b := r.peek(0, n)
	copy(p, a)
	copy(p[len(a):], b)
	r.discard(n)
	return n
}

// discard consumes n readable bytes.
func (r *ring) discard(n int) {
	if n == 0 {
		return
	}
	r.head = (r.head + n) % len(r.buf)
	r.n -= n
}

// grow enlarges the ring to size, keeping all cap() bytes from head (so
// out-of-order data beyond n survives).
func (r *ring) grow(size int) {
	if size <= r.size {
		return
	}
	if r.buf != nil {
		nb := make([]byte, size)
		a, b := r.peek(0, len(r.buf))
		copy(nb, a)
		copy(nb[len(a):], b)
		r.buf = nb
		r.head = 0
	}
	r.size = size
}
