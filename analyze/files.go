package analyze

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// FileSink writes each stream's delivered bytes to a file in Dir as they
// become contiguous: conn<ID>-c2s.bin and conn<ID>-s2c.bin. Each byte goes
// to its data offset (relative to the stream's origin, as Stream offsets
// are): a hole stays a hole in the file (a sparse region, read as zeros;
// bytes are never invented) and conn<ID>-c2s.holes lists the holes, one
// "offset size" line each. The file's length is the stream's end. The
// SHA-256 the result reports is that of the delivered bytes (holes
// skipped): the file's own when the stream has no hole. Files are opened
// at a stream's first byte or hole and closed at its end.
//
// At most MaxOpen files are open at once (default DefaultMaxOpenFiles):
// a stream whose file was closed to make room has it opened again when
// its next bytes come, so a capture with more streams than the process
// may open files still writes them all.
type FileSink struct {
	Dir string
	// MaxOpen bounds the files open at once (0: DefaultMaxOpenFiles).
	MaxOpen int
	streams map[[2]int]*fileStream
	// open lists the streams with open files, most recently used first.
	open    []*fileStream
	err     error
	nerr    int
	dropped int
	// Next, if set, receives every call too (to chain sinks).
	Next Sink
}

// DefaultMaxOpenFiles is the default of FileSink.MaxOpen.
const DefaultMaxOpenFiles = 128

// maxSinkErrors is how many errors FileSink keeps; later ones are counted.
const maxSinkErrors = 8

// fileStream is one stream's files (open or not) and length.
type fileStream struct {
	name, holesName string
	f, holes        *os.File
	created         bool // the data file exists (opened again without truncation)
	holesWritten    bool // the holes file exists
	end             int64
}

// StreamFile returns the file name FileSink uses for a stream.
func StreamFile(conn, dir int) string {
	if dir == ClientToServer {
		return fmt.Sprintf("conn%d-c2s.bin", conn)
	}
	return fmt.Sprintf("conn%d-s2c.bin", conn)
}

// HolesFile returns the name of the file that lists a stream's holes.
func HolesFile(conn, dir int) string {
	if dir == ClientToServer {
		return fmt.Sprintf("conn%d-c2s.holes", conn)
	}
	return fmt.Sprintf("conn%d-s2c.holes", conn)
}

// stream returns a stream's files, with its data file open.
func (s *FileSink) stream(c *ConnInfo, dir int) *fileStream {
	if s.streams == nil {
		s.streams = make(map[[2]int]*fileStream)
	}
	k := [2]int{c.ID, dir}
	fs := s.streams[k]
	if fs == nil {
		fs = &fileStream{name: filepath.Join(s.Dir, StreamFile(c.ID, dir)), holesName: filepath.Join(s.Dir, HolesFile(c.ID, dir))}
		s.streams[k] = fs
	}
	if fs.f == nil {
		flags := os.O_WRONLY | os.O_CREATE
		if !fs.created {
			flags |= os.O_TRUNC
		}
		s.makeRoom(fs)
		f, err := os.OpenFile(fs.name, flags, 0o666)
		if err != nil {
			s.fail(err)
			return nil
		}
		fs.f, fs.created = f, true
		s.open = append(s.open, fs)
	}
	s.used(fs)
	return fs
}

// used moves fs to the front of the open list.
func (s *FileSink) used(fs *fileStream) {
	for i, x := range s.open {
		if x == fs {
			copy(s.open[1:i+1], s.open[:i])
			s.open[0] = fs
			return
		}
	}
}

// makeRoom closes the files of the least recently used streams (other
// than keep) while MaxOpen would be exceeded.
func (s *FileSink) makeRoom(keep *fileStream) {
	max := s.MaxOpen
	if max <= 0 {
		max = DefaultMaxOpenFiles
	}
	n := 0
	for _, fs := range s.open {
		if fs.f != nil {
			n++
		}
		if fs.holes != nil {
			n++
		}
	}
	for n+1 > max && len(s.open) > 0 {
		i := len(s.open) - 1
		fs := s.open[i]
		if fs == keep {
			if i == 0 {
				return
			}
			i--
			fs = s.open[i]
		}
		n -= s.closeFiles(fs)
		s.open = append(s.open[:i], s.open[i+1:]...)
	}
}

