package proxy

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

func locatorFor(t testing.TB, m map[string][]Target, known ...string) *staticLocator {
	l := &staticLocator{targets: m, known: map[string]bool{}}
	for _, k := range known {
		l.known[k] = true
	}
	return l
}

// TestCallThroughProxy runs a whole call: INVITE forwarded with our Via,
// Record-Route, decremented Max-Forwards and the contact as Request-URI;
// responses relayed without our Via; the ACK for the 2xx forwarded
// statelessly along the route set; the BYE loose-routed via Route.
func TestCallThroughProxy(t *testing.T) {
	callee := newUAS(t, []int{180}, 200, 20*time.Millisecond)
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, callee.uri("bob"), 1000)}}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	inv := c.req(sip.INVITE, "sip:bob@example.test", 1)
	caller.send(s.addr, inv)

	got := callee.waitFor(t, sip.INVITE, 1)[0]
	if got.URI.String() != callee.uri("bob") {
		t.Errorf("Request-URI %s, want the contact %s", got.URI.String(), callee.uri("bob"))
	}
	if mf, _ := got.MaxForwards(); mf != 69 {
		t.Errorf("Max-Forwards %d, want 69", mf)
	}
	if n := got.ViaCount(); n != 2 {
		t.Errorf("%d Vias, want 2", n)
	}
	top, _ := got.TopVia()
	if top.SentBy() != s.addr.String() || !strings.HasPrefix(top.Branch(), branchPrefix) {
		t.Errorf("top Via %s: want ours with a proxy branch", top.String())
	}
	if rr, _ := got.Get("Record-Route"); rr != s.rrURI() {
		t.Errorf("Record-Route %q, want %q", rr, s.rrURI())
	}

	ring := caller.response(sip.INVITE, 180)
	if ring.ViaCount() != 1 {
		t.Errorf("180 carries %d Vias, want only the caller's", ring.ViaCount())
	}
	ok := caller.response(sip.INVITE, 200)
	if ok.ViaCount() != 1 || ok.ToTag() != callee.tag {
		t.Fatalf("200: %d Vias, To tag %q; want 1 and %q", ok.ViaCount(), ok.ToTag(), callee.tag)
	}
	// The caller's route set is the Record-Route, reversed (§12.1.2).
	var routes []string
	for v := range ok.Values("Record-Route") {
		routes = append([]string{v}, routes...)
	}
	if len(routes) != 1 || routes[0] != s.rrURI() {
		t.Fatalf("Record-Route in 200: %v", routes)
	}
	contact := ""
	for a := range ok.Contacts() {
		contact = a.URI.String()
	}
	c.toTag = ok.ToTag()

	caller.send(s.addr, c.req(sip.ACK, contact, 1, routes...))
	ack := callee.waitFor(t, sip.ACK, 1)[0]
	if ack.Has("Route") || ack.URI.String() != contact {
		t.Errorf("ACK at callee: R-URI %s, Route %v", ack.URI.String(), ack.Has("Route"))
	}
	if v, _ := ack.TopVia(); v.SentBy() != s.addr.String() {
		t.Errorf("ACK top Via %s, want the proxy's", v.String())
	}

	caller.send(s.addr, c.req(sip.BYE, contact, 2, routes...))
	bye := callee.waitFor(t, sip.BYE, 1)[0]
	if bye.Has("Route") || bye.URI.String() != contact {
		t.Errorf("BYE at callee: R-URI %s, Route present %v", bye.URI.String(), bye.Has("Route"))
	}
	if bye.Has("Record-Route") {
		t.Error("mid-dialog BYE was record-routed")
	}
	caller.response(sip.BYE, 200)
	s.settle(t)
}

func TestMaxForwardsExhausted(t *testing.T) {
	s := newStack(t, locatorFor(t, nil))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	req := c.req(sip.MESSAGE, "sip:bob@example.test", 1)
	req.Set("Max-Forwards", "0")
	caller.send(s.addr, req)
	caller.response(sip.MESSAGE, 483)
}

func TestMaxForwardsAdded(t *testing.T) {
	callee := newUAS(t, nil, 200, 0)
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, callee.uri("bob"), 1000)}}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	req := c.req(sip.MESSAGE, "sip:bob@example.test", 1)
	req.Del("Max-Forwards")
	caller.send(s.addr, req)
	caller.response(sip.MESSAGE, 200)
	if mf, ok := callee.waitFor(t, sip.MESSAGE, 1)[0].MaxForwards(); !ok || mf != 70 {
		t.Errorf("Max-Forwards %d (present %v), want 70", mf, ok)
	}
}

