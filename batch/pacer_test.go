package batch

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// event is something the pacer hears at a time since the start: n
// successes or 429s spread evenly over dur.
type event struct {
	at, dur   time.Duration
	ok, thr   int
	wantLimit float64 // checked after the event when > 0
}

func TestPacerReactions(t *testing.T) {
	tests := []struct {
		name     string
		qps      float64
		adaptive bool
		events   []event
	}{
		{"fixed rate ignores 429s", 100, false, []event{
			{at: 0, dur: time.Second, thr: 50, wantLimit: 100},
		}},
		{"first 429 cuts by 10% at once", 100, true, []event{
			{at: 0, dur: time.Second, ok: 100, wantLimit: 100},
			{at: time.Second, thr: 1, wantLimit: 90},
		}},
		{"a throttled spell sets the rate under the accepted rate", 100, true, []event{
			{at: time.Second, thr: 1, wantLimit: 90},
			// 250 ms at the quota: 12 accepted (48/s), 10 refused.
			{at: time.Second, dur: 250 * time.Millisecond, ok: 12},
			{at: 1250 * time.Millisecond, thr: 10, wantLimit: 0.95 * 12 / 0.25},
		}},
		{"straggling 429s do not cut again", 100, true, []event{
			{at: time.Second, thr: 1, wantLimit: 90},
			{at: time.Second, dur: 500 * time.Millisecond, ok: 45},
			{at: 1500 * time.Millisecond, thr: 1, wantLimit: 90},
		}},
		{"no raise in the second after a cut", 100, true, []event{
			{at: time.Second, thr: 1},
			{at: time.Second, dur: 900 * time.Millisecond, ok: 80, wantLimit: 90},
		}},
		{"slow raise just after a spell", 100, true, []event{
			{at: time.Second, thr: 1},
			{at: 2 * time.Second, dur: time.Second, ok: 90},
			// ~2%+3%×1.5 s of quiet ≈ 6.5% per second, plus 0.5 of the ceiling.
			{at: 3 * time.Second, ok: 1, wantLimit: 96.4},
		}},
		{"faster raise after a long quiet, never over the ceiling", 100, true, []event{
			{at: time.Second, thr: 1},
			{at: time.Second, dur: 250 * time.Millisecond, ok: 5},
			{at: 1250 * time.Millisecond, thr: 10, wantLimit: 19},
			// 19 s after the spell: +50% per second (the first success
			// counts a second's raise, a gap counting at most one).
			{at: 20 * time.Second, dur: time.Second, ok: 20, wantLimit: 47},
			{at: 21 * time.Second, dur: 5 * time.Second, ok: 200, wantLimit: 100},
		}},
		{"one accepted, then only refusals: the rate is kept", 100, true, []event{
			{at: time.Second, thr: 1},
			{at: 2 * time.Second, dur: 10 * time.Second, ok: 1, thr: 50, wantLimit: 90},
		}},
		// A fixed quota window used up: 429s without RetryInfo for the
		// rest of the minute, nothing accepted. The rate is not set from
		// zero accepted requests (it used to fall to the floor).
		{"a window with nothing accepted keeps the rate", 100, true, []event{
			{at: 0, dur: time.Second, ok: 100},
			{at: time.Second, thr: 1, wantLimit: 90},
			{at: time.Second, dur: 59 * time.Second, thr: 300, wantLimit: 90},
			// The next window: accepted again, and raised.
			{at: 61 * time.Second, dur: 5 * time.Second, ok: 400, wantLimit: 100},
		}},
		{"a new spell after a quiet one cuts again", 100, true, []event{
			{at: time.Second, thr: 1, wantLimit: 90},
			{at: 4 * time.Second, thr: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			now := start
			p := newPacer(tt.qps, int(tt.qps), tt.adaptive, func() time.Time { return now })
			for i, ev := range tt.events {
				n := ev.ok + ev.thr
				for k := range n {
					now = start.Add(ev.at)
					if n > 1 {
						now = now.Add(ev.dur * time.Duration(k+1) / time.Duration(n))
					}
					if k < ev.ok {
						p.Succeeded()
					} else {
						p.Throttled()
					}
				}
				if ev.wantLimit > 0 {
					if got := p.Limit(); math.Abs(got-ev.wantLimit) > 0.02*ev.wantLimit {
						t.Errorf("after event %d: Limit() = %.2f, want %.2f", i, got, ev.wantLimit)
					}
				}
			}
		})
	}
}

func TestPacerStartsWithoutBurst(t *testing.T) {
	p := NewPacer(10, 10, true)
	if p.lim.Tokens() > 1 {
		t.Errorf("tokens at start = %.1f, want <= 1: a run starts at its rate", p.lim.Tokens())
	}
}

// TestPacerCutReachesWaiters: requests already waiting when the rate is cut
// must not all leave at the old rate. 64 workers wait at 1000/s; after the
// cut to 10/s, only the few holding a reservation may still leave early.
func TestPacerCutReachesWaiters(t *testing.T) {
	p := NewPacer(1000, 1, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cutAt atomic.Int64 // unix nanos of the cut, 0 before
	var afterCut atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for p.Wait(ctx) == nil {
				if c := cutAt.Load(); c != 0 && time.Now().UnixNano()-c < int64(150*time.Millisecond) {
					afterCut.Add(1)
				}
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // every worker is waiting by now
	p.mu.Lock()
	cutAt.Store(time.Now().UnixNano())
	p.cut(time.Now(), 10)
	p.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	// At 10/s, 150 ms allows 1 or 2; the reservations made before the cut
	// add at most maxBooked.
	if n := afterCut.Load(); n > maxBooked+3 {
		t.Errorf("%d requests left in the 150 ms after a cut to 10/s, want at most %d", n, maxBooked+3)
	}
}

// A server that refuses everything is probed: each refusal after a pause
// doubles the pause (to at most maxProbePause); refusals of requests that
// left before the pause are not counted; an accepted request ends it.
func TestPacerProbesARefusingServer(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	p := newPacer(100, 100, true, func() time.Time { return now })
	at := func(d time.Duration) { now = start.Add(d) }
	paused := func() time.Duration { return p.pausedUntil.Sub(now) }

	at(time.Second)
	p.Throttled() // a new spell: cut
	for range refuseAll {
		at(time.Second + 10*time.Millisecond)
		p.Throttled()
	}
	if got := paused(); got != firstProbePause {
		t.Fatalf("after %d refusals with nothing accepted: paused for %v, want %v", refuseAll+1, got, firstProbePause)
	}
	at(time.Second + 100*time.Millisecond)
	p.Throttled() // left before the pause
	if got := paused(); got != firstProbePause-90*time.Millisecond {
		t.Errorf("a refusal during the pause changed it: %v left", got)
	}
	want := firstProbePause
	for i := range 8 {
		at(time.Duration(10+i*10) * time.Second) // each probe after the pause
		p.Throttled()
		want = min(2*want, maxProbePause)
		if got := paused(); got != want {
			t.Errorf("probe %d refused: paused for %v, want %v", i+1, got, want)
		}
	}
	if got := p.Limit(); got != 90 {
		t.Errorf("rate after a minute of refusals = %v, want 90 (the first cut only)", got)
	}
	p.mu.Lock()
	p.cut(now, 0)
	p.mu.Unlock()
	if got := p.Limit(); got != 0.2 {
		t.Errorf("rate cut to 0 = %v, want the floor 0.2", got)
	}
	at(100 * time.Second)
	p.Succeeded()
	at(101 * time.Second)
	p.Throttled() // a new spell begins as any other
	if p.probe != 0 || paused() > 0 {
		t.Errorf("after an accepted request: probe %v, paused %v; want neither", p.probe, paused())
	}
}

// Pause holds every request, also one already queued, until the delay has
// passed; a shorter pause does not shorten a longer one.
func TestPacerPauseHoldsEveryRequest(t *testing.T) {
	p := NewPacer(1000, 1, false)
	p.Pause(time.Hour)
	p.Pause(time.Second)
	if d := time.Until(p.pausedUntil); d < 59*time.Minute {
		t.Fatalf("paused for %v, want the longer pause kept", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var left atomic.Int64
	for range 8 {
		wg.Go(func() {
			if p.Wait(ctx) == nil {
				left.Add(1)
			}
		})
	}
	wg.Wait()
	if n := left.Load(); n != 0 {
		t.Errorf("%d requests left during a pause, want 0", n)
	}
}

// A probe accepted ends the pause for the requests already waiting it
// out, at once: a used-up window has ended. (They slept until the pause
// would have run out, up to maxProbePause: with 4 s windows, most of the
// next window was gone when they woke.)
func TestPacerAcceptedProbeWakesWaiters(t *testing.T) {
	p := NewPacer(100, 1, true)
	p.mu.Lock()
	p.probe = time.Hour
	p.pause(p.now(), time.Hour)
	p.mu.Unlock()
	done := make(chan error, 3)
	for range 3 {
		go func() { done <- p.Wait(context.Background()) }()
	}
	time.Sleep(50 * time.Millisecond) // let them start waiting (not needed to pass)
	p.Succeeded()
	for range 3 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request still waits out an hour's pause after a probe was accepted")
		}
	}
}

// A delay the server gave holds while the pacer probes a refusing server:
// a success then may be the answer to a request that left before the
// refusals, and ends the probing, not the server's delay. (Since waiters
// woke on an accepted probe, such a straggler let them go 0.2 s into a
// 30 s RetryInfo; found in review.)
func TestPacerStragglerKeepsServerDelay(t *testing.T) {
	p := NewPacer(100, 1, true)
	for range refuseAll + 1 {
		p.Throttled() // a spell, then refuseAll in a row: probing
	}
	p.Pause(time.Hour) // the server says: wait (RetryInfo)
	left := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if p.Wait(ctx) == nil {
			close(left)
		}
	}()
	time.Sleep(50 * time.Millisecond) // let it start waiting (not needed to pass)
	p.Succeeded()                     // a straggler's answer
	select {
	case <-left:
		t.Fatal("a request left during the server's delay: an accepted answer ended it")
	case <-time.After(time.Second):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pausedUntil.Before(p.serverUntil) {
		t.Errorf("paused until %v, before the server's delay ends (%v)", p.pausedUntil, p.serverUntil)
	}
}
