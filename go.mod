module github.com/mptcp-go/mptcp

go 1.26.8

require (
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.2
	golang.org/x/image v0.48.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)

require golang.org/x/text v0.44.0 // indirect
