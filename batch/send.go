package batch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// errSettleLater ends a row's turn without an outcome: its send failed
// ambiguously (or an earlier run's did), and the invitation is read back once
// the settle window has passed (tally.later says when). The row goes to the
// back of the run meanwhile; its worker takes the next row.
var errSettleLater = errors.New("row waits for its settle window")

// ledgerResolution is the resolution of a LedgerEntry's Time (see
// Ledger.Lookup): a record's real time is up to this much later.
const ledgerResolution = time.Second

// settleLater is a row waiting for its settle window.
type settleLater struct {
	due   time.Time   // the read-back is made no sooner
	prev  *Invitation // a re-send (--resend-after): the INVITED invitation it replaced
	prior LedgerEntry // what the ledger said before this run's intent
	made  int         // sends to the address that may have gone out, this run's and an earlier run's
	early bool        // an earlier run's intent: a visibly unsent invitation is invited anew
	// resend is an earlier run's re-send intent: its invitation was INVITED
	// before, so no state read proves it went out.
	resend bool
	why    string // the last ambiguous failure
	calls  int    // the row's requests so far
}

// send records the intent durably, sends, and records the result. The
// intent is written only once the limiter's slot and a credential are at
// hand (Caller.do's ready), so that no intent is left for a request that
// never left. A send that failed ambiguously is never repeated before the
// invitation, read back no sooner than the settle window after it, shows
// that it did not take effect: the row then waits (errSettleLater). prev is
// the INVITED invitation a re-send (--resend-after) replaces, nil for a
// first send; made is how many sends to email may have gone out already.
func (r *Runner) send(ctx context.Context, t *tally, email string, prev *Invitation, made int) (Outcome, string, error) {
	if made == 0 && r.MaxSends > 0 && r.sendsStarted.Add(1) > int64(r.MaxSends) {
		r.stopNow()
		return OutcomeNone, "", errRowLeft
	}
	var prior LedgerEntry
	if r.Ledger != nil {
		prior, _ = r.Ledger.Lookup(email)
	}
	var (
		intended bool      // an intent is (or may be) in the ledger
		left     bool      // the send after the last intent may have taken effect
		last     error     // that send's error
		at       time.Time // when it was made
	)
	status := LedgerSendIntent
	if prev != nil {
		// Distinct, so that after a crash the re-send is not taken for a
		// first send that an INVITED state would confirm.
		status = LedgerResendIntent
	}
	// closeIntent records that the send after the intent certainly did
	// not go out, once.
	closeIntent := closeOnce(&intended, func() error { return r.unsent(t, email, prior) })
	// The intent is written before every attempt: after a crash, the
	// settle window runs from the intent's time, which must not precede the
	// attempt. A refused attempt's intent is closed at once (see refused).
	ready := r.intendReady(email, status, &intended, &left)
	err := r.callReady(ctx, t, MethodSend, ready, func(ctx context.Context) error {
		at = r.Now()
		last = r.API.Send(ctx, email)
		left = last == nil || !noEffect(last)
		if refused(last) {
			if err := closeIntent(); err != nil {
				return err
			}
		}
		return last
	})
	done := Sent
	if prev != nil {
		done = Resent
	}
	if err == nil {
		// Debug: the report and the ledger are the record of every send,
		// and addresses are personal data better kept out of logs.
		if ce := r.Log.Check(zap.DebugLevel, "invitation sent"); ce != nil {
			ce.Write(zap.String("email", email), zap.Bool("resend", prev != nil))
		}
		return done, "", r.settleLedger(t, email, LedgerSent)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Kind == KindFatal {
		// The context ended or the run must stop. An intent whose send
		// certainly had no effect is settled now; one that may have gone
		// out stays, for a rerun to settle.
		if !left {
			if serr := closeIntent(); serr == nil && t.durable != nil {
				_ = t.durable(context.WithoutCancel(ctx))
			}
		}
		return OutcomeNone, "", err
	}
	switch {
	case ae.Kind == KindPrecondition:
		return NotInvitable, "send refused: " + ae.Msg, closeIntent()
	case ae.Kind == KindConflict:
		return r.conflict(ctx, t, email, made > 0, done, prior, ae)
	case ae.Ambiguous && !ae.NotSent:
		r.Log.Warn("send failed ambiguously; reading it back after the settle window",
			zap.String("error", ae.Msg), zap.Duration("window", r.SettleWindow))
		t.later = &settleLater{due: at.Add(max(r.SettleWindow, ae.RetryAfter)), prev: prev, prior: prior,
			made: made + 1, why: ae.Msg}
		return OutcomeNone, "", errSettleLater
	}
	return Failed, ae.Msg, closeIntent()
}

// closeOnce returns the closing of an action's ledger intent: while *open,
// it clears it and calls undo; after, it does nothing.
func closeOnce(open *bool, undo func() error) func() error {
	return func() error {
		if !*open {
			return nil
		}
		*open = false
		return undo()
	}
}

// refused reports whether err is a refusal that Caller.do retries and that
// proves the request had no effect: a quota refusal (429, a rate-limit 403)
// or a 401 before the credential is renewed. Its intent is closed as soon
// as the answer comes, before the wait for the retry (a 429's can last
// minutes): a crash during that wait must not leave an intent that the
// next run reads back, which for an account too new to be listed makes the
// row unconfirmed although nothing was sent.
func refused(err error) bool {
	if err == nil {
		return false // most calls: no errors.As, whose target escapes
	}
	var ae *APIError
	return errors.As(err, &ae) && !ae.Ambiguous && (ae.Kind == KindRetryable || ae.Kind == KindUnauthenticated)
}

// noEffect reports whether a send's error proves that it had no effect: a
// reply that refused it, or a failure before it reached the server.
func noEffect(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.NotSent || !ae.Ambiguous)
}

