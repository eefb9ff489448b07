// Package batch is the invitation pipeline: it streams input rows through a
// rate-limited worker pool and decides, row by row, whether to send.
package batch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// State is the state of a user invitation as the API reports it.
type State string

// The invitation states of the API, plus StateNone for "no invitation
// visible" (none exists, or the account is too new to be listed).
const (
	StateNone        State = "NONE"
	StateNotYetSent  State = "NOT_YET_SENT"
	StateInvited     State = "INVITED"
	StateAccepted    State = "ACCEPTED"
	StateDeclined    State = "DECLINED"
	StateUnspecified State = "STATE_UNSPECIFIED"
)

// Invitation is what the pipeline needs to know of a UserInvitation.
type Invitation struct {
	Email     string // lower-case address, as in the resource name
	State     State
	MailsSent int64
	Updated   time.Time // zero when the API gave none
}

// API is the part of customers.userinvitations the pipeline uses. Every
// method makes exactly one request: retries and rate limiting are the
// pipeline's job. Errors that the pipeline branches on are *APIError.
type API interface {
	// IsInvitable reports whether the address can be invited.
	IsInvitable(ctx context.Context, email string) (bool, error)
	// Get returns the invitation of an address; an *APIError of KindNotFound
	// means none is visible.
	Get(ctx context.Context, email string) (Invitation, error)
	// Send creates the invitation if needed and emails it.
	Send(ctx context.Context, email string) error
	// Cancel cancels an INVITED invitation.
	Cancel(ctx context.Context, email string) error
	// List returns one page of the customer's invitations whose state is
	// one of states (all states when empty): the page after pageToken (""
	// for the first) and the token of the next page ("" after the last).
	// Caller.List pages through them, one paced and retried request per
	// page.
	List(ctx context.Context, states []State, pageToken string) (page []Invitation, next string, err error)
}

// Readier is implemented by an API whose requests need something at hand
// before they can leave: an access token. Ready returns once the next
// request can leave, fetching what it needs, or an *APIError saying why it
// cannot. The pipeline calls it after the rate limiter's slot is taken and
// before it records a send's intent, so that an intent is written only for
// a request that can leave.
type Readier interface {
	Ready(ctx context.Context) error
}

// Kind classifies an API failure by what the caller should do about it.
type Kind int

// The kinds of API failure.
const (
	// KindPermanent: the request was refused for this row (400, other 4xx);
	// retrying will not help.
	KindPermanent Kind = iota
	// KindRetryable: a transient failure (429, 408, 5xx, connection error,
	// rate-limit 403); retry after a delay.
	KindRetryable
	// KindNotFound: 404; for Get it means no invitation is visible.
	KindNotFound
	// KindPrecondition: the API refused the request for this one address:
	// a 400 (FAILED_PRECONDITION, INVALID_ARGUMENT) for an address, a 404
	// from isInvitableUser or send, a 403 on send whose details name the
	// address, or a 403 from a read that a customer-wide read showed to
	// concern only the address. The row is not_invitable (not_invited for a
	// cancel); retrying will not help.
	KindPrecondition
	// KindUnauthenticated: 401; retried once after a credential refresh,
	// then fatal.
	KindUnauthenticated
	// KindFatal: a problem of credentials, permissions or configuration
	// that every later request would hit too; the run stops.
	KindFatal
	// KindForbidden: a 403 from a read (isInvitableUser, get) whose reason
	// says neither "rate limit" nor a setup problem. It may concern only
	// the address (no account, another domain) or the whole customer: the
	// runner tells which with one customer-wide read (Prober), and turns it
	// into KindPrecondition or KindFatal.
	KindForbidden
	// KindConflict: 409 ALREADY_EXISTS from send; the invitation's state
	// decides the row.
	KindConflict
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindRetryable:
		return "retryable"
	case KindNotFound:
		return "not_found"
	case KindPrecondition:
		return "precondition"
	case KindUnauthenticated:
		return "unauthenticated"
	case KindFatal:
		return "fatal"
	case KindForbidden:
		return "forbidden"
	case KindConflict:
		return "conflict"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// APIError is a classified API failure.
type APIError struct {
	Kind Kind
	// Code is the HTTP status, 0 for a transport failure.
	Code int
	// Status is the google.rpc status name (RESOURCE_EXHAUSTED...), if any.
	Status string
	// Reason is the ErrorInfo reason (RATE_LIMIT_EXCEEDED...), if any.
	Reason string
	// RetryAfter is the server's minimum delay before a retry (RetryInfo or
	// Retry-After), zero if it gave none.
	RetryAfter time.Duration
	// Ambiguous is set when the request may have reached the server and
	// taken effect although no success came back (a timeout, a reset after
	// the request was written, a 5xx). Only meaningful for Send and Cancel.
	Ambiguous bool
	// NotSent is set when the request certainly never reached the server:
	// it failed before a connection was obtained (a dial or TLS error, no
	// access token, the context ended first). Such a send had no effect.
	NotSent bool
	// Msg is a human-readable description, safe to log and to put in a
	// report: it never holds credentials.
	Msg string
	// Resets is set when a quota will not come back within the run (a
	// daily quota used up, or a server delay over Caller.MaxDelay): the
	// time it is expected back. Such an error is KindFatal, so that every
	// caller stops at once as for a fatal error, but the run ends
	// resumably (exit 3), saying when to try again; see QuotaStop.
	Resets time.Time
}

func (e *APIError) Error() string { return e.Msg }

// QuotaStop reports whether err stops the run for a quota that will not
// come back within it, and when that quota is expected back.
func QuotaStop(err error) (resets time.Time, ok bool) {
	var ae *APIError
	if errors.As(err, &ae) && !ae.Resets.IsZero() {
		return ae.Resets, true
	}
	return time.Time{}, false
}

// KindOf returns the kind of err: the Kind of an *APIError in its chain,
// KindPermanent for any other error.
func KindOf(err error) Kind {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return KindPermanent
}
