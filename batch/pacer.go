package batch

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Pacer is the one rate limiter every API request of a run goes through,
// retries included. It starts at the configured rate (the ceiling, never
// exceeded) and, when adaptive, follows the server's real quota:
//
//   - The first 429 after a quiet spell cuts the rate by 10% at once and
//     drops any saved-up burst.
//   - While 429s go on, every quarter second the pacer compares what the
//     server accepted with what it refused since the last look. When the
//     server refused a real share (two or more requests and over 5%), it
//     was answering at its quota, so the accepted rate is the quota: the
//     rate is set to 95% of it, up or down. Straggling 429s of requests
//     already in flight are too few to count.
//   - When a quarter second of a throttled spell saw 429s and nothing
//     accepted, the server is refusing every request: a fixed quota
//     window is used up (Google's per-minute quotas), and most such 429s
//     carry no RetryInfo. Nothing accepted says nothing about the quota,
//     so the rate is kept; instead every request waits, for a quarter
//     second, then twice as long each time the server still refuses
//     everything, up to maxProbePause, until one is accepted. A window
//     that ends finds the pacer at its rate, not at its floor.
//   - After a second without a cut, successes raise the rate again,
//     multiplicatively and faster the longer no 429 came: slowly near the
//     quota just measured, quickly when the quota has risen since.
//   - When 429s come with server delays of costlyDelay or more (a token
//     bucket saying "1 s"), each one pauses the whole run: the pacer
//     measures the quota from the segments between pauses (segmentEnds),
//     sets the rate just under it, less what the measure may be off by,
//     and creeps up additively: quickly after a rough measure, so that
//     the next refusal measures it well, very slowly after a good one.
//   - An adaptive pacer starts with a burst of one (every worker leaving
//     at once meets a small bucket with dozens in flight); the configured
//     burst returns after quietSpell at the ceiling without a 429.
//
// Pause stops every request for a delay the server gave (RetryInfo,
// Retry-After): it was told to one request, and holds for all of them.
//
// The zero value is not usable; use NewPacer.
type Pacer struct {
	lim      *rate.Limiter
	booking  chan struct{} // a slot for each request holding a reservation
	now      func() time.Time
	ceiling  rate.Limit
	floor    rate.Limit
	burst    int
	adaptive bool

	mu        sync.Mutex
	cur       rate.Limit
	lastCut   time.Time // zero: never cut
	last429   time.Time // zero: never throttled
	lastRaise time.Time
	// The current measuring interval of a throttled spell: its start and
	// the successes and 429s since.
	since   time.Time
	ok, thr int
	// Requests wait until pausedUntil: a server delay, or a probe pause
	// while the server refuses everything. probe is the next probe pause.
	pausedUntil time.Time
	probe       time.Duration
	refused     int  // 429s since the last accepted request
	probeOut    bool // a probe has left and not been answered
	// resumed is closed (and replaced) when a pause ends early: a probe
	// was accepted, and the requests waiting out the pause may go now.
	// serverUntil is the end of the latest delay the server gave
	// (Pause), which nothing ends early.
	resumed     chan struct{}
	serverUntil time.Time
	// known is the rate at the last refusal; delayCost the longest
	// server delay given since that refusal (0: none).
	known     rate.Limit
	delayCost time.Duration
	// The current segment: requests accepted (segOK) since segStart, its
	// first accepted answer (zero: none yet), so that its length is
	// the server's, not the server's and an answer's way; seg the
	// last segment a server delay ended, its length and requests
	// accepted (segT 0: none). atRefusal is the rate at the last refusal.
	segStart  time.Time
	segOK     int
	segT      time.Duration
	segN      int
	atRefusal rate.Limit
	// segFrom is the rate the current segment began at; segSteady, that
	// the last segment kept its rate (it may measure the quota).
	segFrom   rate.Limit
	segSteady bool
	// okAt holds the times of the current segment's accepted requests
	// (the latest maxOkAt); bucket is the server's bucket as two steady
	// segments measured it (0: not measured).
	okAt      []time.Time
	bucket    float64
	bucketErr float64
	// shortT and shortN are the length and accepted requests of the
	// shortest steady segment (0: none), creep the additive rise per
	// second, relative to known, near the rate known (see Succeeded).
	shortT time.Duration
	shortN int
	creep  float64
	// fullSince is when the rate last came back to the ceiling (zero:
	// not yet seen there by Succeeded); the configured burst returns
	// after quietSpell there.
	fullSince time.Time
}

