package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// decide settles one valid, first-seen address. The order of the checks is
// the order of their cost: the ledger (free), the invitation's state (free
// after the list lookup), isInvitableUser, and only then send.
func (r *Runner) decide(ctx context.Context, t *tally, email string) (Outcome, string, error) {
	if r.Cancel {
		return r.decideCancel(ctx, t, email)
	}
	if r.Ledger != nil {
		if e, ok := r.Ledger.Lookup(email); ok {
			switch e.Status {
			case LedgerSent:
				if !r.SentSince.IsZero() && !e.Time.Before(r.SentSince) {
					// Sent by the interrupted run this one resumes, whose
					// checkpoint missed the outcome: the contract calls it sent.
					return Sent, "sent before the run was interrupted", nil
				}
				if r.ResendAfter == 0 || r.Now().Sub(e.Time) < r.ResendAfter {
					return AlreadyInvited, "this tool emailed it on " + e.Time.UTC().Format("2006-01-02"), nil
				}
				// Old enough for --resend-after: the invitation decides.
			case LedgerSendIntent, LedgerUnconfirmed:
				// An earlier run stopped while a send was in flight, or
				// could not confirm it: settle that before anything else.
				return r.settle(ctx, t, email, false)
			case LedgerCancelled, LedgerCancelIntent:
				// An admin withdrew this invitation with `invitebatch
				// cancel` (or started to, and the cancel may have gone
				// through); a nightly run must not undo that.
				return NotInvitable, "invitation cancelled by this tool on " + e.Time.UTC().Format("2006-01-02") +
					"; run `invitebatch ledger forget ADDRESS` to allow inviting it again", nil
			}
		}
	}
	inv, err := r.state(ctx, t, email, false)
	if err != nil {
		return r.rowError(err)
	}
	if r.resendDue(inv) {
		if r.DryRun {
			return WouldSend, fmt.Sprintf("would re-send: last email %s, %d sent", inv.Updated.UTC().Format(time.RFC3339), inv.MailsSent), nil
		}
		return r.send(ctx, t, email, &inv)
	}
	if out, reason, final := byState(inv); final {
		return out, reason, nil
	}
	if inv.State == StateNotYetSent && !r.CheckEach && !r.DryRun {
		// An unmanaged account of a verified domain: what isInvitableUser
		// would check. send enforces the finer rules (primary address, no
		// alias domain or family group) and refuses the rest.
		return r.send(ctx, t, email, nil)
	}
	return r.invite(ctx, t, email)
}

// resendDue reports whether --resend-after and --max-mails call for
// re-sending an INVITED invitation. DECLINED and ACCEPTED never are.
func (r *Runner) resendDue(inv Invitation) bool {
	if r.ResendAfter == 0 || inv.State != StateInvited || inv.Updated.IsZero() {
		return false
	}
	if r.MaxMails > 0 && inv.MailsSent >= int64(r.MaxMails) {
		return false
	}
	return r.Now().Sub(inv.Updated) >= r.ResendAfter
}

// byState maps an invitation's state to a final outcome, if it decides one.
// The state wins over isInvitableUser: an accepted user is not invitable
// any more, but "already_accepted" is what the admin needs to read.
func byState(inv Invitation) (Outcome, string, bool) {
	switch inv.State {
	case StateInvited:
		return AlreadyInvited, fmt.Sprintf("invitation is INVITED (%d mails sent)", inv.MailsSent), true
	case StateAccepted:
		return AlreadyAccepted, "", true
	case StateDeclined:
		return Declined, "the user declined; never re-sent", true
	}
	return OutcomeNone, "", false
}

// invite checks eligibility and sends.
func (r *Runner) invite(ctx context.Context, t *tally, email string) (Outcome, string, error) {
	var ok bool
	err := r.call(ctx, t, MethodIsInvitable, func(ctx context.Context) error {
		var err error
		ok, err = r.API.IsInvitable(ctx, email)
		return err
	})
	if err != nil {
		return r.rowError(err)
	}
	if !ok {
		return NotInvitable, "isInvitableUser is false (managed account, no Google account, or not a verified domain)", nil
	}
	if r.DryRun {
		return WouldSend, "", nil
	}
	return r.send(ctx, t, email, nil)
}

// maxAmbiguous bounds how often one row re-sends after a send that failed
// ambiguously but was then seen not to have been delivered.
const maxAmbiguous = 3

