package reports

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/invitebatch/invitebatch/batch"
)

var t0 = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// fakeClock returns a clock that advances a second per call.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
}

func openTestLedger(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func ledgerLines(t *testing.T, l *Ledger) []string {
	t.Helper()
	var got []string
	err := l.Each(func(r LedgerRecord) error {
		got = append(got, fmt.Sprintf("%s %s %s", r.Time.UTC().Format(time.TimeOnly), LedgerStatusWord(r.Status), r.Email))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestLedgerRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "C123.ledger")
	l := openTestLedger(t, path)
	ctx := context.Background()
	steps := []struct {
		email  string
		status batch.LedgerStatus
	}{
		{" Ann@Example.com ", batch.LedgerSendIntent},
		{"ann@example.com", batch.LedgerSent},
		{"bob@example.com", batch.LedgerSendIntent},
		{"cy@example.com", batch.LedgerSendIntent},
		{"cy@example.com", batch.LedgerNotSent},
		{"dee@example.com", batch.LedgerCancelIntent},
		{"dee@example.com", batch.LedgerCancelled},
		{"eve@example.com", batch.LedgerSendIntent},
		{"EVE@example.com", batch.LedgerUnconfirmed},
	}
	for _, s := range steps {
		var err error
		if s.status == batch.LedgerSendIntent || s.status == batch.LedgerCancelIntent {
			err = l.Intend(ctx, s.email, s.status)
		} else {
			err = settleNow(l, s.email, s.status)
		}
		if err != nil {
			t.Fatalf("%s %v: %v", s.email, s.status, err)
		}
	}
	want := map[string]batch.LedgerEntry{
		"ann@example.com": {Status: batch.LedgerSent, Time: t0.Add(2 * time.Second)},
		"bob@example.com": {Status: batch.LedgerSendIntent, Time: t0.Add(3 * time.Second)},
		"cy@example.com":  {Status: batch.LedgerNotSent, Time: t0.Add(5 * time.Second)},
		"dee@example.com": {Status: batch.LedgerCancelled, Time: t0.Add(7 * time.Second)},
		"eve@example.com": {Status: batch.LedgerUnconfirmed, Time: t0.Add(9 * time.Second)},
	}
	check := func(l *Ledger) {
		t.Helper()
		for email, w := range want {
			got, ok := l.Lookup(strings.ToUpper(email))
			if !ok || got.Status != w.Status || !got.Time.Equal(w.Time) {
				t.Errorf("Lookup(%s) = %v, %v, want %v", email, got, ok, w)
			}
		}
		if _, ok := l.Lookup("nobody@example.com"); ok {
			t.Error("Lookup of an unknown address found it")
		}
		if l.Len() != len(want) {
			t.Errorf("Len %d, want %d", l.Len(), len(want))
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Dir(path), 0o700)

	l = openTestLedger(t, path)
	defer l.Close()
	check(l)
	wantLines := []string{
		"03:00:01 send_intent ann@example.com",
		"03:00:02 sent ann@example.com",
		"03:00:03 send_intent bob@example.com",
		"03:00:04 send_intent cy@example.com",
		"03:00:05 not_sent cy@example.com",
		"03:00:06 cancel_intent dee@example.com",
		"03:00:07 cancelled dee@example.com",
		"03:00:08 send_intent eve@example.com",
		"03:00:09 unconfirmed eve@example.com",
	}
	if diff := cmp.Diff(wantLines, ledgerLines(t, l)); diff != "" {
		t.Errorf("Each (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(path)
	if want := fmt.Sprintf(" %d send_intent ann@example.com\n", t0.Add(time.Second).UnixNano()); !bytes.Contains(b, []byte(want)) {
		t.Errorf("file lacks %q:\n%s", want, b)
	}
}

func TestLedgerRejects(t *testing.T) {
	l := openTestLedger(t, filepath.Join(t.TempDir(), "l"))
	defer l.Close()
	ctx := context.Background()
	tests := []struct {
		name string
		err  error
	}{
		{"intend with a result", l.Intend(ctx, "a@b.c", batch.LedgerSent)},
		{"intend with none", l.Intend(ctx, "a@b.c", batch.LedgerNone)},
		{"settle with an intent", settleNow(l, "a@b.c", batch.LedgerSendIntent)},
		{"settle with an unknown status", settleNow(l, "a@b.c", 99)},
		{"empty address", settleNow(l, "  ", batch.LedgerSent)},
		{"address with a space", settleNow(l, "a b@c.d", batch.LedgerSent)},
		{"address with a newline", l.Intend(ctx, "a\nb@c.d", batch.LedgerSendIntent)},
		{"huge address", l.Intend(ctx, strings.Repeat("a", MaxPayload)+"@c.d", batch.LedgerSendIntent)},
	}
	for _, tt := range tests {
		if tt.err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if l.Len() != 0 {
		t.Errorf("rejected calls changed the ledger: Len %d", l.Len())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := settleNow(l, "a@b.c", batch.LedgerSent); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("Settle after Close: %v, want ErrJournalClosed", err)
	}
}

func TestLedgerLockAndReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")

	// Read-only on a missing ledger: empty, and nothing is created.
	ro, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Len() != 0 || len(ledgerLines(t, ro)) != 0 {
		t.Error("missing ledger is not empty")
	}
	ro.Close()
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("read-only open created %v", entries)
	}

	l := openTestLedger(t, path)
	defer l.Close()
	if err := settleNow(l, "a@b.c", batch.LedgerSent); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLedger(path, LedgerOptions{}); !IsLocked(err) {
		t.Fatalf("second OpenLedger: %v, want a lock error", err)
	}
	// Read-only neither locks nor waits for the lock.
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	ro, err = OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a locked ledger: %v", err)
	}
	defer ro.Close()
	if e, ok := ro.Lookup("a@b.c"); !ok || e.Status != batch.LedgerSent {
		t.Errorf("read-only Lookup = %v, %v", e, ok)
	}
	if err := ro.Intend(context.Background(), "x@b.c", batch.LedgerSendIntent); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Intend: %v, want ErrReadOnly", err)
	}
	if err := settleNow(ro, "x@b.c", batch.LedgerSent); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Settle: %v, want ErrReadOnly", err)
	}
	if _, err := ro.Forget("a@b.c"); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only Forget: %v, want ErrReadOnly", err)
	}
}