func TestProxyRequire(t *testing.T) {
	s := newStack(t, locatorFor(t, nil))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	req := c.req(sip.INVITE, "sip:bob@example.test", 1)
	req.Add("Proxy-Require", "foo, bar")
	caller.send(s.addr, req)
	resp := caller.response(sip.INVITE, 420)
	if u, _ := resp.Get("Unsupported"); u != "foo, bar" {
		t.Errorf("Unsupported %q", u)
	}
}

// TestLoopDetected sends bob's request back to the proxy itself unchanged:
// the second pass carries our Via with the same loop hash and is refused
// 482, which then is the best (only) answer the caller gets.
func TestLoopDetected(t *testing.T) {
	loc := locatorFor(t, nil)
	s := newStack(t, loc)
	self := target(t, "sip:bob@example.test", 1000)
	self.Flow.AddrPort, self.Flow.Transport = s.addr, "UDP"
	loc.set("bob@example.test", self)
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	caller.response(sip.INVITE, 482)
	s.settle(t)
}

// TestSpiral retargets alice to bob and sends the request back through the
// proxy: the Request-URI differs, so it is a spiral, not a loop, and bob's
// device gets it.
func TestSpiral(t *testing.T) {
	callee := newUAS(t, nil, 200, 0)
	loc := locatorFor(t, nil)
	s := newStack(t, loc)
	back := target(t, "sip:bob@example.test", 1000)
	back.Flow.AddrPort, back.Flow.Transport = s.addr, "UDP"
	loc.set("alice@example.test", back)
	loc.set("bob@example.test", target(t, callee.uri("bob"), 1000))
	caller := newUA(t)
	c := caller.newCall("sip:alice@example.test")
	caller.send(s.addr, c.req(sip.MESSAGE, "sip:alice@example.test", 1))
	caller.response(sip.MESSAGE, 200)
	if n := callee.waitFor(t, sip.MESSAGE, 1)[0].ViaCount(); n != 3 {
		t.Errorf("%d Vias at bob, want 3 (caller, proxy twice)", n)
	}
}

// TestStrictRouteCompat: a strict router upstream puts our Record-Route URI
// into the Request-URI and the remote target at the end of Route; the
// proxy restores it (§16.4).
func TestStrictRouteCompat(t *testing.T) {
	callee := newUAS(t, nil, 200, 0)
	s := newStack(t, locatorFor(t, nil))
	caller := newUA(t)
	c := caller.newCall(callee.uri("bob"))
	c.toTag = "totag"
	rr := strings.Trim(s.rrURI(), "<>")
	caller.send(s.addr, c.req(sip.BYE, rr, 2, "<"+callee.uri("bob")+">"))
	caller.response(sip.BYE, 200)
	bye := callee.waitFor(t, sip.BYE, 1)[0]
	if bye.URI.String() != callee.uri("bob") || bye.Has("Route") {
		t.Errorf("BYE at callee: R-URI %s, Route present %v", bye.URI.String(), bye.Has("Route"))
	}
}

// TestStrictRouterNextHop: a Route without lr names a strict router, which
// gets its own URI as Request-URI, the real one appended to Route (§16.6
// step 6).
func TestStrictRouterNextHop(t *testing.T) {
	next := newUAS(t, nil, 200, 0)
	s := newStack(t, locatorFor(t, nil))
	caller := newUA(t)
	c := caller.newCall("sip:carol@elsewhere.test")
	caller.send(s.addr, c.req(sip.MESSAGE, "sip:carol@elsewhere.test", 1, "<"+next.uri("router")+">"))
	caller.response(sip.MESSAGE, 200)
	got := next.waitFor(t, sip.MESSAGE, 1)[0]
	route, _ := got.Get("Route")
	if got.URI.String() != next.uri("router") || route != "<sip:carol@elsewhere.test>" {
		t.Errorf("at strict router: R-URI %s, Route %q", got.URI.String(), route)
	}
}

func TestNotFoundAndNotRegistered(t *testing.T) {
	s := newStack(t, locatorFor(t, nil, "carol@example.test"))
	caller := newUA(t)
	c := caller.newCall("sip:nobody@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:nobody@example.test", 1))
	r := caller.response(sip.INVITE, 404)
	if !strings.Contains(r.Reason, "no such user") {
		t.Errorf("404 reason %q", r.Reason)
	}
	c = caller.newCall("sip:carol@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:carol@example.test", 1))
	r = caller.response(sip.INVITE, 480)
	if !strings.Contains(r.Reason, "not registered") {
		t.Errorf("480 reason %q", r.Reason)
	}
}

