package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Append adds a record and returns its sequence number for Wait. It does not
// wait for the record to be written; it blocks only while several megabytes
// are already pending. Append panics if payload contains '\n' or is longer
// than MaxPayload: quoting is the caller's job. After Close, or on a
// read-only journal, the record is dropped and Wait reports why.
func (j *Journal) Append(payload []byte) uint64 {
	if len(payload) > MaxPayload || bytes.IndexByte(payload, '\n') >= 0 {
		panic("reports: journal payload too long or contains a newline")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.buf) >= maxPending && j.err == nil && !j.closed {
		ch := j.flushed
		j.wake()
		j.mu.Unlock()
		<-ch
		j.mu.Lock()
	}
	if j.closed || j.err != nil {
		return j.next + 1 // never becomes durable
	}
	j.buf = appendLine(j.buf, payload)
	j.next++
	j.wake()
	return j.next
}

// wake tells the flusher there is work, without blocking.
func (j *Journal) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// Wait returns once the record with sequence number seq, and every record
// before it, is written and fsynced. It returns early with ctx's error, or
// with the journal's write error, which is sticky: after a failed write or
// fsync nothing more is written (a failed fsync may have dropped dirty pages,
// and retrying it would lie).
func (j *Journal) Wait(ctx context.Context, seq uint64) error { return j.wait(ctx, seq, 0) }

// WaitShared is Wait for a record that need not be durable at once: for up
// to grace it only waits for an fsync that somebody else asks for, and then
// asks for one itself. While other records are waited for steadily (the
// ledger's intents), it adds no fsync of its own.
func (j *Journal) WaitShared(ctx context.Context, seq uint64, grace time.Duration) error {
	return j.wait(ctx, seq, grace)
}

func (j *Journal) wait(ctx context.Context, seq uint64, grace time.Duration) error {
	var graceOver <-chan time.Time // runs while the grace does
	for {
		j.mu.Lock()
		switch {
		case j.durable >= seq:
			j.mu.Unlock()
			return nil
		case j.err != nil:
			err := j.err
			j.mu.Unlock()
			return err
		case j.closed && seq > j.next:
			// Appended after Close. A record appended before it is made
			// durable by Close's last flush, which a Wait meanwhile
			// awaits below.
			j.mu.Unlock()
			return fmt.Errorf("%s: %w", j.path, ErrJournalClosed)
		case seq > j.next:
			j.mu.Unlock()
			return fmt.Errorf("%s: wait for unknown record %d", j.path, seq)
		}
		switch {
		case grace <= 0 && seq > j.want:
			j.want = seq
			j.wake()
		case grace > 0 && graceOver == nil:
			t := time.NewTimer(grace)
			defer t.Stop()
			graceOver = t.C
		}
		ch := j.flushed
		j.mu.Unlock()
		select {
		case <-ch:
		case <-graceOver:
			grace, graceOver = 0, nil // ask for the fsync on the next turn
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush waits until every record appended so far is durable.
func (j *Journal) Flush() error {
	j.mu.Lock()
	seq := j.next
	j.mu.Unlock()
	return j.Wait(context.Background(), seq)
}

// written returns how many bytes of complete lines the file holds: records
// appended since are not yet readable from it.
func (j *Journal) written() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Err returns the sticky write error, if any: a cheap check for callers that
// append without waiting.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if errors.Is(j.err, ErrReadOnly) {
		return fmt.Errorf("%s: %w", j.path, ErrReadOnly)
	}
	return j.err
}

// Close makes every appended record durable, stops the flusher and closes the
// file. It returns the first write error, if any. Close may be called more
// than once.
func (j *Journal) Close() error {
	if j.f == nil { // read-only
		if j.rf != nil {
			return j.rf.Close()
		}
		return nil
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.done
		return j.closeErr()
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	err := j.closeErr()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal: %w", cerr)
	}
	return err
}

func (j *Journal) closeErr() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// flusher is the single goroutine that writes to the file.
func (j *Journal) flusher() {
	defer close(j.done)
	lazy := time.NewTimer(j.lazySync)
	lazy.Stop()
	var lazyC <-chan time.Time // lazy's channel while it runs
	for {
		force := false
		select {
		case <-j.kick:
			// Let the waiters just woken by the previous flush append their
			// next records first, so that they share this flush instead of
			// splitting into a small batch and a large one.
			runtime.Gosched()
		case <-lazyC:
			lazyC, force = nil, true
		case <-j.stop:
			j.flushPending(true)
			return
		}
		if j.flushPending(force) && lazyC == nil {
			lazy.Reset(j.lazySync)
			lazyC = lazy.C
		}
	}
}

// flushPending writes everything appended so far and fsyncs it if somebody
// waits for a record not yet durable, or if force; then it wakes the
// waiters. It reports whether written records remain unsynced.
func (j *Journal) flushPending(force bool) (unsynced bool) {
	j.mu.Lock()
	if j.err != nil {
		j.mu.Unlock()
		return false
	}
	buf, upto := j.buf, j.next
	sync := !j.noSync && upto > j.durable && (force || j.want > j.durable)
	if len(buf) == 0 && !sync {
		j.mu.Unlock()
		return false
	}
	j.buf, j.spare = j.spare[:0], nil
	j.mu.Unlock()

	var err error
	wrote := false
	if len(buf) > 0 {
		_, err = j.f.Write(buf)
		wrote = err == nil
	}
	if err == nil && sync {
		err = fsync(j.f)
	}

	j.mu.Lock()
	defer j.mu.Unlock()
	if cap(buf) <= maxPending*2 {
		j.spare = buf[:0]
	}
	if len(buf) > 0 {
		j.flushes++
		if wrote {
			j.size += int64(len(buf))
		}
	}
	if sync {
		j.syncs++
	}
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		if sync || j.noSync {
			j.durable = upto
		}
	}
	close(j.flushed)
	j.flushed = make(chan struct{})
	return j.err == nil && upto > j.durable
}
