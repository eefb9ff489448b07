package emulator

import (
	"fmt"
	"net/http"
)

// Profile is how the emulator refuses requests for single addresses.
type Profile int

const (
	// ProfileDefault answers as the tool first assumed Google does:
	// isInvitableUser false for any address that cannot be invited, and
	// 400 FAILED_PRECONDITION for a send or cancel that cannot happen.
	ProfileDefault Profile = iota
	// ProfileGoogleStrict answers as GAM's error handling suggests the real
	// service does: isInvitableUser 404 NOT_FOUND for an address with no
	// Google account, 403 PERMISSION_DENIED (with no ErrorInfo) from
	// isInvitableUser and get for an address outside Options.Domains, and
	// 404 NOT_FOUND from send and cancel for an address with no invitation
	// (no account, a managed account, another domain).
	ProfileGoogleStrict
)

var profileNames = [...]string{ProfileDefault: "default", ProfileGoogleStrict: "google-strict"}

// String returns the name Config and the emulator command use for p.
func (p Profile) String() string {
	if p < 0 || int(p) >= len(profileNames) {
		return fmt.Sprintf("Profile(%d)", int(p))
	}
	return profileNames[p]
}

// ParseProfile parses a profile name ("" is the default).
func ParseProfile(s string) (Profile, error) {
	if s == "" {
		return ProfileDefault, nil
	}
	p, err := parseName("profile", s, profileNames[:])
	return Profile(p), err
}

// SetProfile sets how single addresses are refused.
func (e *Emulator) SetProfile(p Profile) {
	if p < 0 || int(p) >= len(profileNames) {
		panic(fmt.Sprintf("emulator: SetProfile: invalid profile %d", int(p)))
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.profile = p
}

// SetReadOnly makes the emulator answer as to a credential that can read
// the customer but not write: every send and cancel gets 403
// PERMISSION_DENIED "The caller does not have permission" (no ErrorInfo),
// while get, list and isInvitableUser work.
func (e *Emulator) SetReadOnly(on bool) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.readOnly = on
}

// SetHangRate makes each API request, with probability p, be accepted and
// never answered: the handler holds it until the client gives up (or the
// server closes), like a half-open connection. Half of the hung sends and
// cancels (at random) are performed before they hang, so that the client
// cannot know whether they took effect.
func (e *Emulator) SetHangRate(p float64) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.hangRate = p
}

// CodeHung counts requests that were held without a reply until the client
// gave up (SetHangRate).
const CodeHung = -1

// hang decides whether a request hangs, and whether a hung send or cancel
// is performed first.
func (e *Emulator) hang(method string) (hang, perform bool) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	if e.hangRate <= 0 || e.rng.Float64() >= e.hangRate {
		return false, false
	}
	return true, (method == MethodSend || method == MethodCancel) && e.rng.IntN(2) == 0
}

// holdForever waits until the client or the server gives up on r.
func holdForever(r *http.Request) { <-r.Context().Done() }

// strictRefusal returns the error the profile and the read-only mode give a
// request for one address, before the state machine. The caller holds
// e.mu; profile and readOnly were read under e.knobMu.
func (e *Emulator) strictRefusal(profile Profile, readOnly bool, method, email string, a account) *apiError {
	if readOnly && (method == MethodSend || method == MethodCancel) {
		return fatalErrors[FatalPermissionDenied]
	}
	if profile != ProfileGoogleStrict {
		return nil
	}
	switch method {
	case MethodIsInvitable:
		if !e.inDomain(email) {
			return fatalErrors[FatalPermissionDenied]
		}
		if a.typ == typeNone {
			return errNotFound
		}
	case MethodGet:
		if !e.inDomain(email) {
			return fatalErrors[FatalPermissionDenied]
		}
	case MethodSend, MethodCancel:
		if !e.inDomain(email) || a.typ == typeNone || a.typ == typeManaged {
			return errNotFound
		}
	}
	return nil
}

// strictKnobs reads the profile and the read-only mode.
func (e *Emulator) strictKnobs() (Profile, bool) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	return e.profile, e.readOnly
}