// send records the intent durably, sends, and records the result. A send
// that may have been delivered is never repeated before the invitation's
// state shows it was not. prev is the INVITED invitation a re-send
// (--resend-after) replaces, nil for a first send.
func (r *Runner) send(ctx context.Context, t *tally, email string, prev *Invitation) (Outcome, string, error) {
	if r.MaxSends > 0 && r.sendsStarted.Add(1) > int64(r.MaxSends) {
		r.stopNow()
		return OutcomeNone, "", errRowLeft
	}
	if r.Ledger != nil {
		if err := r.Ledger.Intend(ctx, email, LedgerSendIntent); err != nil {
			return OutcomeNone, "", fmt.Errorf("ledger: %w", err)
		}
	}
	done := Sent
	if prev != nil {
		done = Resent
	}
	for try := 1; ; try++ {
		err := r.call(ctx, t, MethodSend, func(ctx context.Context) error { return r.API.Send(ctx, email) })
		if err == nil {
			// Debug: the report and the ledger are the record of every send,
			// and addresses are personal data better kept out of logs.
			r.Log.Debug("invitation sent", zap.String("email", email), zap.Bool("resend", prev != nil))
			return done, "", r.settleLedger(t, email, LedgerSent)
		}
		var ae *APIError
		if !errors.As(err, &ae) || ae.Kind == KindFatal {
			return OutcomeNone, "", err // ctx ended or fatal: the intent stays, a rerun settles it
		}
		switch {
		case ae.Kind == KindPrecondition:
			return NotInvitable, "send refused: " + ae.Msg, r.settleLedger(t, email, LedgerNotSent)
		case ae.Ambiguous && try < maxAmbiguous:
			r.Log.Warn("send failed ambiguously; checking the invitation", zap.String("error", ae.Msg))
			// Give a request that is still in progress on the server time
			// to land before reading its effect back: a read that comes
			// too early would show NOT_YET_SENT and invite a second email.
			if err := sleep(ctx, max(r.SettleDelay, ae.RetryAfter)); err != nil {
				return OutcomeNone, "", err
			}
			var out Outcome
			var reason string
			if prev != nil {
				out, reason, err = r.settleResend(ctx, t, email, *prev)
			} else {
				out, reason, err = r.settle(ctx, t, email, true)
			}
			if err != nil || out != OutcomeNone {
				return out, reason, err
			}
			// The send visibly did not take effect; send again.
		case ae.Ambiguous:
			return Unconfirmed, "send failed ambiguously " + fmt.Sprint(try) + " times: " + ae.Msg, r.settleLedger(t, email, LedgerUnconfirmed)
		default:
			return Failed, ae.Msg, r.settleLedger(t, email, LedgerNotSent)
		}
	}
}

// settleResend finds out whether an ambiguous re-send went out: the
// invitation was INVITED already, so only a higher mail count or a newer
// update time shows it. OutcomeNone means it visibly did not.
func (r *Runner) settleResend(ctx context.Context, t *tally, email string, prev Invitation) (Outcome, string, error) {
	inv, err := r.state(ctx, t, email, true)
	if err != nil {
		if KindOf(err) == KindFatal || ctx.Err() != nil {
			return OutcomeNone, "", err
		}
		return Unconfirmed, "re-send result unknown and the invitation could not be read: " + err.Error(),
			r.settleLedger(t, email, LedgerUnconfirmed)
	}
	if inv.MailsSent > prev.MailsSent || inv.Updated.After(prev.Updated) {
		return Resent, "confirmed by the invitation's mail count after an interrupted send", r.settleLedger(t, email, LedgerSent)
	}
	return OutcomeNone, "", nil
}

// settle finds out whether an earlier send to email, whose result is not
// known, was delivered. fresh asks for a get even when the list lookup is
// loaded (the list predates a send made in this run). It returns
// OutcomeNone when the invitation is visibly NOT_YET_SENT (the send did
// not take effect) and, when called for an earlier run's intent, goes on to
// invite in that case.
func (r *Runner) settle(ctx context.Context, t *tally, email string, fresh bool) (Outcome, string, error) {
	// Not in the list may mean too new to be listed: read the invitation
	// unless the list has it.
	inv, err := r.state(ctx, t, email, fresh || !r.listedState(email))
	if err != nil {
		if KindOf(err) == KindFatal || ctx.Err() != nil {
			return OutcomeNone, "", err
		}
		return Unconfirmed, "send result unknown and the invitation could not be read: " + err.Error(),
			r.settleLedger(t, email, LedgerUnconfirmed)
	}
	switch inv.State {
	case StateInvited:
		return Sent, "confirmed by the invitation's state after an interrupted send", r.settleLedger(t, email, LedgerSent)
	case StateAccepted, StateDeclined:
		out, reason, _ := byState(inv)
		return out, reason, r.settleLedger(t, email, LedgerSent)
	case StateNone:
		// Too new to be listed (the 48-hour lag) or never created: the
		// email may or may not have gone out. Never re-sent silently.
		return Unconfirmed, "send result unknown and no invitation is visible yet (accounts newer than 48 hours are not listed); not re-sent",
			r.settleLedger(t, email, LedgerUnconfirmed)
	}
	// NOT_YET_SENT: the send visibly did not take effect.
	if fresh {
		return OutcomeNone, "", nil
	}
	return r.invite(ctx, t, email)
}

// settleLedger records an action's result when there is a ledger, and
// leaves in t the wait for it to be durable, which the collector calls
// before the row's outcome goes to the checkpoint.
func (r *Runner) settleLedger(t *tally, email string, s LedgerStatus) error {
	if r.Ledger == nil || r.DryRun {
		return nil
	}
	wait, err := r.Ledger.Settle(email, s)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	t.durable = wait // the last settle's wait covers any earlier one's
	return nil
}

// rowError turns a failed lookup into the row's outcome, or passes a fatal
// error or the end of ctx up.
func (r *Runner) rowError(err error) (Outcome, string, error) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Kind != KindFatal {
		return Failed, ae.Msg, nil
	}
	return OutcomeNone, "", err
}
