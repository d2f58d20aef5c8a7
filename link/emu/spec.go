// Package emu is the project's link emulator: it forwards packets between two
// link.Endpoints and imposes, per direction, a rate limit, a one-way delay
// with jitter, random or bursty (Gilbert-Elliott) loss, reordering, a queue
// limit and scheduled events (link down and up, rate, delay and loss changes).
//
// The kernel on this project's machines has no netem, so every claim about
// behaviour on a lossy, slow or flapping network is tested through this
// package: the lab (package lab) runs one Link per emulated path, bridging
// the two veths of a middle network namespace with AF_PACKET sockets, and
// unit tests run it over in-memory endpoints.
//
// Each direction is a pipeline applied at the moment a packet arrives:
//
//	events -> down? -> queue limit -> token-bucket rate -> loss -> delay+jitter -> middlebox -> release queue
//
// A direction can also be a middlebox (Spec.Strip, Spec.Rewrite; see
// Middlebox): it strips MPTCP options or rewrites a payload byte of the
// packets that pass, in place, with the TCP checksum fixed.
//
// The decision for a packet (drop, or the instant it leaves) is made by a
// Shaper, a pure state machine driven by explicit timestamps and a seeded
// PCG random source, so its unit tests are exact. The Link adds the real
// clock: one goroutine per direction reads batches, another releases due
// packets from a sorted release queue in batches.
package emu

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultQueueLimit is the bottleneck queue, in packets, used when a Spec
// sets a Rate but no QueueLimit. 256 full-size packets hold about 300 ms at
// 10 Mbit/s: enough for TCP to fill the link without unbounded bufferbloat.
const DefaultQueueLimit = 256

// DefaultReorderDelay is how long a packet picked for reordering is held
// back when Spec.ReorderDelay is zero.
const DefaultReorderDelay = 2 * time.Millisecond

// MaxRewrite is the largest Spec.Rewrite: the byte must lie within the
// first half of the sequence space after the ISN.
const MaxRewrite = 1<<31 - 1

// ErrInvalidSpec is wrapped by every error about a Spec's values.
var ErrInvalidSpec = errors.New("invalid link spec")

// Spec describes the impairments of one direction of a link. The zero Spec
// forwards every packet at once.
type Spec struct {
	// Rate is the bottleneck rate in bits per second, counted over whole
	// packets as the endpoint carries them (Ethernet frames without FCS on
	// AF_PACKET). 0 means unlimited.
	Rate uint64 `json:"rate,omitempty"`
	// Delay is the one-way propagation delay added after the bottleneck.
	Delay time.Duration `json:"delay,omitempty"`
	// Jitter spreads each packet's delay uniformly over
	// [Delay-Jitter, Delay+Jitter] (never below zero). Packets keep their
	// order (a packet never leaves before the one ahead of it) unless
	// Reorder is set.
	Jitter time.Duration `json:"jitter,omitempty"`
	// Loss is the probability in [0,1] that a packet is dropped, independent
	// of other packets (Bernoulli).
	Loss float64 `json:"loss,omitempty"`
	// Burst adds correlated loss from a Gilbert-Elliott two-state model.
	// It applies after (and in addition to) Loss.
	Burst GilbertElliott `json:"burst,omitzero"`
	// Reorder is the probability in [0,1] that a packet is held back by
	// ReorderDelay beyond its normal delay, so the packets behind it
	// overtake it.
	Reorder float64 `json:"reorder,omitempty"`
	// ReorderDelay is the extra hold of a reordered packet
	// (DefaultReorderDelay if zero).
	ReorderDelay time.Duration `json:"reorder_delay,omitempty"`
	// QueueLimit is the number of packets that may wait for the bottleneck
	// (tail drop beyond it). Only meaningful with a Rate; DefaultQueueLimit
	// if zero.
	QueueLimit int `json:"queue_limit,omitempty"`
	// Events change this direction at offsets from the emulator's start.
	Events []Event `json:"events,omitempty"`

	// Strip makes the direction a middlebox that removes MPTCP options
	// (kind 30, overwritten with NOPs, checksum fixed) from the selected
	// TCP segments, as firewalls that do not know the option do (RFC 8684
	// §3.7: the peers must fall back to TCP). See Middlebox.
	Strip StripSet `json:"strip,omitempty"`
	// Rewrite, when > 0, changes the Rewrite-th payload byte (counted from
	// 1) of each connection's stream in this direction once, fixing the
	// TCP checksum as a NAT's ALG does: only the DSS checksum (RFC 8684
	// §3.3.1) can detect it. See Middlebox.
	Rewrite uint64 `json:"rewrite,omitempty"`
}

