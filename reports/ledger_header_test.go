package reports

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/invitebatch/invitebatch/batch"
)

var (
	idProd = LedgerIdentity{Backend: "google", Customer: "C0x"}
	idEmu  = LedgerIdentity{Backend: "test:127.0.0.1:8080", Customer: "C0x"}
)

func openIdentity(t *testing.T, path string, id LedgerIdentity) *Ledger {
	t.Helper()
	l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: fakeClock(), Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func firstLine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return line
}

func settle(t *testing.T, l *Ledger, email string, st batch.LedgerStatus) {
	t.Helper()
	wait, err := l.Settle(email, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestLedgerHeaderRefusesOtherIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	l := openIdentity(t, path, idProd)
	settle(t, l, "a@x.io", batch.LedgerSent)
	if l.Adopted() {
		t.Error("a new ledger reports Adopted")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := firstLine(t, path); !strings.HasSuffix(got, " invitebatch-ledger 1 backend=google customer=C0x") {
		t.Errorf("first line %q, want the header", got)
	}

	// The same customer in another case is the same ledger.
	l = openIdentity(t, path, LedgerIdentity{Backend: "google", Customer: "c0X"})
	if got := l.Identity(); got != idProd {
		t.Errorf("Identity() = %+v, want %+v", got, idProd)
	}
	if e, ok := l.Lookup("a@x.io"); !ok || e.Status != batch.LedgerSent {
		t.Errorf("Lookup after reopen = %+v, %v", e, ok)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for _, want := range []LedgerIdentity{idEmu, {Backend: "google", Customer: "C0y"}} {
		for _, ro := range []bool{false, true} {
			_, err := OpenLedger(path, LedgerOptions{NoSync: true, ReadOnly: ro, Identity: want})
			if !IsLedgerMismatch(err) {
				t.Fatalf("open for %v (read-only %v): %v, want a mismatch", want, ro, err)
			}
			for _, s := range []string{path, "customer C0x on backend google", want.String()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
		}
	}
	// The refused opens released the lock and left the file alone.
	l = openIdentity(t, path, idProd)
	defer l.Close()
	if got := ledgerLines(t, l); len(got) != 1 {
		t.Errorf("lines after refused opens: %q", got)
	}
}

func TestLedgerHeaderAdopt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	// A ledger of an earlier version: no header.
	l := openTestLedger(t, path)
	settle(t, l, "a@x.io", batch.LedgerSent)
	settle(t, l, "b@x.io", batch.LedgerNotSent)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	// Read-only opens accept it as it is.
	ro, err := OpenLedger(path, LedgerOptions{ReadOnly: true, Identity: idProd})
	if err != nil {
		t.Fatal(err)
	}
	if ro.Adopted() || !ro.Identity().IsZero() {
		t.Errorf("read-only open: adopted %v, identity %+v", ro.Adopted(), ro.Identity())
	}
	_ = ro.Close()
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a read-only open changed the file")
	}

	l = openIdentity(t, path, idProd)
	if !l.Adopted() {
		t.Error("Adopted() false for a header-less ledger with records")
	}
	if e, ok := l.Lookup("a@x.io"); !ok || e.Status != batch.LedgerSent {
		t.Errorf("Lookup after adoption = %+v, %v", e, ok)
	}
	want := []string{"03:00:01 sent a@x.io", "03:00:02 not_sent b@x.io"}
	if diff := cmp.Diff(want, ledgerLines(t, l)); diff != "" {
		t.Errorf("lines after adoption (-want +got):\n%s", diff)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := firstLine(t, path); !strings.Contains(got, "backend=google customer=C0x") {
		t.Errorf("first line after adoption %q", got)
	}
	if after, _ := os.ReadFile(path); !strings.HasSuffix(string(after), string(before)) {
		t.Errorf("adoption changed the records:\n%s\nwas\n%s", after, before)
	}

	// Once only.
	l = openIdentity(t, path, idProd)
	if l.Adopted() {
		t.Error("Adopted() true on the second open")
	}
	_ = l.Close()
	if _, err := OpenLedger(path, LedgerOptions{Identity: idEmu}); !IsLedgerMismatch(err) {
		t.Errorf("adopted ledger opened for another backend: %v", err)
	}
}

func TestLedgerHeaderKeptByForgetAndPrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	l := openIdentity(t, path, idProd)
	settle(t, l, "a@x.io", batch.LedgerSent)
	settle(t, l, "b@x.io", batch.LedgerSent)
	if n, err := l.Forget("a@x.io"); err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLedger(path, LedgerOptions{Identity: idEmu}); !IsLedgerMismatch(err) {
		t.Errorf("after forget, opened for another backend: %v", err)
	}
}

func TestLedgerHeaderRejects(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []LedgerIdentity{{Backend: "google"}, {Customer: "C0x"}, {Backend: "a b", Customer: "C"}, {Backend: "g", Customer: "C\n"}} {
		if _, err := OpenLedger(filepath.Join(dir, "x.ledger"), LedgerOptions{Identity: id}); err == nil {
			t.Errorf("identity %+v accepted", id)
		}
	}
	// A header anywhere but the first line is damage.
	path := filepath.Join(dir, "late.ledger")
	l := openTestLedger(t, path)
	settle(t, l, "a@x.io", batch.LedgerSent)
	l.j.Append(idProd.payload())
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := OpenLedger(path, LedgerOptions{ReadOnly: true}); !errors.As(err, &ce) || ce.Line != 2 {
		t.Errorf("late header: %v, want a *CorruptError on line 2", err)
	}
}

func TestLedgerMerge(t *testing.T) {
	dir := t.TempDir()
	at := func(s int) func() time.Time {
		return func() time.Time { return t0.Add(time.Duration(s) * time.Second) }
	}
	rec := func(path string, id LedgerIdentity, s int, email string, st batch.LedgerStatus) {
		t.Helper()
		l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: at(s), Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		settle(t, l, email, st)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "C0x.ledger")
	variant := filepath.Join(dir, "c0x.ledger") // header-less, of an earlier version
	rec(main, idProd, 1, "a@x.io", batch.LedgerSent)
	rec(variant, LedgerIdentity{}, 2, "b@x.io", batch.LedgerSent)
	rec(main, idProd, 3, "c@x.io", batch.LedgerSent)
	rec(variant, LedgerIdentity{}, 4, "a@x.io", batch.LedgerNotSent) // must not forget a's send
	rec(main, idProd, 5, "b@x.io", batch.LedgerNotSent)              // must not forget b's send
	rec(variant, LedgerIdentity{}, 6, "d@x.io", batch.LedgerUnconfirmed)
	rec(main, idProd, 7, "c@x.io", batch.LedgerCancelled)
	before, _ := os.ReadFile(variant)

	l := openIdentity(t, main, idProd)
	defer l.Close()
	n, err := l.Merge(variant)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("Merge added %d records, want 3 and 2 repeated sends", n)
	}
	want := []string{
		"03:00:01 sent a@x.io",
		"03:00:02 sent b@x.io",
		"03:00:03 sent c@x.io",
		"03:00:04 not_sent a@x.io",
		"03:00:05 not_sent b@x.io",
		"03:00:06 unconfirmed d@x.io",
		"03:00:07 cancelled c@x.io",
	}
	got := ledgerLines(t, l)
	if diff := cmp.Diff(want, got[:7]); diff != "" {
		t.Errorf("merged lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"03:00:01 sent a@x.io", "03:00:02 sent b@x.io"}, slices.Sorted(slices.Values(got[7:]))); diff != "" {
		t.Errorf("repeated sends (-want +got):\n%s", diff)
	}
	for e, st := range map[string]batch.LedgerStatus{"a@x.io": batch.LedgerSent, "b@x.io": batch.LedgerSent, "c@x.io": batch.LedgerCancelled, "d@x.io": batch.LedgerUnconfirmed} {
		if got, _ := l.Lookup(e); got.Status != st {
			t.Errorf("Lookup(%s) = %v, want %v", e, got.Status, st)
		}
	}
	if after, _ := os.ReadFile(variant); string(after) != string(before) {
		t.Error("Merge changed the merged file")
	}
	if got := l.Identity(); got != idProd {
		t.Errorf("identity after merge %+v", got)
	}

	// Another backend's ledger is refused, and a locked one too.
	other := filepath.Join(dir, "C0x.test.ledger")
	rec(other, idEmu, 8, "e@x.io", batch.LedgerSent)
	if _, err := l.Merge(other); !IsLedgerMismatch(err) {
		t.Errorf("merging another backend's ledger: %v", err)
	}
	held := openTestLedger(t, variant)
	defer held.Close()
	if _, err := l.Merge(variant); !IsLocked(err) {
		t.Errorf("merging a locked ledger: %v", err)
	}
	if e, ok := l.Lookup("e@x.io"); ok {
		t.Errorf("refused merge left %+v", e)
	}
	missing := filepath.Join(dir, "missing.ledger")
	if _, err := l.Merge(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("merging a missing file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("merging a missing file created it")
	}
}

// TestLedgerHashCollision: ucvtmpiia4puvs@x.io and umocqur3ejjlwq@x.io have
// one 64-bit FNV-1a hash (the index's hash until this test). After the first
// was sent, the second read as already emailed; after the second was
// refused, the first read as not_sent, to be emailed again.
func TestLedgerHashCollision(t *testing.T) {
	const a, b = "ucvtmpiia4puvs@x.io", "umocqur3ejjlwq@x.io"
	for _, name := range []string{"keyed", "all-collide"} {
		t.Run(name, func(t *testing.T) {
			if name == "all-collide" {
				setHash(t, func([]byte) uint64 { return 7 })
			}
			path := filepath.Join(t.TempDir(), "C0x.ledger")
			l := openIdentity(t, path, idProd)
			check := func(when string, wantA, wantB batch.LedgerStatus) {
				t.Helper()
				for e, want := range map[string]batch.LedgerStatus{a: wantA, b: wantB} {
					got, ok := l.Lookup(e)
					if got.Status != want || ok != (want != batch.LedgerNone) {
						t.Errorf("%s: Lookup(%s) = %v, %v, want %v", when, e, got.Status, ok, want)
					}
				}
			}
			settle(t, l, a, batch.LedgerSent)
			check("after sending a", batch.LedgerSent, batch.LedgerNone)
			settle(t, l, b, batch.LedgerNotSent)
			check("after refusing b", batch.LedgerSent, batch.LedgerNotSent)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openIdentity(t, path, idProd)
			defer l.Close()
			check("reloaded", batch.LedgerSent, batch.LedgerNotSent)
			if n := l.Len(); n != 2 {
				t.Errorf("Len %d, want 2", n)
			}
		})
	}
}

// TestLedgerPruneKeeps: prune deleted cancelled records (so a cancelled
// invitation could be sent again) and unresolved intents, and took any age.
func TestLedgerPruneKeeps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	now := t0
	l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for e, st := range map[string]batch.LedgerStatus{
		"sent@x.io": batch.LedgerSent, "refused@x.io": batch.LedgerNotSent,
		"cancelled@x.io": batch.LedgerCancelled, "unconfirmed@x.io": batch.LedgerUnconfirmed,
	} {
		settle(t, l, e, st)
	}
	for e, st := range map[string]batch.LedgerStatus{"intent@x.io": batch.LedgerSendIntent, "cancelling@x.io": batch.LedgerCancelIntent} {
		if err := l.Intend(t.Context(), e, st); err != nil {
			t.Fatal(err)
		}
	}
	now = t0.Add(60 * 24 * time.Hour)
	if _, err := l.Prune(now.Add(-time.Hour)); !errors.Is(err, ErrPruneTooRecent) {
		t.Errorf("Prune of the last hour: %v, want ErrPruneTooRecent", err)
	}
	if _, err := l.Prune(now.Add(-MinPruneAge + time.Minute)); !errors.Is(err, ErrPruneTooRecent) {
		t.Errorf("Prune just under MinPruneAge: %v, want ErrPruneTooRecent", err)
	}
	if l.Len() != 6 {
		t.Fatalf("refused prunes changed the ledger: Len %d", l.Len())
	}
	n, err := l.Prune(now.Add(-MinPruneAge))
	if err != nil || n != 2 {
		t.Errorf("Prune = %d, %v, want 2 (sent and not_sent)", n, err)
	}
	for _, e := range []string{"cancelled@x.io", "unconfirmed@x.io", "intent@x.io", "cancelling@x.io"} {
		if _, ok := l.Lookup(e); !ok {
			t.Errorf("%s pruned", e)
		}
	}
	for _, e := range []string{"sent@x.io", "refused@x.io"} {
		if _, ok := l.Lookup(e); ok {
			t.Errorf("%s kept", e)
		}
	}
}

// TestLedgerFoldAfterHeader: a new ledger's header line comes before the
// records; the index's line offsets must count it, or the records merged into
// the sorted index (past a few thousand) are checked against the wrong lines.
func TestLedgerFoldAfterHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	l := openIdentity(t, path, idProd)
	defer l.Close()
	const n = 5000 // more than the index's first merge (4096)
	for i := range n {
		settle(t, l, fmt.Sprintf("u%d@x.io", i), batch.LedgerSent)
	}
	l.mu.Lock()
	l.index.fold(l.j.written())
	l.mu.Unlock()
	checkIndexOffsets(t, l)
	if len(l.index.offs) < n/2 {
		t.Fatalf("only %d entries merged", len(l.index.offs))
	}
	for i := range n {
		if e, ok := l.Lookup(fmt.Sprintf("u%d@x.io", i)); !ok || e.Status != batch.LedgerSent {
			t.Fatalf("Lookup(u%d) = %v, %v after the merge", i, e, ok)
		}
	}
}

// checkIndexOffsets checks that every entry's offset is its own line's (a
// wrong one reads as a damaged line, which Lookup takes as a hit: safe, and
// blind).
func checkIndexOffsets(t *testing.T, l *Ledger) {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for i, off := range l.index.offs {
		a, err := l.readAddr(int64(off), nil)
		if err != nil || hashEmailBytes(a) != l.index.hashes[i] {
			t.Fatalf("entry %d: the line at offset %d reads %q, %v", i, off, a, err)
		}
	}
	for h, r := range l.index.recent {
		a, err := l.readAddr(r.off, nil)
		if err != nil || hashEmailBytes(a) != h {
			t.Fatalf("recent entry: the line at offset %d reads %q, %v", r.off, a, err)
		}
	}
}
