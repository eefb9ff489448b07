package main

import (
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// TestE2ELedgerHashCollision: ucvtmpiia4puvs@x.io and umocqur3ejjlwq@x.io
// share a 64-bit FNV-1a hash, the ledger index's hash before it verified its
// hits. After the first was sent, the second read as already invited and was
// never emailed. Both accounts are too new to be visible, so only the ledger
// knows what was sent.
func TestE2ELedgerHashCollision(t *testing.T) {
	const a, b = "ucvtmpiia4puvs@x.io", "umocqur3ejjlwq@x.io"
	w := newWorld(t)
	w.emu.Seed(a, emulator.KindNew)
	w.emu.Seed(b, emulator.KindNew)
	w.write("a.csv", "email\n"+a+"\n")
	w.write("b.csv", "email\n"+b+"\n")
	if res := w.run("run", "a.csv"); res.code != 0 {
		t.Fatalf("run a.csv: exit %d\n%s", res.code, res.stderr)
	}
	res := w.run("run", "b.csv")
	if res.code != 0 {
		t.Fatalf("run b.csv: exit %d\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("b.report.csv"))[b]; got != "sent" {
		t.Errorf("%s: %s, want sent (the ledger answered for %s)", b, got, a)
	}
	if res := w.run("run", "a.csv"); res.code != 0 {
		t.Fatalf("rerun a.csv: exit %d\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("a.report.csv"))[a]; got != "already_invited" {
		t.Errorf("rerun: %s: %s, want already_invited", a, got)
	}
	for _, e := range []string{a, b} {
		if n := w.emu.Sends(e); n != 1 {
			t.Errorf("%s emailed %d times, want 1", e, n)
		}
	}
}
