package server

import (
	"errors"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/media"
	"github.com/parley-sip/parley/registrar"
)

// userExists reports whether name is a user of the domain now.
func (s *Server) userExists(name string) bool { return (*s.users.Load())[name] }

// SetUsers replaces the accounts of the domain while the server runs (the
// admin API's user changes): the digest store and the set of known users
// are swapped whole, so a request sees either the old or the new list.
// Nothing changes on error. With auth: none only the names change.
func (s *Server) SetUsers(users []config.User) error {
	names := make(map[string]bool, len(users))
	creds := make([]auth.User, 0, len(users))
	for _, u := range users {
		if names[u.Name] {
			return errors.New("users: " + u.Name + " appears twice")
		}
		names[u.Name] = true
		creds = append(creds, auth.User{Name: u.Name, Realm: s.cfg.Domain, Password: u.Password, HA1: u.HA1, HA1SHA256: u.HA1SHA256})
	}
	if s.creds != nil {
		if err := s.creds.Replace(creds); err != nil {
			return err
		}
	}
	s.users.Store(&names)
	return nil
}

// Config returns the configuration the server was built from; callers
// must not modify it.
func (s *Server) Config() *config.Config { return s.cfg }

// Guard returns the abuse protection (nil with abuse.off).
func (s *Server) Guard() *guard.Guard { return s.guard }

// Registrar returns the registrar.
func (s *Server) Registrar() *registrar.Registrar { return s.registrar }

// Started returns when the server was built.
func (s *Server) Started() time.Time { return s.started }

// Verifier returns the digest verifier (nil with auth: none), for its
// statistics.
func (s *Server) Verifier() *auth.Verifier { return s.verifier }

// MediaRelay returns the media relay (nil when none runs), for its
// statistics.
func (s *Server) MediaRelay() *media.Relay { return s.relay }
