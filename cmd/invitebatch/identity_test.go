package main

// Regression tests of issue 11, item 1: a checkpoint is resumed only by a
// run of the same identity (input, customer, backend, email column,
// --domain, --resend-after, --max-mails, --check-each).

import (
	"os"
	"strings"
	"testing"
)

// noEmulatorHost unsets the world's CLOUDIDENTITY_EMULATOR_HOST, for a run
// with --emulator (or against another endpoint).
const noEmulatorHost = "CLOUDIDENTITY_EMULATOR_HOST="

// checkSetAside checks that stderr says, on one line, that a new run
// starts because of want, and that the old checkpoint was set aside.
func checkSetAside(t *testing.T, w *world, stderr, want string) {
	t.Helper()
	found := false
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "new run") && strings.Contains(line, want) && strings.Contains(line, "users.checkpoint.old") {
			found = true
		}
	}
	if !found {
		t.Errorf("stderr has no line saying a new run starts because of %q, with the old checkpoint set aside:\n%s", want, stderr)
	}
	if _, err := os.Stat(w.path("users.checkpoint.old")); err != nil {
		t.Errorf("the old checkpoint was not set aside: %v", err)
	}
}

// The reproduced case: a run against the built-in emulator stops after two
// pretend sends; the same file against another backend resumed that
// checkpoint and reported every row sent, the first two never emailed.
func TestCheckpointOtherBackendStartsNewRun(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 5)
	res := w.runEnv([]string{goraceEnv, noEmulatorHost}, "run", "--emulator", "--max-sends", "2", "users.csv")
	checkRaces(t, res.stderr)
	if res.code != 3 {
		t.Fatalf("--emulator --max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	if n := w.emu.Stats().Sends; n != 0 {
		t.Fatalf("the built-in emulator's run reached the test emulator (%d sends)", n)
	}
	res = w.runR("run", "users.csv")
	if res.code != 0 {
		t.Fatalf("run against the other backend: exit %d\n%s", res.code, res.stderr)
	}
	checkAllSentOnce(t, w, emails, "")
	checkSetAside(t, w, res.stderr, "backend")
}

