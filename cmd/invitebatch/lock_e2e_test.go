package main

import (
	"os"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/reports"
)

// TestE2ELedgerLockThroughLinks: the lock was keyed by the path, so a run
// given the ledger through a symlink or a hard link took a second lock while
// another run held the first, and both wrote (and sent) with their own
// index of the one ledger. Now it finds the ledger locked: exit 4.
func TestE2ELedgerLockThroughLinks(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\n")
	real := w.path("C0test.ledger")
	held, err := reports.OpenLedger(real, reports.LedgerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := os.Symlink(real, w.path("sym.ledger")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(real, w.path("hard.ledger")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sym.ledger", "hard.ledger"} {
		res := w.run("run", "--fresh", "--ledger", w.path(p), "users.csv")
		if res.code != 4 {
			t.Errorf("run --ledger %s while the ledger is held: exit %d, want 4\n%s", p, res.code, res.stderr)
		}
	}
	if n := w.emu.Sends("a@example.com"); n != 0 {
		t.Errorf("emailed %d times while the ledger was held", n)
	}
}

// TestE2EPlantedLockSymlink: a planted users.checkpoint.lock symlink made the
// run truncate the file it pointed to (and write its pid there). The run is
// refused (exit 2) and the file is untouched.
func TestE2EPlantedLockSymlink(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\n")
	victim := w.write("precious.txt", "do not truncate me\n")
	if err := os.Symlink(victim, w.path("users.checkpoint.lock")); err != nil {
		t.Fatal(err)
	}
	res := w.run("run", "users.csv")
	if res.code != 2 || !strings.Contains(res.stderr, "users.checkpoint.lock is a symlink") {
		t.Errorf("run with a planted lock symlink: exit %d, want 2\n%s", res.code, res.stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "do not truncate me\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	if n := w.emu.Sends("a@example.com"); n != 0 {
		t.Errorf("emailed %d times", n)
	}
}
