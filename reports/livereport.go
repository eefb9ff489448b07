package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
)

// DefaultReportInterval is how often a run rewrites its report while it
// goes on (CONTRACT.md: "until a run finishes, the report lists the rows
// processed so far"), for a report that takes well under a second to write.
const DefaultReportInterval = 5 * time.Second

// reportCostFactor bounds the refresher's share of a CPU: after a rewrite
// that took d, the next starts no sooner than reportCostFactor*d later, so
// rewriting a report of a million rows (about a second) costs a run at most
// 1/(reportCostFactor+1) of one core, and a large report is refreshed less
// often than a small one.
const reportCostFactor = 20

// reportWriteRate bounds what the refresher writes to disk: after a
// rewrite of n bytes, the next starts no sooner than n/reportWriteRate
// seconds later. A million-row migration against a real quota lasts a day
// or more; rewriting its report (45 MB at the end) every 13 s would write
// some 300 GB to the disk in that day; at this rate, 20 GB at most, and
// the report of a million rows is rewritten every three minutes.
const reportWriteRate = 256 << 10 // bytes per second

// refreshWait returns how long the refresher waits after a rewrite that
// took took and left a report of size bytes: interval, or longer for a
// report that is dear to rewrite (reportCostFactor, reportWriteRate).
func refreshWait(interval, took time.Duration, size int64) time.Duration {
	byRate := time.Duration(float64(size) / reportWriteRate * float64(time.Second))
	return max(interval, reportCostFactor*took, byRate)
}

// LiveReport is the sink of a run's outcomes that keeps its report on disk
// while the run goes on. It records each outcome in the run's outcome table
// (a CheckpointState, earlier runs' outcomes included for a resumed run) and
// rewrites the report from a snapshot of that table, atomically (readers
// see a complete CSV, the old one or the new one), in the background: at
// once when started, then every interval (see refreshWait) while
// outcomes come in. It records each outcome in the run's checkpoint first
// and makes the checkpoint durable up to the snapshot before each rewrite,
// so the report never lists a row that a crash could make the resumed run
// do again. The final report is written after Stop (WriteFinal), the
// same way.
type LiveReport struct {
	path  string
	in    func() io.Reader // the input from its start; safe while the run reads it
	opts  input.Options
	runID string
	cp    CheckpointSink // nil: no checkpoint (a dry run)

	mu      sync.Mutex
	table   *CheckpointState
	changes uint64 // outcomes recorded so far

	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc
}

var _ batch.Sink = (*LiveReport)(nil)

// LiveReportOptions configure a LiveReport.
type LiveReportOptions struct {
	Path  string           // the report
	Input func() io.Reader // a reader of the input from its start, each call a new one
	Opts  input.Options    // the input's options, as the run reads it
	RunID string
	// Checkpoint, if set, is the run's checkpoint (nil: none, a dry run).
	// Each outcome is recorded there first, and made durable before a
	// rewrite lists it.
	Checkpoint CheckpointSink
}

// CheckpointSink is what a LiveReport needs of the run's checkpoint: a
// *Checkpoint.
type CheckpointSink interface {
	batch.Sink
	// Flush returns once every outcome recorded so far is durable.
	Flush() error
}

// NewLiveReport returns a LiveReport over table. Nothing is written until
// Start.
func NewLiveReport(table *CheckpointState, o LiveReportOptions) *LiveReport {
	return &LiveReport{path: o.Path, in: o.Input, opts: o.Opts, runID: o.RunID, cp: o.Checkpoint, table: table}
}

