package conformance

// MPState is a flow's MPTCP state for the MPTCP scenarios' helpers.
type MPState struct {
	// LocalKey is the testbench's key, RemoteKey the DUT's.
	LocalKey, RemoteKey uint64
}
