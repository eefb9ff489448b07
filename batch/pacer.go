package batch

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer is the one rate limiter every API request of a run goes through,
// retries included. It starts at the configured rate (the ceiling, never
// exceeded) and adapts to the server's real quota: a 429 lowers the rate to
// a little under what the server has been accepting, and successes raise it
// again, additively, towards the ceiling. The zero value is not usable; use
// NewPacer.
type Pacer struct {
	lim     *rate.Limiter
	now     func() time.Time
	ceiling rate.Limit
	floor   rate.Limit

	mu      sync.Mutex
	cur     rate.Limit
	lastCut time.Time
	// ok counts successes in the current one-second window, prevOK those
	// of the previous window: the rate the server has been accepting.
	window      time.Time
	ok, prevOK  int
	adaptive    bool
	throttleCnt int
}

// NewPacer returns a Pacer allowing qps requests per second with the given
// burst. With adaptive false it never changes its rate.
func NewPacer(qps float64, burst int, adaptive bool) *Pacer {
	return newPacer(qps, burst, adaptive, time.Now)
}

func newPacer(qps float64, burst int, adaptive bool, now func() time.Time) *Pacer {
	if burst < 1 {
		burst = 1
	}
	lim := rate.Limit(qps)
	floor := lim / 50
	if floor > 0.2 {
		floor = 0.2
	}
	return &Pacer{
		lim:      rate.NewLimiter(lim, burst),
		now:      now,
		ceiling:  lim,
		floor:    floor,
		cur:      lim,
		adaptive: adaptive,
	}
}

// Wait blocks until the next request may leave, or ctx is done.
func (p *Pacer) Wait(ctx context.Context) error { return p.lim.Wait(ctx) }

// Limit returns the current rate in requests per second.
func (p *Pacer) Limit() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return float64(p.cur)
}

// Succeeded tells the pacer a request was accepted.
func (p *Pacer) Succeeded() {
	if !p.adaptive {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.tick(now)
	p.ok++
	if p.cur >= p.ceiling {
		return
	}
	// Additive increase: about +2% of the ceiling per second of steady
	// success (one step per success, sized by the current rate), and none
	// in the second after a cut, so the cut has time to show.
	if now.Sub(p.lastCut) < time.Second {
		return
	}
	p.cur += p.ceiling * 0.02 / max(p.cur, 1)
	p.cur = min(p.cur, p.ceiling)
	p.lim.SetLimit(p.cur)
}

// Throttled tells the pacer the server refused a request for quota (429).
func (p *Pacer) Throttled() {
	if !p.adaptive {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.tick(now)
	p.throttleCnt++
	// One cut per second: the 429s of requests that were already in flight
	// say nothing new about the quota.
	if now.Sub(p.lastCut) < time.Second {
		return
	}
	// Multiplicative decrease towards what the server accepted over the
	// last full second, if that is lower than our own rate.
	accepted := rate.Limit(p.prevOK)
	next := p.cur * 0.85
	if accepted > 0 && accepted*0.95 < next {
		next = accepted * 0.95
	}
	p.cur = max(next, p.floor)
	p.lastCut = now
	p.lim.SetLimit(p.cur)
}

// tick rolls the one-second success window forward. p.mu must be held.
func (p *Pacer) tick(now time.Time) {
	if p.window.IsZero() {
		p.window = now
		return
	}
	switch d := now.Sub(p.window); {
	case d >= 2*time.Second:
		p.prevOK, p.ok, p.window = 0, 0, now
	case d >= time.Second:
		p.prevOK, p.ok, p.window = p.ok, 0, p.window.Add(time.Second)
	}
}