// unsent records that a send certainly did not go out, keeping an earlier
// send of this tool on record (a failed re-send must not make the ledger
// forget the email that went out before) with its own time: a `sent`
// stamped with the time of the refusal would read as a send made then (a
// run resuming a stopped one reports the row sent, "sent before the run
// was interrupted", although no email went out) and would postpone
// --resend-after.
func (r *Runner) unsent(t *tally, email string, prior LedgerEntry) error {
	if prior.Status == LedgerSent {
		return r.restoreEntry(t, email, prior)
	}
	return r.settleLedger(t, email, LedgerNotSent)
}

// settleEarlier settles an earlier run's intent (or unconfirmed send): once
// its settle window, counted from the ledger record's time, has passed;
// until then the row waits at the back of the run.
func (r *Runner) settleEarlier(ctx context.Context, t *tally, email string, e LedgerEntry) (Outcome, string, error) {
	// The ledger keeps whole seconds, rounded down: the intent may be up to
	// a second later than its record says.
	p := &settleLater{due: e.Time.Add(ledgerResolution + r.SettleWindow), prior: e, made: 1, early: true,
		why: "an earlier run stopped while the send was in flight"}
	switch e.Status {
	case LedgerUnconfirmed:
		p.why = "an earlier run could not confirm the send"
	case LedgerResendIntent:
		p.why, p.resend = "an earlier run stopped while a re-send was in flight", true
	}
	if r.Now().Before(p.due) && !r.DryRun { // a dry run predicts from what it reads now
		t.later = p
		return OutcomeNone, "", errSettleLater
	}
	return r.readBack(ctx, t, email, p)
}

