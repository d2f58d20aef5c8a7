package analyze

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileSink writes each stream's delivered bytes to a file in Dir as they
// become contiguous: conn<ID>-c2s.bin and conn<ID>-s2c.bin. Holes are not
// filled (bytes are never invented): a file holds exactly the delivered
// bytes, whose SHA-256 the result reports. Files are opened at a stream's
// first byte and closed at its end.
type FileSink struct {
	Dir   string
	files map[[2]int]*os.File
	err   error
	// Next, if set, receives every call too (to chain sinks).
	Next Sink
}

// StreamFile returns the file name FileSink uses for a stream.
func StreamFile(conn, dir int) string {
	if dir == ClientToServer {
		return fmt.Sprintf("conn%d-c2s.bin", conn)
	}
	return fmt.Sprintf("conn%d-s2c.bin", conn)
}

// Data implements Sink.
func (s *FileSink) Data(c *ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	if s.Next != nil {
		s.Next.Data(c, dir, ts, off, b)
	}
	if s.files == nil {
		s.files = make(map[[2]int]*os.File)
	}
	k := [2]int{c.ID, dir}
	f := s.files[k]
	if f == nil {
		var err error
		f, err = os.Create(filepath.Join(s.Dir, StreamFile(c.ID, dir)))
		if err != nil {
			s.err = errors.Join(s.err, err)
			return
		}
		s.files[k] = f
	}
	if _, err := f.Write(b); err != nil {
		s.err = errors.Join(s.err, err)
	}
}

// Hole implements Sink.
func (s *FileSink) Hole(c *ConnInfo, dir int, ts time.Time, off, size uint64) {
	if s.Next != nil {
		s.Next.Hole(c, dir, ts, off, size)
	}
}

// End implements Sink.
func (s *FileSink) End(c *ConnInfo, dir int, ts time.Time) {
	if s.Next != nil {
		s.Next.End(c, dir, ts)
	}
	k := [2]int{c.ID, dir}
	if f := s.files[k]; f != nil {
		if err := f.Close(); err != nil {
			s.err = errors.Join(s.err, err)
		}
		delete(s.files, k)
	}
}

// Err returns the first write errors, if any.
func (s *FileSink) Err() error { return s.err }

// Close closes any file still open.
func (s *FileSink) Close() error {
	for k, f := range s.files {
		if err := f.Close(); err != nil {
			s.err = errors.Join(s.err, err)
		}
		delete(s.files, k)
	}
	return s.err
}

// SetStreamFiles fills Stream.File in r for the streams FileSink wrote.
func SetStreamFiles(r *Result, dir string) {
	for i := range r.Connections {
		SetConnStreamFiles(&r.Connections[i], dir)
	}
}

// SetConnStreamFiles fills Stream.File of one connection.
func SetConnStreamFiles(c *Connection, dir string) {
	for d := range c.Streams {
		if c.Streams[d].Bytes > 0 {
			c.Streams[d].File = filepath.Join(dir, StreamFile(c.ID, d))
		}
	}
}
