//go:build linux

package mptcp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp"
	"github.com/mptcp-go/mptcp/analyze"
	"github.com/mptcp-go/mptcp/capture"
	"github.com/mptcp-go/mptcp/header"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
	"github.com/mptcp-go/mptcp/link"
	"github.com/mptcp-go/mptcp/mpconn"
	"github.com/mptcp-go/mptcp/stack"
)

// kernelLab is a lab where one side is our stack (its interfaces owned
// through AF_PACKET, no kernel addresses on them) and the other the
// kernel's MPTCP.
type kernelLab struct {
	l    *lab.Lab
	st   *stack.Stack
	h    *mptcp.Host
	side lab.Side // our side
}

// newKernelLab brings up cfg with our stack on side ours. Each of our
// interfaces gets its path's address and, as gateway, the peer's address
// on that path (so a subflow from any of our addresses can reach any of
// the peer's, as the kernel's per-source routes do).
func newKernelLab(t *testing.T, cfg lab.Config, ours lab.Side, mcfg mptcp.Config) *kernelLab {
	t.Helper()
	return newKernelLabOpts(t, cfg, ours, mcfg, link.AFPacketOptions{})
}

// newKernelLabOpts is newKernelLab with the AF_PACKET options of our
// interfaces (offloads).
func newKernelLabOpts(t testing.TB, cfg lab.Config, ours lab.Side, mcfg mptcp.Config, af link.AFPacketOptions) *kernelLab {
	t.Helper()
	labtest.Requirements(t)
	if ours == lab.Client {
		cfg.ClientMode = lab.User
	} else {
		cfg.ServerMode = lab.User
	}
	l := labtest.New(t, cfg)
	k := &kernelLab{l: l, side: ours, st: stack.New(stack.Options{})}
	t.Cleanup(func() { k.st.Close() })
	for i := 1; i <= l.NumPaths(); i++ {
		iface := l.Iface(ours, i)
		addr, gw := l.ClientAddr(i), l.ServerAddr(i)
		if ours == lab.Server {
			addr, gw = gw, addr
		}
		var ep *link.AFPacket
		var mac header.MAC
		if err := l.Do(ours, func() error {
			ifc, err := net.InterfaceByName(iface)
			if err != nil {
				return err
			}
			copy(mac[:], ifc.HardwareAddr)
			ep, err = link.OpenAFPacket(iface, af)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		ic := stack.InterfaceConfig{Name: iface, MAC: mac, Addrs: []netip.Prefix{netip.PrefixFrom(addr, 24)}}
		if ours == lab.Client {
			ic.Gateway4 = gw
		}
		if err := k.st.AddInterface(ep, ic); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if k.h, err = mptcp.NewHost(k.st, mcfg); err != nil {
		t.Fatal(err)
	}
	return k
}

// kernelSide is the other side.
func (k *kernelLab) kernelSide() lab.Side {
	if k.side == lab.Client {
		return lab.Server
	}
	return lab.Client
}

// exchange runs one connection: the client sends up bytes and half-closes,
// the server reads them all, answers with down bytes and closes. Both
// ends check SHA-256 of what they got against what was sent.
func exchange(t *testing.T, client, server net.Conn, up, down []byte, state func() string) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		server.SetDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(server)
		if err != nil {
			errc <- fmt.Errorf("server read after %d bytes: %w", len(got), err)
			return
		}
		if sha256.Sum256(got) != sha256.Sum256(up) {
			errc <- fmt.Errorf("server got %d bytes, SHA-256 differs from the %d sent", len(got), len(up))
			return
		}
		if _, err := server.Write(down); err != nil {
			errc <- fmt.Errorf("server write: %w", err)
			return
		}
		errc <- server.Close()
	}()
	client.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := client.Write(up); err != nil {
		t.Fatalf("client write: %v\n%s", err, state())
	}
	if cw, ok := client.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			t.Fatalf("client close write: %v", err)
		}
	}
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatalf("client read after %d bytes: %v\n%s", len(got), err, state())
	}
	if err := <-errc; err != nil {
		t.Fatalf("%v\n%s", err, state())
	}
	if !bytes.Equal(got, down) {
		t.Fatalf("client got %d bytes, want the %d the server sent", len(got), len(down))
	}
	client.Close()
}

