package capture

import (
	"encoding/binary"
	"fmt"
)

// EtherTypes of interest (IEEE 802 numbers).
const (
	EtherTypeIPv4  = 0x0800
	EtherTypeIPv6  = 0x86DD
	EtherTypeVLAN  = 0x8100 // IEEE 802.1Q customer tag
	EtherTypeQinQ  = 0x88A8 // IEEE 802.1ad service tag
	EtherTypeQinQ2 = 0x9100 // pre-standard double tagging, still seen
)

// maxVLANTags bounds how many stacked 802.1Q/802.1ad tags DecodeLink
// removes.
const maxVLANTags = 8

// Network is the network-layer part of a captured frame, as found by
// DecodeLink.
type Network struct {
	// EtherType of the payload. For raw-IP and loopback link types it is
	// derived from the IP version or address family.
	EtherType uint16
	// Version is 4 or 6 when the payload is IPv4 or IPv6, 0 otherwise.
	Version uint8
	// VLANs is the number of 802.1Q/802.1ad tags removed; VLAN is the ID
	// (low 12 bits of the TCI) of the outermost one.
	VLANs uint8
	VLAN  uint16
	// Offset is where Payload starts in the frame.
	Offset int
	// Payload is the network-layer packet (the IP header onwards). It
	// aliases the frame.
	Payload []byte
}

// DecodeLink strips the link-layer header of a frame of link type lt and
// returns the network-layer packet, without copying or allocating. A frame
// whose payload is not IP is not an error: Version is 0. Errors wrap
// ErrShort (frame shorter than its header) or ErrLinkType.
func DecodeLink(lt LinkType, frame []byte) (Network, error) {
	switch lt {
	case LinkTypeEthernet:
		// IEEE 802.3: destination, source, EtherType (or 802.3 length).
		if len(frame) < 14 {
			return Network{}, shortErr(lt, len(frame), 14)
		}
		return decodeEtherType(lt, frame, 12)
	case LinkTypeLinuxSLL:
		// Linux cooked v1: packet type, ARPHRD type, address length,
		// 8 address bytes, protocol (an EtherType for IP).
		if len(frame) < 16 {
			return Network{}, shortErr(lt, len(frame), 16)
		}
		return decodeEtherType(lt, frame, 14)
	case LinkTypeLinuxSLL2:
		// Linux cooked v2: protocol, reserved, ifindex, ARPHRD type,
		// packet type, address length, 8 address bytes.
		if len(frame) < 20 {
			return Network{}, shortErr(lt, len(frame), 20)
		}
		n := Network{EtherType: binary.BigEndian.Uint16(frame), Offset: 20, Payload: frame[20:]}
		return vlanThen(lt, frame, n)
	case LinkTypeRaw, LinkTypeRawDLT12:
		if len(frame) < 1 {
			return Network{}, shortErr(lt, 0, 1)
		}
		n := Network{Payload: frame}
		switch frame[0] >> 4 {
		case 4:
			n.EtherType, n.Version = EtherTypeIPv4, 4
		case 6:
			n.EtherType, n.Version = EtherTypeIPv6, 6
		}
		return n, nil
	case LinkTypeIPv4:
		return Network{EtherType: EtherTypeIPv4, Version: 4, Payload: frame}, nil
	case LinkTypeIPv6:
		return Network{EtherType: EtherTypeIPv6, Version: 6, Payload: frame}, nil
	case LinkTypeNull, LinkTypeLoop:
		// A 4-byte address family: in the capturing host's byte order for
		// NULL (so either order here), network byte order for LOOP.
		if len(frame) < 4 {
			return Network{}, shortErr(lt, len(frame), 4)
		}
		af := binary.BigEndian.Uint32(frame)
		if lt == LinkTypeNull {
			af = binary.LittleEndian.Uint32(frame)
			if af&0xffff0000 != 0 {
				af = binary.BigEndian.Uint32(frame)
			}
		}
		n := Network{Offset: 4, Payload: frame[4:]}
		switch af {
		case 2: // AF_INET everywhere
			n.EtherType, n.Version = EtherTypeIPv4, 4
		case 10, 24, 28, 30: // AF_INET6: Linux, Net/OpenBSD, FreeBSD, Darwin
			n.EtherType, n.Version = EtherTypeIPv6, 6
		}
		return n, nil
	}
	return Network{}, fmt.Errorf("decode link: link type %v: %w", lt, ErrLinkType)
}

// decodeEtherType reads the EtherType at off and removes VLAN tags.
func decodeEtherType(lt LinkType, frame []byte, off int) (Network, error) {
	n := Network{EtherType: binary.BigEndian.Uint16(frame[off:]), Offset: off + 2, Payload: frame[off+2:]}
	return vlanThen(lt, frame, n)
}

// vlanThen removes up to maxVLANTags 802.1Q/802.1ad tags (IEEE 802.1Q
// §9.6: 2 bytes of TCI, then the next EtherType) and sets Version.
func vlanThen(lt LinkType, frame []byte, n Network) (Network, error) {
	for i := 0; i < maxVLANTags && (n.EtherType == EtherTypeVLAN || n.EtherType == EtherTypeQinQ || n.EtherType == EtherTypeQinQ2); i++ {
		if len(frame) < n.Offset+4 {
			return Network{}, shortErr(lt, len(frame), n.Offset+4)
		}
		if n.VLANs == 0 {
			n.VLAN = binary.BigEndian.Uint16(frame[n.Offset:]) & 0x0fff
		}
		n.VLANs++
		n.EtherType = binary.BigEndian.Uint16(frame[n.Offset+2:])
		n.Offset += 4
		n.Payload = frame[n.Offset:]
	}
	switch n.EtherType {
	case EtherTypeIPv4:
		n.Version = 4
	case EtherTypeIPv6:
		n.Version = 6
	}
	return n, nil
}

func shortErr(lt LinkType, have, want int) error {
	return fmt.Errorf("decode link: %v frame of %d bytes, header needs %d: %w", lt, have, want, ErrShort)
}
