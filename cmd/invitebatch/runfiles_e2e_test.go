package main

// Regression tests of review stop 11, finding 5: a file the run writes
// (--report, --summary, --metrics-file, the checkpoint) that is another
// file of the run, or a device, is refused with exit 2 before any API call
// and before any file is touched.

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// apiCalls is the number of API requests the world's emulator answered.
func apiCalls(w *world) int {
	n := 0
	for _, byCode := range w.emu.Stats().Requests {
		for _, c := range byCode {
			n += c
		}
	}
	return n
}

// checkRefused checks that res is exit 2 with a message containing want,
// made without an API call (calls is the count before the run).
func checkRefused(t *testing.T, w *world, res result, calls int, what, want string) {
	t.Helper()
	if res.code != 2 {
		t.Errorf("%s: exit %d, want 2\n%s", what, res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, want) {
		t.Errorf("%s: stderr does not say %q:\n%s", what, want, res.stderr)
	}
	if n := apiCalls(w); n != calls {
		t.Errorf("%s: %d API calls before the refusal, want none", what, n-calls)
	}
}

// The reproduced case: a dry run with --report naming the ledger replaced
// the ledger with its report (exit 0; the next run: "ledger damaged").
// Also through a symlink, the other files of the run, and a report that
// would become the checkpoint a run creates.
func TestE2EReportIsAnotherFileOfTheRunExits2(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 3)
	if res := w.run("run", "users.csv"); res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
	}
	ledgers, _ := filepath.Glob(w.path("state/invitebatch/*.ledger"))
	if len(ledgers) != 1 {
		t.Fatalf("ledgers %v, want one", ledgers)
	}
	ledger := ledgers[0]
	keep := map[string]string{}
	for _, f := range []string{ledger, w.path("users.checkpoint"), w.path("users.csv"), w.path("users.report.csv")} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		keep[f] = string(b)
	}
	if err := os.Symlink(ledger, w.path("link.csv")); err != nil {
		t.Fatal(err)
	}
	calls := apiCalls(w)
	for _, c := range []struct {
		what string
		args []string
		want string
	}{
		{"dry run, --report the ledger", []string{"run", "--dry-run", "--report", ledger, "users.csv"}, "the ledger"},
		{"dry run, --report a symlink to the ledger", []string{"run", "--dry-run", "--report", "link.csv", "users.csv"}, "the ledger"},
		{"run, --report the ledger", []string{"run", "--report", ledger, "users.csv"}, "the ledger"},
		{"dry run, --report the real run's checkpoint", []string{"run", "--dry-run", "--report", "users.checkpoint", "users.csv"}, "the checkpoint"},
		{"run, --report the input", []string{"run", "--report", "users.csv", "users.csv"}, "the input"},
		{"run, --summary the report", []string{"run", "--summary", "users.report.csv", "users.csv"}, "the summary"},
		{"run, --metrics-file the ledger", []string{"run", "--metrics-file", "m.prom", "--ledger", "m.prom", "users.csv"}, "the metrics file"},
		{"cancel, --report the invite run's checkpoint", []string{"cancel", "--report", "users.checkpoint", "users.csv"}, "the checkpoint of `run`"},
		{"cancel, --checkpoint the ledger", []string{"cancel", "--checkpoint", ledger, "users.csv"}, "the ledger"},
	} {
		res := w.run(c.args...)
		checkRefused(t, w, res, calls, c.what, "is the same file as "+c.want)
	}
	for f, want := range keep {
		if got, _ := os.ReadFile(f); string(got) != want {
			t.Errorf("%s changed by a refused run", f)
		}
	}
	for _, f := range []string{"m.prom", "users.dryrun.report.csv", "users.cancel.report.csv", "users.cancel.checkpoint"} {
		if _, err := os.Lstat(w.path(f)); err == nil {
			t.Errorf("a refused run left %s", f)
		}
	}

	// A report that does not exist yet but names the checkpoint the run
	// creates: a dangling symlink to it.
	w2 := newWorld(t)
	usersCSV(w2, 3)
	if err := os.Symlink("users.checkpoint", w2.path("r.csv")); err != nil {
		t.Fatal(err)
	}
	res := w2.run("run", "--report", "r.csv", "users.csv")
	checkRefused(t, w2, res, 0, "--report a dangling symlink to the checkpoint", "is the same file as the checkpoint")
	if _, err := os.Stat(w2.path("users.checkpoint")); err == nil {
		t.Errorf("the refused run wrote the checkpoint")
	}
}

// A report on a device or a fifo replaced the device with a 0600 regular
// file of personal data (or would block on the fifo): refused, exit 2.
func TestE2EReportOnDeviceExits2(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 3)
	fifo := w.path("fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	specials := map[string]string{fifo: "a fifo"}
	// A character device like /dev/null, where allowed (root, no user
	// namespace restriction): mknod c 1 3.
	dev := w.path("null.csv")
	if err := syscall.Mknod(dev, syscall.S_IFCHR|0o600, 1<<8|3); err == nil {
		specials[dev] = "a character device"
	} else {
		t.Logf("mknod not permitted (%v): the character device is tested as /dev/null", err)
		specials["/dev/null"] = "a character device"
	}
	for path, kind := range specials {
		res := w.run("run", "--report", path, "users.csv")
		checkRefused(t, w, res, 0, "--report "+path, "is not a regular file but "+kind)
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode().IsRegular() {
			t.Errorf("%s was replaced by a regular file (%v)", path, err)
		}
		res = w.run("run", "--dry-run", "--summary", path, "users.csv")
		checkRefused(t, w, res, 0, "--dry-run --summary "+path, "is not a regular file")
	}
	for _, f := range []string{"users.checkpoint", "users.report.csv", "users.dryrun.report.csv"} {
		if _, err := os.Lstat(w.path(f)); err == nil {
			t.Errorf("a refused run left %s", f)
		}
	}
}