// closeFiles closes fs's files (not ending the stream) and returns how
// many were open.
func (s *FileSink) closeFiles(fs *fileStream) int {
	n := 0
	if fs.f != nil {
		s.fail(fs.f.Close())
		fs.f = nil
		n++
	}
	if fs.holes != nil {
		s.fail(fs.holes.Close())
		fs.holes = nil
		n++
	}
	return n
}

// fail records err (nil: nothing): the first few, and a count of the rest.
func (s *FileSink) fail(err error) {
	if err == nil {
		return
	}
	if s.nerr < maxSinkErrors {
		s.err = errors.Join(s.err, err)
	} else {
		s.dropped++
	}
	s.nerr++
}

// Data implements Sink.
func (s *FileSink) Data(c *ConnInfo, dir int, ts time.Time, off uint64, b []byte) {
	if s.Next != nil {
		s.Next.Data(c, dir, ts, off, b)
	}
	fs := s.stream(c, dir)
	if fs == nil {
		return
	}
	if _, err := fs.f.WriteAt(b, int64(off)); err != nil {
		s.fail(err)
	}
	fs.end = max(fs.end, int64(off)+int64(len(b)))
}

// Hole implements Sink: the file keeps a sparse region there and the
// holes file a line.
func (s *FileSink) Hole(c *ConnInfo, dir int, ts time.Time, off, size uint64) {
	if s.Next != nil {
		s.Next.Hole(c, dir, ts, off, size)
	}
	fs := s.stream(c, dir)
	if fs == nil {
		return
	}
	if fs.holes == nil {
		s.makeRoom(fs)
		exists := fs.holesWritten
		f, err := os.OpenFile(fs.holesName, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
		if err != nil {
			s.fail(err)
			return
		}
		if !exists {
			if err := f.Truncate(0); err != nil {
				s.fail(err)
			}
			fmt.Fprintf(f, "# holes of %s: data offset and size in bytes; the bytes read as zeros there\n", StreamFile(c.ID, dir))
			fs.holesWritten = true
		}
		fs.holes = f
	}
	if _, err := fmt.Fprintf(fs.holes, "%d %d\n", off, size); err != nil {
		s.fail(err)
	}
	fs.end = max(fs.end, int64(off+size))
}

// End implements Sink.
func (s *FileSink) End(c *ConnInfo, dir int, ts time.Time) {
	if s.Next != nil {
		s.Next.End(c, dir, ts)
	}
	k := [2]int{c.ID, dir}
	if fs := s.streams[k]; fs != nil {
		s.close(fs)
		delete(s.streams, k)
	}
}

// close sets the file's length to the stream's end (a trailing hole too)
// and closes the files.
func (s *FileSink) close(fs *fileStream) {
	for i, x := range s.open {
		if x == fs {
			s.open = append(s.open[:i], s.open[i+1:]...)
			break
		}
	}
	if fs.f == nil && fs.created {
		f, err := os.OpenFile(fs.name, os.O_WRONLY, 0)
		if err != nil {
			s.fail(err)
		} else {
			fs.f = f
		}
	}
	if fs.f != nil {
		s.fail(fs.f.Truncate(fs.end))
	}
	s.closeFiles(fs)
}

// Err returns the first write errors, if any (and how many more there
// were).
func (s *FileSink) Err() error {
	if s.dropped > 0 {
		return errors.Join(s.err, fmt.Errorf("and %d more errors", s.dropped))
	}
	return s.err
}

// Close closes any file still open.
func (s *FileSink) Close() error {
	for k, fs := range s.streams {
		s.close(fs)
		delete(s.streams, k)
	}
	return s.Err()
}

// SetStreamFiles fills Stream.File in r for the streams FileSink wrote.
func SetStreamFiles(r *Result, dir string) {
	for i := range r.Connections {
		SetConnStreamFiles(&r.Connections[i], dir)
	}
}

// SetConnStreamFiles fills Stream.File (and HolesFile) of one connection.
func SetConnStreamFiles(c *Connection, dir string) {
	for d := range c.Streams {
		if c.Streams[d].Bytes > 0 || c.Streams[d].HoleBytes > 0 {
			c.Streams[d].File = filepath.Join(dir, StreamFile(c.ID, d))
		}
		if len(c.Streams[d].Holes) > 0 {
			c.Streams[d].HolesFile = filepath.Join(dir, HolesFile(c.ID, d))
		}
	}
}
