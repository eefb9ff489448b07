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
// of different lengths thus give S = (N2-N1)/(T2-T1), whatever B is. A
// segment's length runs from its first accepted answer to the refusal,
// so that the answers' way (the latency) is in neither end.
//
// Any other segment after a pause (one whose rate rose) is measured by
// its windows ending at the refusal (windowMeasure), with the bucket of
// the shortest steady segment: B = N - S*T, in which S weighs only by T.
// The longer the window that emptied the bucket, the better it measures:
// a quota measured to within preciseShare sets the rate just under it,
// less what it may be off by, creeping up very slowly (a quota seldom
// rises, and each refusal costs the whole run a pause); one measured
// roughly sets underBucket of it, creeping up slowly enough that the
// next refusal comes from a long window. Without a measure (the first
// refusals of a run), the rate is halved. p.mu must be held.
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
	if steady && p.segFrom > 0 && t > 0 && n > 0 && (p.shortT == 0 || t < p.shortT) {
		// A segment at one rate from a full bucket to an empty one:
		// n = B + S*t.
		p.shortT, p.shortN = t, n
	}
	var s rate.Limit
	var e float64 // how far off s may be, in requests per second
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
		// Each count may be off by a request or two (answers in flight
		// at either end).
		e = segNoise / dt.Seconds()
		p.bucket = max(1, float64(n)-float64(s)*t.Seconds())
		p.bucketErr = segNoise + e*t.Seconds()
	case p.segFrom > 0:
		s, e = p.windowMeasure(now, r)
	}
	s = min(s, r)
	m := 1.0 // the share of s it may be off by
	if s > 0 {
		m = e / float64(s)
	}
	switch {
	case s > 0 && m <= preciseShare:
		// Measured to within m: stay that and a little more under it,
		// and look for more only slowly (a quota rarely rises).
		p.known = s
		p.set(s * rate.Limit(underPrecise-m))
		p.creep = creepSlow
	case s > 0:
		// Roughly measured: start under it, and rise slowly enough
		// that the next refusal comes from a long window that passes
		// the quota, which measures it well.
		p.known = s
		p.set(s * underBucket)
		p.creep = creepFast
	default:
		p.known = r
		p.set(r * delayCut)
		p.creep = creepFast
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
	p.segStart, p.segOK = time.Time{}, 0
	p.okAt = p.okAt[:0]
}

// windowMeasure returns the quota the current segment measures, and how
// far off it may be (requests per second): the highest (accepted -
// bucket) / length over its windows ending at the refusal (windowQuota),
// off by the bucket's error over that length. The bucket is what two
// steady segments measured; else the shortest steady segment's n - S*t,
// which S sways only by t (short); else a guess. p.mu must be held.
func (p *Pacer) windowMeasure(now time.Time, r rate.Limit) (rate.Limit, float64) {
	b, be := p.bucket, p.bucketErr
	if b == 0 {
		b = float64(r) * guessBucket.Seconds()
		be = b / 2
	}
	s, w := p.windowQuota(now, b)
	if w == 0 {
		return 0, 0
	}
	if p.bucket == 0 && p.shortT > 0 {
		for range 3 {
			b = max(1, float64(p.shortN)-float64(s)*p.shortT.Seconds())
			if s, w = p.windowQuota(now, b); w == 0 {
				return 0, 0
			}
		}
		// e = (be + segNoise)/w with be = segNoise + e*shortT.
		if w <= p.shortT {
			return s, float64(s)
		}
		return s, 2 * segNoise / (w - p.shortT).Seconds()
	}
	return s, (be + segNoise) / w.Seconds()
}

// windowQuota returns the highest (accepted - bucket) / length over the
// windows of minWindow or more of the segment's accepted requests that
// end at now, and that window's length (0: none). p.mu must be held.
func (p *Pacer) windowQuota(now time.Time, bucket float64) (rate.Limit, time.Duration) {
	var s float64
	var best time.Duration
	for i, at := range p.okAt {
		w := now.Sub(at)
		if w < minWindow {
			break
		}
		if q := (float64(len(p.okAt)-i) - bucket) / w.Seconds(); q > s {
			s, best = q, w
		}
	}
	return rate.Limit(s), best
}
