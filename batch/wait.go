package batch

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// waitList holds the rows waiting for their settle window, earliest due
// first, and counts the rows handed to workers, any of which may come back
// to it. The producer hands out the rows that are due between input rows,
// and after the input's end until none waits and no worker holds a row.
type waitList struct {
	mu   sync.Mutex
	rows dueHeap
	n    atomic.Int64  // len(rows), read without the lock
	busy atomic.Int64  // rows handed to workers and not finished
	wake chan struct{} // 1-buffered: a row was finished or added
}

func (w *waitList) len() int { return int(w.n.Load()) }

// add puts a row on the list; its worker is done with it.
func (w *waitList) add(j job) {
	w.mu.Lock()
	heap.Push(&w.rows, j)
	w.n.Store(int64(len(w.rows)))
	w.mu.Unlock()
}

// finished is called by a worker once it is done with a row (whether the row
// is final, left, or on the list again).
func (w *waitList) finished() {
	w.busy.Add(-1)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// next returns the earliest row and whether it is due at now; ok is false
// when none waits. A due row is taken off the list.
func (w *waitList) next(now time.Time) (j job, due, ok bool) {
	if w.len() == 0 {
		return job{}, false, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.rows) == 0 {
		return job{}, false, false
	}
	j = w.rows[0]
	if now.Before(j.later.due) {
		return j, false, true
	}
	heap.Pop(&w.rows)
	w.n.Store(int64(len(w.rows)))
	return j, true, true
}

// dispatch hands j to a worker. It reports whether the run was stopped
// first.
func (r *Runner) dispatch(ctx context.Context, jobs chan<- job, j job) (bool, error) {
	r.waiting.busy.Add(1)
	select {
	case jobs <- j:
		return false, nil
	case <-ctx.Done():
		r.waiting.busy.Add(-1)
		return false, ctx.Err()
	case <-r.Stop:
	case <-r.halt:
	}
	r.waiting.busy.Add(-1)
	if j.later != nil {
		r.waiting.add(j) // still an intent: left for the rerun
	}
	return true, nil
}

// dispatchDue hands every row whose settle window has passed to a worker.
func (r *Runner) dispatchDue(ctx context.Context, jobs chan<- job) (bool, error) {
	for {
		j, due, _ := r.waiting.next(r.Now())
		if !due {
			return false, nil
		}
		if stopped, err := r.dispatch(ctx, jobs, j); stopped || err != nil {
			return stopped, err
		}
	}
}

// drain runs after the input's end: it hands out the waiting rows as they
// fall due until none waits and no worker holds a row that may come back.
// A stop leaves the waiting rows as they are: intents, for the rerun.
func (r *Runner) drain(ctx context.Context, jobs chan<- job) (bool, error) {
	for {
		if stopped, err := r.dispatchDue(ctx, jobs); stopped || err != nil {
			return stopped, err
		}
		j, _, waiting := r.waiting.next(r.Now())
		if !waiting && r.waiting.busy.Load() == 0 {
			return false, nil
		}
		var t *time.Timer
		var timer <-chan time.Time
		if waiting {
			t = time.NewTimer(max(j.later.due.Sub(r.Now()), 0))
			timer = t.C
		}
		stopped, err := r.idle(ctx, timer)
		if t != nil {
			t.Stop()
		}
		if stopped || err != nil {
			return stopped, err
		}
	}
}

// idle waits for timer, a worker to finish a row, or the run to stop.
func (r *Runner) idle(ctx context.Context, timer <-chan time.Time) (bool, error) {
	select {
	case <-timer:
	case <-r.waiting.wake:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-r.Stop:
		return true, nil
	case <-r.halt:
		return true, nil
	}
	return false, nil
}

// dueHeap orders waiting rows by due time.
type dueHeap []job

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, k int) bool { return h[i].later.due.Before(h[k].later.due) }
func (h dueHeap) Swap(i, k int)      { h[i], h[k] = h[k], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(job)) }
func (h *dueHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	*h = old[:len(old)-1]
	return j
}
