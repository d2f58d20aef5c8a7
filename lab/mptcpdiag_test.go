//go:build linux

package lab

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestMPTCPStateNetlink: with one kernel MPTCP connection over two paths,
// the netlink view counts one connection per side (not one socket per
// subflow), with its extra subflow, and the server's listener apart; the
// endpoints and limits are the lab's. ss and ip, the tools it replaces,
// agree.
func TestMPTCPStateNetlink(t *testing.T) {
	needRoot(t, "ss")
	l := startLab(t, testConfig(t))
	ln := listenTCP(t, l, true)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c := dialTCP(t, l, ln.Addr().String(), true)
	c.Write(make([]byte, 64<<10))
	// The join completes asynchronously: wait for the kernel to count it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var cli *MPTCPState
	for {
		var err error
		if cli, err = l.MPTCPState(Client); err != nil {
			t.Fatal(err)
		}
		if len(cli.Sockets) == 1 && cli.Sockets[0].Subflows == 1 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("client never showed one connection with a joined subflow: %+v", cli.Sockets)
		case <-time.After(20 * time.Millisecond):
		}
	}
	srv, err := l.MPTCPState(Server)
	if err != nil {
		t.Fatal(err)
	}
	if cli.Connections() != 1 || srv.Connections() != 1 || len(srv.Sockets) != 2 {
		t.Errorf("connections: client %d, server %d (sockets %+v)", cli.Connections(), srv.Connections(), srv.Sockets)
	}
	s := cli.Sockets[0]
	if s.State != "ESTAB" || s.Remote.String() != ln.Addr().String() || len(s.Token) != 8 || s.BytesSent < 64<<10 && s.BytesSent != 0 {
		t.Errorf("client socket %+v", s)
	}
	// ss lists the same MPTCP sockets (one line each after its header).
	for side, st := range map[Side]*MPTCPState{Client: cli, Server: srv} {
		out, err := l.Command(context.Background(), side, "ss", "-Mna").Output()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Split(strings.TrimSpace(string(out)), "\n")) - 1; n != len(st.Sockets) {
			t.Errorf("%s: ss lists %d MPTCP sockets, netlink %d:\n%s", side, n, len(st.Sockets), out)
		}
	}
	// The client's subflow endpoint for path 2, limits 8 and 8.
	if cli.Limits.Subflows != 8 || cli.Limits.AddAddrAccepted != 8 {
		t.Errorf("limits %+v", cli.Limits)
	}
	out, _ := l.Command(context.Background(), Client, "ip", "mptcp", "endpoint", "show").Output()
	if len(cli.Endpoints) != strings.Count(string(out), "\n") || len(cli.Endpoints) == 0 {
		t.Errorf("endpoints %+v, ip mptcp shows:\n%s", cli.Endpoints, out)
	}
	for _, ep := range cli.Endpoints {
		if !strings.Contains(string(out), ep.Addr.String()+" id "+itoa(uint64(ep.ID))+" "+strings.Join(ep.Flags, " ")) {
			t.Errorf("endpoint %+v not as ip shows it:\n%s", ep, out)
		}
	}
	if cli.Endpoints[0].Addr != l.ClientAddr(2) || cli.Endpoints[0].Interface != l.Iface(Client, 2) {
		t.Errorf("first endpoint %+v, want %v on %s", cli.Endpoints[0], l.ClientAddr(2), l.Iface(Client, 2))
	}
}
