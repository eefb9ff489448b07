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
	inv, err := r.state(ctx, t, email, false)
	if err != nil {
		return r.rowError(err)
	}
	if inv.State != StateInvited {
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
			return Cancelled, "", r.settleLedger(ctx, email, LedgerCancelled)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind == KindFatal {
			return OutcomeNone, "", err
		}
		switch {
		case ae.Kind == KindPrecondition:
			return NotInvited, "cancel refused: " + ae.Msg, r.settleLedger(ctx, email, LedgerNotSent)
		case ae.Ambiguous && try < maxAmbiguous:
			// Cancelling twice is harmless (the second is refused), but read
			// the state back so the outcome says what happened.
			now, err := r.state(ctx, t, email, true)
			if err != nil {
				return r.rowError(err)
			}
			if now.State != StateInvited {
				return Cancelled, "confirmed by the invitation's state after an interrupted cancel", r.settleLedger(ctx, email, LedgerCancelled)
			}
		default:
			return Failed, ae.Msg, r.settleLedger(ctx, email, LedgerNotSent)
		}
	}
}
