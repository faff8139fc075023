package admin

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/parley-sip/parley/config"
)

// usersFile is where the users added through the API are kept, in the data
// directory. The config file's users stay the config's: the API lists them
// but changes only its own, so the file an operator edits is never
// rewritten behind their back.
const usersFile = "users.json"

// userStore is the API's users, persisted as JSON (written to a temporary
// file, fsynced and renamed over the old one, so a crash leaves the old or
// the new list, never half of one). Passwords are kept only as the digest
// HA1 values (MD5 and SHA-256 of user:realm:password), which is what the
// digest verifier needs.
type userStore struct {
	path   string
	realm  string
	config []config.User
	apply  func([]config.User) error // the server's SetUsers

	mu    sync.Mutex
	users []storedUser
}

type storedUser struct {
	Name      string `json:"name"`
	HA1       string `json:"ha1"`
	HA1SHA256 string `json:"ha1_sha256"`
}

type usersDoc struct {
	Users []storedUser `json:"users"`
}

func openUserStore(dataDir, realm string, cfgUsers []config.User, apply func([]config.User) error) (*userStore, error) {
	s := &userStore{path: filepath.Join(dataDir, usersFile), realm: realm, config: cfgUsers, apply: apply}
	data, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		var doc usersDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		s.users = doc.Users
	}
	if len(s.users) > 0 {
		if err := apply(s.effective(s.users)); err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
	}
	return s, nil
}

func (s *userStore) inConfig(name string) bool {
	return slices.ContainsFunc(s.config, func(u config.User) bool { return u.Name == name })
}

func (s *userStore) effective(api []storedUser) []config.User {
	out := slices.Clone(s.config)
	for _, u := range api {
		out = append(out, config.User{Name: u.Name, HA1: u.HA1, HA1SHA256: u.HA1SHA256})
	}
	return out
}

// userInfo is one user as the API lists it.
type userInfo struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "config" or "api"
}

func (s *userStore) list() []userInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]userInfo, 0, len(s.config)+len(s.users))
	for _, u := range s.config {
		out = append(out, userInfo{Name: u.Name, Source: "config"})
	}
	for _, u := range s.users {
		out = append(out, userInfo{Name: u.Name, Source: "api"})
	}
	return out
}

var (
	errUserExists   = errors.New("user exists")
	errUserUnknown  = errors.New("no such user")
	errUserInConfig = errors.New("user is defined in the config file; change it there")
)

// validUserName follows config.Validate's rule for users[].name.
func validUserName(n string) error {
	if n == "" || len(n) > 64 || strings.ContainsAny(n, " \t\r\n;:@<>\"%/\\?#") {
		return fmt.Errorf("name %q is not a valid user part (1-64 characters, none of ;:@<>\"%%/\\?# or spaces)", n)
	}
	return nil
}

func (s *userStore) hash(name, password string) storedUser {
	m := md5.Sum([]byte(name + ":" + s.realm + ":" + password))
	h := sha256.Sum256([]byte(name + ":" + s.realm + ":" + password))
	return storedUser{Name: name, HA1: hex.EncodeToString(m[:]), HA1SHA256: hex.EncodeToString(h[:])}
}

// change runs edit on a copy of the API's users, then applies and persists
// the result; on any error nothing changes.
func (s *userStore) change(edit func([]storedUser) ([]storedUser, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := edit(slices.Clone(s.users))
	if err != nil {
		return err
	}
	if err := s.write(next); err != nil {
		return err
	}
	if err := s.apply(s.effective(next)); err != nil {
		_ = s.write(s.users) // put the file back as it was
		return err
	}
	s.users = next
	return nil
}

func (s *userStore) add(name, password string) error {
	return s.change(func(us []storedUser) ([]storedUser, error) {
		if s.inConfig(name) || slices.ContainsFunc(us, func(u storedUser) bool { return u.Name == name }) {
			return nil, errUserExists
		}
		return append(us, s.hash(name, password)), nil
	})
}

func (s *userStore) setPassword(name, password string) error {
	return s.change(func(us []storedUser) ([]storedUser, error) {
		if s.inConfig(name) {
			return nil, errUserInConfig
		}
		i := slices.IndexFunc(us, func(u storedUser) bool { return u.Name == name })
		if i < 0 {
			return nil, errUserUnknown
		}
		us[i] = s.hash(name, password)
		return us, nil
	})
}

func (s *userStore) remove(name string) error {
	return s.change(func(us []storedUser) ([]storedUser, error) {
		if s.inConfig(name) {
			return nil, errUserInConfig
		}
		i := slices.IndexFunc(us, func(u storedUser) bool { return u.Name == name })
		if i < 0 {
			return nil, errUserUnknown
		}
		return slices.Delete(us, i, i+1), nil
	})
}

func (s *userStore) write(us []storedUser) error {
	data, err := json.MarshalIndent(usersDoc{Users: us}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), ".users-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(s.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