// TestLedgerConcurrentIntend has many goroutines record intents and results
// at once (run it with -race).
func TestLedgerConcurrentIntend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	l, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 32, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				email := fmt.Sprintf("u%d.%d@example.com", w, i)
				if err := l.Intend(context.Background(), email, batch.LedgerSendIntent); err != nil {
					t.Error(err)
					return
				}
				if e, ok := l.Lookup(email); !ok || e.Status != batch.LedgerSendIntent {
					t.Errorf("Lookup after Intend = %v, %v", e, ok)
				}
				if err := settleNow(l, email, batch.LedgerSent); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != workers*each {
		t.Errorf("Len %d, want %d", l.Len(), workers*each)
	}
	for w := range workers {
		for i := range each {
			if e, _ := l.Lookup(fmt.Sprintf("u%d.%d@example.com", w, i)); e.Status != batch.LedgerSent {
				t.Fatalf("u%d.%d: status %v, want sent", w, i, e.Status)
			}
		}
	}
}

func TestLedgerForgetAndPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	l := openTestLedger(t, path) // 03:00:01, 03:00:02, ...
	defer l.Close()
	for _, e := range []string{"old@x.y", "ann@x.y", "bob@x.y", "old@x.y", "new@x.y", "ann@x.y"} {
		if err := settleNow(l, e, batch.LedgerSent); err != nil {
			t.Fatal(err)
		}
	}
	// ann 2,6; bob 3; old 1,4; new 5.

	n, err := l.Forget("BOB@x.y", "nobody@x.y", "bob@x.y")
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v, want 1", n, err)
	}
	if _, ok := l.Lookup("bob@x.y"); ok {
		t.Error("bob still in the index after Forget")
	}
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("bob")) {
		t.Errorf("bob still in the file after Forget:\n%s", b)
	}
	checkMode(t, path, 0o600)

	// Prune what was last touched before 03:00:05: only old (4).
	late := t0.Add(5*time.Second + MinPruneAge)
	l.opts.Now = func() time.Time { return late }
	n, err = l.Prune(t0.Add(5 * time.Second))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v, want 1", n, err)
	}
	want := []string{
		"03:00:02 sent ann@x.y",
		"03:00:05 sent new@x.y",
		"03:00:06 sent ann@x.y",
	}
	if diff := cmp.Diff(want, ledgerLines(t, l)); diff != "" {
		t.Errorf("after Forget and Prune (-want +got):\n%s", diff)
	}

	// The ledger keeps working on the rewritten file.
	if err := l.Intend(context.Background(), "zed@x.y", batch.LedgerSendIntent); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLedger(t, path)
	if e, ok := l.Lookup("zed@x.y"); !ok || e.Status != batch.LedgerSendIntent {
		t.Errorf("zed after reopen: %v, %v", e, ok)
	}
	if l.Len() != 3 {
		t.Errorf("Len %d, want 3 (ann, new, zed)", l.Len())
	}
}

