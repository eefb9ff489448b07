package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// window is what the emulator counted over one server-side window of a
// contender's run. Both sides of a comparison are measured this way, from
// the first request the emulator receives for d: the same span, the same
// counting, and no client-side tail (a backoff sleep after the window, or
// the tool's start and end) in the denominator.
type window struct {
	secs      float64
	requests  int // every API request received, 429s included
	accepted  int // requests not answered 429: the quota they used
	throttled int
	sends     int // emails delivered
	resends   int // of which to invitations already INVITED
}

func (w window) newInvitations() int { return w.sends - w.resends }

func diffStats(a, b emulator.Stats, secs float64) window {
	return window{
		secs:      secs,
		requests:  totalRequests(b) - totalRequests(a),
		accepted:  accepted(b) - accepted(a),
		throttled: b.Throttled - a.Throttled,
		sends:     b.Sends - a.Sends,
		resends:   b.Resends - a.Resends,
	}
}

// measure starts contender, which must keep the emulator busy until its
// ctx ends, and returns the emulator's counts over the d after its first
// request, then the counts of the whole run once contender returned (for
// the harms: emails to people already invited, duplicate sends).
func measure(e *emu, d time.Duration, contender func(ctx context.Context) error) (window, emulator.Stats, error) {
	return measureAligned(e, d, 0, contender)
}

// measureAligned is measure for a quota of fixed windows of length align
// (aligned to the clock, as the emulator's are): the contender starts at a
// window's start, and the measured span is [that start, start+d], the same
// windows for every contender. align 0: measure.
func measureAligned(e *emu, d, align time.Duration, contender func(ctx context.Context) error) (window, emulator.Stats, error) {
	w, _, st, err := measureMarks(e, d, align, nil, contender)
	return w, st, err
}

// measureMarks is measureAligned that also returns the counts over the
// first m of the window, for each m of marks (ascending, shorter than d;
// fewer when the contender ends before).
func measureMarks(e *emu, d, align time.Duration, marks []time.Duration, contender func(ctx context.Context) error) (window, []window, emulator.Stats, error) {
	var s0 emulator.Stats
	var t0 time.Time
	if align > 0 {
		t0 = time.Now().Truncate(align).Add(align)
		time.Sleep(time.Until(t0))
		var err error
		if s0, err = e.stats(); err != nil {
			return window{}, nil, s0, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- contender(ctx) }()
	for align == 0 {
		st, err := e.stats()
		if err != nil {
			cancel()
			<-done
			return window{}, nil, st, err
		}
		if totalRequests(st) > 0 {
			s0, t0 = st, time.Now()
			break
		}
		select {
		case err := <-done:
			return window{}, nil, st, fmt.Errorf("contender ended before its first request: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	finished := false
	var runErr error
	var early []window
	for _, m := range append(marks, d) {
		select {
		case <-time.After(time.Until(t0.Add(m))):
		case runErr = <-done:
			finished = true // out of rows: the window ends with it
		}
		if finished || m == d {
			break
		}
		st, err := e.stats()
		if err != nil {
			cancel()
			<-done
			return window{}, nil, st, err
		}
		early = append(early, diffStats(s0, st, time.Since(t0).Seconds()))
	}
	s1, err := e.stats()
	t1 := time.Now()
	cancel()
	if !finished {
		runErr = <-done
	}
	if err != nil {
		return window{}, nil, s1, err
	}
	end, err := e.stats()
	if err == nil && runErr != nil && !errors.Is(runErr, context.Canceled) {
		err = runErr
	}
	w := diffStats(s0, s1, t1.Sub(t0).Seconds())
	if finished {
		fmt.Printf("# note: the contender ran out of rows %.1fs into its %s window\n", w.secs, d)
	}
	return w, early, end, err
}
