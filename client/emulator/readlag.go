package emulator

import "time"

// staleRead is an account as it was before a send, and when the send was.
type staleRead struct {
	at     time.Time
	before account
}

// SetReadLag makes get show an invitation as it was before its last send
// until d has passed since that send, as an API whose reads lag its writes:
// a read-back sooner than d after a send that went out, but failed
// ambiguously, shows NOT_YET_SENT. 0, the default, shows every write at
// once. list is not affected.
func (e *Emulator) SetReadLag(d time.Duration) {
	e.readLag.Store(int64(max(d, 0)))
}

// remember keeps the account a send is about to change, for get to show
// during the read lag; the caller holds e.mu.
func (e *Emulator) remember(email string, before account) {
	lag := time.Duration(e.readLag.Load())
	if lag == 0 {
		return
	}
	if e.stale == nil {
		e.stale = map[string]staleRead{}
	}
	if s, ok := e.stale[email]; ok && time.Since(s.at) < lag {
		before = s.before // an earlier send is not visible yet either
	}
	e.stale[email] = staleRead{at: time.Now(), before: before}
}

// lagged returns what get shows of a: a as it was before its last send
// while the read lag lasts. The caller holds e.mu.
func (e *Emulator) lagged(email string, a account) account {
	s, ok := e.stale[email]
	if !ok {
		return a
	}
	if time.Since(s.at) >= time.Duration(e.readLag.Load()) {
		delete(e.stale, email)
		return a
	}
	return s.before
}