// forkTo maps bob to the UASes, all at q 1.0 unless qs says otherwise.
func forkTo(t testing.TB, uases []*uas, qs ...int) *staticLocator {
	var ts []Target
	for i, u := range uases {
		q := 1000
		if i < len(qs) {
			q = qs[i]
		}
		ts = append(ts, target(t, u.uri("bob"), q))
	}
	return locatorFor(t, map[string][]Target{"bob@example.test": ts})
}

func TestBestResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		finals []int
		want   int
	}{
		{"busy beats not-found", []int{404, 486}, 486},
		{"busy beats not-found, other order", []int{486, 404}, 486},
		{"6xx wins", []int{486, 603}, 603},
		{"lowest class", []int{503, 302, 404}, 302},
		{"503 becomes 500", []int{503}, 500},
		{"auth preferred in 4xx", []int{486, 407}, 407},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var us []*uas
			for i, code := range tc.finals {
				us = append(us, newUAS(t, []int{180}, code, time.Duration(i)*30*time.Millisecond))
			}
			s := newStack(t, forkTo(t, us))
			caller := newUA(t)
			c := caller.newCall("sip:bob@example.test")
			inv := c.req(sip.INVITE, "sip:bob@example.test", 1)
			caller.send(s.addr, inv)
			c.ackFinal(s.addr, inv, caller.response(sip.INVITE, tc.want))
			caller.none(200*time.Millisecond, "second final", func(m sip.Message) bool {
				r, ok := m.(*sip.Response)
				return ok && r.StatusCode >= 200
			})
			s.settle(t)
		})
	}
}

