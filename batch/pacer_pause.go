package batch

import (
	"context"
	"time"
)

// The pauses of a Pacer: a delay the server gave (Pause), and the probing
// of a server that refuses everything (a used-up quota window).

// Pause makes every request wait d from now (a server-given delay): no
// request leaves before then. A longer pause already running is kept.
func (p *Pacer) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.adaptive && d >= costlyDelay && !now.Before(p.pausedUntil) {
		p.segmentEnds(now, d)
	}
	if p.adaptive {
		p.delayCost = max(p.delayCost, d)
	}
	if until := now.Add(d); until.After(p.serverUntil) {
		p.serverUntil = until
	}
	p.pause(now, d)
}

// pause pauses until now+d, unless already paused longer. After a pause
// the requests leave one at a time at the rate, not in a burst of the
// tokens saved up meanwhile, and after a pause of a measuring interval or
// more a new one starts: time nothing could be sent measures nothing.
// p.mu must be held.
func (p *Pacer) pause(now time.Time, d time.Duration) {
	if until := now.Add(d); until.After(p.pausedUntil) {
		p.pausedUntil = until
		if d >= measureEvery {
			// Long enough to make the measured rate meaningless.
			p.since, p.ok, p.thr = until, 0, 0
		}
	}
	if p.lim.Burst() != 1 {
		p.lim.SetBurst(1)
	}
}

// leave reports whether a request holding a token may leave now: the pacer
// is not paused. While the server refuses everything, the request that
// finds the pause over is the probe: it leaves, and the pause is set again
// for the rest until its answer comes (or the pause runs out: a probe that
// ended otherwise). One request, not every waiting one, asks a used-up
// window whether it has ended.
func (p *Pacer) leave() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.pausedUntil.After(now) {
		return false
	}
	if p.probe > 0 {
		p.pausedUntil = now.Add(p.probe)
		p.probeOut = true
	}
	return true
}

// waitPause sleeps until the pacer is no longer paused: until the pause
// runs out, or ends early (resumed).
func (p *Pacer) waitPause(ctx context.Context) error {
	for {
		p.mu.Lock()
		d := p.pausedUntil.Sub(p.now())
		resumed := p.resumed
		p.mu.Unlock()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-resumed:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// accepted ends the probing of a server that refused everything, if any:
// an accepted request means the window has ended. p.mu must be held.
func (p *Pacer) accepted(now time.Time) {
	if p.probe > 0 {
		// A probe accepted: the window has ended; everyone may go, now
		// (not when the pause they are waiting out would have ended) —
		// but not before a delay the server gave: the success may be
		// the answer to a request that left before it.
		if until := maxTime(now, p.serverUntil); p.pausedUntil.After(until) {
			p.pausedUntil = until
			close(p.resumed)
			p.resumed = make(chan struct{})
		}
	}
	p.probe, p.refused, p.probeOut = 0, 0, false
}

// refusedAtRate is Throttled for a pacer that keeps its rate: it only
// probes a server that refuses everything (refuseAll in a row: a used-up
// quota window), pausing as the adaptive pacer does, so that a run at a
// fixed rate neither hammers a used-up window nor spends its requests'
// attempts in it. (At --adaptive=false, a 60 s window of 100 used up at
// --qps 200 was sent some 11,000 requests, and a third of the rows failed
// after their hundred refusals.) p.mu must be held.
func (p *Pacer) refusedAtRate(now time.Time) {
	p.refused++
	p.probeRefusal(now, p.refused >= refuseAll)
}

// probeRefusal takes a refusal while the server may be refusing
// everything, and reports whether it did: the answer to a probe (pause
// twice as long), the answer to a request that left before the pause began
// (nothing to do), or, when all says the server refuses everything, a
// pause before the first probe (or the next). p.mu must be held.
func (p *Pacer) probeRefusal(now time.Time, all bool) bool {
	switch {
	case p.probeOut:
		p.probeOut = false
	case now.Before(p.pausedUntil):
		return true
	case !all:
		return false
	}
	p.probe = min(max(2*p.probe, firstProbePause), maxProbePause)
	p.pause(now, p.probe)
	return true
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
