package analyze

// MinOpenID returns the lowest ID of a connection that is not finished
// yet (not yet handed to Config.OnConnection), or 0 when none is open.
// IDs grow with the order in which connections are first seen, but
// connections finish in any order: a writer that prints them sorted by ID
// can print every finished connection below this ID (all of them when it
// is 0), as no connection seen later can have a lower one. A connection
// attempt (a SYN not answered yet) holds the ID its connection will have.
func (a *Analyzer) MinOpenID() int {
	c, h := a.minOpenConn(), a.minAttemptID()
	if c == 0 || h != 0 && h < c {
		return h
	}
	return c
}