// kernelListen listens with the kernel's MPTCP on the server's first
// address.
func (k *kernelLab) kernelListen(t *testing.T) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := k.l.Do(lab.Server, func() error {
		lc := net.ListenConfig{}
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:5201")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func counters(t *testing.T, l *lab.Lab, side lab.Side) map[string]uint64 {
	t.Helper()
	m, err := l.MPTCPCounters(side)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKernelServer(t *testing.T) {
	for _, tc := range []struct {
		paths    int
		announce bool
	}{{1, false}, {2, false}, {2, true}, {3, false}, {3, true}} {
		t.Run(fmt.Sprintf("paths=%d,announce=%v", tc.paths, tc.announce), func(t *testing.T) {
			var paths []lab.PathSpec
			for i := 1; i <= tc.paths; i++ {
				paths = append(paths, lab.PathSpec{Name: lab.DefaultPathName(i)})
			}
			k := newKernelLab(t, lab.Config{Paths: paths, Announce: tc.announce}, lab.Client, mptcp.Config{})
			ln := k.kernelListen(t)
			pcap, stopCapture := k.capture(t)
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					accepted <- nil
					return
				}
				accepted <- c
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := k.h.Dial(ctx, netip.AddrPortFrom(k.l.ServerAddr(1), 5201))
			if err != nil {
				t.Fatal(err)
			}
			srv := <-accepted
			if srv == nil {
				t.Fatal("kernel did not accept")
			}
			// Wait for the joins before sending, so every path carries data.
			wantJoins := tc.paths - 1
			if tc.announce {
				wantJoins *= 2
			}
			waitCtx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err = k.l.WaitCounter(waitCtx, lab.Server, "MPTcpExtMPJoinAckRx", uint64(wantJoins))
			wcancel()
			if err != nil {
				t.Fatalf("kernel joins: %v; %s\nkernel: %v\nours: %v", err, summary(c.Info()), pick(counters(t, k.l, lab.Server), ""), nonzero(k.h.MIB().Counters()))
			}
			up, down := randomBytes(8<<20, 11), randomBytes(4<<20, 12)
			exchange(t, c, srv, up, down, func() string {
				return summary(c.Info()) + fmt.Sprintf("\nkernel: %v\nours: %v", pick(counters(t, k.l, lab.Server), ""), nonzero(k.h.MIB().Counters()))
			})
			in := c.Info()
			stopCapture()
			verifyCapture(t, pcap, up, down, wantJoins+1)
			announced := 0
			if tc.announce {
				announced = tc.paths - 1
			}
			checkJoinsOnWire(t, pcap, wantJoins, announced)
			if in.Fallback {
				t.Fatal("fell back to TCP")
			}
			used := map[string]bool{}
			for _, sf := range append(in.Subflows, in.Closed...) {
				if sf.DataSent > 0 {
					used[sf.Local.Addr().String()] = true
				}
			}
			if len(used) != tc.paths {
				t.Errorf("data left from %d local addresses, want %d: %s", len(used), tc.paths, summary(in))
			}
			m := counters(t, k.l, lab.Server)
			if m["MPTcpExtMPCapableSYNRX"] != 1 || m["MPTcpExtMPCapableACKRX"] != 1 {
				t.Errorf("kernel MP_CAPABLE counters: %v", pick(m, "MPCapable"))
			}
			if m["MPTcpExtMPJoinAckRx"] != uint64(wantJoins) || m["MPTcpExtMPJoinAckHMacFailure"] != 0 {
				t.Errorf("kernel join counters: %v", pick(m, "MPJoin"))
			}
			if tc.announce && k.h.MIB().AddAddr.Load() != uint64(tc.paths-1) {
				t.Errorf("ADD_ADDR received %d, want %d", k.h.MIB().AddAddr.Load(), tc.paths-1)
			}
		})
	}
}

func TestKernelClient(t *testing.T) {
	for _, paths := range []int{1, 2} {
		t.Run(fmt.Sprintf("paths=%d", paths), func(t *testing.T) {
			var specs []lab.PathSpec
			for i := 1; i <= paths; i++ {
				specs = append(specs, lab.PathSpec{Name: lab.DefaultPathName(i)})
			}
			k := newKernelLab(t, lab.Config{Paths: specs}, lab.Server, mptcp.Config{})
			pcap, stopCapture := k.capture(t)
			// The kernel client joins only the addresses our listener
			// announces (no "subflow" endpoints toward our first address).
			if out, err := k.l.Command(context.Background(), lab.Client, "ip", "mptcp", "endpoint", "flush").CombinedOutput(); err != nil {
				t.Fatalf("endpoint flush: %v: %s", err, out)
			}
			ln, err := k.h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), 5201))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan *mptcp.Conn, 1)
			go func() {
				c, err := ln.AcceptMPTCP()
				if err != nil {
					accepted <- nil
					return
				}
				accepted <- c
			}()
			var kc net.Conn
			if err := k.l.Do(lab.Client, func() error {
				d := net.Dialer{Timeout: 30 * time.Second}
				d.SetMultipathTCP(true)
				var err error
				kc, err = d.Dial("tcp", netip.AddrPortFrom(k.l.ServerAddr(1), 5201).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			srv := <-accepted
			if srv == nil {
				t.Fatal("no connection accepted")
			}
			if paths > 1 {
				waitCtx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
				_, err := k.l.WaitCounter(waitCtx, lab.Client, "MPTcpExtMPJoinSynAckRx", uint64(paths-1))
				wcancel()
				if err != nil {
					t.Fatalf("kernel joins: %v; %s", err, summary(srv.Info()))
				}
			}
			up, down := randomBytes(8<<20, 21), randomBytes(4<<20, 22)
			exchange(t, kc, srv, up, down, func() string {
				return summary(srv.Info()) + fmt.Sprintf("\nkernel: %v\nours: %v", pick(counters(t, k.l, lab.Client), ""), nonzero(k.h.MIB().Counters()))
			})
			in := srv.Info()
			stopCapture()
			verifyCapture(t, pcap, up, down, paths)
			checkJoinsOnWire(t, pcap, paths-1, paths-1)
			if in.Fallback || len(in.Subflows)+len(in.Closed) != paths {
				t.Fatalf("fallback %v, %d subflows: %s", in.Fallback, len(in.Subflows), summary(in))
			}
			m := counters(t, k.l, lab.Client)
			if m["MPTcpExtMPCapableSYNACKRX"] != 1 {
				t.Errorf("kernel MP_CAPABLE counters: %v", pick(m, "MPCapable"))
			}
			if paths > 1 && (m["MPTcpExtAddAddr"] != uint64(paths-1) || m["MPTcpExtMPJoinSynAckRx"] != uint64(paths-1)) {
				t.Errorf("kernel ADD_ADDR/join counters: AddAddr %d, join %v", m["MPTcpExtAddAddr"], pick(m, "MPJoin"))
			}
			if k.h.MIB().EchoAdd.Load() != uint64(paths-1) {
				t.Errorf("ADD_ADDR echoes %d, want %d", k.h.MIB().EchoAdd.Load(), paths-1)
			}
		})
	}
}