// GilbertElliott is the classic two-state burst-loss model: in the Good
// state packets are lost with probability LossGood, in the Bad state with
// LossBad; before each packet the state moves Good->Bad with probability P
// and Bad->Good with probability R. The mean burst length is 1/R packets
// and the stationary share of Bad is P/(P+R). The zero value is off.
type GilbertElliott struct {
	P        float64 `json:"p"`
	R        float64 `json:"r"`
	LossGood float64 `json:"loss_good,omitempty"`
	LossBad  float64 `json:"loss_bad"`
}

// Enabled reports whether the model can ever enter the Bad state.
func (g GilbertElliott) Enabled() bool { return g.P > 0 }

// MeanLoss is the model's long-run loss probability.
func (g GilbertElliott) MeanLoss() float64 {
	if !g.Enabled() {
		return g.LossGood
	}
	bad := g.P / (g.P + g.R)
	return bad*g.LossBad + (1-bad)*g.LossGood
}

// Action is what an Event does.
type Action uint8

// Event actions.
const (
	// ActionDown drops every packet from then on (an outage).
	ActionDown Action = iota + 1
	// ActionUp ends an outage.
	ActionUp
	// ActionRate sets Rate to Event.Rate.
	ActionRate
	// ActionDelay sets Delay to Event.Delay.
	ActionDelay
	// ActionLoss sets Loss to Event.Loss.
	ActionLoss
)

func (a Action) String() string {
	switch a {
	case ActionDown:
		return "down"
	case ActionUp:
		return "up"
	case ActionRate:
		return "rate"
	case ActionDelay:
		return "delay"
	case ActionLoss:
		return "loss"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Event is a scheduled change of a direction, At after the emulator starts.
// It plays situations such as a phone walking out of Wi-Fi coverage
// (Down at 2 s, Up at 5 s) or a cell handing over to a slower one (Rate).
type Event struct {
	At     time.Duration `json:"at"`
	Action Action        `json:"action"`
	Rate   uint64        `json:"rate,omitempty"`
	Delay  time.Duration `json:"delay,omitempty"`
	Loss   float64       `json:"loss,omitempty"`
}

// Down returns an event that takes the link down at offset at.
func Down(at time.Duration) Event { return Event{At: at, Action: ActionDown} }

// Up returns an event that brings the link back up at offset at.
func Up(at time.Duration) Event { return Event{At: at, Action: ActionUp} }

// SetRate returns an event that changes the rate (bits/s) at offset at.
func SetRate(at time.Duration, bps uint64) Event {
	return Event{At: at, Action: ActionRate, Rate: bps}
}

// SetDelay returns an event that changes the one-way delay at offset at.
func SetDelay(at, d time.Duration) Event { return Event{At: at, Action: ActionDelay, Delay: d} }

// SetLoss returns an event that changes the loss probability at offset at.
func SetLoss(at time.Duration, p float64) Event { return Event{At: at, Action: ActionLoss, Loss: p} }

// IsZero reports whether s imposes nothing: packets pass unchanged and at
// once, now and after every event. The lab uses a plain kernel bridge for
// such a path.
func (s Spec) IsZero() bool {
	return s.Rate == 0 && s.Delay == 0 && s.Jitter == 0 && s.Loss == 0 &&
		!s.Burst.Enabled() && s.Burst.LossGood == 0 && s.Reorder == 0 && len(s.Events) == 0 &&
		s.Strip == 0 && s.Rewrite == 0
}

func validProb(name string, p float64) error {
	if math.IsNaN(p) || p < 0 || p > 1 {
		return fmt.Errorf("%w: %s %v not in [0,1]", ErrInvalidSpec, name, p)
	}
	return nil
}

// Validate reports the first value of s that is out of range.
func (s Spec) Validate() error {
	if s.Delay < 0 || s.Jitter < 0 || s.ReorderDelay < 0 {
		return fmt.Errorf("%w: negative duration", ErrInvalidSpec)
	}
	if s.QueueLimit < 0 {
		return fmt.Errorf("%w: negative queue limit %d", ErrInvalidSpec, s.QueueLimit)
	}
	if s.Strip&^StripAll != 0 {
		return fmt.Errorf("%w: strip %#x has unknown classes", ErrInvalidSpec, uint8(s.Strip))
	}
	if s.Rewrite > MaxRewrite {
		return fmt.Errorf("%w: rewrite %d beyond %d", ErrInvalidSpec, s.Rewrite, uint64(MaxRewrite))
	}
	for _, c := range []struct {
		n string
		p float64
	}{{"loss", s.Loss}, {"reorder", s.Reorder}, {"burst p", s.Burst.P}, {"burst r", s.Burst.R},
		{"burst loss_good", s.Burst.LossGood}, {"burst loss_bad", s.Burst.LossBad}} {
		if err := validProb(c.n, c.p); err != nil {
			return err
		}
	}
	if s.Burst.Enabled() && s.Burst.R == 0 {
		return fmt.Errorf("%w: burst r must be > 0 when p > 0", ErrInvalidSpec)
	}
	for i, e := range s.Events {
		if e.At < 0 {
			return fmt.Errorf("%w: event %d at negative offset", ErrInvalidSpec, i)
		}
		switch e.Action {
		case ActionDown, ActionUp, ActionRate:
		case ActionDelay:
			if e.Delay < 0 {
				return fmt.Errorf("%w: event %d: negative delay", ErrInvalidSpec, i)
			}
		case ActionLoss:
			if err := validProb("event loss", e.Loss); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: event %d: unknown action %d", ErrInvalidSpec, i, e.Action)
		}
	}
	return nil
}

// FormatRate writes bits/s the way ParseRate reads it: "50mbit", "1.5gbit".
func FormatRate(bps uint64) string {
	for _, u := range []struct {
		s string
		v uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bps >= u.v && bps%(u.v/1000) == 0 {
			return strconv.FormatFloat(float64(bps)/float64(u.v), 'f', -1, 64) + u.s
		}
	}
	return strconv.FormatUint(bps, 10) + "bit"
}

// ParseRate reads a rate in bits per second: a number with an optional unit
// bit, kbit, mbit, gbit (decimal, as tc uses them) or bps, kbps, mbps, gbps
// (bytes per second). A bare number is bits per second.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], t[i:]
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("parse rate %q: %w", s, ErrInvalidSpec)
	}
	mult := map[string]float64{"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
		"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("parse rate %q: unknown unit %q: %w", s, unit, ErrInvalidSpec)
	}
	v := f * mult
	if v >= 1e15 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("parse rate %q: too large: %w", s, ErrInvalidSpec)
	}
	return uint64(math.Round(v)), nil
}

