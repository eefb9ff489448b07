package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// loadJournal reads every payload of the journal at path.
func loadJournal(t testing.TB, path string, opts JournalOptions) (*Journal, []string, error) {
	t.Helper()
	var got []string
	j, err := OpenJournal(path, opts, func(n int, p []byte) error {
		if n != len(got)+1 {
			t.Errorf("line number %d, want %d", n, len(got)+1)
		}
		got = append(got, string(p))
		return nil
	})
	return j, got, err
}

// writeJournal creates a journal at path holding payloads.
func writeJournal(t testing.TB, path string, payloads ...string) {
	t.Helper()
	j, err := OpenJournal(path, JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		j.Append([]byte(p))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// lineStarts returns the byte offset of the start of each line of b.
func lineStarts(b []byte) []int {
	starts := []int{0}
	for i, c := range b {
		if c == '\n' && i+1 < len(b) {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "j")
	payloads := []string{"hello", "", "with spaces and \"quotes\"", strings.Repeat("x", 100000), "ünïcødé"}
	j, got, err := loadJournal(t, path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("new journal has %d records", len(got))
	}
	for i, p := range payloads {
		if p == strings.Repeat("x", 100000) {
			p = p[:MaxPayload]
			payloads[i] = p
		}
		if seq := j.Append([]byte(p)); seq != uint64(i+1) {
			t.Errorf("Append returned %d, want %d", seq, i+1)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Dir(path), 0o700)

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("3610a686 hello\n00000000 \n")) {
		t.Errorf("file starts %q", b[:30])
	}

	j, got, err = loadJournal(t, path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if diff := cmp.Diff(payloads, got); diff != "" {
		t.Errorf("reloaded payloads (-want +got):\n%s", diff)
	}
}

func TestJournalAppendRejects(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j"), JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, p := range []string{"a\nb", strings.Repeat("x", MaxPayload+1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%.10q...) did not panic", p)
				}
			}()
			j.Append([]byte(p))
		}()
	}
}

func TestJournalClosedAndReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	if _, _, err := loadJournal(t, path, JournalOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open created the file")
	}
	writeJournal(t, path, "a", "b")

	// A torn tail is dropped but left in place by a read-only open.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("0000")
	f.Close()
	j, got, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("c"))); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Wait after read-only Append: %v, want ErrReadOnly", err)
	}
	if err := j.Err(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Err: %v, want ErrReadOnly", err)
	}
	if err := j.Close(); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("\n0000")) {
		t.Errorf("read-only open changed the file: %q", b)
	}

	j, _, err = loadJournal(t, path, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("late"))); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("Wait after Append after Close: %v, want ErrJournalClosed", err)
	}
	if err := j.Wait(context.Background(), 0); err != nil {
		t.Errorf("Wait(0): %v", err)
	}
}

func TestJournalWaitUnknown(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j"), JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Wait(context.Background(), 5); err == nil {
		t.Error("Wait for a record never appended returned nil")
	}
}

// TestJournalTornTail cuts the file at every byte offset inside its last two
// records: each copy must load without the torn record, and an append must
// then produce a valid file.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	payloads := []string{"one", "two", "three", "four"}
	writeJournal(t, src, payloads...)
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	starts := lineStarts(full)
	for cut := starts[len(starts)-2]; cut < len(full); cut++ {
		complete := bytes.Count(full[:cut], []byte("\n")) // lines wholly before cut
		if full[cut] == '\n' {
			complete++ // a complete record without its newline is kept
		}
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j, got, err := loadJournal(t, path, JournalOptions{NoSync: true})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if diff := cmp.Diff(payloads[:complete], got); diff != "" {
			t.Errorf("cut at %d: payloads (-want +got):\n%s", cut, diff)
		}
		if err := j.Wait(context.Background(), j.Append([]byte("after"))); err != nil {
			t.Fatal(err)
		}
		j.Close()
		_, got, err = loadJournal(t, path, JournalOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("cut at %d, then append: %v", cut, err)
		}
		want := append(append([]string(nil), payloads[:complete]...), "after")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cut at %d, then append: payloads (-want +got):\n%s", cut, diff)
		}
	}
}

