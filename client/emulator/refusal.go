package emulator

import (
	"fmt"
	"strings"
)

// Refusal is how send refuses an ineligible account (KindIneligible): one
// listed NOT_YET_SENT that breaks a rule only send enforces (a secondary
// address, an alias domain, a family group, Workspace Essentials) or that
// became managed within the API's lag. Google does not document the reply;
// these are the plausible ones.
type Refusal int

const (
	// RefuseFailedPrecondition: 400 FAILED_PRECONDITION (the default).
	RefuseFailedPrecondition Refusal = iota
	// RefuseNotFound: 404 NOT_FOUND.
	RefuseNotFound
	// RefusePermissionDenied: 403 PERMISSION_DENIED naming the address as
	// its cause (message and ErrorInfo metadata), unlike a 403 about the
	// caller.
	RefusePermissionDenied
)

var refusalNames = [...]string{
	RefuseFailedPrecondition: "failed_precondition",
	RefuseNotFound:           "not_found",
	RefusePermissionDenied:   "permission_denied",
}

// String returns the name Config uses for r.
func (r Refusal) String() string {
	if r < 0 || int(r) >= len(refusalNames) {
		return fmt.Sprintf("Refusal(%d)", int(r))
	}
	return refusalNames[r]
}

// ParseRefusal parses a Config refusal name.
func ParseRefusal(s string) (Refusal, error) {
	i, err := parseName("refusal", strings.ToLower(strings.TrimSpace(s)), refusalNames[:])
	return Refusal(i), err
}

// SetRefusal sets how send refuses ineligible accounts.
func (e *Emulator) SetRefusal(r Refusal) {
	if r < 0 || int(r) >= len(refusalNames) {
		panic(fmt.Sprintf("emulator: SetRefusal: invalid refusal %d", int(r)))
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.refusal = r
}

func (e *Emulator) refusalMode() Refusal {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	return e.refusal
}

// refused is the reply to a send to an ineligible account under refusal r.
func refused(r Refusal, email string) *apiError {
	switch r {
	case RefuseNotFound:
		return errNotFound
	case RefusePermissionDenied:
		return &apiError{
			Code:    403,
			Message: "The user " + email + " cannot be invited.",
			Status:  "PERMISSION_DENIED",
			Details: []map[string]any{{
				"@type":    typeErrorInfo,
				"reason":   "USER_NOT_INVITABLE",
				"domain":   "cloudidentity.googleapis.com",
				"metadata": map[string]string{"email": email},
			}},
		}
	}
	return errPrecondition
}