func pick(m map[string]uint64, sub string) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if strings.Contains(k, sub) && v != 0 {
			out[strings.TrimPrefix(k, "MPTcpExt")] = v
		}
	}
	return out
}

func summary(in mptcpInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s fallback=%v sent=%d acked=%d recv=%d retrans=%d sndbuf=%d una=%d nxt=%d", in.State, in.Fallback, in.BytesSent, in.BytesAcked, in.BytesReceived, in.BytesRetrans, in.SendBuffered, in.SndUna, in.SndNxt)
	for _, sf := range append(in.Subflows, in.Closed...) {
		fmt.Fprintf(&b, "\n  #%d %v->%v join=%v fully=%v stale=%v %v sent=%d recv=%d inflight=%d sndbuf=%d cwnd=%d sndwnd=%d rto=%v retr=%d", sf.ID, sf.Local, sf.Remote, sf.Join, sf.Fully, sf.Stale, sf.TCP.State, sf.DataSent, sf.DataRecv, sf.TCP.InFlight, sf.TCP.SendBuffered, sf.TCP.Cwnd, sf.TCP.SndWnd, sf.TCP.RTO, sf.TCP.Stats.RetransSegs)
	}
	return b.String()
}

type mptcpInfo = mpconn.ConnInfo

func nonzero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// capture records the kernel side's traffic on every interface until the
// returned function stops it; it returns the file.
func (k *kernelLab) capture(t *testing.T) (string, func()) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "kernel-side.pcap")
	t.Cleanup(func() {
		if t.Failed() {
			// Keep the evidence of a failed run.
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("%s-%d.pcap", strings.NewReplacer("/", "_", "=", "", ",", "_").Replace(t.Name()), time.Now().UnixNano()))
			if b, err := os.ReadFile(file); err == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("capture kept in %s", keep)
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := k.l.Capture(ctx, k.kernelSide(), "any", file)
	if err != nil {
		cancel()
		t.Fatalf("capture: %v", err)
	}
	return file, func() {
		defer cancel()
		time.Sleep(200 * time.Millisecond) // the closing exchanges
		if st, err := stop(); err != nil || st.Dropped > 0 {
			t.Fatalf("capture: %v (%d dropped)", err, st.Dropped)
		}
	}
}

// verifyCapture runs the analyzer on file: one MPTCP connection, grouped
// by its keys, every join's HMAC verified, and each direction reassembled
// to exactly what was sent.
func verifyCapture(t *testing.T, file string, up, down []byte, subflows int) {
	t.Helper()
	src, err := capture.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	a := analyze.New(analyze.Config{Hash: true})
	if _, err := analyze.ReadSource(context.Background(), a, src, nil); err != nil {
		t.Fatalf("analyze %s: %v", file, err)
	}
	r := a.Finish()
	var conns []*analyze.Connection
	for i := range r.Connections {
		if r.Connections[i].Version != "" {
			conns = append(conns, &r.Connections[i])
		}
	}
	if len(conns) != 1 {
		t.Fatalf("analyzer found %d MPTCP connections, want 1", len(conns))
	}
	cn := conns[0]
	if !cn.Verified || cn.Fallback != "" {
		t.Errorf("analyzer: verified %v, fallback %v", cn.Verified, cn.Fallback)
	}
	if len(cn.Subflows) != subflows {
		t.Errorf("analyzer: %d subflows, want %d", len(cn.Subflows), subflows)
	}
	for _, sf := range cn.Subflows[1:] {
		if sf.JoinHMAC != "verified" {
			t.Errorf("analyzer: join %v -> %v HMAC %q", sf.Client, sf.Server, sf.JoinHMAC)
		}
	}
	for d, want := range [][]byte{up, down} {
		st := cn.Streams[d]
		s := sha256.Sum256(want)
		if st.SHA256 != hex.EncodeToString(s[:]) || len(st.Holes) != 0 {
			t.Errorf("analyzer: %s %d bytes, %d holes; want %d bytes as sent", st.Direction, st.Bytes, len(st.Holes), len(want))
		}
	}
	for _, f := range cn.Findings {
		if f.Severity == analyze.Error {
			t.Errorf("analyzer finding: %v", f)
		}
	}
}

// tsharkCount counts the packets of file that match a display filter
// (tshark as the independent decoder of what went on the wire); -1 when
// tshark is not installed.
func tsharkCount(t *testing.T, file, filter string) int {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		return -1
	}
	out, err := exec.Command("tshark", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark %q: %v", filter, err)
	}
	return strings.Count(string(out), "\n")
}