// Tuning of the adaptive pacer; see Pacer.
const (
	quietSpell   = 2 * time.Second        // no 429 for this long ends a throttled spell
	measureEvery = 250 * time.Millisecond // how often a throttled spell is measured
	holdAfterCut = time.Second            // no raise for this long after a cut
	firstCut     = 0.9                    // the cut on a spell's first 429
	underQuota   = 0.95                   // the rate set, relative to the measured quota
	// The raise per second, relative to the current rate: raiseBase plus
	// raisePerQuiet per second since the last 429, at most raiseMax.
	raiseBase, raisePerQuiet, raiseMax = 0.02, 0.03, 0.5
	// At most this many requests wait in the limiter at a time; the rest
	// queue, in order, before it. A request in the limiter holds a slot
	// reserved at the rate of when it came: after a cut, those requests
	// still leave at the old rate and meet the quota just cut for. With
	// every worker waiting in the limiter (64 by default), one cut let
	// 8% of the requests of a throttled run be refused instead of 2-3%.
	maxBooked = 4
	// A server delay of costlyDelay or more that no two segments measure
	// cuts the rate to delayCut of itself; one they measure sets it to
	// underBucket of the quota measured. Two segments measure the quota
	// when their lengths differ by minSegDiff or more.
	delayCut    = 0.5
	underBucket = 0.97
	// A quota measured to within preciseShare of itself sets the rate
	// to underPrecise of it less that share, rising by creepSlow of it
	// per second; one measured roughly, to underBucket, rising by
	// creepFast. segNoise: the requests a segment's count may be off by.
	preciseShare = 0.02
	underPrecise = 0.995
	creepSlow    = 0.0003
	creepFast    = 0.004
	segNoise     = 2
	minSegDiff   = 100 * time.Millisecond
	steadyRise   = 1.05
	maxOkAt      = 1 << 14
	minWindow    = 250 * time.Millisecond
	guessBucket  = 200 * time.Millisecond
	// When refusals come with server delays of costlyDelay or more,
	// the rate is cut by costlyCut only near the rate last refused (the
	// known rate, or the quota segmentEnds measured), and raised by
	// creep of the known rate per second (additive) between
	// nearKnown and pastKnown of it: a token bucket that says "1 s" on
	// every 429 costs the run a second of everything per probe.
	costlyDelay          = 250 * time.Millisecond
	costlyCut            = 0.95
	nearKnown, pastKnown = 0.85, 1.1
	// The pauses while the server refuses everything: the first, and the
	// longest. A used-up 60 s window is then asked about every 8 s at
	// most, and a window reset found within 8 s.
	firstProbePause = 250 * time.Millisecond
	maxProbePause   = 8 * time.Second
	// refuseAll 429s in a row, or two and nothing accepted over a
	// measuring interval, mean the server refuses everything. (A token
	// bucket refuses 4 in a row too, now and then; a pause of a quarter
	// second costs it little, as its bucket fills meanwhile.)
	refuseAll = 4
)

// NewPacer returns a Pacer allowing qps requests per second with the given
// burst. With adaptive false it never changes its rate, but still pauses
// for a server's delay and probes a server that refuses everything.
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
	l := rate.NewLimiter(lim, burst)
	// Start at the rate, not with a burst: the burst absorbs the jitter of
	// a run, and a quota another client shares may already be half used.
	l.ReserveN(time.Now(), burst)
	if adaptive {
		// Nor with the burst saved up while the run prepared (its token,
		// its listing): every worker leaving at once meets a small
		// server bucket with dozens of requests in flight, all refused.
		// The burst is earned by quietSpell at the ceiling.
		l.SetBurst(1)
	}
	return &Pacer{
		lim:      l,
		booking:  make(chan struct{}, maxBooked),
		resumed:  make(chan struct{}),
		now:      now,
		ceiling:  lim,
		floor:    floor,
		burst:    burst,
		cur:      lim,
		adaptive: adaptive,
	}
}

// Wait blocks until the next request may leave, or ctx is done. Requests
// that must wait leave in the order they came; none leaves while the pacer
// is paused.
func (p *Pacer) Wait(ctx context.Context) error {
	for {
		if err := p.waitPause(ctx); err != nil {
			return err
		}
		if !p.lim.Allow() {
			// No token is free now (one may be owed to a request waiting
			// in the limiter): queue. At a high rate most requests never
			// do.
			select {
			case p.booking <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			err := p.lim.Wait(ctx)
			<-p.booking
			if err != nil {
				return err
			}
		}
		if p.leave() {
			return nil
		}
		// A pause began while this request queued: its token was taken at
		// the rate of before. Wait the pause out and queue again, or every
		// request that queued meanwhile would leave at once when it ends.
	}
}

// Limit returns the current rate in requests per second.
func (p *Pacer) Limit() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return float64(p.cur)
}

