package auth

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Everything that holds a password, an HA1 or the nonce key prints without
// it, whatever the verb: one careless log line should not leak a credential.

// Format prints the user's name and realm only.
func (u User) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("auth.User{Name:" + strconv.Quote(u.Name) + " Realm:" + strconv.Quote(u.Realm) + " secrets redacted}"))
}

// LogValue logs the user's name and realm only.
func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", u.Name), slog.String("realm", u.Realm))
}

// Format prints the realm only; the key stays out of logs.
func (c Config) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("auth.Config{Realm:" + strconv.Quote(c.Realm) + " NonceTTL:" + c.NonceTTL.String() + " key redacted}"))
}

// Format prints the realm only.
func (v *Verifier) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("auth.Verifier{Realm:" + strconv.Quote(v.realm) + "}"))
}

// Format prints the user name only.
func (c *Client) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte("auth.Client{User:" + strconv.Quote(c.user) + "}"))
}
