module github.com/mptcp-go/mptcp

go 1.26.8

require (
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require golang.org/x/image v0.48.0 // indirect
