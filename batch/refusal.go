package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Prober is implemented by an API that can make a cheap customer-wide
// read (a list of one invitation). The runner uses it to tell a 403 that
// concerns one address from one that concerns the whole customer. Without
// it, every KindForbidden error is fatal.
type Prober interface {
	// Probe makes one customer-wide read and returns its error.
	Probe(ctx context.Context) error
}

// probeFresh is how long a successful probe vouches for the credential:
// the bare 403s of a CSV sorted by domain (hundreds of contractor addresses
// in a row) then cost one probe per probeFresh, not one each, while a
// credential that loses its rights during the run is noticed within it.
const probeFresh = 30 * time.Second

// ForbiddenCheck tells a 403 of a read that concerns one address (no
// account, a domain the customer does not own) from one that concerns the
// whole customer, with one customer-wide read (Prober). Concurrent 403s
// share one probe. The zero value is ready to use; it must not be copied
// after first use.
type ForbiddenCheck struct {
	mu     sync.Mutex // held during a probe
	okAt   time.Time  // the last successful probe
	probes int
}

// Resolve settles a KindForbidden error ae of a read by api: when the
// customer-wide read works, the 403 concerns the address and becomes
// KindPrecondition (the row is not_invitable); when that read is refused
// too, the result is KindFatal, its message naming the fix. The probe goes
// through c (the shared pacer and retries); counted, if not nil, is called
// for each of its attempts. Without a Prober every such error is fatal.
func (f *ForbiddenCheck) Resolve(ctx context.Context, c *Caller, api API, ae *APIError, counted func()) error {
	p, ok := api.(Prober)
	if !ok {
		return &APIError{Kind: KindFatal, Code: ae.Code, Status: ae.Status, Reason: ae.Reason, Msg: ae.Msg}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.okAt.IsZero() || time.Since(f.okAt) >= probeFresh {
		f.probes++
		err := c.Do(ctx, MethodList, func(ctx context.Context) error {
			if counted != nil {
				counted()
			}
			return p.Probe(ctx)
		}, nil)
		switch {
		case err == nil:
			f.okAt = time.Now()
			if c.Log != nil {
				c.Log.Info("a read was refused with 403 for one address while the customer-wide read works: the address is not invitable",
					zap.String("error", ae.Msg))
			}
		case ctx.Err() != nil || errors.Is(err, ErrStopped):
			return err
		default:
			var pe *APIError
			if errors.As(err, &pe) && (pe.Kind == KindFatal || pe.Code == 403) {
				return &APIError{Kind: KindFatal, Code: ae.Code, Status: ae.Status, Reason: ae.Reason,
					Msg: ae.Msg + "; the customer-wide read is refused too, so the credential lacks access: " + pe.Msg}
			}
			// The check itself failed (5xx, timeouts): nothing is known
			// about the address; a rerun tries again.
			return &APIError{Kind: KindPermanent, Code: ae.Code, Status: ae.Status, Reason: ae.Reason,
				Msg: ae.Msg + "; could not check whether it concerns only this address: " + err.Error()}
		}
	}
	return &APIError{Kind: KindPrecondition, Code: ae.Code, Status: ae.Status, Reason: ae.Reason, Msg: ae.Msg}
}

// conflict settles a send answered 409 ALREADY_EXISTS by reading the
// invitation: an invitation already emailed (by anyone) decides the row as
// its state says. earlier says an earlier send of this row may have gone
// out, so an INVITED invitation may be this tool's own email; prior is what
// the ledger said before this run's intent.
func (r *Runner) conflict(ctx context.Context, t *tally, email string, earlier bool, done Outcome, prior LedgerEntry, ae *APIError) (Outcome, string, error) {
	notSent := func() error {
		if earlier {
			return r.settleLedger(t, email, LedgerUnconfirmed)
		}
		return r.unsent(t, email, prior)
	}
	inv, err := r.state(ctx, t, email, true)
	if err != nil {
		if KindOf(err) == KindFatal || ctx.Err() != nil || errors.Is(err, ErrStopped) {
			return OutcomeNone, "", err
		}
		return Failed, ae.Msg + "; the invitation could not be read: " + err.Error(), notSent()
	}
	switch inv.State {
	case StateInvited:
		if earlier {
			return done, "confirmed by the invitation's state after " + ae.Msg, r.settleLedger(t, email, LedgerSent)
		}
		// Emailed by someone: the ledger says so too, which never causes
		// an email and keeps later runs from trying again.
		return AlreadyInvited, fmt.Sprintf("send answered ALREADY_EXISTS; invitation is INVITED (%d mails sent)", inv.MailsSent),
			r.settleLedger(t, email, LedgerSent)
	case StateAccepted, StateDeclined:
		out, reason, _ := byState(inv)
		return out, reason, r.settleLedger(t, email, LedgerSent)
	}
	return Failed, ae.Msg + "; the invitation is " + string(inv.State), notSent()
}
