// Package stats computes what mptcpanalyzer users look at, from the
// analyzer's per-packet view (analyze.Config.OnPacket): the round-trip
// time seen on each subflow, throughput and goodput over time per
// subflow, and each reinjection with its delay and whether it was needed.
// One-way delays come from merged captures of both ends
// (capture.Merger.OneWayDelays) and are attached by the caller.
//
// Times are measured at the capture point: the RTT of a direction is the
// time from a data segment passing the capture point to the ACK that
// covers it passing it back, so a capture next to the sender sees the
// whole path and one next to the receiver sees almost nothing.
//
// Memory is bounded per subflow (outstanding segments, bins) and
// per connection (first transmissions kept to match reinjections); Take
// hands a finished connection's statistics over and forgets them.
package stats

import (
	"math"
	"slices"
	"time"

	"github.com/mptcp-go/mptcp/analyze"
)

// Config tunes a Collector. The zero value is usable.
type Config struct {
	// Bin is the width of the throughput bins (default 1 s). When a
	// capture is longer than MaxBins bins, the width doubles.
	Bin time.Duration
	// MaxBins bounds each series (default 2048).
	MaxBins int
	// MaxReinjections bounds the reinjections listed per connection
	// direction (default 64); all are counted.
	MaxReinjections int
}

// Defaults.
const (
	DefaultBin             = time.Second
	DefaultMaxBins         = 2048
	DefaultMaxReinjections = 64
	maxOutstanding         = 1024 // data segments awaiting an ACK, per subflow direction
	maxSent                = 8192 // first transmissions remembered per connection direction
)

// Durations summarizes samples of a delay.
type Durations struct {
	Count uint64
	Min   time.Duration
	Max   time.Duration
	sum   float64 // seconds
	sumSq float64
}

// Mean returns the mean (0 without samples).
func (d *Durations) Mean() time.Duration {
	if d.Count == 0 {
		return 0
	}
	return time.Duration(d.sum / float64(d.Count) * 1e9)
}

// StdDev returns the standard deviation (0 with fewer than two samples).
func (d *Durations) StdDev() time.Duration {
	if d.Count < 2 {
		return 0
	}
	n := float64(d.Count)
	v := (d.sumSq - d.sum*d.sum/n) / (n - 1)
	if v < 0 {
		v = 0
	}
	return time.Duration(math.Sqrt(v) * 1e9)
}

// Add records one sample.
func (d *Durations) Add(x time.Duration) {
	if d.Count == 0 || x < d.Min {
		d.Min = x
	}
	if d.Count == 0 || x > d.Max {
		d.Max = x
	}
	d.Count++
	s := x.Seconds()
	d.sum += s
	d.sumSq += s * s
}

// AddSummary merges a summary of n samples (min, max, sum) into d; the
// spread of the merged samples is taken as zero.
func (d *Durations) AddSummary(n uint64, lo, hi, sum time.Duration) {
	if n == 0 {
		return
	}
	if d.Count == 0 || lo < d.Min {
		d.Min = lo
	}
	if d.Count == 0 || hi > d.Max {
		d.Max = hi
	}
	d.Count += n
	s := sum.Seconds()
	d.sum += s
	d.sumSq += s * s / float64(n)
}

// Dir is one connection-level direction of a subflow: data sent that way.
type Dir struct {
	// RTT: from a data segment to the ACK that covers it exactly, at the
	// capture point (Karn's rule: no sample from retransmitted data).
	RTT Durations
	// OneWayDelay between two capture points (merged captures).
	OneWayDelay Durations
	// Bytes is the payload per bin (retransmissions included); Goodput
	// the data new to the connection per bin (no retransmissions or
	// reinjections). Bin i starts at Collector.Start() + i*Collector.Bin().
	Bytes, Goodput []uint64
}

// Subflow is the statistics of one subflow.
type Subflow struct {
	ID int
	// Dirs by connection-level direction (analyze.ClientToServer...).
	Dirs [2]Dir
}

// Reinjection is one segment of data sent again on a subflow after
// another subflow carried it (RFC 8684 §3.3.6).
type Reinjection struct {
	Time    time.Time
	Subflow int
	// Original is the subflow that carried the data first (0: not
	// known, the first copy is older than what is remembered).
	Original int
	Offset   uint64 // data offset, relative like analyze.Stream's
	Len      int
	// Delay from the first copy to this one (-1: not known).
	Delay time.Duration
	// Needed is false when the first copy had already been acknowledged
	// (by a DATA_ACK, or by its subflow's ACK) when this one was sent.
	Needed bool
}

// Reinjections summarizes one connection direction's reinjections.
type Reinjections struct {
	Count, Bytes            uint64
	Unneeded, UnneededBytes uint64
	Delay                   Durations
	List                    []Reinjection
}

// Conn is the statistics of one connection.
type Conn struct {
	ID           int
	Reinjections [2]Reinjections
	Subflows     []Subflow
}

