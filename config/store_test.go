package config

import (
	"strings"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	for in, kind := range map[string]string{
		"":                                  StoreFile,
		"store: file\n":                     StoreFile,
		"store: redis://127.0.0.1:6379/0\n": StoreRedis,
		"store: rediss://u:p@redis.example:6380/1\n":                               StoreRedis,
		"store: postgres://parley:secret@db.example:5432/parley?sslmode=require\n": StorePostgres,
		"store: postgresql://parley@127.0.0.1/parley\n":                            StorePostgres,
	} {
		c, err := Decode(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := c.Store.Kind(); got != kind {
			t.Errorf("%q: kind %q, want %q", in, got, kind)
		}
	}
	c, err := Decode(strings.NewReader("store: redis://127.0.0.1:6379/0\nstore_pool_size: 32\nstore_timeout: 250ms\nstore_dial_timeout: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.StorePoolSize != 32 || c.StoreTimeout.D() != 250*time.Millisecond || c.StoreDialTimeout.D() != 2*time.Second {
		t.Fatalf("%+v", c)
	}
}

func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"log: warn\nstore: mysql://db.example/parley\n", "line 2"},
		{"store: files\n", "line 1"},
		{"store: \"redis://\"\n", "line 1"},
		{"store_pool_size: -1\n", "store_pool_size"},
		{"store_timeout: soon\n", "line 1"},
		{"store_dial_timeout: -1s\n", "store_dial_timeout"},
	} {
		_, err := Decode(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Decode(%q) error %v, want mention of %q", tc.in, err, tc.want)
		}
	}
	// A bad store URL in an error never shows its password.
	_, err := Decode(strings.NewReader("store: mysql://parley:hunter2@db.example/parley\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v shows the password", err)
	}
	if s := StoreURL("postgres://parley:hunter2@db.example/parley").String(); strings.Contains(s, "hunter2") {
		t.Fatalf("String shows the password: %s", s)
	}
}
