package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestJournalGroupCommit has many goroutines append and wait at once: every
// record must be durable once Wait returns, each exactly once and in each
// goroutine's order, with fewer flushes than records.
func TestJournalGroupCommit(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoSync=%v", noSync), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			j, err := OpenJournal(path, JournalOptions{NoSync: noSync}, nil)
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 64, 50
			var wg sync.WaitGroup
			var maxSeq atomic.Uint64
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						seq := j.Append(fmt.Appendf(nil, "w%d %d", w, i))
						if err := j.Wait(context.Background(), seq); err != nil {
							t.Error(err)
							return
						}
						// Durable means written: visible to a fresh reader.
						if i == each-1 {
							b, _ := os.ReadFile(path)
							if !bytes.Contains(b, fmt.Appendf(nil, " w%d %d\n", w, i)) {
								t.Errorf("record w%d %d not in the file after Wait", w, i)
							}
						}
						for {
							m := maxSeq.Load()
							if seq <= m || maxSeq.CompareAndSwap(m, seq) {
								break
							}
						}
					}
				})
			}
			wg.Wait()
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if got := maxSeq.Load(); got != workers*each {
				t.Errorf("highest sequence number %d, want %d", got, workers*each)
			}
			if j.flushes >= workers*each {
				t.Errorf("%d flushes for %d records: no group commit", j.flushes, workers*each)
			}
			t.Logf("%d records, %d flushes", workers*each, j.flushes)
			next := make([]int, workers)
			_, got, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range got {
				var w, i int
				if _, err := fmt.Sscanf(p, "w%d %d", &w, &i); err != nil {
					t.Fatalf("record %q: %v", p, err)
				}
				if i != next[w] {
					t.Fatalf("record %q out of order, want w%d %d", p, w, next[w])
				}
				next[w]++
			}
			if len(got) != workers*each {
				t.Errorf("%d records in the file, want %d", len(got), workers*each)
			}
		})
	}
}