// parseProb reads "1%", "0.01" or "1.5%".
func parseProb(s string) (float64, error) {
	var f float64
	var err error
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err = strconv.ParseFloat(p, 64)
		f /= 100
	} else {
		f, err = strconv.ParseFloat(s, 64)
	}
	if err != nil {
		return 0, fmt.Errorf("probability %q: %w", s, ErrInvalidSpec)
	}
	if err := validProb("probability", f); err != nil {
		return 0, err
	}
	return f, nil
}

func formatProb(p float64) string {
	return strconv.FormatFloat(p*100, 'g', -1, 64) + "%"
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: %w", s, ErrInvalidSpec)
	}
	return d, nil
}

// ApplyOption sets one "key=value" setting (or schedules one "event@offset")
// of the text form that ParseSpec reads.
func (s *Spec) ApplyOption(item string) error {
	if at, ok := strings.CutPrefix(item, "down@"); ok {
		d, err := parseDuration(at)
		if err != nil {
			return err
		}
		s.Events = append(s.Events, Down(d))
		return nil
	}
	if at, ok := strings.CutPrefix(item, "up@"); ok {
		d, err := parseDuration(at)
		if err != nil {
			return err
		}
		s.Events = append(s.Events, Up(d))
		return nil
	}
	key, val, ok := strings.Cut(item, "=")
	if !ok {
		return fmt.Errorf("%q is not key=value: %w", item, ErrInvalidSpec)
	}
	// "rate=5mbit@3s" schedules a change instead of setting the start value.
	val, atStr, scheduled := strings.Cut(val, "@")
	var at time.Duration
	if scheduled {
		var err error
		if at, err = parseDuration(atStr); err != nil {
			return err
		}
		switch key {
		case "rate", "delay", "loss":
		default:
			return fmt.Errorf("%q cannot be scheduled (only rate, delay, loss): %w", key, ErrInvalidSpec)
		}
	}
	var err error
	switch key {
	case "rate":
		var r uint64
		if r, err = ParseRate(val); err == nil {
			if scheduled {
				s.Events = append(s.Events, SetRate(at, r))
			} else {
				s.Rate = r
			}
		}
	case "delay":
		var d time.Duration
		if d, err = parseDuration(val); err == nil {
			if scheduled {
				s.Events = append(s.Events, SetDelay(at, d))
			} else {
				s.Delay = d
			}
		}
	case "loss":
		var p float64
		if p, err = parseProb(val); err == nil {
			if scheduled {
				s.Events = append(s.Events, SetLoss(at, p))
			} else {
				s.Loss = p
			}
		}
	case "jitter":
		s.Jitter, err = parseDuration(val)
	case "reorder":
		s.Reorder, err = parseProb(val)
	case "reorder-delay":
		s.ReorderDelay, err = parseDuration(val)
	case "queue":
		var n int
		n, err = strconv.Atoi(val)
		if err != nil || n < 0 {
			err = fmt.Errorf("queue %q: want a packet count: %w", val, ErrInvalidSpec)
		}
		s.QueueLimit = n
	case "strip":
		s.Strip, err = ParseStripSet(val)
	case "rewrite":
		var n uint64
		n, err = strconv.ParseUint(val, 10, 64)
		if err != nil || n == 0 || n > MaxRewrite {
			err = fmt.Errorf("rewrite %q: want a byte position 1..%d: %w", val, uint64(MaxRewrite), ErrInvalidSpec)
		}
		s.Rewrite = n
	case "burst":
		// burst=P/R[/LOSSBAD[/LOSSGOOD]]; LOSSBAD defaults to 100%.
		parts := strings.Split(val, "/")
		if len(parts) < 2 || len(parts) > 4 {
			return fmt.Errorf("burst %q: want P/R[/LOSSBAD[/LOSSGOOD]]: %w", val, ErrInvalidSpec)
		}
		g := GilbertElliott{LossBad: 1}
		ptrs := []*float64{&g.P, &g.R, &g.LossBad, &g.LossGood}
		for i, p := range parts {
			if *ptrs[i], err = parseProb(p); err != nil {
				return fmt.Errorf("burst %q: %w", val, err)
			}
		}
		s.Burst = g
	default:
		return fmt.Errorf("unknown key %q: %w", key, ErrInvalidSpec)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// ParseSpec reads the comma-separated text form of a Spec, e.g.
//
//	rate=20mbit,delay=25ms,jitter=2ms,loss=1%,queue=100,down@2s,up@5s,rate=5mbit@3s
//
// Keys: rate, delay, jitter, loss, reorder, reorder-delay, queue, burst
// (P/R[/LOSSBAD[/LOSSGOOD]] of the Gilbert-Elliott model), and the
// middleboxes strip (syn, synack, ack, data or all, joined by "+") and
// rewrite (a byte position, from 1). "down@T" and "up@T" schedule an
// outage; "rate=", "delay=" and "loss=" with "@T" schedule a change. The
// empty string is the zero Spec.
func ParseSpec(text string) (Spec, error) {
	var s Spec
	if strings.TrimSpace(text) == "" {
		return s, nil
	}
	for item := range strings.SplitSeq(text, ",") {
		if err := s.ApplyOption(strings.TrimSpace(item)); err != nil {
			return Spec{}, fmt.Errorf("parse link spec %q: %w", text, err)
		}
	}
	if err := s.Validate(); err != nil {
		return Spec{}, fmt.Errorf("parse link spec %q: %w", text, err)
	}
	return s, nil
}

// String returns the text form ParseSpec reads ("" for the zero Spec).
func (s Spec) String() string {
	var b []string
	if s.Rate != 0 {
		b = append(b, "rate="+FormatRate(s.Rate))
	}
	if s.Delay != 0 {
		b = append(b, "delay="+s.Delay.String())
	}
	if s.Jitter != 0 {
		b = append(b, "jitter="+s.Jitter.String())
	}
	if s.Loss != 0 {
		b = append(b, "loss="+formatProb(s.Loss))
	}
	if s.Burst != (GilbertElliott{}) {
		b = append(b, fmt.Sprintf("burst=%s/%s/%s/%s", formatProb(s.Burst.P), formatProb(s.Burst.R),
			formatProb(s.Burst.LossBad), formatProb(s.Burst.LossGood)))
	}
	if s.Reorder != 0 {
		b = append(b, "reorder="+formatProb(s.Reorder))
	}
	if s.ReorderDelay != 0 {
		b = append(b, "reorder-delay="+s.ReorderDelay.String())
	}
	if s.QueueLimit != 0 {
		b = append(b, "queue="+strconv.Itoa(s.QueueLimit))
	}
	if s.Strip != 0 {
		b = append(b, "strip="+s.Strip.String())
	}
	if s.Rewrite != 0 {
		b = append(b, "rewrite="+strconv.FormatUint(s.Rewrite, 10))
	}
	for _, e := range s.Events {
		b = append(b, e.String())
	}
	return strings.Join(b, ",")
}

// String returns the event in ParseSpec's form, e.g. "down@2s".
func (e Event) String() string {
	at := "@" + e.At.String()
	switch e.Action {
	case ActionDown, ActionUp:
		return e.Action.String() + at
	case ActionRate:
		return "rate=" + FormatRate(e.Rate) + at
	case ActionDelay:
		return "delay=" + e.Delay.String() + at
	case ActionLoss:
		return "loss=" + formatProb(e.Loss) + at
	}
	return e.Action.String() + at
}
