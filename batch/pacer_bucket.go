package batch

import (
	"time"

	"golang.org/x/time/rate"
)

// segmentEnds sets the rate when a server delay of costlyDelay or more
// ends a segment (the requests since the last pause ended, or since the
// run began): a token bucket that says "1 s" on every refusal costs the
// whole run a second per refusal, so the rate must find its quota after
// very few.
//
// Each segment starts with the bucket full (the pause refilled it) and
// ends when it is empty: at a rate r over the quota S, a bucket of B
// lasts T = B/(r-S), and the segment accepts N = B + S*T. Two segments
// of different lengths thus give S = (N2-N1)/(T2-T1), whatever B is.
// The rate is set to underBucket of that and creeps up from there (see
// Succeeded). Without two such segments (the first refusal of a run), the
// rate is halved: the next segment, at a rate nearer the quota, lasts
// longer, and the two measure it. p.mu must be held.
func (p *Pacer) segmentEnds(now time.Time, d time.Duration) {
	t, n := now.Sub(p.segStart), p.segOK
	if p.segStart.IsZero() {
		t, n = 0, 0
	}
	r := p.atRefusal
	if r <= 0 {
		r = p.cur
	}
	steady := p.segFrom == 0 || r <= p.segFrom*steadyRise
	var s rate.Limit
	dt, dn := t-p.segT, n-p.segN
	if dt < 0 {
		dt, dn = -dt, -dn
	}
	switch {
	case steady && p.segSteady && p.segT > 0 && t > 0 && dt >= minSegDiff && dn > 0:
		s = rate.Limit(float64(dn) / dt.Seconds())
		// Never over what the segment accepted, bucket included, nor
		// the rate refused.
		s = min(s, rate.Limit(float64(n)/t.Seconds()), r)
		p.bucket = max(1, float64(n)-float64(s)*t.Seconds())
	case p.segFrom > 0:
		// Any other segment after a pause: the server
		// accepted every request of it, so over each window ending at
		// the refusal it accepted no more than the bucket plus the
		// quota times the window; the window that emptied the bucket
		// (from where the rate passed the quota) gives the quota.
		// Before two steady segments measured the bucket, it is
		// taken as guessBucket of a second at the refused rate.
		b := p.bucket
		if b == 0 {
			b = float64(r) * guessBucket.Seconds()
		}
		s = p.windowQuota(now, b)
	}
	s = min(s, r)
	if s > 0 {
		p.known = s
		p.set(s * underBucket)
	} else {
		p.known = r
		p.set(r * delayCut)
	}
	// The run's first segment does not start with a pause: the bucket
	// may not be full, and the run's first requests do not leave at a
	// steady rate. It measures nothing.
	p.segSteady = steady && p.segFrom > 0
	p.segFrom = p.cur
	// Held from the end of the pause: a segment at a steady rate
	// measures.
	p.lastCut = now.Add(d)
	p.segT, p.segN = t, n
	p.segStart, p.segOK = now.Add(d), 0
	p.okAt = p.okAt[:0]
}

// windowQuota returns the highest (accepted - bucket) / length over the
// windows of minWindow or more of the segment's accepted requests that
// end at now. p.mu must be held.
func (p *Pacer) windowQuota(now time.Time, bucket float64) rate.Limit {
	var s float64
	for i, at := range p.okAt {
		w := now.Sub(at)
		if w < minWindow {
			break
		}
		s = max(s, (float64(len(p.okAt)-i)-bucket)/w.Seconds())
	}
	return rate.Limit(s)
}
