package emu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mptcp-go/mptcp/link"
)

// DefaultBatch is how many packets one read or write moves at most.
const DefaultBatch = 64

// maxHeld bounds the packets held in one direction's release queue (about
// 128 MiB of 2 KiB buffers); beyond it packets are dropped as DropQueue.
const maxHeld = 1 << 16

// releaseSlack lets the writer send packets due within this much of now in
// the same batch: timers are coarser than this anyway.
const releaseSlack = 50 * time.Microsecond

// Options tune a Forwarder. The zero value is usable.
type Options struct {
	// Seed seeds the random sources (direction A->B uses Seed, B->A
	// Seed+1), so a run's loss pattern can be replayed.
	Seed uint64
	// Batch is the largest batch per read or write (DefaultBatch if 0).
	Batch int
	// Logger receives errors that do not stop forwarding (nil: discard).
	Logger *slog.Logger
}

// DirStats are one direction's counters.
type DirStats struct {
	Received       uint64 `json:"received"`
	Forwarded      uint64 `json:"forwarded"`
	ForwardedBytes uint64 `json:"forwarded_bytes"`
	DroppedDown    uint64 `json:"dropped_down"`
	DroppedQueue   uint64 `json:"dropped_queue"`
	DroppedLoss    uint64 `json:"dropped_loss"`
	DroppedBurst   uint64 `json:"dropped_burst"`
	DroppedTxError uint64 `json:"dropped_tx_error"`
	// DroppedRx counts packets the source endpoint lost before the
	// forwarder could read them (e.g. a full AF_PACKET receive buffer),
	// when the endpoint reports it (a Drops() uint64 method).
	DroppedRx uint64 `json:"dropped_rx,omitempty"`
	// DroppedOversize counts packets that filled the whole read buffer
	// (MTU+32, at least 2 KiB) and so were probably truncated: merged
	// super-frames from GRO/TSO left on. They are dropped, not forwarded
	// damaged.
	DroppedOversize uint64 `json:"dropped_oversize,omitempty"`
	// MiddleboxStats count what the direction's middlebox did (Spec.Strip,
	// Spec.Rewrite).
	MiddleboxStats
	// QueueHigh is the most packets that ever waited for the bottleneck.
	QueueHigh int `json:"queue_high"`
	// Held is the number of packets in the release queue right now.
	Held int  `json:"held"`
	Down bool `json:"down"`
	// Spec is the direction's settings now, after the events so far.
	Spec Spec `json:"spec"`
}

// Dropped is the total of every drop reason.
func (s DirStats) Dropped() uint64 {
	return s.DroppedDown + s.DroppedQueue + s.DroppedLoss + s.DroppedBurst + s.DroppedTxError + s.DroppedRx + s.DroppedOversize
}

// dropCounter is implemented by endpoints that know how many packets they
// lost before being read (link.AFPacket).
type dropCounter interface{ Drops() uint64 }

// Stats are a Forwarder's counters, per direction.
type Stats struct {
	AtoB DirStats `json:"a_to_b"`
	BtoA DirStats `json:"b_to_a"`
	// Uptime is the time since Start.
	Uptime time.Duration `json:"uptime"`
}

// Forwarder moves packets both ways between two endpoints through one
// Shaper per direction. It owns the endpoints from Start on and closes
// them in Close.
type Forwarder struct {
	a, b   link.Endpoint
	ab, ba *direction
	opt    Options
	log    *slog.Logger

	start   time.Time
	started atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup

	closeOnce sync.Once
	errMu     sync.Mutex
	err       error
}

