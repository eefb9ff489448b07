package batch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// Limiter is the shared rate limiter a Caller waits for before every
// attempt and tells what the server answered: a *Pacer.
type Limiter interface {
	// Wait blocks until a request may leave, or ctx is done.
	Wait(ctx context.Context) error
	// Succeeded: the server accepted a request.
	Succeeded()
	// Throttled: the server refused a request for quota (429, or a
	// rate-limit 403).
	Throttled()
	// Pause holds every request for a delay the server gave.
	Pause(d time.Duration)
}

// maxRefusals is how many quota refusals one request takes before it
// fails: with the pacer probing a used-up window at most every 8 s, over
// ten minutes.
const maxRefusals = 100

// DefaultMaxDelay caps the server delays a run waits out: a longer one
// (a quota exhausted for hours) stops the run resumably instead.
const DefaultMaxDelay = 5 * time.Minute

// Caller makes logical requests: it waits for the pacer before every
// attempt, retries what is retryable with backoff (the server's RetryInfo
// wins), renews credentials once on a 401, and returns the last error. A
// quota refusal (429, rate-limit 403) is reported to the pacer, and a
// server-given delay pauses the pacer, and with it every request of the
// run, not only the one told. The pipeline uses one; so do the read-only
// commands (status, export), so that every request of the tool follows
// the same rules.
type Caller struct {
	Pacer   Limiter
	Backoff Backoff
	// MaxDelay is the longest server delay waited out (0:
	// DefaultMaxDelay). A longer one ends Do with an error for which
	// QuotaStop reports true.
	MaxDelay time.Duration
	Log      *zap.Logger // nil: no logs
	// Observe, if set, is told of every attempt: its method, HTTP status
	// (200 for success, 0 for a transport failure), whether it was a
	// retry, and whether it was refused for quota (a 429, or a 403 whose
	// reason is a rate limit).
	Observe func(method string, code int, retry, throttled bool)
	// Stop, when closed, ends the waits between attempts (the pacer, a
	// backoff, a server-given delay): Do then returns ErrStopped without
	// making the request. A request already sent is not interrupted.
	Stop <-chan struct{}
}

// ErrStopped is returned by Caller.Do when Stop closed while it waited to
// make a request: the request was not made (and a send's intent not yet
// written); the row is left for a rerun.
var ErrStopped = errors.New("stopped while waiting to make a request")

// Do runs fn until it succeeds, fails for good, or ctx ends. An ambiguous
// failure of a request with side effects (a send that may have been
// delivered) is returned at once: repeating it blindly could email someone
// twice, so the caller settles it first. progress, if not nil, is asked
// after a retryable failure whether the attempt still moved forward (a
// list that got new pages): such a failure does not use up the attempts.
func (c *Caller) Do(ctx context.Context, method string, fn func(context.Context) error, progress func() bool) error {
	return c.do(ctx, method, nil, fn, progress)
}

