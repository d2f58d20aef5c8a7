package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// measured is what one transfer gave, seen at the receiver.
type measured struct {
	bytes    int64
	elapsed  time.Duration // from the first write to the last byte read
	ttfb     time.Duration // from the first write to the first byte read
	stall    time.Duration // longest time without new data after the first byte
	cpuSecs  float64       // machine-wide busy CPU seconds meanwhile
	goodputM float64       // Mbit/s
}

// payload returns n bytes of seeded random data (incompressible, the same
// for a seed).
func payload(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

type closeWriter interface{ CloseWrite() error }

// transfer sends data from snd to rcv, half-closes snd, and reads rcv to
// EOF, checking the SHA-256. at, if set, runs once after atDelay from the
// start (a path going down).
func transfer(ctx context.Context, snd, rcv net.Conn, data []byte, atDelay time.Duration, at func()) (measured, error) {
	var m measured
	want := sha256.Sum256(data)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Minute)
	}
	rcv.SetReadDeadline(deadline)
	snd.SetWriteDeadline(deadline)
	cpu0 := busyCPU()
	start := time.Now()
	if at != nil {
		t := time.AfterFunc(atDelay, at)
		defer t.Stop()
	}
	errc := make(chan error, 1)
	go func() {
		_, err := snd.Write(data)
		if err == nil {
			if cw, ok := snd.(closeWriter); ok {
				err = cw.CloseWrite()
			}
		}
		errc <- err
	}()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var first, last time.Time
	for {
		n, err := rcv.Read(buf)
		if n > 0 {
			now := time.Now()
			if first.IsZero() {
				first = now
			} else if g := now.Sub(last); g > m.stall {
				m.stall = g
			}
			last = now
			h.Write(buf[:n])
			m.bytes += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("receive after %d of %d bytes: %w", m.bytes, len(data), err)
		}
	}
	if err := <-errc; err != nil {
		return m, fmt.Errorf("send: %w", err)
	}
	var got [32]byte
	h.Sum(got[:0])
	if m.bytes != int64(len(data)) || got != want {
		return m, fmt.Errorf("%w (%d of %d bytes)", errShort, m.bytes, len(data))
	}
	m.elapsed = last.Sub(start)
	m.ttfb = first.Sub(start)
	m.cpuSecs = busyCPU() - cpu0
	m.goodputM = float64(len(data)) * 8 / m.elapsed.Seconds() / 1e6
	return m, nil
}

// exchange is one request/response: the client writes a small request,
// the server answers size bytes once it has read it; TTFB and time to
// complete are taken at the client.
func exchange(cli, srv net.Conn, resp []byte, req []byte) (ttfb, done time.Duration, err error) {
	errc := make(chan error, 1)
	go func() {
		b := make([]byte, len(req))
		if _, err := io.ReadFull(srv, b); err != nil {
			errc <- err
			return
		}
		_, err := srv.Write(resp)
		errc <- err
	}()
	start := time.Now()
	if _, err := cli.Write(req); err != nil {
		return 0, 0, err
	}
	b := make([]byte, len(resp))
	got := 0
	for got < len(b) {
		n, err := cli.Read(b[got:])
		if n > 0 && got == 0 {
			ttfb = time.Since(start)
		}
		got += n
		if err != nil {
			return 0, 0, fmt.Errorf("response after %d of %d bytes: %w", got, len(b), err)
		}
	}
	done = time.Since(start)
	if err := <-errc; err != nil {
		return 0, 0, err
	}
	if !bytes.Equal(b, resp) {
		return 0, 0, errShort
	}
	return ttfb, done, nil
}

// busyCPU returns the machine's busy CPU seconds so far (all CPUs: user,
// nice, system, irq, softirq, steal from /proc/stat): the kernel's work
// for its sockets counts as much as ours.
func busyCPU() float64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0
	}
	fields := strings.Fields(sc.Text())
	var busy float64
	for i, v := range fields[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is counted in user already
			break
		}
		busy += n
	}
	return busy / 100 // USER_HZ
}