// A wrong --email-column, corrected: the rerun must email the addresses of
// the right column, not resume the rows sent to the wrong one.
func TestCheckpointOtherEmailColumnStartsNewRun(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email,backup_email\n")
	var emails []string
	for i := range 5 {
		e := "u" + string(rune('0'+i)) + "@example.com"
		emails = append(emails, e)
		b.WriteString(e + ",b" + string(rune('0'+i)) + "@example.com\n")
	}
	w.write("users.csv", b.String())
	res := w.runR("run", "--email-column", "backup_email", "--max-sends", "2", "users.csv")
	if res.code != 3 {
		t.Fatalf("--email-column backup_email --max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	res = w.runR("run", "users.csv")
	if res.code != 0 {
		t.Fatalf("run with the right column: exit %d\n%s", res.code, res.stderr)
	}
	checkAllSentOnce(t, w, emails, "")
	checkSetAside(t, w, res.stderr, "email column")

	// Naming the column that detection found is the same run: it resumes.
	res = w.runR("run", "--email-column", "backup_email", "--max-sends", "1", "users.csv")
	if res.code != 3 {
		t.Fatalf("--email-column backup_email --max-sends 1: exit %d, want 3\n%s", res.code, res.stderr)
	}
	res = w.runR("run", "--email-column", "BACKUP_EMAIL", "--max-sends", "1", "--summary", "sum.json", "users.csv")
	if res.code != 3 || !w.summary("sum.json").Resumed {
		t.Errorf("the same column, spelled otherwise: exit %d, resumed %v; want 3, true\n%s", res.code, w.summary("sum.json").Resumed, res.stderr)
	}
}

// A changed --domain: rows the first run found outside its domain were
// recorded invalid; the rerun with another --domain must decide them again.
func TestCheckpointOtherDomainStartsNewRun(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na1@example.com\nb1@corp.example\nb2@corp.example\na2@example.com\na3@example.com\n")
	res := w.runR("run", "--workers", "1", "--domain", "example.com", "--max-sends", "1", "users.csv")
	if res.code != 3 {
		t.Fatalf("--domain example.com --max-sends 1: exit %d, want 3\n%s", res.code, res.stderr)
	}
	if s := w.checkpoint("users.checkpoint"); recorded(s) < 3 {
		t.Fatalf("the first run recorded %d rows, want the corp.example rows among them", recorded(s))
	}
	res = w.runR("run", "--domain", "example.com,corp.example", "users.csv")
	if res.code != 0 {
		t.Fatalf("run with both domains: exit %d\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.report.csv"))
	for _, e := range []string{"b1@corp.example", "b2@corp.example", "a2@example.com", "a3@example.com"} {
		if got[e] != "sent" || w.emu.Sends(e) != 1 {
			t.Errorf("%s: %s, emailed %d times; want sent, once", e, got[e], w.emu.Sends(e))
		}
	}
	if got["a1@example.com"] != "already_invited" || w.emu.Sends("a1@example.com") != 1 {
		t.Errorf("a1: %s, emailed %d times; want already_invited (the ledger), once", got["a1@example.com"], w.emu.Sends("a1@example.com"))
	}
	checkSetAside(t, w, res.stderr, "--domain")
}

// --max-sends, --max-duration and tuning flags are not part of the
// identity: after --max-sends N the next run sends the next N.
func TestCheckpointGuardFlagsResume(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 6)
	if res := w.runR("run", "--max-sends", "2", "users.csv"); res.code != 3 {
		t.Fatalf("--max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	res := w.runR("run", "--max-sends", "3", "--max-duration", "1h", "--qps", "300", "--workers", "3", "--summary", "sum.json", "users.csv")
	if res.code != 3 || !w.summary("sum.json").Resumed || w.emu.Stats().Sends != 5 {
		t.Errorf("second run: exit %d, resumed %v, sends %d; want 3, true, 5\n%s", res.code, w.summary("sum.json").Resumed, w.emu.Stats().Sends, res.stderr)
	}
	if _, err := os.Stat(w.path("users.checkpoint.old")); err == nil {
		t.Errorf("a run differing only in guard and tuning flags set the checkpoint aside")
	}
}

// Issue 11, item 10: a dry run writes no checkpoint and never overwrites a
// real run's report.
func TestDryRunKeepsTheRealReport(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 4)
	if res := w.runR("run", "--max-sends", "2", "users.csv"); res.code != 3 {
		t.Fatalf("--max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	report, _ := os.ReadFile(w.path("users.report.csv"))
	cp, _ := os.ReadFile(w.path("users.checkpoint"))
	res := w.runR("run", "--dry-run", "users.csv")
	if res.code != 0 {
		t.Fatalf("--dry-run: exit %d\n%s", res.code, res.stderr)
	}
	if b, _ := os.ReadFile(w.path("users.report.csv")); string(b) != string(report) {
		t.Errorf("the dry run overwrote the real run's report")
	}
	if b, _ := os.ReadFile(w.path("users.checkpoint")); string(b) != string(cp) {
		t.Errorf("the dry run changed the checkpoint")
	}
	real := outcomeByEmail(w.report("users.report.csv"))
	got := outcomeByEmail(w.report("users.dryrun.report.csv"))
	for _, e := range emails {
		want := "would_send"
		if real[e] == "sent" {
			want = "already_invited"
		}
		if got[e] != want {
			t.Errorf("dry run report: %s %s, want %s (the real run: %s)", e, got[e], want, real[e])
		}
	}
	// Naming the real report explicitly is refused, before any call.
	calls := arrivals(w.emu)
	res = w.runR("run", "--dry-run", "--report", "users.report.csv", "users.csv")
	if res.code != 2 || !strings.Contains(res.stderr, "users.report.csv") || arrivals(w.emu) != calls {
		t.Errorf("--dry-run --report users.report.csv: exit %d, %d calls; want 2, none\n%s", res.code, arrivals(w.emu)-calls, res.stderr)
	}
	if b, _ := os.ReadFile(w.path("users.report.csv")); string(b) != string(report) {
		t.Errorf("the dry run overwrote the real run's report")
	}
	// The real run resumes its checkpoint as if the dry run never happened.
	if res := w.runR("run", "--summary", "sum.json", "users.csv"); res.code != 0 || !w.summary("sum.json").Resumed {
		t.Errorf("the real run after the dry run: exit %d, resumed %v; want 0, true\n%s", res.code, w.summary("sum.json").Resumed, res.stderr)
	}
	if _, err := os.Stat(w.path("users.dryrun.checkpoint")); err == nil {
		t.Errorf("the dry run wrote a checkpoint")
	}
}

// Issue 11, item 10: users.csv and users.tsv must not share one checkpoint
// and report.
func TestCSVAndTSVDoNotShareFiles(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	w.write("users.tsv", "email\tname\nc@example.com\tC\n")
	if res := w.runR("run", "users.csv"); res.code != 0 {
		t.Fatalf("users.csv: exit %d\n%s", res.code, res.stderr)
	}
	if res := w.runR("run", "users.tsv"); res.code != 0 {
		t.Fatalf("users.tsv: exit %d\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv")); len(got) != 2 || got["a@example.com"] != "sent" {
		t.Errorf("users.report.csv: %v, want users.csv's two rows", got)
	}
	if got := outcomeByEmail(w.report("users.tsv.report.csv")); len(got) != 1 || got["c@example.com"] != "sent" {
		t.Errorf("users.tsv.report.csv: %v, want users.tsv's row", got)
	}
	for _, f := range []string{"users.checkpoint", "users.tsv.checkpoint"} {
		if s := w.checkpoint(f); s == nil || !s.Finished {
			t.Errorf("%s: %+v, want a finished checkpoint", f, s)
		}
	}
	if _, err := os.Stat(w.path("users.checkpoint.old")); err == nil {
		t.Errorf("a run of users.tsv set users.csv's checkpoint aside")
	}
}

// Review stop 11, finding 8: a run of another identity replaced the old
// run's report at once while its checkpoint was set aside, and a second
// change overwrote the .old checkpoint. Now the report is set aside with
// its checkpoint, the notice names both, and each pair set aside is kept:
// .old, then .old.1.
func TestCheckpointOtherIdentitySetsReportAside(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 6)
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(w.path(name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if res := w.runR("run", "--max-sends", "2", "users.csv"); res.code != 3 {
		t.Fatalf("--max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	report1, cp1 := read("users.report.csv"), read("users.checkpoint")
	res := w.runR("run", "--resend-after", "336h", "--max-sends", "1", "users.csv")
	if res.code != 3 {
		t.Fatalf("--resend-after 336h --max-sends 1: exit %d, want 3\n%s", res.code, res.stderr)
	}
	checkSetAside(t, w, res.stderr, "resend")
	if !strings.Contains(res.stderr, "users.report.csv.old") {
		t.Errorf("the notice does not name the report set aside:\n%s", res.stderr)
	}
	report2, cp2 := read("users.report.csv"), read("users.checkpoint")
	res = w.runR("run", "--resend-after", "720h", "users.csv")
	if res.code != 0 {
		t.Fatalf("--resend-after 720h: exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "users.report.csv.old.1") || !strings.Contains(res.stderr, "users.checkpoint.old.1") {
		t.Errorf("the second notice does not name users.report.csv.old.1 and users.checkpoint.old.1:\n%s", res.stderr)
	}
	for name, want := range map[string]string{
		"users.report.csv.old": report1, "users.checkpoint.old": cp1,
		"users.report.csv.old.1": report2, "users.checkpoint.old.1": cp2,
	} {
		if got := read(name); got != want {
			t.Errorf("%s: %q, want the set-aside file unchanged: %q", name, got, want)
		}
		checkMode(t, w.path(name))
	}
	if !strings.Contains(report1, "sent") {
		t.Errorf("the first run's report lists no sent row: %q", report1)
	}
}