// do is Do with ready, if not nil, called before every attempt once the
// pacer's slot is taken: a send makes sure of its credential there and
// records its intent, so that a request waiting for the limiter when the run
// stops leaves nothing behind. An error of ready counts as the attempt's.
func (c *Caller) do(ctx context.Context, method string, ready, fn func(context.Context) error, progress func() bool) error {
	wctx, cancel := c.waitContext(ctx)
	defer cancel()
	refreshed := false
	refusals := 0
	retry := false // the request was sent before: counts as a retry
	for attempt := 1; ; attempt, retry = attempt+1, true {
		if err := c.Pacer.Wait(wctx); err != nil {
			return c.waitErr(ctx, err)
		}
		var err error
		if ready != nil {
			err = ready(ctx)
		}
		if err == nil {
			err = fn(ctx)
		}
		if err == nil {
			c.observe(method, 200, retry, false)
			c.Pacer.Succeeded()
			return nil
		}
		if ctx.Err() != nil {
			// Our own cancellation, not the server's answer.
			return ctx.Err()
		}
		var ae *APIError
		if !errors.As(err, &ae) {
			c.observe(method, 0, retry, false)
			return err
		}
		c.observe(method, ae.Code, retry, ae.Code == 429 || ae.Kind == KindRetryable && throttled(ae))
		switch ae.Kind {
		case KindUnauthenticated:
			// The client renews its token on a 401; a second 401 means
			// the credentials themselves are refused.
			if refreshed {
				return &APIError{Kind: KindFatal, Code: ae.Code, Status: ae.Status, Reason: ae.Reason,
					Msg: ae.Msg + " (again after a credential refresh: the credentials are refused)"}
			}
			refreshed = true
		case KindRetryable:
			if throttled(ae) {
				c.Pacer.Throttled()
			}
			if ae.RetryAfter > 0 {
				if max := c.maxDelay(); ae.RetryAfter > max {
					return &APIError{Kind: KindFatal, Code: ae.Code, Status: ae.Status, Reason: ae.Reason,
						RetryAfter: ae.RetryAfter, Resets: time.Now().Add(ae.RetryAfter),
						Msg: fmt.Sprintf("%s (the server asks to wait %s, over the %s this run waits: stopping)",
							ae.Msg, ae.RetryAfter.Round(time.Second), max)}
				}
				// Told to one request, meant for all: the quota is shared.
				c.Pacer.Pause(ae.RetryAfter)
			}
			if ae.Ambiguous {
				return err
			}
			if progress != nil && progress() {
				attempt = 1
			}
			n := attempt
			if throttled(ae) {
				// The shared pacer spaces, pauses and probes the retries of
				// a quota refusal: this request only waits its turn, and
				// does not use up its attempts (a used-up quota window
				// refuses everything for up to a minute).
				refusals++
				if refusals > maxRefusals {
					return err
				}
				attempt--
				n = 1
			} else if !c.Backoff.Retry(attempt) {
				return err
			}
			d := c.Backoff.Delay(n, ae.RetryAfter, rand.Float64())
			if c.Log != nil {
				c.Log.Debug("retrying request", zap.String("method", method), zap.Int("attempt", attempt),
					zap.Int("code", ae.Code), zap.Duration("delay", d))
			}
			if err := sleep(wctx, d); err != nil {
				return c.waitErr(ctx, err)
			}
		default:
			return err
		}
	}
}

// waitContext returns the context of Do's waits: ctx, also cancelled when
// c.Stop closes.
func (c *Caller) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.Stop == nil {
		return ctx, func() {}
	}
	wctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.Stop:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}

// waitErr is the error of a wait that ended early: ErrStopped when Stop
// ended it rather than ctx.
func (c *Caller) waitErr(ctx context.Context, err error) error {
	if ctx.Err() == nil && c.stopped() {
		return ErrStopped
	}
	return err
}

func (c *Caller) stopped() bool {
	select {
	case <-c.Stop:
		return true
	default:
		return false
	}
}
func (c *Caller) maxDelay() time.Duration {
	if c.MaxDelay > 0 {
		return c.MaxDelay
	}
	return DefaultMaxDelay
}

// throttled reports whether a retryable failure is a quota refusal: a 429,
// or a 403 (retryable only when its reason is a rate limit).
func throttled(ae *APIError) bool { return ae.Code == 429 || ae.Code == 403 }

func (c *Caller) observe(method string, code int, retry, throttled bool) {
	if c.Observe != nil {
		c.Observe(method, code, retry, throttled)
	}
}

// call is Do for one row: it counts the row's requests in t.
func (r *Runner) call(ctx context.Context, t *tally, method string, fn func(context.Context) error) error {
	return r.callReady(ctx, t, method, nil, fn)
}

// callReady is call with a ready step before each attempt (see Caller.do).
// A 403 of a read that may concern only the address (KindForbidden) is
// settled by a customer-wide read (ForbiddenCheck).
func (r *Runner) callReady(ctx context.Context, t *tally, method string, ready, fn func(context.Context) error) error {
	err := r.caller.do(ctx, method, ready, func(ctx context.Context) error {
		t.calls++
		return fn(ctx)
	}, nil)
	if err == nil {
		return nil // most calls: no errors.As, whose target escapes
	}
	var ae *APIError
	if errors.As(err, &ae) && ae.Kind == KindForbidden {
		return r.forbidden.Resolve(ctx, &r.caller, r.API, ae, func() { t.calls++ })
	}
	return err
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
type tally struct {
	calls   int
	durable func(context.Context) error // waits for the row's ledger result; nil without one
	later   *settleLater                // with errSettleLater: what the row waits for
}