// New returns a Forwarder from a to b with aToB's impairments and from b
// to a with bToA's. Both specs are validated.
func New(a, b link.Endpoint, aToB, bToA Spec, opt Options) (*Forwarder, error) {
	if err := aToB.Validate(); err != nil {
		return nil, fmt.Errorf("emu: a->b: %w", err)
	}
	if err := bToA.Validate(); err != nil {
		return nil, fmt.Errorf("emu: b->a: %w", err)
	}
	if opt.Batch <= 0 {
		opt.Batch = DefaultBatch
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{a: a, b: b, opt: opt, log: log, done: make(chan struct{})}
	f.ab = newDirection(f, "a->b", a, b, aToB, opt.Seed)
	f.ba = newDirection(f, "b->a", b, a, bToA, opt.Seed+1)
	return f, nil
}

// Start records the start instant (events are offsets from it) and starts
// forwarding. It may be called once.
func (f *Forwarder) Start() {
	if !f.started.CompareAndSwap(false, true) {
		return
	}
	f.start = time.Now()
	for _, d := range []*direction{f.ab, f.ba} {
		f.wg.Add(2)
		go d.readLoop()
		go d.writeLoop()
	}
}

// StartTime is the instant Start was called; scheduled events are offsets
// from it.
func (f *Forwarder) StartTime() time.Time { return f.start }

// Run starts the forwarder and blocks until ctx is done or forwarding fails,
// then closes it.
func (f *Forwarder) Run(ctx context.Context) error {
	f.Start()
	select {
	case <-ctx.Done():
	case <-f.done:
	}
	return f.Close()
}

// Done is closed when the forwarder stops (Close, or a fatal error).
func (f *Forwarder) Done() <-chan struct{} { return f.done }

// Close stops forwarding, closes both endpoints and waits for the
// goroutines. It returns the first fatal error forwarding met, if any.
// It is idempotent.
func (f *Forwarder) Close() error {
	f.stop(nil)
	f.wg.Wait()
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}

func (f *Forwarder) stop(err error) {
	f.closeOnce.Do(func() {
		f.errMu.Lock()
		f.err = err
		f.errMu.Unlock()
		close(f.done)
		f.a.Close()
		f.b.Close()
	})
}

// SetDown takes both directions down (true) or up (false) at once,
// outside the schedule.
func (f *Forwarder) SetDown(down bool) {
	for _, d := range []*direction{f.ab, f.ba} {
		d.mu.Lock()
		d.sh.SetDown(down)
		d.mu.Unlock()
	}
}

// Stats returns a snapshot of the counters.
func (f *Forwarder) Stats() Stats {
	s := Stats{AtoB: f.ab.stats(), BtoA: f.ba.stats()}
	if f.started.Load() {
		s.Uptime = time.Since(f.start)
	}
	return s
}

func (f *Forwarder) now() time.Duration { return time.Since(f.start) }

type held struct {
	at  time.Duration
	seq uint64
	buf []byte
}

// direction is one half of a Forwarder: a reader goroutine admits packets
// through the Shaper into a release queue (a binary min-heap on release
// time, then arrival order), a writer goroutine sends due packets.
type direction struct {
	f        *Forwarder
	name     string
	src, dst link.Endpoint
	bufSize  int

	// mb is the direction's middlebox, nil without one; frames says
	// whether packets are Ethernet frames (else bare IP). Only the reader
	// goroutine touches mb's state.
	mb     *Middlebox
	frames bool

	mu   sync.Mutex // guards sh, heap, seq, free, nheld
	sh   *Shaper
	heap []held
	seq  uint64
	free [][]byte
	wake chan struct{}

	// writeMu serializes writes to dst (reader's direct path and writer)
	// and is held by the writer from popping packets until they are sent,
	// so packets leave in release order.
	writeMu sync.Mutex

	received, forwarded, forwardedBytes, txErr, oversize atomic.Uint64
	drops                                                [numVerdicts]atomic.Uint64
}

func newDirection(f *Forwarder, name string, src, dst link.Endpoint, spec Spec, seed uint64) *direction {
	size := src.MTU() + 32 // room for an Ethernet header and VLAN tags
	if size < 2048 {
		size = 2048
	}
	return &direction{
		f: f, name: name, src: src, dst: dst, bufSize: size,
		sh:     NewShaper(spec, seed),
		mb:     NewMiddlebox(spec),
		frames: src.LinkType() != link.TypeIP,
		wake:   make(chan struct{}, 1),
	}
}

func (d *direction) stats() DirStats {
	s := DirStats{
		Received:        d.received.Load(),
		Forwarded:       d.forwarded.Load(),
		ForwardedBytes:  d.forwardedBytes.Load(),
		DroppedDown:     d.drops[DropDown].Load(),
		DroppedQueue:    d.drops[DropQueue].Load(),
		DroppedLoss:     d.drops[DropLoss].Load(),
		DroppedBurst:    d.drops[DropBurst].Load(),
		DroppedTxError:  d.txErr.Load(),
		DroppedOversize: d.oversize.Load(),
		MiddleboxStats:  d.mb.Stats(),
	}
	if dc, ok := d.src.(dropCounter); ok {
		s.DroppedRx = dc.Drops()
	}
	d.mu.Lock()
	if d.f.started.Load() {
		d.sh.Advance(d.f.now())
	}
	s.QueueHigh = d.sh.QueueHigh()
	s.Held = len(d.heap)
	s.Down = d.sh.Down()
	s.Spec = d.sh.Spec()
	s.Spec.Events = nil
	d.mu.Unlock()
	return s
}

func (d *direction) fatal(err error) {
	if errors.Is(err, link.ErrClosed) {
		err = nil
	} else {
		err = fmt.Errorf("emu %s: %w", d.name, err)
	}
	d.f.stop(err)
}

func (d *direction) readLoop() {
	defer d.f.wg.Done()
	batch := d.f.opt.Batch
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, d.bufSize)
	}
	sizes := make([]int, batch)
	direct := make([][]byte, 0, batch)
	for {
		n, err := d.src.ReadPackets(bufs, sizes)
		if err != nil {
			select {
			case <-d.f.done:
				return
			default:
			}
			d.fatal(fmt.Errorf("read: %w", err))
			return
		}
		d.received.Add(uint64(n))
		pushed := false
		d.mu.Lock()
		now := d.f.now()
		for i := range n {
			if sizes[i] >= d.bufSize {
				d.oversize.Add(1)
				continue
			}
			rel, v := d.sh.Admit(now, sizes[i])
			if v != Pass {
				d.drops[v].Add(1)
				continue
			}
			pkt := bufs[i][:sizes[i]]
			if d.mb != nil {
				// After the shaper: only packets that will leave are
				// changed, so a rewrite happens once on the wire.
				if d.frames {
					d.mb.ProcessFrame(pkt)
				} else {
					d.mb.Process(pkt)
				}
			}
			if len(d.heap) == 0 && rel <= now {
				direct = append(direct, pkt)
				continue
			}
			if len(direct) > 0 {
				// Earlier packets of this batch go out before this one
				// can be queued behind them.
				d.mu.Unlock()
				d.sendDirect(direct)
				direct = direct[:0]
				d.mu.Lock()
			}
			if len(d.heap) >= maxHeld {
				d.drops[DropQueue].Add(1)
				continue
			}
			var slot []byte
			if k := len(d.free); k > 0 {
				slot = d.free[k-1]
				d.free = d.free[:k-1]
			} else {
				slot = make([]byte, d.bufSize)
			}
			slot = slot[:copy(slot[:cap(slot)], pkt)]
			d.seq++
			d.push(held{at: rel, seq: d.seq, buf: slot})
			pushed = true
		}
		d.mu.Unlock()
		if len(direct) > 0 {
			d.sendDirect(direct)
			direct = direct[:0]
		}
		if pushed {
			select {
			case d.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (d *direction) sendDirect(pkts [][]byte) {
	d.writeMu.Lock()
	d.write(pkts)
	d.writeMu.Unlock()
}

// write sends pkts to dst, skipping (and counting) packets the endpoint
// refuses. Callers hold writeMu.
func (d *direction) write(pkts [][]byte) {
	for len(pkts) > 0 {
		n, err := d.dst.WritePackets(pkts)
		for _, p := range pkts[:n] {
			d.forwardedBytes.Add(uint64(len(p)))
		}
		d.forwarded.Add(uint64(n))
		if err == nil {
			return
		}
		if errors.Is(err, link.ErrClosed) {
			d.fatal(err)
			return
		}
		d.txErr.Add(1)
		d.f.log.Debug("emu: write failed", "dir", d.name, "err", err)
		if n >= len(pkts) {
			return
		}
		pkts = pkts[n+1:]
	}
}

func (d *direction) writeLoop() {
	defer d.f.wg.Done()
	out := make([][]byte, 0, d.f.opt.Batch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		d.writeMu.Lock()
		d.mu.Lock()
		now := d.f.now()
		for len(d.heap) > 0 && d.heap[0].at <= now+releaseSlack && len(out) < cap(out) {
			out = append(out, d.pop().buf)
		}
		wait := time.Duration(-1)
		if len(out) == 0 && len(d.heap) > 0 {
			wait = d.heap[0].at - now
		}
		d.mu.Unlock()
		if len(out) > 0 {
			d.write(out)
			d.writeMu.Unlock()
			d.mu.Lock()
			for i, b := range out {
				d.free = append(d.free, b[:cap(b)])
				out[i] = nil
			}
			d.mu.Unlock()
			out = out[:0]
			select {
			case <-d.f.done:
				return
			default:
			}
			continue
		}
		d.writeMu.Unlock()
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-tc:
		case <-d.wake:
		case <-d.f.done:
			timer.Stop()
			return
		}
	}
}

func (h held) less(o held) bool { return h.at < o.at || h.at == o.at && h.seq < o.seq }

func (d *direction) push(x held) {
	d.heap = append(d.heap, x)
	i := len(d.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !d.heap[i].less(d.heap[p]) {
			break
		}
		d.heap[i], d.heap[p] = d.heap[p], d.heap[i]
		i = p
	}
}

func (d *direction) pop() held {
	h := d.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = held{}
	h = h[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		m := l
		if r := l + 1; r < len(h) && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	d.heap = h
	return top
}
