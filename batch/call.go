package batch

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// Method names, as counted in Stats.Calls and the summary.
const (
	MethodIsInvitable = "isInvitableUser"
	MethodGet         = "get"
	MethodSend        = "send"
	MethodList        = "list"
	MethodCancel      = "cancel"
)

// call makes one logical request: it waits for the pacer before every
// attempt, retries what is retryable with backoff, and returns the last
// error. An ambiguous failure of a request with side effects (a send that
// may have been delivered) is returned at once: repeating it blindly could
// email someone twice, so the caller settles it first.
func (r *Runner) call(ctx context.Context, t *tally, method string, fn func(context.Context) error) error {
	refreshed := false
	for attempt := 1; ; attempt++ {
		if err := r.Pacer.Wait(ctx); err != nil {
			return err
		}
		err := fn(ctx)
		t.calls++
		if err == nil {
			r.counter.add(method, 200, attempt > 1)
			r.Pacer.Succeeded()
			return nil
		}
		if ctx.Err() != nil {
			// Our own cancellation, not the server's answer.
			return ctx.Err()
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			r.counter.add(method, 0, attempt > 1)
			return err
		}
		r.counter.add(method, ae.Code, attempt > 1)
		switch ae.Kind {
		case KindUnauthenticated:
			// Tokens expire; the token source fetches a new one when the
			// old one is stale. A second 401 means the credentials
			// themselves are refused.
			if refreshed {
				return &APIError{Kind: KindFatal, Code: ae.Code, Status: ae.Status, Reason: ae.Reason,
					Msg: ae.Msg + " (again after a credential refresh: the credentials are refused)"}
			}
			refreshed = true
			continue
		case KindRetryable:
			if ae.Code == 429 {
				r.Pacer.Throttled()
			}
			if ae.Ambiguous || !r.Backoff.Retry(attempt) {
				return err
			}
			d := r.Backoff.Delay(attempt, ae.RetryAfter, r.rand())
			if ae.Code == 429 {
				// The server's delay is when its next token frees up, a few
				// milliseconds: retrying that soon joins the same crowd and
				// spends the row's attempts within a second. The pacer sets
				// the rate; the row backs off as for any failure, and never
				// sooner than the server asks.
				d = max(r.Backoff.Delay(attempt, 0, r.rand()), d)
			}
			r.Log.Debug("retrying request", zap.String("method", method), zap.Int("attempt", attempt),
				zap.Int("code", ae.Code), zap.Duration("delay", d))
			if err := sleep(ctx, d); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tally counts the requests made for one row.
type tally struct{ calls int }
