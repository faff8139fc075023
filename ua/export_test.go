package ua

import "github.com/parley-sip/parley/sip"

// SetBeforeReinvite installs a hook run at the start of handling every
// re-INVITE the UA receives; tests use it to make re-INVITEs cross (glare).
func (u *UA) SetBeforeReinvite(f func(*Call)) { u.beforeReinvite.Store(&f) }

// SetBeforeUpdate installs a hook run at the start of handling every
// UPDATE the UA receives; tests use it to make UPDATEs cross (glare).
func (u *UA) SetBeforeUpdate(f func(*Call)) { u.beforeUpdate.Store(&f) }

// SetSendHook installs a hook that sees every message the UA sends (it
// may modify it) and drops it when it returns true, as a lost datagram.
func (u *UA) SetSendHook(f func(msg sip.Message) (drop bool)) { u.sendHook.Store(&f) }