func TestLedgerEachStops(t *testing.T) {
	l := openTestLedger(t, filepath.Join(t.TempDir(), "l"))
	defer l.Close()
	settleNow(l, "a@b.c", batch.LedgerSent)
	settleNow(l, "b@b.c", batch.LedgerSent)
	stop := errors.New("stop")
	calls := 0
	if err := l.Each(func(LedgerRecord) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("Each = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestDefaultLedgerPath(t *testing.T) {
	home, _ := os.UserHomeDir()
	tests := []struct {
		xdg, customer, endpoint, want string
	}{
		{"/state", "C0123abc", "", "/state/invitebatch/C0123abc.ledger"},
		{"/state", "C0123abc", "localhost:8080", "/state/invitebatch/C0123abc.localhost_8080.ledger"},
		{"/state", "../evil", "http://a/b", "/state/invitebatch/.._evil.http___a_b.ledger"},
		{"", "C1", "", filepath.Join(home, ".local/state/invitebatch/C1.ledger")},
		{"relative", "C1", "", filepath.Join(home, ".local/state/invitebatch/C1.ledger")},
	}
	for _, tt := range tests {
		t.Setenv("XDG_STATE_HOME", tt.xdg)
		got, err := DefaultLedgerPath(tt.customer, tt.endpoint)
		if err != nil || got != tt.want {
			t.Errorf("DefaultLedgerPath(%q, %q) with XDG_STATE_HOME=%q = %q, %v, want %q", tt.customer, tt.endpoint, tt.xdg, got, err, tt.want)
		}
	}
	if _, err := DefaultLedgerPath(" ", ""); err == nil {
		t.Error("DefaultLedgerPath without a customer succeeded")
	}
}

// TestLedgerTornTail cuts the file at every byte offset inside its last two
// records: each copy must load without the torn record, and the ledger must
// then append a valid record.
func TestLedgerTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	l := openTestLedger(t, src)
	emails := []string{"a@x.y", "b@x.y", "c@x.y", "d@x.y"}
	for _, e := range emails {
		if err := settleNow(l, e, batch.LedgerSent); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	full, _ := os.ReadFile(src)
	starts := lineStarts(full)
	for cut := starts[len(starts)-2]; cut < len(full); cut++ {
		complete := bytes.Count(full[:cut], []byte("\n"))
		if full[cut] == '\n' {
			complete++ // a complete record without its newline is kept
		}
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(path, LedgerOptions{NoSync: true})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		for i, e := range emails {
			if _, ok := l.Lookup(e); ok != (i < complete) {
				t.Errorf("cut at %d: Lookup(%s) found %v, want %v", cut, e, ok, i < complete)
			}
		}
		if err := l.Intend(context.Background(), "new@x.y", batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, err = OpenLedger(path, LedgerOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("cut at %d, then append: %v", cut, err)
		}
		if _, ok := l.Lookup("new@x.y"); !ok || l.Len() != complete+1 {
			t.Errorf("cut at %d, then append: Len %d, new found %v", cut, l.Len(), ok)
		}
	}
}

func TestLedgerCorrupt(t *testing.T) {
	line := func(payload string) string { return string(appendLine(nil, []byte(payload))) }
	good := line("1795834800000000000 sent a@x.y")
	tests := []struct {
		name, content, wantErr string
	}{
		{"flipped byte", good + strings.Replace(good, "a@x", "a@y", 1) + good, "line 2 (byte offset 40): checksum mismatch"},
		{"unknown status", good + line("1 resent a@x.y"), `line 2 (byte offset 40): unknown ledger status "resent"`},
		{"bad time", line("-1 sent a@x.y"), "line 1 (byte offset 0): malformed ledger time"},
		{"time overflow", line("99999999999999999999 sent a@x.y"), "line 1 (byte offset 0): malformed ledger time"},
		{"no address", line("1 sent"), "line 1 (byte offset 0): malformed ledger record"},
		{"address with space", line("1 sent a @x.y"), "line 1 (byte offset 0): malformed ledger address"},
		{"empty address", line("1 sent "), "line 1 (byte offset 0): malformed ledger address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l")
			os.WriteFile(path, []byte(tt.content), 0o600)
			for _, ro := range []bool{false, true} {
				_, err := OpenLedger(path, LedgerOptions{ReadOnly: ro})
				if err == nil || !strings.Contains(err.Error(), path+": "+tt.wantErr) {
					t.Errorf("read-only %v: error %v, want %q", ro, err, tt.wantErr)
				}
			}
		})
	}
}

func FuzzLoadLedger(f *testing.F) {
	f.Add([]byte("6e0e1c4a 1795834800000000000 sent a@x.y\n"))
	f.Add(appendLine(nil, []byte("1 send_intent a@x.y")))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "l")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(path, LedgerOptions{NoSync: true})
		if err != nil {
			return
		}
		defer l.Close()
		n := l.Len()
		if err := l.Intend(context.Background(), "fuzz@x.y", batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
		if err := l.Each(func(LedgerRecord) error { return nil }); err != nil {
			t.Fatalf("Each after append: %v", err)
		}
		if l.Len() > n+1 {
			t.Fatalf("Len %d after one append to %d", l.Len(), n)
		}
	})
}

