// Package mpcrypto implements the cryptographic pieces of Multipath TCP:
// key to token and initial data sequence number (RFC 8684 §3.1), the
// MP_JOIN HMACs (§3.2), the ADD_ADDR HMAC (§3.4.1), the DSS checksum
// (§3.3.1), and their RFC 6824 (v0, SHA-1) counterparts.
//
// Everything a stack or analyzer calls per packet or per handshake is
// allocation-free: HMACs are built on sha1.Sum / sha256.Sum256 over stack
// buffers, since every MPTCP HMAC uses a 16-byte key and a short message.
package mpcrypto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"

	"github.com/mptcp-go/mptcp/option"
)

// Token and IDSN derivation (RFC 8684 §3.1, RFC 6824 §3.1): the token is
// the most significant 32 bits of hash(key), the IDSN the least
// significant 64 bits, where hash is SHA-256 for v1 and SHA-1 for v0 (the
// key is hashed as its 8 big-endian bytes).

// TokenIDSN returns the token and IDSN of key for MPTCP version v
// (option.V0: SHA-1; any later version: SHA-256).
func TokenIDSN(v option.Version, key uint64) (token uint32, idsn uint64) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], key)
	if v == option.V0 {
		h := sha1.Sum(k[:])
		return binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint64(h[sha1.Size-8:])
	}
	h := sha256.Sum256(k[:])
	return binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint64(h[sha256.Size-8:])
}

// Token returns the 32-bit token that identifies the connection of key to
// its peer in MP_JOIN.
func Token(v option.Version, key uint64) uint32 {
	t, _ := TokenIDSN(v, key)
	return t
}

// IDSN returns the initial data sequence number of the data flow sent by
// the owner of key.
func IDSN(v option.Version, key uint64) uint64 {
	_, i := TokenIDSN(v, key)
	return i
}

