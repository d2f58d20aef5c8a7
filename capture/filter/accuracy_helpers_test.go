//go:build linux

package filter

import (
	"compress/gzip"
	"context"
	"io"
	"net"
)

type netDialer struct{}

func (netDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

func newGzip(w io.Writer) *gzip.Writer {
	zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
	return zw
}