// writeBigLedger writes a ledger of n addresses, each with a send_intent and
// a sent line.
func writeBigLedger(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var p []byte
	var line []byte
	ns := t0.UnixNano()
	for i := range n {
		for _, st := range []string{"send_intent", "sent"} {
			p = fmt.Appendf(p[:0], "%d %s user%07d@example.com", ns+int64(i)*1e6, st, i)
			line = appendLine(line[:0], p)
			w.Write(line)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// TestLedgerMemory guards the index's size: 12 bytes per address in its
// sorted slices, plus the slack of the size guess; under 14 bytes of heap per
// address.
func TestLedgerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 100_000
	path := filepath.Join(t.TempDir(), "l")
	writeBigLedger(t, path, n)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if l.Len() != n {
		t.Fatalf("Len %d, want %d", l.Len(), n)
	}
	perAddr := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / n
	t.Logf("%.1f bytes of heap per address", perAddr)
	if perAddr > 14 {
		t.Errorf("%.1f bytes of heap per address, want < 14", perAddr)
	}
	runtime.KeepAlive(l)
}

// BenchmarkLedgerLoad loads a ledger of a million addresses (two lines each)
// and reports the heap it keeps per address.
func BenchmarkLedgerLoad(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "l")
	writeBigLedger(b, path, n)
	var ms0, ms1 runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime()
		l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpuTime() - cpu0).Milliseconds()), "cpu-ms/op")
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		if l.Len() != n {
			b.Fatalf("Len %d", l.Len())
		}
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/n, "heapB/addr")
		runtime.KeepAlive(l)
	}
}