// NewKey draws a random 64-bit key from r (crypto/rand if r is nil). RFC
// 8684 §3.1 also requires the key's token to be unique among the host's
// connections; that check belongs to whoever keeps the token table.
func NewKey(r io.Reader) (uint64, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("mpcrypto: read random key: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// maxMsg is the longest HMAC message MPTCP uses: ADD_ADDR with an IPv6
// address (id 1 + address 16 + port 2).
const maxMsg = 19

// HMAC computes HMAC(Key=key1||key2, Msg=msg) with SHA-1 for option.V0
// and SHA-256 otherwise, as RFC 8684 §3.2 and RFC 6824 §3.2 define it: the
// two 64-bit keys big-endian, concatenated. The result is in sum[:n] (n is
// 20 or 32). Messages up to 19 bytes (every MPTCP use) allocate nothing.
func HMAC(v option.Version, key1, key2 uint64, msg []byte) (sum [32]byte, n int) {
	const block = 64 // SHA-1 and SHA-256 block size
	if len(msg) > maxMsg {
		return hmacLong(v, key1, key2, msg)
	}
	// inner = H((K ^ ipad) || msg), outer = H((K ^ opad) || inner).
	var buf [block + 32]byte
	for i := range block {
		buf[i] = 0x36
	}
	binary.BigEndian.PutUint64(buf[:8], key1^0x3636363636363636)
	binary.BigEndian.PutUint64(buf[8:16], key2^0x3636363636363636)
	nm := copy(buf[block:], msg)
	// The inner hash replaces the message after the pad block.
	if v == option.V0 {
		h := sha1.Sum(buf[:block+nm])
		n = copy(buf[block:], h[:])
	} else {
		h := sha256.Sum256(buf[:block+nm])
		n = copy(buf[block:], h[:])
	}
	for i := range block {
		buf[i] = 0x5c
	}
	binary.BigEndian.PutUint64(buf[:8], key1^0x5c5c5c5c5c5c5c5c)
	binary.BigEndian.PutUint64(buf[8:16], key2^0x5c5c5c5c5c5c5c5c)
	if v == option.V0 {
		h := sha1.Sum(buf[:block+n])
		copy(sum[:], h[:])
	} else {
		sum = sha256.Sum256(buf[:block+n])
	}
	return sum, n
}

// joinMsg builds R1||R2.
func joinMsg(r1, r2 uint32) [8]byte {
	var m [8]byte
	binary.BigEndian.PutUint32(m[:4], r1)
	binary.BigEndian.PutUint32(m[4:], r2)
	return m
}

// JoinHMAC returns the 160-bit HMAC a host sends in the third ACK of an
// MP_JOIN handshake (RFC 8684 §3.2): HMAC(Key=senderKey||receiverKey,
// Msg=senderNonce||receiverNonce), truncated to its leftmost 160 bits for
// SHA-256. The sender is the host that opened the subflow (host A); its
// key is the one it sent in MP_CAPABLE, its nonce the one in its MP_JOIN
// SYN.
func JoinHMAC(v option.Version, senderKey, receiverKey uint64, senderNonce, receiverNonce uint32) [20]byte {
	m := joinMsg(senderNonce, receiverNonce)
	sum, _ := HMAC(v, senderKey, receiverKey, m[:])
	return [20]byte(sum[:20])
}

// JoinTruncatedHMAC returns the leftmost 64 bits of the HMAC a host sends
// in an MP_JOIN SYN/ACK (RFC 8684 §3.2): HMAC(Key=senderKey||receiverKey,
// Msg=senderNonce||receiverNonce), where the sender is the host answering
// the join (host B) and the nonces are B's (SYN/ACK) then A's (SYN).
func JoinTruncatedHMAC(v option.Version, senderKey, receiverKey uint64, senderNonce, receiverNonce uint32) uint64 {
	m := joinMsg(senderNonce, receiverNonce)
	sum, _ := HMAC(v, senderKey, receiverKey, m[:])
	return binary.BigEndian.Uint64(sum[:8])
}

// AddAddrHMAC returns the truncated HMAC of an ADD_ADDR (RFC 8684 §3.4.1):
// the rightmost 64 bits of HMAC(Key=senderKey||receiverKey, Msg=address id
// || address (4 or 16 bytes) || port), where the sender is the host that
// sends the ADD_ADDR and port is 0 when the option carries none (as Linux
// computes it). ADD_ADDR has no HMAC in v0; this always uses SHA-256.
func AddAddrHMAC(senderKey, receiverKey uint64, addrID uint8, addr netip.Addr, port uint16) uint64 {
	sum, size := addAddrHMAC(senderKey, receiverKey, addrID, addr, port)
	return binary.BigEndian.Uint64(sum[size-8 : size])
}

// AddAddrHMACLeftmost returns the leftmost 64 bits of the same HMAC as
// AddAddrHMAC. The first Linux MPTCP kernels (v5.6, 2020) sent these
// instead of the rightmost 64 bits RFC 8684 §3.4.1 specifies, until the
// kernel was fixed; a peer of the same era accepted them. An analyzer uses
// it to tell that old behaviour from a forgery.
func AddAddrHMACLeftmost(senderKey, receiverKey uint64, addrID uint8, addr netip.Addr, port uint16) uint64 {
	sum, _ := addAddrHMAC(senderKey, receiverKey, addrID, addr, port)
	return binary.BigEndian.Uint64(sum[:8])
}

func addAddrHMAC(senderKey, receiverKey uint64, addrID uint8, addr netip.Addr, port uint16) ([32]byte, int) {
	var m [maxMsg]byte
	m[0] = addrID
	n := 1
	if addr.Is4() {
		a := addr.As4()
		n += copy(m[n:], a[:])
	} else {
		a := addr.As16()
		n += copy(m[n:], a[:])
	}
	binary.BigEndian.PutUint16(m[n:], port)
	n += 2
	return HMAC(option.V1, senderKey, receiverKey, m[:n])
}

// hmacLong is the general HMAC (crypto/hmac) for messages longer than any
// MPTCP uses; it allocates.
func hmacLong(v option.Version, key1, key2 uint64, msg []byte) (sum [32]byte, n int) {
	var k [16]byte
	binary.BigEndian.PutUint64(k[:8], key1)
	binary.BigEndian.PutUint64(k[8:], key2)
	h := hmac.New(sha256.New, k[:])
	if v == option.V0 {
		h = hmac.New(sha1.New, k[:])
	}
	// Write a copy: passing msg to the hash.Hash interface would make it
	// escape, and with it the stack messages of every caller of HMAC.
	h.Write(append([]byte(nil), msg...))
	return sum, copy(sum[:], h.Sum(nil))
}
