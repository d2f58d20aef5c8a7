package tcp

// State is a TCP connection state (RFC 9293 §3.3.2).
type State uint8

// Connection states.
const (
	StateClosed State = iota
	StateListen
	StateSynSent
	StateSynReceived
	StateEstablished
	StateFinWait1
	StateFinWait2
	StateCloseWait
	StateClosing
	StateLastAck
	StateTimeWait
)

var stateNames = [...]string{"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED",
	"FIN-WAIT-1", "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// synchronized reports whether the state is past the handshake (RFC 9293
// §3.5.2 calls these the synchronized states).
func (s State) synchronized() bool { return s >= StateEstablished }

// canSend reports whether the application may still queue data.
func (s State) canSend() bool {
	return s == StateEstablished || s == StateCloseWait || s == StateSynSent || s == StateSynReceived
}
