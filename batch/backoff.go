package batch

import (
	"math"
	"time"
)

// Backoff is a capped exponential backoff policy for one request. It is a
// pure function of the attempt number, so it is tested with a table; the
// overall request rate is the Pacer's business, not this one's.
type Backoff struct {
	Base        time.Duration // delay after the first failure, before jitter
	Max         time.Duration // cap on the computed delay
	MaxAttempts int           // attempts in all, the first one included
}

// DefaultBackoff retries for about two minutes before a row is failed:
// long enough to ride out a quota window, short enough that a dead API does
// not stall a run for hours (a rerun picks the failed rows up again).
var DefaultBackoff = Backoff{Base: 500 * time.Millisecond, Max: 30 * time.Second, MaxAttempts: 8}

// Delay returns how long to wait after the n-th failed attempt (n >= 1).
// serverMin is the server's RetryInfo or Retry-After, which wins over the
// computed delay; rnd in [0, 1) supplies the jitter. The computed delay is
// "equal jitter": half fixed, half random, so that workers that failed
// together do not retry together yet never retry at once.
func (b Backoff) Delay(n int, serverMin time.Duration, rnd float64) time.Duration {
	if n < 1 {
		n = 1
	}
	// Clamp in floating point before converting: 2^n overflows a Duration
	// long before n stops being a plausible attempt count.
	d := float64(b.Base) * math.Pow(2, float64(n-1))
	if d > float64(b.Max) {
		d = float64(b.Max)
	}
	d = d/2 + rnd*d/2
	if serverMin > 0 {
		// The server knows when a token frees up; add a little jitter so
		// the workers it told the same thing do not come back in lockstep.
		return serverMin + time.Duration(rnd*float64(b.Base))
	}
	return time.Duration(d)
}

// Retry reports whether another attempt is allowed after n failed attempts.
func (b Backoff) Retry(n int) bool { return n < b.MaxAttempts }