// readBack reads the invitation of a row whose settle window has passed and
// settles its ambiguous send: INVITED is sent; visibly NOT_YET_SENT allows
// one more send (never a third), unless an earlier run left the row
// unconfirmed; no visible invitation is unconfirmed. An
// ambiguous re-send is unconfirmed unless the invitation proves it went out:
// its mailsSentCount is higher than before the re-send. A newer updateTime
// is no proof (it changes on other edits too), and a count that did not
// move may be a read that lags: the re-send is not repeated.
func (r *Runner) readBack(ctx context.Context, t *tally, email string, p *settleLater) (Outcome, string, error) {
	inv, err := r.state(ctx, t, email, true)
	if err != nil {
		if KindOf(err) == KindFatal || ctx.Err() != nil || errors.Is(err, ErrStopped) {
			return OutcomeNone, "", err // the intent stays: a rerun settles it
		}
		return Unconfirmed, "send result unknown (" + p.why + ") and the invitation could not be read: " + err.Error(),
			r.settleLedger(t, email, LedgerUnconfirmed)
	}
	if p.resend {
		if out, reason, final := byState(inv); final && inv.State != StateInvited {
			return out, reason, r.settleLedger(t, email, LedgerSent)
		}
		// The invitation was INVITED before the re-send, and the count it
		// had then is not known: the earlier email stays on record.
		return Unconfirmed, fmt.Sprintf("re-send result unknown (%s): the invitation is %s with %d mails sent, which cannot tell; not re-sent",
			p.why, inv.State, inv.MailsSent), r.settleLedger(t, email, LedgerSent)
	}
	if p.prev != nil {
		if inv.State == StateInvited && inv.MailsSent > p.prev.MailsSent {
			return Resent, fmt.Sprintf("confirmed after an ambiguous failure: mailsSentCount rose from %d to %d", p.prev.MailsSent, inv.MailsSent),
				r.settleLedger(t, email, LedgerSent)
		}
		status := LedgerUnconfirmed
		if p.prior.Status == LedgerSent {
			status = LedgerSent // this tool's earlier email stays on record
		}
		return Unconfirmed, fmt.Sprintf("re-send result unknown (%s): the invitation is %s with %d mails sent, no proof that the re-send went out; not re-sent",
			p.why, inv.State, inv.MailsSent), r.settleLedger(t, email, status)
	}
	switch inv.State {
	case StateInvited:
		return Sent, "confirmed by the invitation's state, read back after the settle window (" + p.why + ")", r.settleLedger(t, email, LedgerSent)
	case StateAccepted, StateDeclined:
		out, reason, _ := byState(inv)
		return out, reason, r.settleLedger(t, email, LedgerSent)
	case StateNotYetSent:
		if p.early && p.prior.Status == LedgerUnconfirmed {
			// An earlier run already judged this send unknown (e.g. two
			// ambiguous sends on an API whose reads may lag): the contract's
			// unconfirmed is never re-sent automatically.
			return Unconfirmed, unconfirmedBefore, r.settleLedger(t, email, LedgerUnconfirmed)
		}
		if p.made >= 2 {
			return Unconfirmed, "send result unknown (" + p.why + "): the invitation still reads NOT_YET_SENT after a second send; not sent a third time",
				r.settleLedger(t, email, LedgerUnconfirmed)
		}
		// The send visibly did not take effect: one more.
		if r.DryRun {
			return WouldSend, "the send of an earlier run did not take effect (" + p.why + ")", nil
		}
		if p.early && r.CheckEach {
			return r.invite(ctx, t, email, p.made)
		}
		return r.send(ctx, t, email, nil, p.made)
	}
	// Too new to be listed (the 48-hour lag) or never created: the email
	// may or may not have gone out. Never re-sent silently.
	return Unconfirmed, "send result unknown (" + p.why + ") and no invitation is visible yet (accounts newer than 48 hours are not listed); not re-sent",
		r.settleLedger(t, email, LedgerUnconfirmed)
}

// unconfirmedBefore is the reason of a row an earlier run left unconfirmed
// and that still reads NOT_YET_SENT.
const unconfirmedBefore = "an earlier run could not confirm its send and the invitation still reads NOT_YET_SENT; " +
	"an unconfirmed send is not repeated automatically: check with the user, then run `invitebatch ledger forget ADDRESS` to allow sending again"
