package server

import (
	"strings"

	"github.com/parley-sip/parley/sip"
)

// knownMethods are the methods of RFC 3261 and its extensions that Parley
// recognises. A known method the server does not serve gets 405 with Allow;
// anything else gets 501 (§8.2.1).
var knownMethods = map[string]bool{
	sip.INVITE: true, sip.ACK: true, sip.BYE: true, sip.CANCEL: true, sip.OPTIONS: true,
	sip.REGISTER: true, sip.PRACK: true, sip.SUBSCRIBE: true, sip.NOTIFY: true,
	sip.PUBLISH: true, sip.INFO: true, sip.REFER: true, sip.MESSAGE: true, sip.UPDATE: true,
}

// Capabilities describe what the server answers in OPTIONS, Allow and
// Supported, and which extensions a Require may name (§8.2.2.3, §11.2).
type Capabilities struct {
	Allow     []string // methods served
	Accept    []string // body types accepted
	Supported []string // option tags supported

	// The header values, joined once (see prepare): every OPTIONS and 405
	// carries them.
	allow, accept, supported string
}

// prepare joins the header values; call it after filling the lists.
func (c *Capabilities) prepare() {
	c.allow = strings.Join(c.Allow, ", ")
	c.accept = strings.Join(c.Accept, ", ")
	c.supported = strings.Join(c.Supported, ", ")
}

func (c *Capabilities) allows(method string) bool {
	for _, m := range c.Allow {
		if m == method {
			return true
		}
	}
	return false
}

func (c *Capabilities) supports(tag string) bool {
	for _, s := range c.Supported {
		if strings.EqualFold(s, tag) {
			return true
		}
	}
	return false
}

// check applies the UAS request checks of §8.2 and §16.3 that come before
// any method is served, in the order the RFC gives, and returns the
// response to send, or nil when the request may go on. ACK is never
// answered.
func (c *Capabilities) check(req *sip.Request) *sip.Response {
	if req.Method == sip.ACK {
		return nil
	}
	// §8.2.2.1 / §19.1: a URI scheme we do not route.
	if !req.URI.IsSIP() && !req.URI.IsTel() {
		return sip.NewResponse(req, sip.StatusUnsupportedURIScheme, "")
	}
	// §16.3 step 3 and §8.2: Max-Forwards exhausted.
	if mf, ok := req.MaxForwards(); ok && mf == 0 {
		return sip.NewResponse(req, sip.StatusTooManyHops, "")
	}
	// §8.2.1: methods.
	if !knownMethods[req.Method] {
		resp := sip.NewResponse(req, sip.StatusNotImplemented, "")
		resp.Add("Allow", c.allow)
		return resp
	}
	if !c.allows(req.Method) && req.Method != sip.CANCEL {
		resp := sip.NewResponse(req, sip.StatusMethodNotAllowed, "")
		resp.Add("Allow", c.allow)
		return resp
	}
	return nil
}

// checkRequire answers a request the server serves itself (REGISTER,
// OPTIONS to us) whose Require names extensions it does not support with
// 420 and Unsupported (§8.2.2.3). Requests for the proxy are not checked:
// a proxy must not refuse them for Require (§16.3).
func (c *Capabilities) checkRequire(req *sip.Request) *sip.Response {
	var unsupported []string
	for tag := range req.Values("Require") {
		if !c.supports(tag) {
			unsupported = append(unsupported, tag)
		}
	}
	if len(unsupported) == 0 {
		return nil
	}
	resp := sip.NewResponse(req, sip.StatusBadExtension, "")
	resp.Add("Unsupported", strings.Join(unsupported, ", "))
	return resp
}

// options answers an OPTIONS addressed to the server (§11.2).
func (c *Capabilities) options(req *sip.Request) *sip.Response {
	resp := sip.NewResponse(req, sip.StatusOK, "")
	resp.Add("Allow", c.allow)
	resp.Add("Accept", c.accept)
	if c.supported != "" {
		resp.Add("Supported", c.supported)
	}
	resp.Add("Accept-Encoding", "identity")
	resp.Add("Accept-Language", "en")
	return resp
}
