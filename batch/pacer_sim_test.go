package batch

import (
	"cmp"
	"testing"
	"time"
)

// bucketRun is one simulated run of a pacer against a token bucket.
type bucketRun struct {
	qps     float64       // the pacer's ceiling (--qps)
	latency time.Duration // a request reaches the server after half of it, is answered after all of it
	listing int           // requests the run makes one at a time first (the list pages)
	bucket  int           // the server's bucket (10 if 0)
}

// sharpBucket drives a pacer against a simulated token bucket: s requests
// per second, a bucket of b (full at the start), every refusal saying
// "wait 1 s" (RetryInfo), which pauses the pacer. Requests leave at the
// pacer's rate, never while it is paused; the first run.listing wait for
// each other's answer. It returns the requests the server accepted and
// refused over d. Deterministic: the pacer runs on the simulated clock and
// its limiter is not used.
func sharpBucket(run bucketRun, s float64, d time.Duration) (ok, refused int) {
	b := cmp.Or(run.bucket, 10)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	p := newPacer(run.qps, 1, true, func() time.Time { return now })
	tokens, filled := float64(b), start
	type answer struct {
		at time.Time
		ok bool
	}
	var inFlight []answer // in the order they are answered (one latency)
	next, end := start, start.Add(d)
	listing := run.listing
	for now.Before(end) {
		if len(inFlight) > 0 && !inFlight[0].at.After(next) {
			a := inFlight[0]
			inFlight = inFlight[1:]
			now = a.at
			if a.ok {
				p.Succeeded()
			} else {
				p.Throttled()
				p.Pause(time.Second)
			}
			if listing > 0 || (run.listing > 0 && len(inFlight) == 0 && next.Before(now)) {
				next = now
			}
			continue
		}
		now = next
		if p.pausedUntil.After(now) {
			next = p.pausedUntil
			continue
		}
		if listing > 0 && len(inFlight) > 0 {
			next = inFlight[0].at
			continue
		}
		if listing > 0 {
			listing--
		}
		p.leave()
		at := now.Add(run.latency / 2)
		tokens = min(float64(b), tokens+s*at.Sub(filled).Seconds())
		filled = at
		accepted := tokens >= 1
		if accepted {
			tokens--
			ok++
		} else {
			refused++
		}
		inFlight = append(inFlight, answer{now.Add(run.latency), accepted})
		next = now.Add(time.Duration(float64(time.Second) / p.Limit()))
	}
	return ok, refused
}

// A token bucket of 50/s with a bucket of only 10 (and of 3, 30, 60),
// whose refusals all say "1 s", against --qps well over it (invitebench's
// sharp-bucket), answered after 0, 20 or 100 ms, with or without the
// run's list pages read one at a time first: each
// refusal pauses the whole run for a second, in which the server saves
// only its bucket, so the pacer must find the quota after very few and
// then stay just under it. Over two minutes it must accept 0.95 S or
// more. (The pacer that measured the quota with a guessed bucket and crept
// up 0.2%/s from 0.97 of it accepted 0.946 S: it was refused every 30 s.)
// Over 30 s, where three refusals that measure S cost 8% of the run, it
// must accept 0.85 S.
func TestPacerSharpBucket(t *testing.T) {
	const s = 50
	for _, run := range []bucketRun{
		{qps: 200},
		{qps: 200, latency: 20 * time.Millisecond, listing: 45},
		{qps: 200, latency: 20 * time.Millisecond},
		{qps: 100, latency: 20 * time.Millisecond, listing: 45},
		{qps: 60, latency: 20 * time.Millisecond, listing: 45},
		{qps: 200, latency: 20 * time.Millisecond, listing: 45, bucket: 30},
		{qps: 200, latency: 20 * time.Millisecond, bucket: 3},
		{qps: 200, latency: 20 * time.Millisecond, bucket: 60},
		{qps: 200, latency: 100 * time.Millisecond},
	} {
		for _, c := range []struct {
			d    time.Duration
			want float64
		}{{30 * time.Second, 0.85}, {2 * time.Minute, 0.95}} {
			ok, refused := sharpBucket(run, s, c.d)
			rate := float64(ok) / c.d.Seconds() / s
			share := float64(refused) / float64(ok+refused)
			t.Logf("%+v over %v: accepted %.3f S, %d refused (%.2f%%)", run, c.d, rate, refused, 100*share)
			if rate < c.want || share > 0.02 {
				t.Errorf("%+v over %v: accepted %.3f S with %.2f%% refused, want >= %v S and < 2%%", run, c.d, rate, 100*share, c.want)
			}
		}
	}
}