// Succeeded tells the pacer a request was accepted.
func (p *Pacer) Succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.adaptive {
		p.accepted(now)
		if p.lim.Burst() != p.burst && !now.Before(p.pausedUntil) {
			p.lim.SetBurst(p.burst) // the pause that set it to one is over
		}
		return
	}
	p.ok++
	if !now.Before(p.pausedUntil) {
		if p.segStart.IsZero() {
			p.segStart = now
		}
		p.segOK++
		if len(p.okAt) == maxOkAt {
			p.okAt = append(p.okAt[:0], p.okAt[maxOkAt/2:]...)
		}
		p.okAt = append(p.okAt, now)
	}
	p.accepted(now)
	if p.cur >= p.ceiling && p.lim.Burst() != p.burst {
		// At the ceiling for quietSpell: the burst returns.
		if p.fullSince.IsZero() {
			p.fullSince = now
		}
		if now.Sub(p.fullSince) >= quietSpell && now.Sub(p.last429) >= quietSpell {
			p.lim.SetBurst(p.burst)
		}
	}
	last := p.lastRaise
	p.lastRaise = now
	if p.cur >= p.ceiling || now.Sub(p.lastCut) < holdAfterCut {
		return
	}
	dt := min(now.Sub(last), time.Second).Seconds()
	if last.IsZero() || dt <= 0 {
		return
	}
	g := raiseMax
	if !p.last429.IsZero() {
		g = min(raiseBase+raisePerQuiet*now.Sub(p.last429).Seconds(), raiseMax)
	}
	add := 0.005 // of the ceiling: lifts a rate cut to the floor off it
	if p.costly() && p.cur >= p.known*nearKnown && p.cur < p.known*pastKnown {
		// Near the rate the server last refused, when each refusal
		// pauses the whole run for the server's delay: creep.
		c := p.creep
		if c == 0 {
			c = creepFast
		}
		p.set(p.cur + p.known*rate.Limit(c*dt))
		return
	}
	p.set(p.cur + p.cur*rate.Limit(g*dt) + p.ceiling*rate.Limit(add*dt))
}

// costly reports whether the server's last refusal came with a delay long
// enough that probing for more rate is dear: every refusal stops the whole
// run for that long. p.mu must be held.
func (p *Pacer) costly() bool { return p.known > 0 && p.delayCost >= costlyDelay }

// Throttled tells the pacer the server refused a request for quota (429,
// or a rate-limit 403).
func (p *Pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.adaptive {
		p.refusedAtRate(now)
		return
	}
	p.atRefusal = p.cur
	if p.segStart.IsZero() && !now.Before(p.pausedUntil) {
		p.segStart = now
	}
	// While probing a refusing server the spell goes on, however long
	// the probe pauses grow.
	spell := !p.last429.IsZero() && (now.Sub(p.last429) < quietSpell || p.probe > 0)
	p.last429 = now
	if !spell {
		// A new throttled spell: react at once, and start measuring. Near
		// a rate refused before, with dear refusals, a small cut: a
		// deep one would cost more than the pause just taken.
		f := firstCut
		if p.costly() && p.cur < p.known*pastKnown {
			f = costlyCut
		}
		p.known, p.delayCost = p.cur, 0
		p.cut(now, p.cur*rate.Limit(f))
		return
	}
	p.thr++
	p.refused++
	el := now.Sub(p.since)
	// refuseAll in a row, or nothing accepted over a measuring interval:
	// the server refuses everything (a used-up quota window; the odd
	// success is a request that left before it was used up). That
	// measures no quota: the rate stays, and the pacer probes.
	all := p.refused >= refuseAll || (p.ok == 0 && (p.probe > 0 || (el >= measureEvery && p.thr >= 2)))
	if p.probeRefusal(now, all) {
		return
	}
	if el < measureEvery || (p.ok < 5 && el < 2*time.Second) {
		return
	}
	if p.thr >= 2 && p.thr*20 > p.ok+p.thr {
		// The server was at its quota: what it accepted is the quota.
		p.cut(now, rate.Limit(underQuota*float64(p.ok)/el.Seconds()))
		return
	}
	p.since, p.ok, p.thr = now, 0, 0
}

// cut sets the rate to r after a 429 and starts a measuring interval. p.mu must be held.
func (p *Pacer) cut(now time.Time, r rate.Limit) {
	p.set(r)
	p.lastCut = now
	p.since, p.ok, p.thr = now, 0, 1
}

// set changes the rate, clamped to [floor, ceiling]. Below the ceiling
// the burst is one: tokens saved up at a higher rate would leave at once
// and meet the same quota (the limiter caps its tokens to the new burst).
// Back at the ceiling, Succeeded returns the configured burst after
// quietSpell there. p.mu must be held.
func (p *Pacer) set(r rate.Limit) {
	p.cur = min(max(r, p.floor), p.ceiling)
	p.lim.SetLimit(p.cur)
	if p.cur < p.ceiling {
		p.fullSince = time.Time{}
	}
	if p.lim.Burst() != 1 {
		p.lim.SetBurst(1) // Succeeded restores it at the ceiling
	}
}
