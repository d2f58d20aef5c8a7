package stack

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/mptcp-go/mptcp/tcp"
)

// StreamEngine is the byte-stream side of an engine: a TCP endpoint, or
// an MPTCP connection. Its methods never block: Read and Write return
// (0, nil) when they would, and the engine reports readiness through
// Stream.Notify.
type StreamEngine interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	CloseWrite() error
	Close() error
	Abort()
}

// Stream is the blocking net.Conn machinery over a StreamEngine driven
// by an Owner: reads and writes wait for readiness, deadlines, Close.
// stack.Conn (TCP) and the MPTCP layer's connection are Streams.
type Stream struct {
	o             *Owner
	eng           StreamEngine
	local, remote netip.AddrPort

	rdCh, wrCh chan struct{}
	closing    chan struct{} // closed by Close
	closeOnce  sync.Once
	rdDL, wrDL deadline
}

// NewStream returns a Stream for eng, entered through o, with the
// addresses LocalAddr and RemoteAddr report.
func NewStream(o *Owner, eng StreamEngine, local, remote netip.AddrPort) *Stream {
	st := &Stream{}
	st.init(o, eng, local, remote)
	return st
}

func (st *Stream) init(o *Owner, eng StreamEngine, local, remote netip.AddrPort) {
	st.o, st.eng, st.local, st.remote = o, eng, local, remote
	st.rdCh, st.wrCh = make(chan struct{}, 1), make(chan struct{}, 1)
	st.closing = make(chan struct{})
	st.rdDL, st.wrDL = newDeadline(), newDeadline()
}

// Notify wakes readers and writers as the engine's readiness bits say
// (NotifyClosed wakes both). Safe to call with the owner's lock held.
func (st *Stream) Notify(n tcp.Notify) {
	if n&(tcp.NotifyReadable|tcp.NotifyClosed) != 0 {
		signal(st.rdCh)
	}
	if n&(tcp.NotifyWritable|tcp.NotifyClosed) != 0 {
		signal(st.wrCh)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (st *Stream) opErr(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: st.LocalAddr(), Addr: st.RemoteAddr(), Err: err}
}

// Read implements net.Conn.
func (st *Stream) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		select {
		case <-st.closing:
			return 0, st.opErr("read", net.ErrClosed)
		case <-st.rdDL.wait():
			return 0, st.opErr("read", os.ErrDeadlineExceeded)
		default:
		}
		st.o.Lock()
		n, err := st.eng.Read(b)
		st.o.Unlock()
		if n > 0 || err != nil {
			return n, st.opErr("read", err)
		}
		select {
		case <-st.rdCh:
		case <-st.rdDL.wait():
			return 0, st.opErr("read", os.ErrDeadlineExceeded)
		case <-st.closing:
			return 0, st.opErr("read", net.ErrClosed)
		}
	}
}

// Write implements net.Conn. It returns once all of b is queued in the
// send buffer (or on error or deadline, with the count queued).
func (st *Stream) Write(b []byte) (int, error) {
	off := 0
	for {
		select {
		case <-st.closing:
			return off, st.opErr("write", net.ErrClosed)
		case <-st.wrDL.wait():
			return off, st.opErr("write", os.ErrDeadlineExceeded)
		default:
		}
		st.o.Lock()
		n, err := st.eng.Write(b[off:])
		st.o.Unlock()
		off += n
		if err != nil {
			return off, st.opErr("write", err)
		}
		if off == len(b) {
			return off, nil
		}
		if n > 0 {
			continue
		}
		select {
		case <-st.wrCh:
		case <-st.wrDL.wait():
			return off, st.opErr("write", os.ErrDeadlineExceeded)
		case <-st.closing:
			return off, st.opErr("write", net.ErrClosed)
		}
	}
}

// Close implements net.Conn: a full close of the engine without waiting
// (a FIN after the queued data, or RST if received data is unread).
func (st *Stream) Close() error {
	first := false
	st.closeOnce.Do(func() { close(st.closing); first = true })
	if !first {
		return st.opErr("close", net.ErrClosed)
	}
	st.o.Lock()
	err := st.eng.Close()
	st.o.Unlock()
	return err
}

// CloseWrite shuts down the sending side: a FIN follows the queued data.
func (st *Stream) CloseWrite() error {
	st.o.Lock()
	err := st.eng.CloseWrite()
	st.o.Unlock()
	return st.opErr("close", err)
}

// Abort resets the connection at once.
func (st *Stream) Abort() {
	st.closeOnce.Do(func() { close(st.closing) })
	st.abort()
}

func (st *Stream) abort() {
	st.o.Lock()
	st.eng.Abort()
	st.o.Unlock()
}

// LocalAddr implements net.Conn.
func (st *Stream) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(st.local) }

// RemoteAddr implements net.Conn.
func (st *Stream) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(st.remote) }

// LocalAddrPort and RemoteAddrPort return the addresses.
func (st *Stream) LocalAddrPort() netip.AddrPort  { return st.local }
func (st *Stream) RemoteAddrPort() netip.AddrPort { return st.remote }

// SetDeadline implements net.Conn.
func (st *Stream) SetDeadline(t time.Time) error {
	st.rdDL.set(t)
	st.wrDL.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (st *Stream) SetReadDeadline(t time.Time) error { st.rdDL.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (st *Stream) SetWriteDeadline(t time.Time) error { st.wrDL.set(t); return nil }
