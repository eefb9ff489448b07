package batch

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/invitebatch/invitebatch/batch/input"
)

// Source yields the input records in order; io.EOF ends them.
type Source interface {
	Next() (input.Record, error)
}

// Lookup says how the runner reads the invitations' current state.
type Lookup int

// The lookup modes.
const (
	// LookupAuto pages through the customer's invitations once, unless the
	// list runs past its budget (a page per 10 rows); then the pages read
	// answer their rows and the others get one get each.
	LookupAuto Lookup = iota
	// LookupList always pages through the list first.
	LookupList
	// LookupGet makes one get per row that needs it.
	LookupGet
)

// Runner runs the invitation pipeline over one input. Set its fields, then
// call Run once; a Runner must not be reused.
type Runner struct {
	API     API
	Ledger  Ledger // nil: no ledger (never sends twice within the run all the same)
	Pacer   *Pacer
	Backoff Backoff
	Workers int
	Log     *zap.Logger

	// DryRun decides every row but never sends: eligible rows are WouldSend.
	DryRun bool
	// Domains, when set, limits the run to addresses in these domains.
	Domains []string
	// Lookup chooses how invitation states are read.
	Lookup Lookup
	// CheckEach asks isInvitableUser before every send. Without it, a row
	// whose invitation is NOT_YET_SENT (listed or read by get: an unmanaged
	// account of a verified domain) goes straight to send, which enforces
	// the finer rules itself; only rows with no visible invitation are
	// checked first.
	CheckEach bool
	// ExpectedRows is the number of input rows, if known; it sizes the
	// budget of the list lookup.
	ExpectedRows int
	// Skip reports rows that already have a final outcome (a resumed run).
	// They still count for duplicate detection.
	Skip func(row int) bool
	// SkipFrom, when > 0, skips every row from it on without reading it:
	// a resumed run whose tail is final (nothing before depends on a later
	// row).
	SkipFrom int
	// SentSince, when set, is when the run series this run continues
	// started: a ledger send at or after it was made by that series, and the
	// row's outcome is Sent rather than AlreadyInvited.
	SentSince time.Time
	// Stop, when closed, makes the run stop taking rows; rows in progress
	// finish. Run then returns with Stats.Stopped set.
	Stop <-chan struct{}
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	// Cancel makes this a cancel run: INVITED invitations are cancelled,
	// nothing is sent.
	Cancel bool
	// ResendAfter, when set, re-sends INVITED invitations whose last email
	// is at least this old (outcome Resent); MaxMails, when set, never past
	// that many emails to one address.
	ResendAfter time.Duration
	MaxMails    int
	// SettleWindow is how long after a send that failed ambiguously (or an
	// earlier run's intent, from its ledger time) the invitation is read back
	// to see whether it went out: a read made sooner may not show a send that
	// took effect. The row waits at the back of the run meanwhile, not in
	// flight: a stop leaves it as an intent for the rerun.
	SettleWindow time.Duration
	// MaxSends, when set, stops the run after that many sends (a guard
	// against the wrong file): the rows not yet sent are left for a rerun.
	MaxSends int

	counter      callCounter
	caller       Caller
	liveMu       sync.Mutex // guards live's outcome counts
	live         *Stats
	sendsStarted atomic.Int64
	left         atomic.Bool // some dispatched row was left without an outcome
	haltOnce     sync.Once
	halt         chan struct{} // closed by stopNow
	states       *listed       // from the list lookup; nil means use get
	waiting      waitList
	forbidden    ForbiddenCheck
}

type job struct {
	row   int
	raw   string
	email string
	later *settleLater // a row back from waiting for its settle window
}

