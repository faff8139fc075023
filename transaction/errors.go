package transaction

import "errors"

// Errors a transaction ends with, and that the layer's methods return. Test
// with errors.Is: they are wrapped with context.
var (
	// ErrTimeout: no final response before timer B or F (client), no ACK
	// before timer H (server), or no final response 64*T1 after a CANCEL.
	ErrTimeout = errors.New("transaction: timeout")
	// ErrTransport wraps an error of the Sender (§17.1.4, §17.2.4).
	ErrTransport = errors.New("transaction: transport error")
	// ErrShutdown: the layer is shutting down, or was shut down before the
	// transaction ended.
	ErrShutdown = errors.New("transaction: layer shut down")
	// ErrDropped: the TU dropped the request unanswered (ServerTx.Drop).
	ErrDropped = errors.New("transaction: request dropped")
	// ErrFinalSent: Respond after a final response (other than further
	// 2xx to an INVITE in the Accepted state, RFC 6026).
	ErrFinalSent = errors.New("transaction: final response already sent")
	// ErrTerminated: Respond on a transaction that has ended.
	ErrTerminated = errors.New("transaction: terminated")
	// ErrBadResponse: Respond with a status code outside 100–699.
	ErrBadResponse = errors.New("transaction: status code out of range")
	// ErrBadRequest: Request with a request that cannot start a
	// transaction (no Via, bad CSeq, CSeq method differing from the method,
	// or an ACK, which is not a transaction of its own).
	ErrBadRequest = errors.New("transaction: request cannot start a transaction")
	// ErrDuplicate: Request with a branch and method already in use by a
	// live client transaction.
	ErrDuplicate = errors.New("transaction: branch already in use")
	// ErrNotInvite: Cancel on a non-INVITE transaction (§9.1: SHOULD NOT).
	ErrNotInvite = errors.New("transaction: only INVITE transactions can be cancelled")
)
