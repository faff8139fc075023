package proxy

import (
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// HandleAck forwards an ACK that matched no server transaction — the ACK
// for a 2xx, which is end-to-end and a transaction of its own (§13.2.2.4,
// §17.1.1.3) — statelessly along its Route or to its Request-URI (§16.11).
// Wire it to transaction.Config.OnAck. It runs on a transport reader and
// does not block, except that a next hop given by name is resolved on a
// goroutine of its own.
func (p *Proxy) HandleAck(ack *sip.Request) {
	if mf, ok := ack.MaxForwards(); ok && mf == 0 {
		return // an ACK is never answered: drop it (§16.3 step 3)
	}
	top, err := ack.TopVia()
	if err != nil {
		return
	}
	out := ack.Clone()
	flows := p.preprocessRoutes(out)
	var t Target
	t.URI = out.URI
	if !out.Has("Route") {
		t.Flow = flows.other(ack.Origin.Source)
	}
	if !out.Has("Route") && !t.Flow.AddrPort.IsValid() && p.isOurs(&out.URI) {
		// A 2xx's Contact naming us: there is no dialog here to take
		// it further (we are no UA), and looking it up again would
		// pick a device at random. Drop it.
		p.debug("ACK for us dropped", ack)
		return
	}
	if mf, ok := out.MaxForwards(); ok {
		out.Set("Max-Forwards", strconv.Itoa(mf-1))
	} else {
		out.Set("Max-Forwards", "70")
	}
	// §16.11: a stateless branch must be the same for retransmissions of
	// the same request and differ for different requests: derive it from
	// the incoming branch and sent-by.
	branch := statelessPrefix + hex16(fnvHash(fnvOffset).str(top.Branch()).str(top.SentBy()))
	send := func() {
		// The first hop only: an ACK is not answered, so nothing says
		// it failed (RFC 3263 §4.3 has no failover for it).
		hops, err := p.nextHops(out, &t)
		if err != nil {
			p.debug("ACK not forwarded", ack, "err", err)
			return
		}
		dst := hops[0]
		if r, ok := topRoute(out); ok && !r.URI.Params.Has("lr") {
			// Strict router next (§16.6 step 6).
			out.RemoveFirstValue("Route")
			out.Add("Route", "<"+out.URI.String()+">")
			out.URI = r.URI
		}
		host, port, ok := p.tp.ViaHost(dst.Transport)
		if !ok {
			p.debug("ACK not forwarded: no listener", ack, "transport", dst.Transport)
			return
		}
		out.Prepend("Via", "SIP/2.0/"+dst.Transport+" "+host+":"+strconv.Itoa(port)+";branch="+branch)
		if err := p.tp.SendRequest(out, dst); err != nil {
			p.debug("ACK not forwarded", ack, "err", err)
		}
	}
	if !t.Flow.AddrPort.IsValid() && needsLookup(out) {
		go send()
		return
	}
	send()
}

// needsLookup reports whether the next hop of req is a host name, which
// resolving could block on.
func needsLookup(req *sip.Request) bool {
	u := &req.URI
	if r, ok := topRoute(req); ok {
		u = &r.URI
	}
	if m, ok := u.Param("maddr"); ok && m != "" {
		return !isIP(m)
	}
	return !isIP(u.Host)
}

func isIP(host string) bool {
	u := sip.URI{Host: host}
	_, ok := u.Addr()
	return ok
}

// HandleStrayResponse forwards a 2xx to an INVITE that matched no client
// transaction statelessly (§16.7 step 5 and §16.11): a retransmitted 2xx
// after the branch's transaction ended, or a late 2xx from a fork; the
// caller still has to see and ACK it. Our Via comes off and the response
// goes where the next Via says (§18.2.2). Other stray responses are
// dropped (§16.7 step 1 would pass them to the element, and a proxy has no
// use for them). Wire it to transaction.Config.OnStrayResponse.
func (p *Proxy) HandleStrayResponse(resp *sip.Response) {
	if !resp.IsSuccess() {
		return
	}
	cs, err := resp.CSeq()
	if err != nil || cs.Method != sip.INVITE {
		return
	}
	v, err := resp.TopVia()
	if err != nil || !strings.HasPrefix(v.Branch(), branchPrefix) || !p.identity().isListener(v.Host, v.Port, v.Transport) {
		return
	}
	out := resp.Clone()
	out.RemoveFirstValue("Via")
	next, err := out.TopVia()
	if err != nil {
		return
	}
	// Route by Via, not back to where the response came from.
	out.Origin = sip.Origin{}
	send := func() {
		if err := p.tp.SendResponse(out); err != nil {
			p.log.Debug("proxy: stray 2xx not forwarded", "call-id", out.CallID(), "err", err)
		}
	}
	host := next.Host
	if r := next.Received(); r != "" {
		host = r
	}
	if !isIP(host) {
		go send()
		return
	}
	send()
}

func hex16(h fnvHash) string {
	var out [16]byte
	const hexd = "0123456789abcdef"
	for i, v := 15, uint64(h); i >= 0; i-- {
		out[i] = hexd[v&0xf]
		v >>= 4
	}
	return string(out[:])
}
