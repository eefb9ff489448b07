package batch

import (
	"context"
	"errors"
	"fmt"
	"time"
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
				// Old enough for --resend-after: the invitation decides,
				// and only an INVITED one is re-sent.
				return r.resendOrNot(ctx, t, email, e)
			case LedgerSendIntent, LedgerResendIntent, LedgerUnconfirmed:
				// An earlier run stopped while a send was in flight, or
				// could not confirm it: settle that before anything else,
				// once its settle window has passed.
				return r.settleEarlier(ctx, t, email, e)
			case LedgerCancelled, LedgerCancelIntent:
				// An admin withdrew this invitation with `invitebatch
				// cancel` (or started to, and the cancel may have gone
				// through); a nightly run must not undo that.
				return NotInvitable, "invitation cancelled by this tool on " + e.Time.UTC().Format("2006-01-02") +
					"; run `invitebatch ledger forget ADDRESS` to allow inviting it again", nil
			}
		}
	}
	inv, out, reason, done, err := r.byStateOrResend(ctx, t, email)
	if done {
		return out, reason, err
	}
	if inv.State == StateNotYetSent && !r.CheckEach && !r.DryRun {
		// An unmanaged account of a verified domain: what isInvitableUser
		// would check. send enforces the finer rules (primary address, no
		// alias domain or family group) and refuses the rest.
		return r.send(ctx, t, email, nil, 0)
	}
	return r.invite(ctx, t, email, 0)
}

// resendOrNot decides an address this tool emailed long enough ago for
// --resend-after: only an INVITED invitation, within --max-mails, is
// re-sent. One that is no longer INVITED (e.g. cancelled in the Admin
// console, now NOT_YET_SENT) is not invited again: the ledger says this
// tool emailed it.
func (r *Runner) resendOrNot(ctx context.Context, t *tally, email string, e LedgerEntry) (Outcome, string, error) {
	inv, out, reason, done, err := r.byStateOrResend(ctx, t, email)
	if done {
		return out, reason, err
	}
	return AlreadyInvited, fmt.Sprintf("this tool emailed it on %s; the invitation is %s now, and --resend-after re-sends only INVITED invitations",
		e.Time.UTC().Format("2006-01-02"), inv.State), nil
}

// byStateOrResend looks up the invitation of email and settles what its
// state alone decides: a re-send due under --resend-after and --max-mails
// (would_send in a dry run), or a final outcome of byState; a failed lookup
// settles the row as rowError does. done is false, with the invitation,
// when the state decides nothing.
func (r *Runner) byStateOrResend(ctx context.Context, t *tally, email string) (inv Invitation, out Outcome, reason string, done bool, err error) {
	inv, err = r.state(ctx, t, email, false)
	if err != nil {
		out, reason, err = r.rowError(err)
		return inv, out, reason, true, err
	}
	if r.resendDue(inv) {
		if r.DryRun {
			return inv, WouldSend, fmt.Sprintf("would re-send: last email %s, %d sent", inv.Updated.UTC().Format(time.RFC3339), inv.MailsSent), true, nil
		}
		prev := inv // escapes (send keeps it): only a re-send's row pays for it
		out, reason, err = r.send(ctx, t, email, &prev, 0)
		return inv, out, reason, true, err
	}
	if out, reason, final := byState(inv); final {
		return inv, out, reason, true, nil
	}
	return inv, OutcomeNone, "", false, nil
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

// invite checks eligibility and sends. made is how many sends to email may
// have gone out already (see send).
func (r *Runner) invite(ctx context.Context, t *tally, email string, made int) (Outcome, string, error) {
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
	return r.send(ctx, t, email, nil, made)
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

// restoreEntry records e as the entry of email again, its time included
// (Ledger.Restore), when there is a ledger; the wait as for settleLedger.
func (r *Runner) restoreEntry(t *tally, email string, e LedgerEntry) error {
	if r.Ledger == nil || r.DryRun {
		return nil
	}
	wait, err := r.Ledger.Restore(email, e)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	t.durable = wait
	return nil
}

// rowError turns a failed lookup into the row's outcome, or passes a fatal
// error or the end of ctx up.
func (r *Runner) rowError(err error) (Outcome, string, error) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Kind == KindPrecondition {
		// Refused for this address (404, 400, a 403 the customer-wide
		// read showed to concern only it): final, not retried by a rerun.
		if r.Cancel {
			return NotInvited, "refused for this address: " + ae.Msg, nil
		}
		return NotInvitable, "refused for this address: " + ae.Msg, nil
	}
	if errors.As(err, &ae) && ae.Kind != KindFatal {
		return Failed, ae.Msg, nil
	}
	return OutcomeNone, "", err
}
