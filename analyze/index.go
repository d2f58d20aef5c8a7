package analyze

import "net/netip"

// Indexes that let a subflow seen without its handshake find its
// connection without looking at every connection (attachOrphan, regroup):
// each stream is filed under where its data goes on (its reference DSN),
// in buckets as wide as the window a match must fall in, so a lookup reads
// three buckets. 64-bit DSNs are filed by their own value; 32-bit ones,
// which collide easily and only count between connections that share an
// address, by address and low 32 bits. A bucket holds at most
// idxBucketMax streams (crafted DSNs that all fall in one bucket cost a
// bounded amount per lookup); a stream that does not fit is not found by
// its data, only by its keys and tokens.

// idxBucketMax bounds the streams filed in one bucket.
const idxBucketMax = 64

// idxBucketMax32a bounds the streams filed in one bucket of index.b32a,
// where every connection using 32-bit DSNs near each other meets,
// whatever its addresses. It is looked up only for subflows seen without
// their handshake that no other rule grouped, and while such a subflow is
// held (late32.go).
const idxBucketMax32a = 256

// maxSubflows bounds the subflows of one connection (Linux allows 8 by
// default): past it joins and subflows found by their data are not
// attached (a finding says how many).
const maxSubflows = 256

type idxEntry struct {
	c  *conn
	cd uint8
}

type key32 struct {
	addr netip.Addr
	b    uint32
}

// dsnIndex files streams by reference DSN.
type dsnIndex struct {
	b64 map[uint64][]idxEntry
	b32 map[key32][]idxEntry
	// b32a files the streams of connections that use 32-bit DSNs by
	// their low 32 bits alone, for the rule without an address in
	// common (late32.go).
	b32a map[uint32][]idxEntry
	// token lists connections known only from joins to a token, by the
	// addresses of their subflows.
	token map[netip.Addr][]*conn
}

// ref returns the stream's reference DSN: where the last mapping seen
// ends, or where delivered data ends.
func (st *stream) ref() (uint64, bool) {
	switch {
	case st.mapRefSet:
		return st.mapRef, true
	case st.originSet:
		return st.origin + st.next, true
	}
	return 0, false
}

func bucket64(dsn uint64) uint64 { return dsn / dsnWindow }

func bucket32(dsn uint64) uint32 { return uint32(dsn) / dsnWindow32 }

// reindex files stream cd of c under its current reference.
func (a *Analyzer) reindex(c *conn, cd int) {
	st := &c.st[cd]
	ref, ok := st.ref()
	if !ok || c.done || c.pos < 0 {
		a.unindex(c, cd)
		return
	}
	k64 := bucket64(ref)
	k32 := [2]key32{{c.info.Client.Addr(), bucket32(ref)}, {c.info.Server.Addr(), bucket32(ref)}}
	all := c.dsn32
	if st.indexed && st.idx64 == k64 && st.idx32 == k32 && st.idxA == all {
		return
	}
	a.unindex(c, cd)
	ix := &a.index
	if ix.b64 == nil {
		ix.b64 = make(map[uint64][]idxEntry)
		ix.b32 = make(map[key32][]idxEntry)
		ix.b32a = make(map[uint32][]idxEntry)
	}
	e := idxEntry{c, uint8(cd)}
	if l := ix.b64[k64]; len(l) < idxBucketMax {
		ix.b64[k64] = append(l, e)
	}
	if all {
		if l := ix.b32a[k32[0].b]; len(l) < idxBucketMax32a {
			ix.b32a[k32[0].b] = append(l, e)
		}
	}
	for i, k := range k32 {
		if i == 1 && k == k32[0] {
			break
		}
		if l := ix.b32[k]; len(l) < idxBucketMax {
			ix.b32[k] = append(l, e)
		}
	}
	st.indexed, st.idx64, st.idx32, st.idxA = true, k64, k32, all
}