// cpuTime returns the CPU time this process has used, to tell the work a
// benchmark does from time spent waiting for a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLedgerSettleIsOnDisk: once Settle returns, the result is in the file
// (the caller records the row in the checkpoint right after; a crash must
// not leave the checkpoint ahead of the ledger).
func TestLedgerSettleIsOnDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.ledger")
	l, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.Intend(ctx, "a@b.c", batch.LedgerSendIntent); err != nil {
		t.Fatal(err)
	}
	if err := settleNow(l, "a@b.c", batch.LedgerSent); err != nil {
		t.Fatal(err)
	}
	// Read the file as another process would, the ledger still open.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); !strings.Contains(got, " sent a@b.c\n") {
		t.Errorf("file after Settle = %q, want the sent line in it", got)
	}
}

// TestLedgerRecentOverridesLoaded: an entry recorded after loading overrides
// the loaded one for the same address, and Len counts the address once, both
// before and after the recent entries are merged into the sorted slices.
func TestLedgerRecentOverridesLoaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	l := openTestLedger(t, path)
	ctx := context.Background()
	for _, e := range []string{"a@x.y", "b@x.y"} {
		if err := l.Intend(ctx, e, batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l = openTestLedger(t, path) // a and b are now in the sorted slices
	defer l.Close()
	if len(l.index.hashes) != 2 || len(l.index.recent) != 0 {
		t.Fatalf("after load: %d sorted, %d recent, want 2, 0", len(l.index.hashes), len(l.index.recent))
	}
	if err := settleNow(l, "A@x.y", batch.LedgerSent); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if e, ok := l.Lookup("a@x.y"); !ok || e.Status != batch.LedgerSent || !e.Time.Equal(t0.Add(time.Second)) {
			t.Errorf("%s: Lookup(a) = %v, %v, want sent at %v", when, e, ok, t0.Add(time.Second))
		}
		if e, ok := l.Lookup("b@x.y"); !ok || e.Status != batch.LedgerSendIntent {
			t.Errorf("%s: Lookup(b) = %v, %v, want send_intent", when, e, ok)
		}
		if l.Len() != 2 {
			t.Errorf("%s: Len %d, want 2", when, l.Len())
		}
	}
	if len(l.index.recent) != 1 {
		t.Fatalf("after Settle: %d recent, want 1", len(l.index.recent))
	}
	check("before the merge")
	l.mu.Lock()
	l.index.fold(l.j.written())
	l.mu.Unlock()
	if len(l.index.hashes) != 2 || len(l.index.recent) != 0 {
		t.Fatalf("after fold: %d sorted, %d recent, want 2, 0", len(l.index.hashes), len(l.index.recent))
	}
	check("after the merge")
}

