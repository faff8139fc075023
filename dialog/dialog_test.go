package dialog

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/parley-sip/parley/sip"
)

func parseReq(t *testing.T, text string) *sip.Request {
	t.Helper()
	m, err := sip.Parse([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m.(*sip.Request)
}

func parseResp(t *testing.T, text string) *sip.Response {
	t.Helper()
	m, err := sip.Parse([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return m.(*sip.Response)
}

const invite = `INVITE sip:bob@biloxi.example SIP/2.0
Via: SIP/2.0/UDP client.atlanta.example:5060;branch=z9hG4bK74bf9
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example>
Call-ID: 3848276298220188511@atlanta.example
CSeq: 2 INVITE
Contact: <sip:alice@client.atlanta.example;transport=udp>
Record-Route: <sip:p2.biloxi.example;lr>, <sip:p1.atlanta.example;lr>
Content-Length: 0

`

const ok200 = `SIP/2.0 200 OK
Via: SIP/2.0/UDP client.atlanta.example:5060;branch=z9hG4bK74bf9
From: Alice <sip:alice@atlanta.example>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example>;tag=8321234356
Call-ID: 3848276298220188511@atlanta.example
CSeq: 2 INVITE
Contact: <sip:bob@192.0.2.4>
Record-Route: <sip:p2.biloxi.example;lr>, <sip:p1.atlanta.example;lr>
Content-Length: 0

`

func TestUACRouteSetReversedAndRequest(t *testing.T) {
	req := parseReq(t, invite)
	d, err := NewUAC(req, parseResp(t, ok200))
	if err != nil {
		t.Fatal(err)
	}
	if d.State() != Confirmed {
		t.Fatalf("state %v", d.State())
	}
	want := ID{CallID: "3848276298220188511@atlanta.example", LocalTag: "9fxced76sl", RemoteTag: "8321234356"}
	if d.ID() != want {
		t.Fatalf("id %v, want %v", d.ID(), want)
	}
	rs := d.RouteSet()
	if len(rs) != 2 || rs[0].URI.Host != "p1.atlanta.example" || rs[1].URI.Host != "p2.biloxi.example" {
		t.Fatalf("route set %v: want reversed Record-Route", rs)
	}
	bye, err := d.NewRequest(sip.BYE)
	if err != nil {
		t.Fatal(err)
	}
	if got := bye.URI.String(); got != "sip:bob@192.0.2.4" {
		t.Errorf("R-URI %s, want the remote target", got)
	}
	var routes []string
	for v := range bye.Values("Route") {
		routes = append(routes, v)
	}
	if strings.Join(routes, ",") != "<sip:p1.atlanta.example;lr>,<sip:p2.biloxi.example;lr>" {
		t.Errorf("Route %v", routes)
	}
	cs, _ := bye.CSeq()
	if cs.Seq != 3 || cs.Method != sip.BYE {
		t.Errorf("CSeq %v, want 3 BYE", cs)
	}
	if bye.FromTag() != "9fxced76sl" || bye.ToTag() != "8321234356" {
		t.Errorf("tags From %q To %q", bye.FromTag(), bye.ToTag())
	}
	if bye.Has("Contact") {
		t.Error("BYE carries Contact")
	}
	hop, viaRoute := d.NextHop()
	if !viaRoute || hop.Host != "p1.atlanta.example" {
		t.Errorf("next hop %s %v", hop.String(), viaRoute)
	}
	ack := d.NewACK(2)
	if cs, _ := ack.CSeq(); cs.Seq != 2 || cs.Method != sip.ACK {
		t.Errorf("ACK CSeq %v", cs)
	}
	reinv, _ := d.NewRequest(sip.INVITE)
	if c, _ := reinv.Get("Contact"); c != "<sip:alice@client.atlanta.example;transport=udp>" {
		t.Errorf("re-INVITE Contact %q", c)
	}
}

func TestStrictRouting(t *testing.T) {
	resp := parseResp(t, strings.Replace(ok200,
		"Record-Route: <sip:p2.biloxi.example;lr>, <sip:p1.atlanta.example;lr>",
		"Record-Route: <sip:p2.biloxi.example;lr>, <sip:p1.atlanta.example;maddr=10.0.0.1>", 1))
	d, err := NewUAC(parseReq(t, invite), resp)
	if err != nil {
		t.Fatal(err)
	}
	bye, _ := d.NewRequest(sip.BYE)
	if bye.URI.Host != "p1.atlanta.example" {
		t.Errorf("R-URI %s, want the strict router", bye.URI.String())
	}
	var routes []string
	for v := range bye.Values("Route") {
		routes = append(routes, v)
	}
	if len(routes) != 2 || routes[0] != "<sip:p2.biloxi.example;lr>" || routes[1] != "<sip:bob@192.0.2.4>" {
		t.Errorf("Route %v: want the rest of the route set, then the remote target", routes)
	}
}

func TestEarlyThenConfirmed(t *testing.T) {
	ringing := parseResp(t, strings.NewReplacer("200 OK", "180 Ringing",
		"Contact: <sip:bob@192.0.2.4>", "Contact: <sip:bob@192.0.2.9>",
		"Record-Route: <sip:p2.biloxi.example;lr>, <sip:p1.atlanta.example;lr>\n", "").Replace(ok200))
	d, err := NewUAC(parseReq(t, invite), ringing)
	if err != nil {
		t.Fatal(err)
	}
	if d.State() != Early || len(d.RouteSet()) != 0 {
		t.Fatalf("state %v routes %v", d.State(), d.RouteSet())
	}
	if tg := d.RemoteTarget(); tg.Host != "192.0.2.9" {
		t.Fatalf("early target %s", tg.String())
	}
	if err := d.UpdateFromResponse(parseResp(t, ok200)); err != nil {
		t.Fatal(err)
	}
	if d.State() != Confirmed || len(d.RouteSet()) != 2 || d.RemoteTarget().Host != "192.0.2.4" {
		t.Fatalf("after 2xx: %v", d)
	}
}

func TestUASAndValidation(t *testing.T) {
	req := parseReq(t, invite)
	d, err := NewUAS(req, "uastag", "<sip:bob@192.0.2.4>")
	if err != nil {
		t.Fatal(err)
	}
	rs := d.RouteSet()
	if len(rs) != 2 || rs[0].URI.Host != "p2.biloxi.example" {
		t.Fatalf("UAS route set %v: want Record-Route order", rs)
	}
	loc, rem := d.Local(), d.Remote()
	if rem.Tag() != "9fxced76sl" || loc.Tag() != "uastag" {
		t.Fatalf("tags local %q remote %q", loc.Tag(), rem.Tag())
	}
	var tab Table[string]
	tab.Put(d, "call-1")

	bye := func(seq string) *sip.Request {
		return parseReq(t, `BYE sip:bob@192.0.2.4 SIP/2.0
Via: SIP/2.0/UDP client.atlanta.example:5060;branch=z9hG4bK74bfa
Max-Forwards: 70
From: Alice <sip:alice@atlanta.example>;tag=9fxced76sl
To: Bob <sip:bob@biloxi.example>;tag=uastag
Call-ID: 3848276298220188511@atlanta.example
CSeq: `+seq+` BYE
Content-Length: 0

`)
	}
	// Lower CSeq than the INVITE's: 500 (§12.2.2).
	_, _, err = tab.Match(bye("1"))
	if se, ok := sip.AsStatusError(err); !ok || se.Code != 500 || !errors.Is(err, ErrCSeqOrder) {
		t.Fatalf("lower CSeq: %v", err)
	}
	got, v, err := tab.Match(bye("3"))
	if err != nil || got != d || v != "call-1" {
		t.Fatalf("match: %v %v %v", got, v, err)
	}
	if d.RemoteSeq() != 3 {
		t.Fatalf("remote seq %d", d.RemoteSeq())
	}
	// Unknown dialog: 481.
	other := bye("4")
	other.Set("To", "Bob <sip:bob@biloxi.example>;tag=nope")
	_, _, err = tab.Match(other)
	if se, ok := sip.AsStatusError(err); !ok || se.Code != 481 || !errors.Is(err, ErrNoDialog) {
		t.Fatalf("unknown dialog: %v", err)
	}
	// The UAS side picks its first CSeq.
	r, _ := d.NewRequest(sip.BYE)
	if cs, _ := r.CSeq(); cs.Seq == 0 || cs.Seq >= 1<<31 {
		t.Fatalf("first UAS CSeq %d", cs.Seq)
	}
	if r.URI.String() != "sip:alice@client.atlanta.example;transport=udp" {
		t.Fatalf("UAS R-URI %s", r.URI.String())
	}
	tab.Remove(d)
	if tab.Len() != 0 {
		t.Fatal("remove")
	}
}

func TestTargetRefresh(t *testing.T) {
	d, err := NewUAS(parseReq(t, invite), "uastag", "<sip:bob@192.0.2.4>")
	if err != nil {
		t.Fatal(err)
	}
	reinvite := parseReq(t, strings.NewReplacer("To: Bob <sip:bob@biloxi.example>", "To: Bob <sip:bob@biloxi.example>;tag=uastag",
		"CSeq: 2 INVITE", "CSeq: 3 INVITE",
		"Contact: <sip:alice@client.atlanta.example;transport=udp>", "Contact: <sip:alice@198.51.100.7:5070>").Replace(invite))
	if err := d.ValidateRequest(reinvite); err != nil {
		t.Fatal(err)
	}
	d.TargetRefresh(reinvite)
	if tg := d.RemoteTarget(); tg.Host != "198.51.100.7" || tg.Port != 5070 {
		t.Fatalf("target %s", tg.String())
	}
	r, _ := d.NewRequest(sip.BYE)
	if r.URI.Host != "198.51.100.7" {
		t.Fatalf("BYE after refresh goes to %s", r.URI.String())
	}
	// A request without Contact leaves the target.
	info := parseReq(t, strings.Replace(invite, "Contact: <sip:alice@client.atlanta.example;transport=udp>\n", "", 1))
	d.TargetRefresh(info)
	if d.RemoteTarget().Host != "198.51.100.7" {
		t.Fatal("target lost")
	}
	d.Terminate()
	if _, err := d.NewRequest(sip.BYE); !errors.Is(err, ErrTerminated) {
		t.Fatalf("request on terminated dialog: %v", err)
	}
}

func TestMissingTagsAndContact(t *testing.T) {
	if _, err := NewUAC(parseReq(t, invite), parseResp(t, strings.Replace(ok200, ";tag=8321234356", "", 1))); !errors.Is(err, ErrNoTag) {
		t.Errorf("no To tag: %v", err)
	}
	if _, err := NewUAC(parseReq(t, invite), parseResp(t, strings.Replace(ok200, "Contact: <sip:bob@192.0.2.4>\n", "", 1))); !errors.Is(err, ErrNoContact) {
		t.Errorf("2xx without Contact: %v", err)
	}
	if _, err := NewUAS(parseReq(t, strings.Replace(invite, "Contact: <sip:alice@client.atlanta.example;transport=udp>\n", "", 1)), "x", ""); !errors.Is(err, ErrNoContact) {
		t.Errorf("INVITE without Contact: %v", err)
	}
}

func TestTableConcurrent(t *testing.T) {
	var tab Table[int]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				req := parseReq(t, strings.Replace(invite, "9fxced76sl", "t"+string(rune('a'+i))+strings.Repeat("x", j%5), 1))
				d, err := NewUAS(req, "l", "<sip:x@y>")
				if err != nil {
					t.Error(err)
					return
				}
				tab.Put(d, j)
				if _, _, ok := tab.Get(d.ID()); !ok {
					t.Error("lost")
				}
				d.NewRequest(sip.BYE)
				tab.Remove(d)
			}
		}()
	}
	wg.Wait()
	if tab.Len() != 0 {
		t.Fatalf("len %d", tab.Len())
	}
}
