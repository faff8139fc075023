package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestStaticStore(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	if sec, err := s.Lookup(ctx, "bob", "any.realm"); err != nil || sec.Password != "zanzibar" {
		t.Errorf("bob in any realm: %v", err)
	}
	if _, err := s.Lookup(ctx, "carol", "other"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("carol in other realm: %v", err)
	}
	if _, err := s.Lookup(ctx, "Bob", testRealm); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("usernames are case-sensitive: %v", err)
	}
	if sec, _ := s.Lookup(ctx, "dave", testRealm); sec.HA1 != strings.ToLower(sec.HA1) {
		t.Error("HA1 not lower-cased")
	}
	if s.Len() != 3 {
		t.Errorf("Len = %d", s.Len())
	}
	var zero StaticStore
	if _, err := zero.Lookup(ctx, "bob", ""); !errors.Is(err, ErrUnknownUser) || zero.Len() != 0 {
		t.Error("zero store")
	}
}

func TestStaticStoreReplaceChecks(t *testing.T) {
	const pw, ha1 = "hunter2", "0123456789abcdef0123456789ABCDEZ"
	s := testStore(t)
	for _, users := range [][]User{
		{{Password: pw}},
		{{Name: "x"}},
		{{Name: "x", HA1: ha1}},
		{{Name: "x", HA1: "abc"}},
		{{Name: "x", HA1SHA256: ha1}},
		{{Name: "x", Password: pw}, {Name: "x", Password: pw}},
	} {
		err := s.Replace(users)
		if err == nil {
			t.Errorf("Replace(%v) accepted", users)
			continue
		}
		if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), ha1) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
	// Nothing changed.
	if _, err := s.Lookup(context.Background(), "bob", ""); err != nil {
		t.Error("failed Replace changed the store")
	}
	if err := s.Replace(nil); err != nil || s.Len() != 0 {
		t.Error("Replace(nil)")
	}
}

func TestSecretRedacted(t *testing.T) {
	sec := Secret{Password: "hunter2", HA1: "deadbeef", HA1SHA256: "cafef00d"}
	var b strings.Builder
	u := User{Name: "bob", Password: "hunter2", HA1: "deadbeefdeadbeefdeadbeefdeadbeef"}
	key := []byte("0123456789key")
	cfg := Config{Realm: "r", Key: key, Store: mustStore(t, u)}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient("bob", "hunter2")
	for _, x := range []any{sec, &sec, []Secret{sec}, map[string]Secret{"a": sec}, u, &u, []User{u}, cfg, &cfg, v, c} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			fmt.Fprintf(&b, verb+"\n", x)
		}
	}
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "secret", sec, "user", u)
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "secret", sec, "user", u)
	if !strings.Contains(b.String(), "bob") {
		t.Error("user name missing from output")
	}
	for _, s := range []string{"hunter2", "deadbeef", "cafef00d", string(key), fmt.Sprintf("%x", key), fmt.Sprint(key)} {
		if strings.Contains(b.String(), s) {
			t.Fatalf("secret printed: %s", b.String())
		}
	}
}
