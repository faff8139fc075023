package ua

import (
	"context"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
)

// SendMessage sends a MESSAGE (RFC 3428) to target with the given content
// type ("text/plain" when empty) and returns the final response. A non-2xx
// answer is returned together with a *StatusError.
func (u *UA) SendMessage(ctx context.Context, target, contentType string, body []byte) (*sip.Response, error) {
	to, err := u.parseTarget(target)
	if err != nil {
		return nil, err
	}
	if contentType == "" {
		contentType = "text/plain;charset=UTF-8"
	}
	req := u.newRequest(sip.MESSAGE, to.URI, to)
	req.Add("Content-Type", contentType)
	req.Body = body
	return u.do(ctx, req, nil)
}

// Options sends an OPTIONS request (§11) to target — a keep-alive or
// capability ping — and returns the final response.
func (u *UA) Options(ctx context.Context, target string) (*sip.Response, error) {
	to, err := u.parseTarget(target)
	if err != nil {
		return nil, err
	}
	req := u.newRequest(sip.OPTIONS, to.URI, to)
	req.Add("Accept", "application/sdp")
	return u.do(ctx, req, nil)
}

// incomingMessage answers a MESSAGE with 200 and hands it to OnMessage
// (RFC 3428 §7: the UAS answers 200 once it has accepted the message).
func (u *UA) incomingMessage(tx *transaction.ServerTx) {
	req := tx.Request()
	from, _ := req.From()
	to, _ := req.To()
	resp := sip.NewResponse(req, sip.StatusOK, "")
	if req.ToTag() == "" {
		resp.SetToTag(transaction.NewTag())
	}
	_ = tx.Respond(resp)
	if u.cfg.OnMessage != nil {
		u.cfg.OnMessage(Message{From: from, To: to, ContentType: req.ContentType(), Body: req.Body, Request: req})
	}
}
