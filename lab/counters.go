package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// MPTCPCounters returns the kernel's MPTCP MIB counters of a side's
// namespace, keyed as "nstat -az MPTcpExt*" names them (for example
// "MPTcpExtMPJoinSynAckRx"). They are read from /proc/net/netstat inside
// the namespace.
func (l *Lab) MPTCPCounters(side Side) (map[string]uint64, error) {
	var out map[string]uint64
	err := l.Do(side, func() error {
		f, err := os.Open("/proc/thread-self/net/netstat")
		if err != nil {
			return err
		}
		defer f.Close()
		out, err = parseMPTCPExt(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("lab %s: MPTCP counters of %s: %w", l.Name(), side, err)
	}
	return out, nil
}

// parseMPTCPExt reads the MPTcpExt header and value lines of a
// /proc/net/netstat file.
func parseMPTCPExt(r io.Reader) (map[string]uint64, error) {
	out := map[string]uint64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var names []string
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "MPTcpExt:" {
			continue
		}
		if names == nil {
			names = fields[1:]
			continue
		}
		for i, v := range fields[1:] {
			if i >= len(names) {
				break
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("MPTcpExt %s: %w", names[i], err)
			}
			out["MPTcpExt"+names[i]] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if names == nil {
		return nil, fmt.Errorf("no MPTcpExt counters (kernel without MPTCP?)")
	}
	return out, nil
}

// WaitCounter polls a side's MPTCP counter until it reaches at least min,
// or ctx ends. The kernel's path manager opens extra subflows shortly
// after a connection is established; a test waits for them
// (MPTcpExtMPJoinSynAckRx on the client) before it sends, so that a loaded
// machine cannot finish the transfer on one subflow.
func (l *Lab) WaitCounter(ctx context.Context, side Side, name string, min uint64) (uint64, error) {
	for {
		c, err := l.MPTCPCounters(side)
		if err != nil {
			return 0, err
		}
		if c[name] >= min {
			return c[name], nil
		}
		select {
		case <-ctx.Done():
			return c[name], fmt.Errorf("lab %s: %s %s = %d, waiting for %d: %w", l.Name(), side, name, c[name], min, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
