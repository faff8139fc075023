package config

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// StarterName is the config file written into the data directory on the
// first start without a config.
const StarterName = "parley.yaml"

// LoadOrCreateStarter loads dir/parley.yaml, writing it first when it does
// not exist: the embedded defaults with two demo users, alice and bob, with
// random passwords. created says whether it was written now.
func LoadOrCreateStarter(dir string) (cfg *Config, path string, created bool, err error) {
	path = filepath.Join(dir, StarterName)
	if _, err := os.Stat(path); err == nil {
		cfg, err := Load(path)
		return cfg, path, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, path, false, err
	}
	text := starterText(dir, randomPassword(), randomPassword())
	// O_EXCL: two servers starting at once must not overwrite each
	// other's passwords.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, path, false, err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return nil, path, false, err
	}
	if err := f.Close(); err != nil {
		return nil, path, false, err
	}
	cfg, err = Load(path)
	return cfg, path, true, err
}

func randomPassword() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func starterText(dir, alicePW, bobPW string) string {
	d := Default()
	return fmt.Sprintf(`# Parley starter configuration, written on the first start.
# Edit it and restart; every key is documented in the README.

# Where SIP is served: udp:, tcp:, tls:, ws:, wss: host:port.
listen: [%q, %q]

# The SIP domain: phones register as sip:USER@%s (also the digest realm).
domain: %s

# digest: REGISTER, INVITE and MESSAGE from our users must authenticate.
# none: anyone may register and call (a lab mode).
auth: digest
# The digest challenges offered, preferred first: MD5 is what every phone
# answers (baresip 1.0 in Debian 12, SIPp and SIPVicious give up on SHA-256).
# [SHA-256] alone, when all your phones answer it, is the setting that
# protects more; offering both lets an attacker on the path pick MD5.
digest_algorithms: %s

# The accounts. Instead of password you may give ha1 and ha1_sha256, the MD5
# and SHA-256 digests of "name:domain:password", so no plain password is kept.
users:
  - name: alice
    password: %s
  - name: bob
    password: %s

# The embedded store: registrations survive restarts here.
data: %s

# Log level: debug, info, warn, error. trace: true logs every SIP message.
log: warn
`, d.Listen[0], d.Listen[1], d.Domain, d.Domain, "["+strings.Join(d.DigestAlgorithms, ", ")+"]", alicePW, bobPW, dir)
}