// outSeg is a data segment waiting for its ACK.
type outSeg struct {
	end       uint32
	t         time.Time
	ambiguous bool
}

type dirState struct {
	out     []outSeg
	ack     uint32 // highest ACK the other end sent on this subflow
	ackSet  bool
	st      Dir
	bytes   []uint64
	goodput []uint64
}

type subState struct {
	id, conn int
	d        [2]dirState
}

type sentRec struct {
	off    uint64
	n      uint32
	sf     int
	sfDir  int
	seqEnd uint32
	t      time.Time
}

type connDir struct {
	sent   []sentRec // sorted by off
	ack    uint64    // highest DATA_ACK for this direction
	ackSet bool
	reinj  Reinjections
}

type connState struct {
	id       int
	d        [2]connDir
	subflows []int
}

// Collector gathers statistics from the per-packet view.
type Collector struct {
	cfg   Config
	start time.Time
	bin   time.Duration
	nbins int
	subs  map[int]*subState
	conns map[int]*connState
}

// New returns a Collector.
func New(cfg Config) *Collector {
	if cfg.Bin <= 0 {
		cfg.Bin = DefaultBin
	}
	if cfg.MaxBins <= 0 {
		cfg.MaxBins = DefaultMaxBins
	}
	if cfg.MaxReinjections <= 0 {
		cfg.MaxReinjections = DefaultMaxReinjections
	}
	return &Collector{cfg: cfg, bin: cfg.Bin, subs: map[int]*subState{}, conns: map[int]*connState{}}
}

// Start is the time of bin 0 (the first packet seen); Bin the bin width.
func (c *Collector) Start() time.Time   { return c.start }
func (c *Collector) Bin() time.Duration { return c.bin }

// seqLE reports a <= b in 32-bit sequence space (RFC 9293 §3.4).
func seqLE(a, b uint32) bool { return int32(b-a) >= 0 }

// Begin sets the time of bin 0 if no packet came yet (a caller that
// passes only some packets to Add sets it from the first of all, so that
// bins start with the capture).
func (c *Collector) Begin(t time.Time) {
	if c.start.IsZero() {
		c.start = t
	}
}

// Add takes one packet of the per-packet view.
func (c *Collector) Add(pi *analyze.PacketInfo) {
	c.Begin(pi.Time)
	if pi.Conn == 0 {
		return
	}
	ss := c.subs[pi.Subflow]
	if ss == nil {
		ss = &subState{id: pi.Subflow, conn: pi.Conn}
		c.subs[pi.Subflow] = ss
		cs := c.conn(pi.Conn)
		cs.subflows = append(cs.subflows, pi.Subflow)
	}
	cd := pi.Dir
	ds, rs := &ss.d[cd], &ss.d[1-cd]
	const flagACK = 0x10
	if pi.Flags&flagACK != 0 && pi.Flags&0x02 == 0 {
		c.ack(rs, pi.Ack, pi.Time)
	}
	if pi.HasDataACK {
		cs := c.conn(pi.Conn)
		if od := &cs.d[1-cd]; !od.ackSet || pi.DataACK > od.ack {
			od.ack, od.ackSet = pi.DataACK, true
		}
	}
	if pi.Len == 0 {
		return
	}
	end := pi.Seq + uint32(pi.Len)
	if pi.Analysis&analyze.PacketRetransmission != 0 {
		for i := range ds.out {
			o := &ds.out[i]
			if int32(o.end-pi.Seq) > 0 {
				o.ambiguous = true // Karn: this data was sent again
			}
		}
	} else {
		if len(ds.out) == maxOutstanding {
			ds.out = ds.out[:copy(ds.out, ds.out[1:])]
		}
		ds.out = append(ds.out, outSeg{end: end, t: pi.Time})
	}
	new := pi.HasDSN && pi.Analysis&(analyze.PacketRetransmission|analyze.PacketReinjection) == 0
	i := c.binIndex(pi.Time)
	ds.bytes = grow(ds.bytes, i)
	ds.bytes[i] += uint64(pi.Len)
	if new {
		ds.goodput = grow(ds.goodput, i)
		ds.goodput[i] += uint64(pi.Len)
	}
	if !pi.HasDSN {
		return
	}
	cdir := &c.conn(pi.Conn).d[cd]
	switch {
	case pi.Analysis&analyze.PacketReinjection != 0:
		c.reinjection(cdir, ss, pi)
	case new:
		cdir.remember(sentRec{off: pi.DSN, n: uint32(pi.Len), sf: pi.Subflow, sfDir: cd, seqEnd: end, t: pi.Time})
	}
}

func (c *Collector) conn(id int) *connState {
	cs := c.conns[id]
	if cs == nil {
		cs = &connState{id: id}
		c.conns[id] = cs
	}
	return cs
}