// unindex removes stream cd of c from the index.
func (a *Analyzer) unindex(c *conn, cd int) {
	st := &c.st[cd]
	if !st.indexed {
		return
	}
	st.indexed = false
	e := idxEntry{c, uint8(cd)}
	ix := &a.index
	ix.b64[st.idx64] = removeEntry(ix.b64[st.idx64], e)
	if len(ix.b64[st.idx64]) == 0 {
		delete(ix.b64, st.idx64)
	}
	for _, k := range st.idx32 {
		if l, ok := ix.b32[k]; ok {
			if l = removeEntry(l, e); len(l) == 0 {
				delete(ix.b32, k)
			} else {
				ix.b32[k] = l
			}
		}
	}
	if st.idxA {
		k := st.idx32[0].b
		if l, ok := ix.b32a[k]; ok {
			if l = removeEntry(l, e); len(l) == 0 {
				delete(ix.b32a, k)
			} else {
				ix.b32a[k] = l
			}
		}
	}
}

// candidates32a calls f for every stream of a connection using 32-bit
// DSNs filed near the 32-bit dsn, whatever its addresses.
func (a *Analyzer) candidates32a(dsn uint32, f func(c *conn, cd int)) {
	b := dsn / dsnWindow32
	n := uint32(1 << 32 / dsnWindow32)
	for _, bb := range [3]uint32{(b + n - 1) % n, b, (b + 1) % n} {
		for _, e := range a.index.b32a[bb] {
			f(e.c, int(e.cd))
		}
	}
}

func removeEntry(l []idxEntry, e idxEntry) []idxEntry {
	for i, x := range l {
		if x == e {
			l[i] = l[len(l)-1]
			l[len(l)-1] = idxEntry{}
			return l[:len(l)-1]
		}
	}
	return l
}

// candidates calls f for every stream filed near dsn (for a 32-bit DSN:
// under an address of one of subs).
func (a *Analyzer) candidates(dsn uint64, is64 bool, subs []*subflow, f func(c *conn, cd int)) {
	ix := &a.index
	if is64 {
		b := bucket64(dsn)
		for _, k := range [3]uint64{b - 1, b, b + 1} {
			for _, e := range ix.b64[k] {
				f(e.c, int(e.cd))
			}
		}
		return
	}
	b := bucket32(dsn)
	n := uint32(1 << 32 / dsnWindow32)
	var seen [4]netip.Addr
	ns := 0
	for _, sf := range subs {
		for _, ad := range [2]netip.Addr{sf.client.Addr(), sf.server.Addr()} {
			dup := false
			for _, x := range seen[:ns] {
				dup = dup || x == ad
			}
			if dup {
				continue
			}
			if ns < len(seen) {
				seen[ns] = ad
				ns++
			}
			for _, bb := range [3]uint32{(b + n - 1) % n, b, (b + 1) % n} {
				for _, e := range ix.b32[key32{ad, bb}] {
					f(e.c, int(e.cd))
				}
			}
		}
	}
}

// fileTokenConn lists c, a connection known only from joins to a token,
// under the addresses of subflow sf.
func (a *Analyzer) fileTokenConn(c *conn, sf *subflow) {
	ix := &a.index
	if ix.token == nil {
		ix.token = make(map[netip.Addr][]*conn)
	}
	for i, ad := range [2]netip.Addr{sf.client.Addr(), sf.server.Addr()} {
		if l := ix.token[ad]; len(l) < idxBucketMax {
			ix.token[ad] = append(l, c)
			c.tokAddr[i] = ad
		}
	}
}

// unfileTokenConn removes c from the token list.
func (a *Analyzer) unfileTokenConn(c *conn) {
	ix := &a.index
	for i, ad := range c.tokAddr {
		if !ad.IsValid() {
			continue
		}
		c.tokAddr[i] = netip.Addr{}
		l := ix.token[ad]
		for j, x := range l {
			if x == c {
				l[j] = l[len(l)-1]
				l[len(l)-1] = nil
				l = l[:len(l)-1]
				break
			}
		}
		if len(l) == 0 {
			delete(ix.token, ad)
		} else {
			ix.token[ad] = l
		}
	}
}
