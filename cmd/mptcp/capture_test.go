package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mptcp-go/mptcp/analyze/report"
	"github.com/mptcp-go/mptcp/lab"
	"github.com/mptcp-go/mptcp/lab/labtest"
)

// TestCaptureLive runs "mptcp capture -i wifi" in a lab's client namespace
// while the kernel's MPTCP client sends to its server over two paths: the
// live analysis sees the connection, and the pcapng it wrote analyzes to
// the same result. Needs root and tcpdump-free AF_PACKET.
func TestCaptureLive(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := labtest.New(t, lab.Config{})
	dir := t.TempDir()
	ng := filepath.Join(dir, "live.pcapng")
	var out bytes.Buffer
	errb := newWatchBuffer()
	code := -1
	started := make(chan struct{})
	finished := make(chan struct{})
	capCtx, stopCapture := context.WithCancel(ctx)
	go func() {
		defer close(finished)
		l.Do(lab.Client, func() error {
			close(started)
			code = run(capCtx, &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: errb},
				[]string{"capture", "-i", "any", "--write", ng, "--json", "--hash", "--interval", "200ms", "tcp", "port", "5201"})
			return nil
		})
	}()
	<-started
	// The capture says when its socket is bound.
	waitCtx, stopWaiting := context.WithCancel(ctx)
	defer stopWaiting()
	go func() {
		<-finished
		stopWaiting()
	}()
	if !errb.wait(waitCtx, "capturing on any") {
		t.Fatalf("capture did not start: %s", errb.String())
	}

	data := make([]byte, 1<<20)
	rand.Read(data)
	var ln net.Listener
	if err := l.Do(lab.Server, func() error {
		var lc net.ListenConfig
		lc.SetMultipathTCP(true)
		var err error
		ln, err = lc.Listen(ctx, "tcp4", ":5201")
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
		b, _ := io.ReadAll(c)
		c.Close()
		got <- b
	}()
	var c net.Conn
	if err := l.Do(lab.Client, func() error {
		var d net.Dialer
		d.SetMultipathTCP(true)
		var err error
		c, err = d.DialContext(ctx, "tcp4", netip.AddrPortFrom(l.ServerAddr(1), 5201).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 128 << 10 {
		c.Write(data[off : off+128<<10])
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("server got %d bytes", len(b))
	}
	// The periodic line counts the connection once it is over (both
	// DATA_FINs and FINs captured), not "0 connections".
	if !errb.wait(waitCtx, "1 seen, 0 open, 1 finished") {
		t.Fatalf("the periodic lines never counted the finished connection: %s", errb.String())
	}
	stopCapture()
	<-finished
	if code != exitOK {
		t.Fatalf("capture exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "MPTCP connections") || !strings.Contains(errb.String(), "packets captured") {
		t.Errorf("no periodic summary or stats on stderr: %s", errb.String())
	}
	var r report.Document
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	want := shaHex(data)
	if len(r.Connections) != 1 || *r.Connections[0].Streams.ClientToServer.SHA256 != want || len(r.Connections[0].Subflows) != 2 ||
		r.Capture.Kernel == nil || r.Capture.Kernel.Packets == 0 {
		t.Fatalf("live result: %s", out.String())
	}
	// The written pcapng gives the same analysis.
	fout, ferr, fcode := runAnalyzeCmd(t, "analyze", "--json", "--hash", ng)
	if fcode != exitOK {
		t.Fatalf("analyze %s: %d %s", ng, fcode, ferr)
	}
	if !strings.Contains(fout, want) {
		t.Errorf("analysis of the written pcapng lacks the stream hash")
	}
}

// watchBuffer is a buffer written by one goroutine and watched by another
// for a string to appear.
type watchBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func newWatchBuffer() *watchBuffer { return &watchBuffer{changed: make(chan struct{}, 1)} }

func (w *watchBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *watchBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// wait blocks until s has been written or ctx ends.
func (w *watchBuffer) wait(ctx context.Context, s string) bool {
	for {
		if strings.Contains(w.String(), s) {
			return true
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			return strings.Contains(w.String(), s)
		}
	}
}

// TestCaptureMessages: a missing interface is exit 3 with a message that
// names it; a bad expression or flag is a usage error naming it.
func TestCaptureMessages(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"capture", "-i", "nosuch0", "--duration", "1s"}, exitInput, "mptcp capture: -i nosuch0: "},
		{[]string{"capture", "-i", "lo", "port", "80", "and"}, exitUsage, `expression "port 80 and": expression ends too soon`},
		{[]string{"capture", "-i", "lo", "--buffer", "huge"}, exitUsage, "buffer"},
		{[]string{"capture"}, exitUsage, "want -i IFACE"},
		{[]string{"capture", "-i", "lo", "--write-conn", "x.pcap"}, exitUsage, "--write-conn is for 'mptcp analyze'"},
	} {
		_, stderr, code := runAnalyzeCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%v: exit %d %q; want %d with %q", tc.args, code, stderr, tc.code, tc.msg)
		}
	}
}
