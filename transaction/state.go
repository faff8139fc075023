package transaction

// state is a transaction state of §17 and RFC 6026. Not every machine uses
// every state.
type state uint8

const (
	stCalling    state = iota // INVITE client
	stTrying                  // non-INVITE client and server
	stProceeding              // all four
	stCompleted               // all four
	stConfirmed               // INVITE server
	stAccepted                // INVITE client and server (RFC 6026)
	stTerminated
)

var stateNames = [...]string{"Calling", "Trying", "Proceeding", "Completed", "Confirmed", "Accepted", "Terminated"}

func (s state) String() string { return stateNames[s] }

// closedChan is returned by Done and Cancelled when the event happened
// before anyone asked for the channel. It is closed once at start-up and
// never written.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
