package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parley-sip/parley/config"
)

// secretFile holds the generated secret in the data directory.
const secretFile = "secret"

// loadSecret returns the server's secret, from which the keys of its
// Record-Route signatures and digest nonces are derived: the config's
// secret, else the one in DATA/secret, made on the first start (random,
// 256 bits, mode 0600). It outlives restarts, so calls set up before a
// restart can still be ended through the restarted server and a challenge
// answered after it is still good; nodes given one `secret` accept each
// other's routes and nonces.
func loadSecret(cfg *config.Config) ([]byte, error) {
	if cfg.Secret != "" {
		return []byte(cfg.Secret), nil
	}
	path := filepath.Join(cfg.Data, secretFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < 32 {
			return nil, fmt.Errorf("%s: the secret must have at least 32 characters; delete the file to make a new one", path)
		}
		return []byte(k), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	k := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, err
	}
	// O_EXCL: a second server starting at the same moment must not
	// overwrite the key the first one already signs with.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(cfg)
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return []byte(k), f.Close()
}

// deriveKey makes the key of one use of the secret (Record-Route
// signatures, digest nonces), so that no two uses share a key.
func deriveKey(secret []byte, use string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("parley " + use))
	return m.Sum(nil)
}
