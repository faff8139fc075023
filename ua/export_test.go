package ua

// SetBeforeReinvite installs a hook run at the start of handling every
// re-INVITE the UA receives; tests use it to make re-INVITEs cross (glare).
func (u *UA) SetBeforeReinvite(f func(*Call)) { u.beforeReinvite.Store(&f) }
