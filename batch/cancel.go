package batch

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// decideCancel settles one address of a cancel run: only an INVITED
// invitation is cancelled.
func (r *Runner) decideCancel(ctx context.Context, t *tally, email string) (Outcome, string, error) {
	var prior LedgerEntry
	if r.Ledger != nil {
		prior, _ = r.Ledger.Lookup(email)
	}
	inv, err := r.state(ctx, t, email, false)
	if err != nil {
		return r.rowError(err)
	}
	if inv.State != StateInvited {
		if prior.Status == LedgerCancelIntent && !r.DryRun {
			// An interrupted cancel that went through: record it.
			return Cancelled, "confirmed by the invitation's state after an interrupted cancel", r.settleLedger(t, email, LedgerCancelled)
		}
		return NotInvited, "invitation is " + string(inv.State), nil
	}
	if r.DryRun {
		return WouldCancel, "", nil
	}
	if r.Ledger != nil {
		if err := r.Ledger.Intend(ctx, email, LedgerCancelIntent); err != nil {
			return OutcomeNone, "", fmt.Errorf("ledger: %w", err)
		}
	}
	for try := 1; ; try++ {
		err := r.call(ctx, t, MethodCancel, func(ctx context.Context) error { return r.API.Cancel(ctx, email) })
		if err == nil {
			r.Log.Debug("invitation cancelled", zap.String("email", email))
			return Cancelled, "", r.settleLedger(t, email, LedgerCancelled)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind == KindFatal {
			return OutcomeNone, "", err // the intent stays: a rerun settles it
		}
		switch {
		case ae.Ambiguous && try < maxAmbiguous:
			// Cancelling twice is harmless (the second is refused), but read
			// the state back so the outcome says what happened.
			now, err := r.state(ctx, t, email, true)
			if err != nil {
				return r.rowError(err)
			}
			if now.State != StateInvited {
				return Cancelled, "confirmed by the invitation's state after an interrupted cancel", r.settleLedger(t, email, LedgerCancelled)
			}
			continue
		case ae.Ambiguous:
			// It may have gone through: the intent stays, so no run
			// re-invites the address, and a rerun of cancel settles it.
			return Failed, "cancel failed ambiguously " + fmt.Sprint(try) + " times: " + ae.Msg, nil
		case ae.Kind == KindPrecondition:
			return NotInvited, "cancel refused: " + ae.Msg, r.restoreLedger(t, email, prior)
		}
		return Failed, ae.Msg, r.restoreLedger(t, email, prior)
	}
}

// restoreLedger undoes a cancel intent whose cancel certainly did not take
// effect, putting back what the ledger said before: a cancel that failed
// must not erase the record of an earlier send (that record is what keeps
// an account too new to be listed from a second email).
func (r *Runner) restoreLedger(t *tally, email string, prior LedgerEntry) error {
	switch prior.Status {
	case LedgerSent, LedgerUnconfirmed, LedgerCancelled, LedgerNotSent:
		return r.settleLedger(t, email, prior.Status)
	case LedgerNone:
		return r.settleLedger(t, email, LedgerNotSent)
	}
	return nil // an earlier intent: leave this one for a rerun to settle
}
