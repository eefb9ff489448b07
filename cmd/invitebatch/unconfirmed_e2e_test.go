package main

import (
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// TestE2EUnconfirmedIsNotResentByTheNextRun: two ambiguous 503s leave a row
// unconfirmed (the second send still reads NOT_YET_SENT). Against Google a
// 5xx send may have gone out and reads may lag, so the next run (a cron
// rerun, the faults gone) must not send it again: the contract's
// unconfirmed is "not re-sent automatically". It was sent a third time.
func TestE2EUnconfirmedIsNotResentByTheNextRun(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 1)
	w.emu.FailNext(emulator.MethodSend, 2, 503)
	res := w.runR("run", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1 (unconfirmed)\n%s", res.code, res.stderr)
	}
	if o := w.report("users.report.csv")[0]["outcome"]; o != "unconfirmed" {
		t.Fatalf("first run: outcome %q, want unconfirmed", o)
	}
	for i := range 2 {
		res = w.runR("run", "users.csv")
		if res.code != 1 {
			t.Fatalf("rerun %d: exit %d, want 1 (still unconfirmed)\n%s", i+1, res.code, res.stderr)
		}
		row := w.report("users.report.csv")[0]
		if row["outcome"] != "unconfirmed" || !strings.Contains(row["error"], "ledger forget") {
			t.Errorf("rerun %d: %q (%s), want unconfirmed with how to allow a new send", i+1, row["outcome"], row["error"])
		}
		if n := w.emu.Sends(emails[0]); n != 0 {
			t.Fatalf("rerun %d: the unconfirmed row was emailed %d times by a rerun", i+1, n)
		}
	}
}
