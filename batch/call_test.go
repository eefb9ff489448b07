package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingPacer records what a Caller tells its pacer.
type countingPacer struct {
	mu                          sync.Mutex
	waits, succeeded, throttled int
	pauses                      []time.Duration
}

func (p *countingPacer) Wait(context.Context) error {
	p.mu.Lock()
	p.waits++
	p.mu.Unlock()
	return nil
}
func (p *countingPacer) Succeeded() { p.mu.Lock(); p.succeeded++; p.mu.Unlock() }
func (p *countingPacer) Throttled() { p.mu.Lock(); p.throttled++; p.mu.Unlock() }
func (p *countingPacer) Pause(d time.Duration) {
	p.mu.Lock()
	p.pauses = append(p.pauses, d)
	p.mu.Unlock()
}

// What the Caller tells the pacer about each answer: every quota refusal
// (429, rate-limit 403) is reported, other failures are not, and a
// server-given delay pauses the pacer (every worker), not just the worker
// that was told.
func TestCallerTellsThePacer(t *testing.T) {
	rateLimit403 := &APIError{Kind: KindRetryable, Code: 403, Reason: "rateLimitExceeded", Msg: "403 rateLimitExceeded"}
	withDelay := func(code int, d time.Duration) error {
		return &APIError{Kind: KindRetryable, Code: code, RetryAfter: d, Msg: fmt.Sprintf("%d", code)}
	}
	tests := []struct {
		name          string
		errs          []error // the answers before a success
		wantThrottled int
		wantPauses    []time.Duration
	}{
		{"429 without RetryInfo", []error{retryable(429, false), retryable(429, false)}, 2, nil},
		{"rate-limit 403", []error{rateLimit403}, 1, nil},
		{"503 is not a quota refusal", []error{retryable(503, false)}, 0, nil},
		{"429 with RetryInfo pauses everyone", []error{withDelay(429, 30*time.Millisecond)}, 1, []time.Duration{30 * time.Millisecond}},
		{"503 with Retry-After pauses everyone", []error{withDelay(503, 20*time.Millisecond)}, 0, []time.Duration{20 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &countingPacer{}
			c := Caller{Pacer: p, Backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond, MaxAttempts: 5}}
			errs := tt.errs
			err := c.Do(context.Background(), MethodGet, func(context.Context) error {
				if len(errs) == 0 {
					return nil
				}
				err := errs[0]
				errs = errs[1:]
				return err
			}, nil)
			if err != nil {
				t.Fatalf("Do = %v, want success after the retries", err)
			}
			if p.waits != len(tt.errs)+1 || p.succeeded != 1 {
				t.Errorf("waits, successes = %d, %d; want %d, 1", p.waits, p.succeeded, len(tt.errs)+1)
			}
			if p.throttled != tt.wantThrottled {
				t.Errorf("Throttled() called %d times, want %d", p.throttled, tt.wantThrottled)
			}
			if diff := cmp.Diff(tt.wantPauses, p.pauses); diff != "" {
				t.Errorf("pauses (-want +got):\n%s", diff)
			}
		})
	}
}

// Observe hears which answers were quota refusals: a 429 and a rate-limit
// 403 are, a 503 is not, nor a 403 that is no rate limit (the summary's
// throttled counted 429s only, so a run throttled with 403s showed none).
func TestCallerObservesQuotaRefusals(t *testing.T) {
	rateLimit403 := &APIError{Kind: KindRetryable, Code: 403, Reason: "rateLimitExceeded", Msg: "403 rateLimitExceeded"}
	forbidden := &APIError{Kind: KindFatal, Code: 403, Msg: "403 PERMISSION_DENIED"}
	var got []bool
	c := Caller{Pacer: &countingPacer{}, Backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond, MaxAttempts: 5},
		Observe: func(_ string, _ int, _, throttled bool) { got = append(got, throttled) }}
	errs := []error{retryable(429, false), rateLimit403, retryable(503, false), nil, forbidden}
	for range 2 {
		c.Do(context.Background(), MethodSend, func(context.Context) error {
			err := errs[0]
			errs = errs[1:]
			return err
		}, nil)
	}
	if want := []bool{true, true, false, false, false}; !slices.Equal(got, want) {
		t.Errorf("throttled per attempt = %v, want %v", got, want)
	}
}

// A server delay over the cap is not waited out: Do returns at once with an
// error that stops the run resumably, saying when to come back.
func TestCallerDelayOverCapStops(t *testing.T) {
	p := &countingPacer{}
	c := Caller{Pacer: p, Backoff: DefaultBackoff, MaxDelay: time.Minute}
	calls := 0
	before := time.Now()
	// Bounded, so that a Caller that waits the delay out fails the test
	// rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.Do(ctx, MethodSend, func(context.Context) error {
		calls++
		return &APIError{Kind: KindRetryable, Code: 429, RetryAfter: 2 * time.Hour, Msg: "send: 429"}
	}, nil)
	resets, ok := QuotaStop(err)
	if !ok || KindOf(err) != KindFatal {
		t.Fatalf("Do = %v, want a quota stop", err)
	}
	if calls != 1 || len(p.pauses) != 0 {
		t.Errorf("calls = %d, pauses = %v; want 1 call and no pause", calls, p.pauses)
	}
	if d := resets.Sub(before); d < 2*time.Hour || d > 2*time.Hour+time.Minute {
		t.Errorf("resets in %v, want 2h", d)
	}
	if QuotaStopOf(errors.New("x")) {
		t.Error("a plain error is a quota stop")
	}
}

// QuotaStopOf is QuotaStop without the time, for conditions.
func QuotaStopOf(err error) bool { _, ok := QuotaStop(err); return ok }
