package reports

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
)

// TestLedgerRestoreKeepsTheEarlierTime: a refused re-send puts back the
// earlier `sent` with its own time (review stop 11, finding 1): Lookup, and
// a reload (what the next run, crash recovery included, reads), give the
// earlier entry, not one stamped with the time of the refusal. The line is
// an ordinary record, after the intent in the file.
func TestLedgerRestoreKeepsTheEarlierTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C123.ledger")
	l := openTestLedger(t, path)
	ctx := context.Background()
	wait, err := l.Settle("a@x.io", batch.LedgerSent)
	if err != nil || wait(ctx) != nil {
		t.Fatal(err)
	}
	sent, _ := l.Lookup("a@x.io")
	if err := l.Intend(ctx, "a@x.io", batch.LedgerResendIntent); err != nil {
		t.Fatal(err)
	}
	wait, err = l.Restore("a@x.io", sent)
	if err != nil || wait(ctx) != nil {
		t.Fatalf("Restore: %v", err)
	}
	if e, _ := l.Lookup("a@x.io"); e != sent {
		t.Errorf("Lookup after Restore = %+v, want %+v", e, sent)
	}
	if got, want := fmt.Sprint(ledgerLines(t, l)), "[03:00:01 sent a@x.io 03:00:02 resend_intent a@x.io 03:00:01 sent a@x.io]"; got != want {
		t.Errorf("lines %s, want %s", got, want)
	}
	for _, bad := range []batch.LedgerEntry{{}, {Status: batch.LedgerSent}} {
		if _, err := l.Restore("a@x.io", bad); err == nil {
			t.Errorf("Restore(%+v) = nil error", bad)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLedger(t, path)
	defer l.Close()
	if e, _ := l.Lookup("a@x.io"); e != sent {
		t.Errorf("Lookup after reload = %+v, want %+v", e, sent)
	}
}