// checkJoinsOnWire: tshark sees the MP_JOIN SYNs and SYN/ACKs of every
// join and the ADD_ADDRs (with their echoes) the counters claim.
func checkJoinsOnWire(t *testing.T, file string, joins, addAddrs int) {
	t.Helper()
	syn := tsharkCount(t, file, "tcp.options.mptcp.subtype == 1 && tcp.flags.syn == 1 && tcp.flags.ack == 0")
	if syn < 0 {
		t.Log("tshark not installed: wire check skipped")
		return
	}
	synack := tsharkCount(t, file, "tcp.options.mptcp.subtype == 1 && tcp.flags.syn == 1 && tcp.flags.ack == 1")
	add := tsharkCount(t, file, "tcp.options.mptcp.subtype == 3 && tcp.options.mptcp.echo == 0")
	echo := tsharkCount(t, file, "tcp.options.mptcp.subtype == 3 && tcp.options.mptcp.echo == 1")
	if syn < joins || synack < joins {
		t.Errorf("tshark: %d MP_JOIN SYNs, %d SYN/ACKs; want %d joins", syn, synack, joins)
	}
	if add < addAddrs || echo < addAddrs {
		t.Errorf("tshark: %d ADD_ADDR, %d echoes; want %d", add, echo, addAddrs)
	}
}
