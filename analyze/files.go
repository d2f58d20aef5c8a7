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
type FileSink struct {
	Dir     string
	streams map[[2]int]*fileStream
	err     error
	// Next, if set, receives every call too (to chain sinks).
	Next Sink
}

// fileStream is one stream's open files and length.
type fileStream struct {
	f, holes *os.File
	end      int64
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

// stream returns the open files of a stream, opening the data file.
func (s *FileSink) stream(c *ConnInfo, dir int) *fileStream {
	if s.streams == nil {
		s.streams = make(map[[2]int]*fileStream)
	}
	k := [2]int{c.ID, dir}
	fs := s.streams[k]
	if fs == nil {
		f, err := os.Create(filepath.Join(s.Dir, StreamFile(c.ID, dir)))
		if err != nil {
			s.err = errors.Join(s.err, err)
			return nil
		}
		fs = &fileStream{f: f}
		s.streams[k] = fs
	}
	return fs
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
		s.err = errors.Join(s.err, err)
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
		f, err := os.Create(filepath.Join(s.Dir, HolesFile(c.ID, dir)))
		if err != nil {
			s.err = errors.Join(s.err, err)
			return
		}
		fmt.Fprintf(f, "# holes of %s: data offset and size in bytes; the bytes read as zeros there\n", StreamFile(c.ID, dir))
		fs.holes = f
	}
	if _, err := fmt.Fprintf(fs.holes, "%d %d\n", off, size); err != nil {
		s.err = errors.Join(s.err, err)
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
	err := errors.Join(fs.f.Truncate(fs.end), fs.f.Close())
	if fs.holes != nil {
		err = errors.Join(err, fs.holes.Close())
	}
	if err != nil {
		s.err = errors.Join(s.err, err)
	}
}

// Err returns the first write errors, if any.
func (s *FileSink) Err() error { return s.err }

// Close closes any file still open.
func (s *FileSink) Close() error {
	for k, fs := range s.streams {
		s.close(fs)
		delete(s.streams, k)
	}
	return s.err
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
