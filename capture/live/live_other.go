//go:build !linux

package live

import (
	"context"
	"errors"

	"github.com/mptcp-go/mptcp/capture"
)

// ErrUnsupported is returned by Open on systems without AF_PACKET.
var ErrUnsupported = errors.New("live: capture needs Linux AF_PACKET sockets")

// Handle is an open live capture (Linux only).
type Handle struct{}

// Open fails: live capture needs Linux.
func Open(ctx context.Context, cfg Config) (*Handle, error) { return nil, ErrUnsupported }

// LinkType is never reached on this system.
func (h *Handle) LinkType() capture.LinkType { return 0 }

// Next fails: live capture needs Linux.
func (h *Handle) Next() (capture.Packet, error) { return capture.Packet{}, ErrUnsupported }

// Stats fails: live capture needs Linux.
func (h *Handle) Stats() (Stats, error) { return Stats{}, ErrUnsupported }

// Close does nothing.
func (h *Handle) Close() error { return nil }

var _ capture.Source = (*Handle)(nil)
