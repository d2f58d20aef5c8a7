package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/link/emu"
	"github.com/mptcp-go/mptcp/probe"
)

func TestProbeUsage(t *testing.T) {
	code, out, errOut := runCLI("probe", "--help")
	if code != exitOK || errOut != "" {
		t.Fatalf("--help: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"Usage: mptcp probe", "--path", "raw socket", "strip", "Verdicts", "data_ack", "Exit codes"} {
		if !strings.Contains(out, want) {
			t.Errorf("probe --help lacks %q", want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe"}, "want HOST PORT"},
		{[]string{"probe", "--path", "eth9=10.0.0.1/24", "10.0.0.2"}, "want HOST PORT"},
		{[]string{"probe", "10.0.0.2", "80"}, "--path"},
		{[]string{"probe", "--path", "eth9=10.0.0.1", "10.0.0.2", "80"}, "lacks a prefix length"},
		{[]string{"probe", "--path", "eth9=10.0.0.1/24,bogus", "10.0.0.2", "80"}, "unknown option"},
		{[]string{"probe", "--path", "eth9=10.0.0.1/24,backup", "10.0.0.2", "80"}, "backup"},
		{[]string{"probe", "--path", "eth9=10.0.0.1/24", "10.0.0.2", "0"}, "port"},
		{[]string{"probe", "--path", "eth9=10.0.0.1/24", "--wait", "0", "10.0.0.2", "80"}, "positive"},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestProbeEndToEnd probes, from the lab's client side (our stack), a
// kernel MPTCP server that announces its second address, a plain TCP
// server, and an MPTCP server behind a middlebox that strips option 30
// from SYN/ACKs.
func TestProbeEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, AF_PACKET)")
	}
	for _, tool := range []string{"ip", "ethtool", "sysctl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	bin := buildNC(t, t.TempDir())
	run := func(t *testing.T, l *lab.Lab, mptcpServer bool, extra ...string) (int, probe.Report, string, []byte) {
		t.Helper()
		var ln net.Listener
		if err := l.Do(lab.Server, func() error {
			lc := net.ListenConfig{}
			lc.SetMultipathTCP(mptcpServer)
			var err error
			ln, err = lc.Listen(context.Background(), "tcp", "0.0.0.0:0")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan []byte, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Minute))
			b, _ := io.ReadAll(c)
			got <- b
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		args := append(append(append([]string{"probe", "--json"}, extra...), pathArgs(l)[:2]...), l.ServerAddr(1).String(), fmt.Sprint(port))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := l.Command(ctx, lab.Client, bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var r probe.Report
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("probe %v: exit %d, %v\nstdout %s\nstderr %s", args, code, err, out.String(), errb.String())
		}
		var b []byte
		select {
		case b = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the server saw no connection end")
		}
		return code, r, out.String(), b
	}
	t.Run("kernel-mptcp", func(t *testing.T) {
		l := mpLab(t, 2, true)
		code, r, out, got := run(t, l, true, "--send", `hello\n`)
		if code != exitOK || r.Verdict != probe.VerdictMPTCP || !r.MPTCP || r.Version == nil || *r.Version != 1 || r.Fallback ||
			r.HMAC != "sha256" || r.DataAck == nil || !r.DataAck.Matches || r.DataSeq == nil || !r.DataSeq.Matches ||
			len(r.AddAddrs) != 1 || r.AddAddrs[0].Addr != l.ServerAddr(2).String() || !r.AddAddrs[0].HMACValid ||
			string(got) != "hello\n" || r.BytesSent != 6 {
			t.Fatalf("exit %d, server got %q: %s", code, got, out)
		}
	})
	t.Run("plain-tcp", func(t *testing.T) {
		l := mpLab(t, 1, false)
		code, r, out, _ := run(t, l, false)
		if code != exitFailure || r.Verdict != probe.VerdictTCP || r.MPTCP || r.Version != nil || !r.Fallback ||
			len(r.Findings) != 1 || r.Findings[0].Kind != "no_mp_capable" {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("strip-synack", func(t *testing.T) {
		l := upLab(t, lab.Config{Paths: []lab.PathSpec{{Name: "wifi", Down: lab.LinkSpec{Strip: emu.StripSYNACK}}}})
		code, r, out, _ := run(t, l, true)
		if code != exitFailure || r.Verdict != probe.VerdictStripped || r.SynAckNOPRun < 12 || !r.Fallback ||
			len(r.Findings) != 1 || r.Findings[0].Kind != "syn_ack_option_removed" {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("refused", func(t *testing.T) {
		l := mpLab(t, 1, false)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := l.Command(ctx, lab.Client, bin, append(append([]string{"probe"}, pathArgs(l)...), l.ServerAddr(1).String(), "9")...).Output()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailure || !strings.Contains(string(out), "verdict: unreachable: the server refused") {
			t.Fatalf("%v: %s", err, out)
		}
	})
}