// ack takes an acknowledgment for direction ds: the newest segment it
// covers exactly gives an RTT sample.
func (c *Collector) ack(ds *dirState, ack uint32, t time.Time) {
	if !ds.ackSet || int32(ack-ds.ack) > 0 {
		ds.ack, ds.ackSet = ack, true
	}
	n := 0
	for n < len(ds.out) && seqLE(ds.out[n].end, ack) {
		n++
	}
	if n == 0 {
		return
	}
	if o := ds.out[n-1]; o.end == ack && !o.ambiguous {
		ds.st.RTT.Add(t.Sub(o.t))
	}
	ds.out = ds.out[:copy(ds.out, ds.out[n:])]
}

// binIndex returns the bin of t, coarsening every series when needed.
func (c *Collector) binIndex(t time.Time) int {
	d := t.Sub(c.start)
	if d < 0 {
		d = 0
	}
	i := int(d / c.bin)
	for i >= c.cfg.MaxBins {
		c.coarsen()
		i = int(d / c.bin)
	}
	return i
}

// coarsen doubles the bin width of every series.
func (c *Collector) coarsen() {
	c.bin *= 2
	for _, ss := range c.subs {
		for d := range ss.d {
			ss.d[d].bytes = halve(ss.d[d].bytes)
			ss.d[d].goodput = halve(ss.d[d].goodput)
		}
	}
}

func halve(s []uint64) []uint64 {
	for i := range s {
		if i%2 == 0 {
			s[i/2] = s[i]
		} else {
			s[i/2] += s[i]
		}
	}
	return s[:(len(s)+1)/2]
}

func grow(s []uint64, i int) []uint64 {
	for len(s) <= i {
		s = append(s, 0)
	}
	return s
}

// remember keeps a first transmission (sorted by offset, bounded).
func (cd *connDir) remember(r sentRec) {
	if len(cd.sent) >= maxSent {
		// Forget what the peer acknowledged, else the oldest half.
		k := 0
		for _, x := range cd.sent {
			if !cd.ackSet || x.off+uint64(x.n) > cd.ack {
				cd.sent[k] = x
				k++
			}
		}
		if k >= maxSent {
			k = copy(cd.sent, cd.sent[maxSent/2:])
		}
		cd.sent = cd.sent[:k]
	}
	i := len(cd.sent)
	for i > 0 && cd.sent[i-1].off > r.off {
		i--
	}
	cd.sent = slices.Insert(cd.sent, i, r)
}

// reinjection records a reinjected segment.
func (c *Collector) reinjection(cd *connDir, ss *subState, pi *analyze.PacketInfo) {
	r := Reinjection{Time: pi.Time, Subflow: pi.Subflow, Offset: pi.DSN, Len: pi.Len, Delay: -1, Needed: true}
	// The first copy: the last remembered transmission starting at or
	// before this offset that covers it.
	i, _ := slices.BinarySearchFunc(cd.sent, pi.DSN+1, func(x sentRec, off uint64) int {
		if x.off < off {
			return -1
		}
		if x.off > off {
			return 1
		}
		return 0
	})
	for j := i - 1; j >= 0 && j >= i-64; j-- {
		x := &cd.sent[j]
		if x.off <= pi.DSN && pi.DSN < x.off+uint64(x.n) {
			r.Original, r.Delay = x.sf, pi.Time.Sub(x.t)
			if os := c.subs[x.sf]; os != nil {
				if od := &os.d[x.sfDir]; od.ackSet && seqLE(x.seqEnd, od.ack) {
					r.Needed = false
				}
			}
			break
		}
	}
	if cd.ackSet && cd.ack >= pi.DSN+uint64(pi.Len) {
		r.Needed = false
	}
	rs := &cd.reinj
	rs.Count++
	rs.Bytes += uint64(pi.Len)
	if !r.Needed {
		rs.Unneeded++
		rs.UnneededBytes += uint64(pi.Len)
	}
	if r.Delay >= 0 {
		rs.Delay.Add(r.Delay)
	}
	if len(rs.List) < c.cfg.MaxReinjections {
		rs.List = append(rs.List, r)
	}
}

// Take returns the statistics of connection id and forgets them.
func (c *Collector) Take(id int) Conn {
	out := Conn{ID: id}
	cs := c.conns[id]
	if cs == nil {
		return out
	}
	delete(c.conns, id)
	for d := range cs.d {
		out.Reinjections[d] = cs.d[d].reinj
	}
	for _, sid := range cs.subflows {
		ss := c.subs[sid]
		if ss == nil {
			continue
		}
		delete(c.subs, sid)
		s := Subflow{ID: sid}
		for d := range ss.d {
			s.Dirs[d] = ss.d[d].st
			s.Dirs[d].Bytes = ss.d[d].bytes
			s.Dirs[d].Goodput = ss.d[d].goodput
		}
		out.Subflows = append(out.Subflows, s)
	}
	slices.SortFunc(out.Subflows, func(a, b Subflow) int { return a.ID - b.ID })
	return out
}