// TestJournalBackpressure appends far more than maxPending without waiting.
// TestJournalWaitDuringClose has waiters race Close: a Wait may report
// ErrJournalClosed only for a record that Close did not write; a record in
// the file must have been reported durable.
func TestJournalWaitDuringClose(t *testing.T) {
	for round := range 20 {
		path := filepath.Join(t.TempDir(), "j")
		j, err := OpenJournal(path, JournalOptions{NoSync: round%2 == 0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		const n = 32
		errs := make([]error, n)
		var wg, appended sync.WaitGroup
		appended.Add(n)
		for i := range n {
			wg.Go(func() {
				seq := j.Append(fmt.Appendf(nil, "r%d", i))
				appended.Done()
				errs[i] = j.Wait(context.Background(), seq)
			})
		}
		appended.Wait() // most are still being written when Close starts
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, err := range errs {
			written := bytes.Contains(b, fmt.Appendf(nil, " r%d\n", i))
			switch {
			case err == nil && !written:
				t.Fatalf("round %d: r%d reported durable but not in the file", round, i)
			case err != nil && (written || !errors.Is(err, ErrJournalClosed)):
				t.Fatalf("round %d: r%d (in the file: %v): %v", round, i, written, err)
			}
		}
	}
}

// TestJournalWaitShared checks that WaitShared leaves the fsync to other
// waiters for its grace, and asks for one itself after that.
func TestJournalWaitShared(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j"), JournalOptions{LazySync: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	syncs := func() int {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.syncs
	}

	// Alone: nobody else syncs, so it waits out its grace, then one fsync.
	start := time.Now()
	if err := j.WaitShared(context.Background(), j.Append([]byte("a")), 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond || syncs() != 1 {
		t.Errorf("alone: returned after %v with %d fsyncs, want >= 30ms and 1", d, syncs())
	}

	// Sharing: another record's Wait makes it durable long before the grace.
	shared := j.Append([]byte("b"))
	done := make(chan error, 1)
	go func() { done <- j.WaitShared(context.Background(), shared, time.Hour) }()
	time.Sleep(20 * time.Millisecond)
	if syncs() != 1 {
		t.Fatalf("WaitShared asked for an fsync within its grace")
	}
	if err := j.Wait(context.Background(), j.Append([]byte("c"))); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || syncs() != 2 {
			t.Errorf("sharing: %v with %d fsyncs, want nil and 2", err, syncs())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitShared still waiting after the record was synced")
	}
}

// TestJournalLazySync checks when the journal pays for an fsync: records
// nobody waits for are written at once (a crash of the process keeps them)
// but fsynced only after LazySync; Wait and Close fsync what they need, and
// nothing is fsynced twice.
func TestJournalLazySync(t *testing.T) {
	counts := func(j *Journal) (syncs int, durable, next uint64) {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.syncs, j.durable, j.next
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 10 s", what)
			}
		}
	}

	path := filepath.Join(t.TempDir(), "never")
	j, err := OpenJournal(path, JournalOptions{LazySync: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for i := range 3 {
		seq = j.Append(fmt.Appendf(nil, "r%d", i))
	}
	eventually("three records written", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte("\n")) == 3
	})
	if syncs, durable, _ := counts(j); syncs != 0 || durable != 0 {
		t.Errorf("nobody waited, yet %d fsyncs and records up to %d durable", syncs, durable)
	}
	if err := j.Wait(context.Background(), seq-1); err != nil {
		t.Fatal(err)
	}
	if syncs, durable, _ := counts(j); syncs != 1 || durable != seq {
		t.Errorf("after Wait: %d fsyncs, durable up to %d; want 1 and %d", syncs, durable, seq)
	}
	if err := j.Wait(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	j.Append([]byte("r3"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if syncs, durable, next := counts(j); syncs != 2 || durable != next {
		t.Errorf("after Close: %d fsyncs, durable up to %d of %d; want 2 and all", syncs, durable, next)
	}

	j, err = OpenJournal(filepath.Join(t.TempDir(), "lazy"), JournalOptions{LazySync: 20 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Append([]byte("a"))
	j.Append([]byte("b"))
	eventually("lazy fsync", func() bool {
		syncs, durable, next := counts(j)
		return syncs == 1 && durable == next
	})
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if syncs, _, _ := counts(j); syncs != 1 {
		t.Errorf("%d fsyncs, want 1: nothing new was written", syncs)
	}
}

func TestJournalBackpressure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := OpenJournal(path, JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte("y"), 1000)
	n := 3 * maxPending / len(p)
	for range n {
		j.Append(p)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	count := 0
	if _, err := OpenJournal(path, JournalOptions{ReadOnly: true}, func(int, []byte) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Errorf("%d records, want %d", count, n)
	}
}

// BenchmarkJournalDurableAppend measures Append followed by Wait with 1, 8 and
// 64 goroutines appending at once, with fsync and without: with fsync the
// cost per record falls as more waiters share each fsync.
func BenchmarkJournalDurableAppend(b *testing.B) {
	payload := []byte("1795834800000000000 send_intent someone.with.a.long.name@example.com")
	for _, doSync := range []bool{true, false} {
		for _, appenders := range []int{1, 8, 64} {
			name := fmt.Sprintf("fsync/appenders=%d", appenders)
			if !doSync {
				name = fmt.Sprintf("NoSync/appenders=%d", appenders)
			}
			b.Run(name, func(b *testing.B) {
				j, err := OpenJournal(filepath.Join(b.TempDir(), "j"), JournalOptions{NoSync: !doSync}, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer j.Close()
				var done atomic.Int64
				n := int64(b.N)
				flushes := j.flushes
				b.ResetTimer()
				var wg sync.WaitGroup
				for range appenders {
					wg.Go(func() {
						for done.Add(1) <= n {
							if err := j.Wait(context.Background(), j.Append(payload)); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				j.mu.Lock()
				b.ReportMetric(float64(b.N)/float64(j.flushes-flushes), "records/flush")
				j.mu.Unlock()
			})
		}
	}
}
