package admin

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PasswordIterations is the PBKDF2-HMAC-SHA256 iteration count HashPassword
// uses (OWASP's 2023 recommendation is 600,000).
const PasswordIterations = 600000

// maxIterations bounds what a configured hash may ask for, so that a
// corrupt config cannot make each login cost minutes.
const maxIterations = 10000000

var b64 = base64.RawURLEncoding

// HashPassword returns "pbkdf2-sha256$ITERATIONS$SALT$KEY" (salt 16 random
// bytes, key 32 bytes, both unpadded base64url), the format of
// admin.users[].password_hash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, PasswordIterations, 32)
	if err != nil {
		return "", err
	}
	return "pbkdf2-sha256$" + strconv.Itoa(PasswordIterations) + "$" + b64.EncodeToString(salt) + "$" + b64.EncodeToString(key), nil
}

// passwordHash is a parsed password_hash.
type passwordHash struct {
	iter      int
	salt, key []byte
}

func parsePasswordHash(s string) (passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return passwordHash{}, errors.New("want pbkdf2-sha256$ITERATIONS$SALT$KEY")
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1000 || iter > maxIterations {
		return passwordHash{}, fmt.Errorf("iterations %q: want 1000..%d", parts[1], maxIterations)
	}
	salt, err := b64.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return passwordHash{}, errors.New("salt: want at least 8 bytes of unpadded base64url")
	}
	key, err := b64.DecodeString(parts[3])
	if err != nil || len(key) < 16 {
		return passwordHash{}, errors.New("key: want at least 16 bytes of unpadded base64url")
	}
	return passwordHash{iter: iter, salt: salt, key: key}, nil
}

// verify reports whether password matches, in time independent of where
// the keys differ.
func (h passwordHash) verify(password string) bool {
	k, err := pbkdf2.Key(sha256.New, password, h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(k, h.key) == 1
}
