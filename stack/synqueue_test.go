package stack

import "testing"

// TestSYNQueue: the half-open table recycles its oldest entry when full
// (RFC 4987 §3.4); the accept queue refuses SYNs and handshakes beyond
// its length; forgotten and accepted entries free their places.
func TestSYNQueue(t *testing.T) {
	q := NewSYNQueue[int](3, 2)
	for i := 1; i <= 3; i++ {
		if _, evict, ok := q.Admit(); !ok || evict {
			t.Fatalf("admit %d: ok %v evict %v", i, ok, evict)
		}
		q.Add(i)
	}
	v, evict, ok := q.Admit()
	if !ok || !evict || v != 1 {
		t.Fatalf("full table: victim %d evict %v ok %v, want the oldest (1)", v, evict, ok)
	}
	q.Add(4)
	if q.Established(1) {
		t.Fatal("an evicted connection was queued for Accept")
	}
	if !q.Established(2) || !q.Established(3) {
		t.Fatal("established connections not queued")
	}
	if h, n := q.Len(); h != 1 || n != 2 {
		t.Fatalf("half-open %d queued %d, want 1 and 2", h, n)
	}
	if _, _, ok := q.Admit(); ok {
		t.Fatal("a SYN admitted with the accept queue full")
	}
	if q.Established(4) {
		t.Fatal("a handshake completed into a full accept queue")
	}
	q.Forget(2) // accepted
	if _, evict, ok := q.Admit(); !ok || evict {
		t.Fatalf("after Accept: ok %v evict %v", ok, evict)
	}
	q.Cancel()
	q.Forget(3)
	q.Forget(3) // twice is harmless
	if h, n := q.Len(); h != 0 || n != 0 {
		t.Fatalf("half-open %d queued %d, want none", h, n)
	}
	_, _, _ = q.Admit()
	q.Add(5)
	if got := q.Close(); len(got) != 1 || got[0] != 5 {
		t.Fatalf("Close returned %v", got)
	}
	if _, _, ok := q.Admit(); ok {
		t.Fatal("admitted after Close")
	}
}
