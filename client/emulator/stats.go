package emulator

import (
	"maps"
	"slices"
	"time"
)

// Codes Stats.Requests uses besides HTTP status codes.
const (
	// CodeDropped counts ambiguous sends whose connection was closed
	// without a reply.
	CodeDropped = 0
	// CodeClientGone counts requests whose client gave up during the
	// emulated latency (nothing was done).
	CodeClientGone = 499
)

// Stats is what the emulator has counted since it started or since
// ResetCounters.
type Stats struct {
	// Requests counts API requests by method (the Method constants) and
	// reply code.
	Requests map[string]map[int]int `json:"requests"`
	// Sends counts emails delivered by sends, including ambiguous sends
	// that were performed before they failed.
	Sends int `json:"sends"`
	// DuplicateSends is the sum over addresses of deliveries beyond the
	// first.
	DuplicateSends int `json:"duplicate_sends"`
	// Resends counts emails delivered to an invitation that was INVITED
	// already (by anyone): emails to people already invited.
	Resends int `json:"resends"`
	// Throttled counts 429 replies, whether from the quota or FailNext,
	// and the rate quotas' 403s (SetThrottleAs).
	Throttled int `json:"throttled"`
	// PerSecond counts API requests received in each wall-clock second, in
	// time order; seconds without requests are left out.
	PerSecond []SecondCount `json:"per_second"`
	// MaxPerWindow is the most API requests received within any sliding
	// one-second window.
	MaxPerWindow int `json:"max_per_window"`
	// EarlyRequests counts requests that arrived while an earlier 429's
	// RetryInfo still ran, more than 200 ms after that 429 (requests
	// already in flight then are not counted): a client that honours a
	// server delay for all its requests makes none.
	EarlyRequests int `json:"early_requests"`
	// Windows counts, for each window of the window quota (SetWindowQuota)
	// in time order, the requests it accepted and refused; the last one may
	// still be running.
	Windows []WindowCount `json:"windows,omitempty"`
	// Held is how many addresses the emulator holds in memory (seeded or
	// touched by send or cancel). It is not reset.
	Held int `json:"held"`
}

// SecondCount is the number of requests received in one second.
type SecondCount struct {
	Unix     int64 `json:"unix"` // the second, in Unix time
	Requests int   `json:"requests"`
}

// Total returns the number of requests of a method with any reply code.
func (s Stats) Total(method string) int {
	n := 0
	for _, c := range s.Requests[method] {
		n += c
	}
	return n
}

// arrived counts an API request as it arrives; the window check uses the
// monotonic clock.
func (e *Emulator) arrived() {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	now := time.Now()
	e.perSecond[now.Unix()]++
	i := 0
	for i < len(e.window) && now.Sub(e.window[i]) >= time.Second {
		i++
	}
	e.window = append(e.window[i:], now)
	e.maxWindow = max(e.maxWindow, len(e.window))
}

// done counts the reply to an API request.
func (e *Emulator) done(method string, code int) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	m := e.requests[method]
	if m == nil {
		m = map[int]int{}
		e.requests[method] = m
	}
	m[code]++
	if code == 429 {
		e.throttled++
	}
}

// countThrottled counts a quota refusal that is not a 429.
func (e *Emulator) countThrottled() {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.throttled++
}

// Stats returns a copy of the counters.
func (e *Emulator) Stats() Stats {
	var s Stats
	s.Windows = e.windowStats()
	e.knobMu.Lock()
	s.EarlyRequests = e.early
	e.knobMu.Unlock()
	e.mu.Lock()
	s.Sends, s.DuplicateSends, s.Resends, s.Held = e.sends, e.dupSends, e.resends, len(e.accounts)
	e.mu.Unlock()

	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	s.Requests = make(map[string]map[int]int, len(e.requests))
	for m, codes := range e.requests {
		s.Requests[m] = maps.Clone(codes)
	}
	s.Throttled = e.throttled
	s.MaxPerWindow = e.maxWindow
	s.PerSecond = make([]SecondCount, 0, len(e.perSecond))
	for _, sec := range slices.Sorted(maps.Keys(e.perSecond)) {
		s.PerSecond = append(s.PerSecond, SecondCount{sec, e.perSecond[sec]})
	}
	return s
}

// ResetCounters zeroes every counter, including each address's Sends. The
// accounts and their invitations are kept.
func (e *Emulator) ResetCounters() {
	e.mu.Lock()
	e.sends, e.dupSends, e.resends = 0, 0, 0
	for k, a := range e.accounts {
		if a.delivered != 0 {
			a.delivered = 0
			e.accounts[k] = a
		}
	}
	e.mu.Unlock()

	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.requests = map[string]map[int]int{}
	e.throttled, e.maxWindow = 0, 0
	e.perSecond = map[int64]int{}
	e.window = nil
	e.windows = nil
	e.statsMu.Unlock()
	e.knobMu.Lock()
	e.early = 0
	e.knobMu.Unlock()
	e.statsMu.Lock() // for the deferred unlock
}
