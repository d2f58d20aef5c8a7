package analyze

// MinOpenID returns the lowest ID of a connection that is not finished
// yet (not yet handed to Config.OnConnection), or 0 when none is open.
// IDs grow with the order in which connections are first seen, but
// connections finish in any order: a writer that prints them sorted by ID
// can print every finished connection below this ID (all of them when it
// is 0), as no connection seen later can have a lower one.
func (a *Analyzer) MinOpenID() int {
	for _, c := range a.conns {
		if !c.done {
			return c.id
		}
	}
	return 0
}