// TestSixxCancelsOthers: a 6xx ends the search at once: the ringing branch
// is cancelled and the caller gets the 6xx.
func TestSixxCancelsOthers(t *testing.T) {
	ringing := newUAS(t, []int{180}, 0, 0)
	decline := newUAS(t, []int{180}, 603, 50*time.Millisecond)
	s := newStack(t, forkTo(t, []*uas{ringing, decline}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	caller.response(sip.INVITE, 603)
	ringing.waitFor(t, sip.CANCEL, 1)
	s.settle(t)
}

// TestSequentialQ: the q 1.0 device is tried first; the q 0.5 one only
// when it has failed.
func TestSequentialQ(t *testing.T) {
	high := newUAS(t, []int{180}, 486, 50*time.Millisecond)
	low := newUAS(t, []int{180}, 200, 0)
	s := newStack(t, forkTo(t, []*uas{high, low}, 1000, 500))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	high.waitFor(t, sip.INVITE, 1)
	if n := len(low.received(sip.INVITE)); n != 0 {
		t.Fatal("lower q contacted while the higher one was still trying")
	}
	ok := caller.response(sip.INVITE, 200)
	if ok.ToTag() != low.tag {
		t.Errorf("200 from %q, want the q 0.5 device", ok.ToTag())
	}
	low.waitFor(t, sip.INVITE, 1)
	s.settle(t)

	// And when the first group answers, the next is never tried.
	first := newUAS(t, nil, 200, 0)
	never := newUAS(t, nil, 200, 0)
	s = newStack(t, forkTo(t, []*uas{first, never}, 900, 100))
	c = caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	caller.response(sip.INVITE, 200)
	time.Sleep(100 * time.Millisecond)
	if n := len(never.received(sip.INVITE)); n != 0 {
		t.Error("lower q contacted after the call was answered")
	}
	s.settle(t)
}

// TestCancelFromCaller: the caller's CANCEL cancels every ringing branch;
// the caller gets 200 for the CANCEL and 487 for the INVITE. A branch that
// never sent a provisional is not waited for.
func TestCancelFromCaller(t *testing.T) {
	a := newUAS(t, []int{180}, 0, 0)
	b := newUAS(t, []int{183}, 0, 0)
	silent := newUAS(t, nil, 0, 0)
	s := newStack(t, forkTo(t, []*uas{a, b}))
	s2 := newStack(t, forkTo(t, []*uas{a, b, silent}))
	for _, st := range []*stack{s, s2} {
		caller := newUA(t)
		c := caller.newCall("sip:bob@example.test")
		inv := c.req(sip.INVITE, "sip:bob@example.test", 1)
		caller.send(st.addr, inv)
		caller.response(sip.INVITE, 0) // a 180 or 183
		cancel := sip.NewRequest(sip.CANCEL, inv.URI)
		for _, h := range []string{"Via", "Max-Forwards", "To", "From", "Call-ID"} {
			v, _ := inv.Get(h)
			cancel.Add(h, v)
		}
		cancel.Add("CSeq", "1 CANCEL")
		caller.send(st.addr, cancel)
		caller.response(sip.CANCEL, 200)
		start := time.Now()
		caller.response(sip.INVITE, 487)
		if d := time.Since(start); d > time.Second {
			t.Errorf("487 took %v", d)
		}
		a.waitFor(t, sip.CANCEL, 1)
		b.waitFor(t, sip.CANCEL, 1)
	}
	if n := len(silent.received(sip.CANCEL)); n != 0 {
		t.Errorf("silent branch got %d CANCELs before any provisional", n)
	}
	s.settle(t)
	s2.settle(t)
}

// TestTwo2xx: both devices answer; both 200s reach the caller, who ACKs
// each (§16.7 step 5, §13.2.2.4).
func TestTwo2xx(t *testing.T) {
	a := newUAS(t, nil, 200, 0)
	b := newUAS(t, nil, 200, 0)
	s := newStack(t, forkTo(t, []*uas{a, b}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	tags := map[string]bool{}
	for range 2 {
		r := caller.response(sip.INVITE, 200)
		tags[r.ToTag()] = true
	}
	if !tags[a.tag] || !tags[b.tag] {
		t.Errorf("200s from %v, want both %s and %s", tags, a.tag, b.tag)
	}
	s.settle(t)
}

// TestAuthAggregation: the challenges of a 401 and a 407 from two branches
// reach the caller in one response (§16.7 step 7).
func TestAuthAggregation(t *testing.T) {
	a := newUAS(t, nil, 401, 0, func(u *uas) {
		u.headers = []string{"WWW-Authenticate", `Digest realm="a.test", nonce="1"`}
	})
	b := newUAS(t, nil, 407, 20*time.Millisecond, func(u *uas) {
		u.headers = []string{"Proxy-Authenticate", `Digest realm="b.test", nonce="2"`}
	})
	s := newStack(t, forkTo(t, []*uas{a, b}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	r := caller.response(sip.INVITE, 0)
	if r.StatusCode != 401 && r.StatusCode != 407 {
		t.Fatalf("got %d, want 401 or 407", r.StatusCode)
	}
	w, _ := r.Get("WWW-Authenticate")
	p, _ := r.Get("Proxy-Authenticate")
	if !strings.Contains(w, "a.test") || !strings.Contains(p, "b.test") {
		t.Errorf("challenges not merged: WWW-Authenticate %q, Proxy-Authenticate %q", w, p)
	}
	s.settle(t)
}

// TestMessageFork: a MESSAGE goes to every contact (non-INVITE forking);
// the first 2xx answers it.
func TestMessageFork(t *testing.T) {
	a := newUAS(t, nil, 0, 0, func(u *uas) { u.other = 480 })
	b := newUAS(t, nil, 0, 0)
	s := newStack(t, forkTo(t, []*uas{a, b}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	msg := c.req(sip.MESSAGE, "sip:bob@example.test", 1)
	msg.Add("Content-Type", "text/plain")
	msg.Body = []byte("hello")
	caller.send(s.addr, msg)
	caller.response(sip.MESSAGE, 200)
	for _, u := range []*uas{a, b} {
		if got := u.waitFor(t, sip.MESSAGE, 1)[0]; string(got.Body) != "hello" {
			t.Errorf("body %q", got.Body)
		}
	}
	s.settle(t)
}

// TestBranchTimeout: a device that never answers counts as 408 (§16.8).
func TestBranchTimeout(t *testing.T) {
	dead := newUA(t) // reads and never answers
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, dead.uri("bob"), 1000)}}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.MESSAGE, "sip:bob@example.test", 1))
	caller.response(sip.MESSAGE, 408)
	s.settle(t)
}

// TestUnreachable: a target that cannot be resolved counts as 503 and the
// caller gets 500 (§16.9, §16.7 step 6).
func TestUnreachable(t *testing.T) {
	s := newStack(t, locatorFor(t, map[string][]Target{"bob@example.test": {target(t, "sip:bob@127.0.0.1:5999;transport=sctp", 1000)}}))
	caller := newUA(t)
	c := caller.newCall("sip:bob@example.test")
	caller.send(s.addr, c.req(sip.INVITE, "sip:bob@example.test", 1))
	caller.response(sip.INVITE, 500)
	s.settle(t)
}