// Record records r's outcome in the checkpoint, then in the table: so a
// snapshot of the table holds only outcomes the checkpoint was given.
func (l *LiveReport) Record(r batch.Result) error {
	if l.cp != nil {
		if err := l.cp.Record(r); err != nil {
			return err
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes++
	return l.table.Record(r)
}

// snapshot returns a copy of the table's outcomes and reasons, and how many
// outcomes had been recorded.
func (l *LiveReport) snapshot() (*CheckpointState, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.table
	return &CheckpointState{
		outcomes:  append([]batch.Outcome(nil), t.outcomes...),
		reasonIdx: append([]uint32(nil), t.reasonIdx...),
		// Only ever appended to: the elements a copy of the slice header
		// sees never change.
		reasonList: t.reasonList,
	}, l.changes
}

// Refresh rewrites the report from the outcomes recorded so far, once the
// checkpoint holds them durably. It gives up, leaving the old report, when
// ctx ends. It returns how many outcomes the report reflects.
func (l *LiveReport) Refresh(ctx context.Context) (uint64, error) {
	snap, changes := l.snapshot()
	if l.cp != nil {
		if err := l.cp.Flush(); err != nil {
			return 0, err
		}
	}
	// No record after the last with an outcome is read: a new run's first
	// report is its header.
	_, _, err := writeReport(ctx, l.path, l.in(), l.opts, l.runID, snap.Outcome, snap.Rows())
	return changes, err
}

// WriteFinal writes the run's final report, every row of the table with
// an outcome, after Stop: once the checkpoint holds every outcome recorded
// durably, so that the final report is never ahead of the checkpoint
// either (a crash right after it must not leave a report listing rows that
// the resumed run does again). A checkpoint that cannot be made durable
// leaves the report as the last rewrite left it.
func (l *LiveReport) WriteFinal() error {
	if l.cp != nil {
		if err := l.cp.Flush(); err != nil {
			return fmt.Errorf("report not written: the checkpoint: %w", err)
		}
	}
	_, _, err := WriteReport(l.path, l.in(), l.opts, l.runID, l.table.Outcome)
	return err
}

// Start rewrites the report at once (a new run: its header; a resumed
// run: after the interval), then every interval (longer for a large
// report: see refreshWait) while new outcomes come in, until Stop. A
// failed rewrite is tried again at the next turn, and passed to warn if
// the one before worked: the run goes on, and its final report is written
// after Stop (WriteFinal).
func (l *LiveReport) Start(interval time.Duration, warn func(error)) {
	ctx, cancel := context.WithCancel(context.Background())
	l.stop, l.done, l.cancel = make(chan struct{}), make(chan struct{}), cancel
	go func() {
		defer close(l.done)
		var shown uint64
		first, failing := true, false
		// A new run replaces the last run's report with its header at
		// once; a resumed run's report on disk lists the earlier rows
		// already, and is rewritten after the interval like any other.
		l.mu.Lock()
		wait := time.Duration(0)
		if l.table.Rows() > 0 {
			wait = interval
		}
		l.mu.Unlock()
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			wait = interval
			l.mu.Lock()
			changed := l.changes != shown
			l.mu.Unlock()
			if changed || first {
				start := time.Now()
				n, err := l.Refresh(ctx)
				switch {
				case err == nil:
					shown, first, failing = n, false, false
				case errors.Is(err, context.Canceled):
					return
				case !failing: // once, until a rewrite works again
					failing = true
					warn(fmt.Errorf("report not refreshed: %w", err))
				}
				var size int64
				if fi, err := os.Stat(l.path); err == nil {
					size = fi.Size()
				}
				wait = refreshWait(interval, time.Since(start), size)
			}
			t.Reset(wait)
		}
	}()
}

// Stop ends the refreshes, giving up one in progress, and returns once
// none is: the run's final report then comes last.
func (l *LiveReport) Stop() {
	if l.stop == nil {
		return
	}
	l.cancel()
	close(l.stop)
	<-l.done
	l.stop = nil
}

// RemoveReportTemps removes the temporary files that a crash in the middle
// of a rewrite of the report at path left behind (each holds rows of the
// report: personal data). A rewrite in progress, of this run or another
// (two dry runs of one input, two runs over stdin with one --report), keeps
// its temporary file flocked and is left alone: safe without the
// checkpoint's lock.
func RemoveReportTemps(path string) error { return removeStaleTemps(path) }
