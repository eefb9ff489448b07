package main

import (
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// TestE2EOperationErrorIsReadBack (review stop 11, finding 4): a send
// answered 200 with an Operation done with RESOURCE_EXHAUSTED was accepted
// by the server, and may have emailed the person. It was taken for a 429
// (a refusal at the door): its intent closed not_sent, and the send made
// again at once, with no read-back: every retry emailed the person again.
// It is ambiguous now: read back after the settle window, INVITED, sent
// once.
func TestE2EOperationErrorIsReadBack(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 2)
	w.emu.SetAmbiguousSendRate(1, emulator.AmbiguousOperation)
	// --max-duration bounds the run as it was: refused and sent again until
	// its refusals ran out (minutes).
	res := w.runR("run", "--settle-window", "100ms", "--max-duration", "30s", "--ledger", "ledger", "users.csv")
	if res.code != 0 {
		t.Errorf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.report.csv"))
	for _, e := range emails {
		if n := w.emu.Sends(e); got[e] != "sent" || n != 1 {
			t.Errorf("%s: %s, emailed %d times; want sent, once", e, got[e], n)
		}
	}
	if st := w.emu.Stats(); st.DuplicateSends != 0 {
		t.Errorf("emulator: %d duplicate sends, want 0", st.DuplicateSends)
	}
}