// TestJournalLastLineWithoutNewline: a complete, CRC-valid last line that
// lost only its newline was dropped as torn (in a ledger: a send forgotten).
// It is kept, by readers too, and a writer ends it before appending.
func TestJournalLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	content := string(appendLine(nil, []byte("one"))) + strings.TrimSuffix(string(appendLine(nil, []byte("two"))), "\n")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, got, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
		t.Errorf("read-only load (-want +got):\n%s", diff)
	}
	j, got, err := loadJournal(t, path, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
		t.Errorf("load (-want +got):\n%s", diff)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("three"))); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if b, _ := os.ReadFile(path); string(b) != content+"\n"+string(appendLine(nil, []byte("three"))) {
		t.Errorf("file after append:\n%s", b)
	}
}

func TestJournalCorrupt(t *testing.T) {
	good := "3610a686 hello\n"
	tests := []struct {
		name     string
		content  string
		wantLine int
		wantOff  int64
		wantErr  string
	}{
		{"flipped payload byte", good + "3610a686 hellp\n" + good, 2, 15, "checksum mismatch"},
		{"bad crc", good + good + "3610a687 hello\n", 3, 30, "checksum mismatch"},
		{"upper-case crc", "3610A686 hello\n", 1, 0, "malformed checksum"},
		{"no space", good + "3610a686hello\n", 2, 15, "malformed line"},
		{"short line", good + "\n" + good, 2, 15, "malformed line"},
		{"too long", good + "00000000 " + strings.Repeat("x", MaxPayload+1) + "\n" + good, 2, 15, "line too long"},
		{"bad crc then torn tail", "3610a686 hellp\n3610a6", 1, 0, "checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				_, _, err := loadJournal(t, path, JournalOptions{ReadOnly: ro})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("read-only %v: error %v, want a *CorruptError", ro, err)
				}
				if ce.Line != tt.wantLine || ce.Offset != tt.wantOff || ce.Path != path {
					t.Errorf("got line %d offset %d path %s, want line %d offset %d path %s",
						ce.Line, ce.Offset, ce.Path, tt.wantLine, tt.wantOff, path)
				}
				want := fmt.Sprintf("%s: line %d (byte offset %d): %s", path, tt.wantLine, tt.wantOff, tt.wantErr)
				if err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("a failed load changed the file")
			}
		})
	}
}

func TestJournalCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	writeJournal(t, path, "a", "b", "c")
	boom := errors.New("boom")
	_, err := OpenJournal(path, JournalOptions{}, func(n int, p []byte) error {
		if string(p) == "b" {
			return boom
		}
		return nil
	})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Offset != 11 || !errors.Is(err, boom) {
		t.Errorf("error %v, want boom at line 2, offset 11", err)
	}
}

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

// FuzzLoadJournal loads arbitrary bytes: it must never panic, and whenever a
// load succeeds, appending a record must yield a file that loads with one
// more record.
func FuzzLoadJournal(f *testing.F) {
	f.Add([]byte("3610a686 hello\n"))
	f.Add([]byte("3610a686 hello\n3610a6"))
	f.Add([]byte("00000000 \n"))
	f.Add([]byte("3610a686 hellp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, before, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
		j, got, werr := loadJournal(t, path, JournalOptions{NoSync: true})
		if (err == nil) != (werr == nil) {
			t.Fatalf("read-only load: %v; writable load: %v", err, werr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff(before, got); diff != "" {
			t.Fatalf("read-only and writable loads differ:\n%s", diff)
		}
		j.Append([]byte("appended"))
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		_, after, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("load after append: %v", err)
		}
		if want := append(got, "appended"); !cmp.Equal(want, after) {
			t.Fatalf("after append: %q, want %q", after, want)
		}
	})
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

// BenchmarkJournalLoad loads a journal of a million lines.
func BenchmarkJournalLoad(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "j")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var buf, p []byte
	for i := range n {
		p = fmt.Appendf(p[:0], "1795834800000000000 sent user%07d@example.com", i)
		buf = appendLine(buf, p)
	}
	f.Write(buf)
	f.Close()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		count := 0
		j, err := OpenJournal(path, JournalOptions{ReadOnly: true}, func(int, []byte) error { count++; return nil })
		if err != nil || count != n {
			b.Fatal(count, err)
		}
		j.Close()
	}
}
