package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// Consecutive intents for one address (an earlier version left one per
// attempt refused with 429) read as one: the last. Crash recovery settles
// it from the later intent's time; prune keeps the address (its last
// record is an unresolved intent); ledger show lists every line.
func TestLedgerConsecutiveIntentsReadAsOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C123.ledger")
	l := openTestLedger(t, path)
	ctx := context.Background()
	for range 2 {
		if err := l.Intend(ctx, "a@x.io", batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Two months later: both intents are old enough to prune.
	l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: func() time.Time { return t0.Add(60 * 24 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e, ok := l.Lookup("a@x.io")
	if !ok || e.Status != batch.LedgerSendIntent || !e.Time.Equal(t0.Add(2*time.Second)) {
		t.Errorf("Lookup = %+v %v, want the second intent (%v)", e, ok, t0.Add(2*time.Second))
	}
	if n, err := l.Prune(t0.Add(24 * time.Hour)); err != nil || n != 0 {
		t.Errorf("prune removed %d (%v), want the open intent kept", n, err)
	}
	if got := ledgerLines(t, l); len(got) != 2 {
		t.Errorf("records %q, want both intents", got)
	}
}