// Run processes every record of src and hands each row's final outcome to
// sink. It returns an error only for a fatal condition (credentials,
// permissions, configuration, the sink failing) or ctx ending; rows left
// without an outcome are then resumable.
func (r *Runner) Run(ctx context.Context, src Source, sink Sink) (*Stats, error) {
	if r.Workers < 1 {
		r.Workers = 1
	}
	if r.Log == nil {
		r.Log = zap.NewNop()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	r.halt = make(chan struct{})
	r.waiting.wake = make(chan struct{}, 1)
	// A stop (not --max-sends, whose sends in progress go out) ends the
	// waits between requests.
	r.caller = Caller{Pacer: r.Pacer, Backoff: r.Backoff, Log: r.Log, Observe: r.counter.add, Stop: r.Stop}
	stats := &Stats{Lookup: "get"}
	r.liveMu.Lock()
	r.live = stats
	r.liveMu.Unlock()
	if err := r.loadStates(ctx, stats); err != nil {
		r.counter.fill(stats)
		return stats, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make(chan rowResult, 2*r.Workers)
	collected := make(chan error, 1)
	go func() { collected <- r.collect(results, sink, stats, cancel) }()

	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan job, r.Workers)
	var stopped bool
	g.Go(func() error {
		defer close(jobs)
		var err error
		stopped, err = r.produce(gctx, src, jobs, results)
		return err
	})
	for range r.Workers {
		g.Go(func() error { return r.work(gctx, jobs, results) })
	}
	err := g.Wait()
	close(results)
	if cerr := <-collected; cerr != nil {
		err = cerr // the sink failed first and cancelled the rest
	}
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	r.counter.fill(stats)
	stats.MaxSendsReached = r.MaxSends > 0 && r.sendsStarted.Load() > int64(r.MaxSends)
	if r.waiting.len() > 0 {
		r.left.Store(true) // rows still waiting for their settle window: intents for the rerun
	}
	// Stopped also when the stop came after the last row was read but
	// before every queued row was started: those rows have no outcome.
	stats.Stopped = stopped || stats.MaxSendsReached || r.left.Load()
	return stats, err
}

// Snapshot returns the counters so far of the run in progress (zero before
// Run). It is safe to call from any goroutine while Run runs, e.g. to
// write metrics periodically.
func (r *Runner) Snapshot() Stats {
	r.liveMu.Lock()
	defer r.liveMu.Unlock()
	if r.live == nil {
		return Stats{}
	}
	s := *r.live
	r.counter.fill(&s)
	return s
}

// rowResult is a row's final outcome, the requests it cost and the wait for
// its ledger result to be durable (nil without one).
type rowResult struct {
	Result
	calls   int
	durable func(context.Context) error
}

// collect is the single consumer of results. It keeps draining after a
// sink failure so that no worker ever blocks on a finished row.
func (r *Runner) collect(results <-chan rowResult, sink Sink, stats *Stats, cancel context.CancelCauseFunc) error {
	var first error
	for res := range results {
		r.liveMu.Lock()
		stats.Outcomes[res.Outcome]++
		stats.CallsByOutcome[res.Outcome] += res.calls
		r.liveMu.Unlock()
		if first != nil {
			continue
		}
		if res.durable != nil {
			// The outcome goes to the sink (the checkpoint) only once the
			// ledger holds the result on stable storage. The ledger's
			// waits need no context: they end when its flusher is done.
			if err := res.durable(context.Background()); err != nil {
				first = err
				cancel(err)
				continue
			}
		}
		if err := sink.Record(res.Result); err != nil {
			first = err
			cancel(err)
		}
	}
	return first
}

// produce reads the input in order and settles what needs no API call:
// unusable records, invalid addresses and duplicates. It reports whether it
// stopped early because of r.Stop.
func (r *Runner) produce(ctx context.Context, src Source, jobs chan<- job, results chan<- rowResult) (bool, error) {
	// Sized once: growing a table of a million entries holds two.
	seen := newHashSet(r.ExpectedRows)
	seed := maphash.MakeSeed()
	for {
		if r.stopping() {
			return true, nil
		}
		if stopped, err := r.dispatchDue(ctx, jobs); stopped || err != nil {
			return stopped, err
		}
		rec, err := src.Next()
		if err == io.EOF {
			return r.drain(ctx, jobs)
		}
		if err != nil {
			return false, err
		}
		if r.SkipFrom > 0 && rec.Row >= r.SkipFrom {
			return r.drain(ctx, jobs)
		}
		skip := r.Skip != nil && r.Skip(rec.Row)
		res := Result{Row: rec.Row, Email: rec.Email}
		if rec.Problem != "" {
			res.Outcome, res.Reason = Invalid, rec.Problem
		} else if email, err := input.Address(rec.Email); err != nil {
			res.Outcome, res.Reason = Invalid, err.Error()
		} else if len(r.Domains) > 0 && !input.InDomains(email, r.Domains) {
			res.Outcome, res.Reason = Invalid, "outside --domain "+strings.Join(r.Domains, ", ")
		} else if !seen.add(maphash.String(seed, email)) {
			// A 64-bit hash stands for the address to keep a million rows in
			// about 11 MB. A collision would mark a distinct address
			// duplicate (never a second email, but that person would not be
			// invited by this run); at 10^6 rows its odds are ~10^-8.
			res.Outcome, res.Reason = Duplicate, "same address as an earlier row"
		} else {
			if skip {
				continue
			}
			if stopped, err := r.dispatch(ctx, jobs, job{row: rec.Row, raw: rec.Email, email: email}); stopped || err != nil {
				return stopped, err
			}
			continue
		}
		if !skip {
			results <- rowResult{Result: res}
		}
	}
}

func (r *Runner) stopping() bool {
	select {
	case <-r.Stop:
		return true
	case <-r.halt:
		return true
	default:
		return false
	}
}

// errRowLeft ends a row without an outcome, for a rerun to take up.
var errRowLeft = errors.New("row left for a rerun")

// stopNow makes the run stop taking rows, from inside (--max-sends).
func (r *Runner) stopNow() { r.haltOnce.Do(func() { close(r.halt) }) }

// work decides rows until jobs is closed. An outcome is data, not an error:
// only a fatal condition ends the worker with an error.
func (r *Runner) work(ctx context.Context, jobs <-chan job, results chan<- rowResult) error {
	for j := range jobs {
		if err := r.row(ctx, j, results); err != nil {
			return err
		}
	}
	return nil
}

// row decides one row; the wait list learns when it is done.
func (r *Runner) row(ctx context.Context, j job, results chan<- rowResult) error {
	defer r.waiting.finished()
	if r.stopping() {
		r.left.Store(true)
		return nil // queued but not started: left for the resumed run
	}
	var t tally
	var out Outcome
	var reason string
	var err error
	if j.later != nil {
		t.calls = j.later.calls
		out, reason, err = r.readBack(ctx, &t, j.email, j.later)
	} else {
		out, reason, err = r.decide(ctx, &t, j.email)
	}
	switch {
	case errors.Is(err, errSettleLater):
		t.later.calls = t.calls
		j.later = t.later
		r.waiting.add(j)
		return nil
	case errors.Is(err, errRowLeft), errors.Is(err, ErrStopped):
		r.left.Store(true)
		return nil
	case err != nil:
		return err
	}
	results <- rowResult{Result: Result{Row: j.row, Email: j.raw, Outcome: out, Reason: reason}, calls: t.calls, durable: t.durable}
	return nil
}
