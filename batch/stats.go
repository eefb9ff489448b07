package batch

import (
	"sort"
	"sync"
)

// Stats are the counters of one run.
type Stats struct {
	// Outcomes counts rows by outcome (indexed by Outcome).
	Outcomes [numOutcomes]int
	// CallsByOutcome counts API requests made for rows, by the row's final
	// outcome (list pages are in Calls only).
	CallsByOutcome [numOutcomes]int
	// Calls counts API requests by method and HTTP status; status 0 is a
	// transport failure.
	Calls map[string]map[int]int
	// Retries counts requests that were repeated after a retryable failure.
	Retries int
	// Throttled counts quota refusals: 429 answers, and 403s whose reason
	// is a rate limit.
	Throttled int
	// Stopped is set when the run stopped taking rows before the end of its
	// input (Stop was closed).
	Stopped bool
	// MaxSendsReached is set when the run stopped because of MaxSends.
	MaxSendsReached bool
	// Lookup is how invitation states were read: "list" or "get".
	Lookup string
	// LookupReason says why, in a sentence (--lookup auto's decision).
	LookupReason string
}

// TotalCalls returns the number of API requests of the run.
func (s *Stats) TotalCalls() int {
	n := 0
	for _, byCode := range s.Calls {
		for _, c := range byCode {
			n += c
		}
	}
	return n
}

// Rows returns the number of rows with a final outcome.
func (s *Stats) Rows() int {
	n := 0
	for o := OutcomeNone + 1; o < numOutcomes; o++ {
		n += s.Outcomes[o]
	}
	return n
}

// Methods returns the methods in Calls, sorted.
func (s *Stats) Methods() []string {
	ms := make([]string, 0, len(s.Calls))
	for m := range s.Calls {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}

// callCounter counts requests from many workers.
type callCounter struct {
	mu        sync.Mutex
	calls     map[string]map[int]int
	retries   int
	throttled int
}

func (c *callCounter) add(method string, code int, retry, throttled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]map[int]int)
	}
	byCode := c.calls[method]
	if byCode == nil {
		byCode = make(map[int]int)
		c.calls[method] = byCode
	}
	byCode[code]++
	if retry {
		c.retries++
	}
	if throttled {
		c.throttled++
	}
}

func (c *callCounter) fill(s *Stats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Calls = make(map[string]map[int]int, len(c.calls))
	for m, byCode := range c.calls {
		cp := make(map[int]int, len(byCode))
		for k, v := range byCode {
			cp[k] = v
		}
		s.Calls[m] = cp
	}
	s.Retries = c.retries
	s.Throttled = c.throttled
}
