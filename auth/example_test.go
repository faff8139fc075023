package auth_test

import (
	"fmt"
	"log"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sip"
)

func register(uri string) *sip.Request {
	m, err := sip.Parse([]byte("REGISTER " + uri + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n" +
		"Max-Forwards: 70\r\n" +
		"To: <sip:bob@example.com>\r\n" +
		"From: <sip:bob@example.com>;tag=456248\r\n" +
		"Call-ID: 843817637684230@998sdasdh09\r\n" +
		"CSeq: 1826 REGISTER\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		log.Fatal(err)
	}
	return m.(*sip.Request)
}

// A registrar challenges a REGISTER, the phone answers, the registrar
// verifies.
func Example() {
	store, err := auth.NewStaticStore([]auth.User{
		{Name: "bob", Password: "zanzibar"},
		// A user configured by HA1 only: no plain password on disk.
		{Name: "carol", Realm: "example.com",
			HA1:       auth.HA1MD5("carol", "example.com", "s3cret"),
			HA1SHA256: auth.HA1SHA256("carol", "example.com", "s3cret")},
	})
	if err != nil {
		log.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Realm: "example.com", Store: store})
	if err != nil {
		log.Fatal(err)
	}
	phone := auth.NewClient("bob", "zanzibar")

	// Registrar: no credentials yet.
	req := register("sip:example.com")
	_, res := v.Verify(req, false)
	resp := v.Reject(req, false, res)
	fmt.Println(res, resp.StatusCode)

	// Phone: answer the 401 (and re-send with a new CSeq).
	if err := phone.Authorize(req, resp); err != nil {
		log.Fatal(err)
	}

	// Registrar: verify.
	user, res := v.Verify(req, false)
	fmt.Println(user, res)
	// Output:
	// Missing 401
	// bob OK
}

// What the registrar does with each Result.
func ExampleVerifier_Verify() {
	store, _ := auth.NewStaticStore([]auth.User{{Name: "bob", Password: "zanzibar"}})
	v, _ := auth.NewVerifier(auth.Config{Realm: "example.com", Store: store})
	req := register("sip:example.com")

	user, res := v.Verify(req, false)
	if res != auth.OK {
		resp := v.Reject(req, false, res) // 401, 401 stale=true, 400 or 500
		fmt.Println("send", resp.StatusCode, resp.Reason)
		return
	}
	fmt.Println("register", user)
	// Output: send 401 Unauthorized
}

// A proxy offering SHA-256 first and MD5 second (the default is MD5 alone).
func ExampleVerifier_Challenge() {
	store, _ := auth.NewStaticStore(nil)
	v, _ := auth.NewVerifier(auth.Config{Realm: "example.com", Store: store, Algorithms: []string{auth.SHA256, auth.MD5}})
	resp := v.Challenge(register("sip:example.com"), true, false)
	fmt.Println(resp.StatusCode)
	for ch := range resp.Values("Proxy-Authenticate") {
		c, _ := sip.ParseCredentials(ch)
		alg, _ := c.Param("algorithm")
		qop, _ := c.Param("qop")
		fmt.Println(c.Scheme, alg, qop)
	}
	// Output:
	// 407
	// Digest SHA-256 auth
	// Digest MD5 auth
}

// Answer is the stateless building block under Client.
func ExampleAnswer() {
	ch, _ := sip.ParseCredentials(`Digest realm="example.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", algorithm=MD5`)
	val, err := auth.Answer(ch, "REGISTER", "sip:example.com", "bob", "zanzibar", 1)
	if err != nil {
		log.Fatal(err)
	}
	cred, _ := sip.ParseCredentials(val)
	nc, _ := cred.Param("nc")
	qop, _ := cred.Param("qop")
	fmt.Println(cred.Scheme, nc, qop)
	// Output: Digest 00000001 auth
}

// Config tooling: store HA1 values instead of passwords.
func ExampleHA1MD5() {
	fmt.Println(auth.HA1MD5("Mufasa", "testrealm@host.com", "Circle Of Life"))
	// Output: 939e7578ed9e3c518a452acee763bce9
}

// A phone re-registers with the remembered challenge: no 401 round trip.
func ExampleClient_Apply() {
	store, _ := auth.NewStaticStore([]auth.User{{Name: "bob", Password: "zanzibar"}})
	v, _ := auth.NewVerifier(auth.Config{Realm: "example.com", Store: store})
	phone := auth.NewClient("bob", "zanzibar")

	first := register("sip:example.com")
	_ = phone.Authorize(first, v.Challenge(first, false, false))
	_, res := v.Verify(first, false)
	fmt.Println("first:", res)

	again := register("sip:example.com")
	phone.Apply(again) // nc=00000002 on the same nonce
	_, res = v.Verify(again, false)
	fmt.Println("re-register:", res)
	// Output:
	// first: OK
	// re-register: OK
}
