package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	// An address this tool sent to (or may have) that the API does not show
	// (too new to be listed) is cancelled all the same: the person may hold
	// a live invitation. So is one whose earlier cancel was interrupted
	// while it was not visible.
	unseen := inv.State == StateNone && r.sentOrMaybe(prior.Status)
	if inv.State != StateInvited && !unseen {
		if prior.Status == LedgerCancelIntent && !r.DryRun {
			// An interrupted cancel that went through: record it.
			return Cancelled, "confirmed by the invitation's state after an interrupted cancel", r.settleLedger(t, email, LedgerCancelled)
		}
		return NotInvited, "invitation is " + string(inv.State), nil
	}
	if r.DryRun {
		if unseen {
			return WouldCancel, "not visible yet; the ledger records a send on " + prior.Time.UTC().Format(time.RFC3339), nil
		}
		return WouldCancel, "", nil
	}
	// The intent is written once the limiter's slot and a credential are at
	// hand, as for a send; one whose cancel certainly never had an effect is
	// undone when the run stops.
	var intended, left bool
	// closeIntent puts back what the ledger said before, once: the cancel
	// after the intent certainly had no effect.
	closeIntent := closeOnce(&intended, func() error { return r.restoreLedger(t, email, prior) })
	ready := r.intendReady(email, LedgerCancelIntent, &intended, &left)
	for try := 1; ; try++ {
		err := r.callReady(ctx, t, MethodCancel, ready, func(ctx context.Context) error {
			err := r.API.Cancel(ctx, email)
			left = err == nil || !noEffect(err)
			if refused(err) {
				if cerr := closeIntent(); cerr != nil {
					return cerr
				}
			}
			return err
		})
		if err == nil {
			r.Log.Debug("invitation cancelled", zap.String("email", email))
			return Cancelled, "", r.settleLedger(t, email, LedgerCancelled)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind == KindFatal {
			// The intent of a cancel that may have gone through stays, for a
			// rerun to settle; one that certainly did not is undone.
			if !left {
				if serr := closeIntent(); serr == nil && t.durable != nil {
					_ = t.durable(context.WithoutCancel(ctx))
				}
			}
			return OutcomeNone, "", err
		}
		switch {
		case unseen && ae.Kind == KindNotFound:
			// Not visible to cancel either: a rerun retries.
			return Failed, "this tool sent it on " + prior.Time.UTC().Format(time.RFC3339) +
					" (ledger: " + ledgerWord(prior.Status) + "); the invitation is not visible yet, run cancel again later",
				closeIntent()
		case ae.Ambiguous && unseen:
			// It may have gone through, and the state cannot tell: the
			// intent stays, and a rerun of cancel tries again.
			return Failed, "cancel of an invitation not visible yet failed ambiguously: " + ae.Msg + "; run cancel again later", nil
		case unseen && prior.Status == LedgerCancelIntent && ae.Kind == KindPrecondition:
			// Not INVITED any more: the interrupted cancel went through.
			return Cancelled, "confirmed by the refusal of a second cancel after an interrupted one", r.settleLedger(t, email, LedgerCancelled)
		case ae.Ambiguous && try < maxAmbiguousCancels:
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
		case ae.Kind == KindPrecondition, ae.Kind == KindNotFound:
			// A 404: no such invitation (any more).
			return NotInvited, "cancel refused: " + ae.Msg, closeIntent()
		}
		return Failed, ae.Msg, closeIntent()
	}
}

// maxAmbiguousCancels bounds how often one row cancels again after a cancel
// that failed ambiguously (cancelling twice is harmless).
const maxAmbiguousCancels = 3

// sentOrMaybe reports whether the ledger status says this tool sent to the
// address, may have, or started to cancel it.
func (r *Runner) sentOrMaybe(s LedgerStatus) bool {
	switch s {
	case LedgerSent, LedgerSendIntent, LedgerResendIntent, LedgerUnconfirmed, LedgerCancelIntent:
		return true
	}
	return false
}

// ledgerWord names a ledger status in a reason.
func ledgerWord(s LedgerStatus) string {
	switch s {
	case LedgerSent:
		return "sent"
	case LedgerSendIntent, LedgerResendIntent:
		return "send in flight when a run stopped"
	case LedgerUnconfirmed:
		return "send unconfirmed"
	case LedgerCancelIntent:
		return "a cancel was interrupted"
	}
	return "none"
}

// restoreLedger undoes a cancel intent whose cancel certainly did not take
// effect, putting back what the ledger said before, its time included: a
// cancel that failed must not erase the record of an earlier send (that
// record is what keeps an account too new to be listed from a second
// email), nor stamp it with the time of the refusal (an invite run resuming
// a run stopped before would report the row sent, and --resend-after would
// count from the refusal). An earlier intent comes back as the intent it
// was, for a run to settle by reading the invitation back.
func (r *Runner) restoreLedger(t *tally, email string, prior LedgerEntry) error {
	if prior.Status == LedgerNone {
		return r.settleLedger(t, email, LedgerNotSent)
	}
	return r.restoreEntry(t, email, prior)
}

// intendReady is the ready function of a send or cancel (Caller.do's
// ready): it waits until the API is ready (Readier), then, with a ledger,
// sets *intended and clears *left and records the intent status for email.
// An attempt that is refused closes its intent at once (see refused), so
// the ledger never holds an intent left open for a request that was not
// made, and a retry's intent follows a result.
func (r *Runner) intendReady(email string, status LedgerStatus, intended, left *bool) func(context.Context) error {
	return func(ctx context.Context) error {
		if rd, ok := r.API.(Readier); ok {
			if err := rd.Ready(ctx); err != nil {
				return err
			}
		}
		if r.Ledger != nil {
			*intended, *left = true, false
			if err := r.Ledger.Intend(ctx, email, status); err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
		}
		return nil
	}
}