func TestNarrowEntry(t *testing.T) {
	tests := []struct {
		time time.Time
		ok   bool
	}{
		{time.Date(2019, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{t0, true},
		{time.Date(2037, 1, 4, 18, 48, 31, 999, time.UTC), true},
		{time.Date(2037, 1, 4, 18, 48, 32, 0, time.UTC), false},
		{time.Unix(0, 0), false},
	}
	for _, tt := range tests {
		for st := batch.LedgerSendIntent; st <= batch.LedgerCancelled; st++ {
			v := packEntry(st, tt.time.UnixNano())
			n, ok := narrowEntry(v)
			if ok != tt.ok {
				t.Errorf("narrowEntry(%v, %v) ok = %v, want %v", st, tt.time, ok, tt.ok)
			}
			if ok && widenEntry(n) != v {
				t.Errorf("widenEntry(narrowEntry(%v, %v)) = %x, want %x", st, tt.time, widenEntry(n), v)
			}
		}
	}
}

// TestLedgerModel records random entries for a few thousand addresses, some
// at times a narrow entry cannot hold (before 2020, after 2036), reopening
// and forgetting now and then, merging the recent entries into the sorted
// slices often, and checks Lookup and Len against a map. The ledger grows big
// enough to load in several chunks.
func TestLedgerModel(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runLedgerModel(t, 3000, 30000)
}

// TestLedgerModelColliding is TestLedgerModel with a hash under which every
// address collides, and with one of 7 values: the index must answer from
// the addresses themselves, never from a hash hit.
func TestLedgerModelColliding(t *testing.T) {
	for name, h := range map[string]func([]byte) uint64{
		"all":  func([]byte) uint64 { return 42 },
		"mod7": func(b []byte) uint64 { return uint64(len(b)+int(b[1])) % 7 },
	} {
		t.Run(name, func(t *testing.T) {
			setHash(t, h)
			runLedgerModel(t, 300, 6000)
		})
	}
}

// setHash makes the ledger index use h until the test ends.
func setHash(t *testing.T, h func([]byte) uint64) {
	hashOverride = h
	t.Cleanup(func() { hashOverride = nil })
}

func runLedgerModel(t *testing.T, addresses, steps int) {
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(t.TempDir(), "l")
	var now time.Time
	open := func() *Ledger {
		l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: func() time.Time { return now }, Reserve: rng.IntN(100)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	defer func() { l.Close() }()
	email := func(i int) string { return fmt.Sprintf("u%d@x.y", i) }
	model := map[string]batch.LedgerEntry{}
	check := func(step int) {
		t.Helper()
		for i := range addresses {
			e := email(i)
			got, ok := l.Lookup(e)
			want, wok := model[e]
			if ok != wok || got.Status != want.Status || !got.Time.Equal(want.Time) {
				t.Fatalf("step %d: Lookup(%s) = %v, %v, want %v, %v", step, e, got, ok, want, wok)
			}
		}
		if l.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, l.Len(), len(model))
		}
		checkIndexOffsets(t, l)
	}
	ctx := context.Background()
	base := []time.Time{t0, time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	for step := range steps {
		switch r := rng.IntN(1000); {
		case r == 0:
			check(step)
			l.Close()
			l = open()
			check(step)
		case r < 20: // merge the recent entries now, not only when there are thousands
			l.mu.Lock()
			l.index.fold(l.j.written())
			l.mu.Unlock()
		case r == 20:
			e := email(rng.IntN(addresses))
			if _, err := l.Forget(e); err != nil {
				t.Fatal(err)
			}
			delete(model, e)
			check(step)
		default:
			e := email(rng.IntN(addresses))
			now = base[rng.IntN(len(base))].Add(time.Duration(rng.IntN(1e6)) * time.Second)
			if rng.IntN(10) > 0 {
				now = base[0].Add(time.Duration(step) * time.Second)
			}
			st := batch.LedgerStatus(1 + rng.IntN(int(batch.LedgerCancelled)))
			var err error
			if st == batch.LedgerSendIntent || st == batch.LedgerCancelIntent {
				err = l.Intend(ctx, e, st)
			} else {
				err = settleNow(l, e, st)
			}
			if err != nil {
				t.Fatal(err)
			}
			model[e] = batch.LedgerEntry{Status: st, Time: now.Truncate(time.Second)}
		}
	}
	check(-1)
	l.Close()
	l = open()
	check(-2)
}

// settleNow settles and waits until the result is durable.
func settleNow(l *Ledger, email string, st batch.LedgerStatus) error {
	wait, err := l.Settle(email, st)
	if err != nil {
		return err
	}
	return wait(context.Background())
}

// BenchmarkLedgerLookupHit looks up addresses the ledger holds: each hit
// reads its line back from the file to compare the address.
func BenchmarkLedgerLookupHit(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "l")
	writeBigLedger(b, path, n)
	l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%07d@example.com", i)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := l.Lookup(emails[i%n]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}
