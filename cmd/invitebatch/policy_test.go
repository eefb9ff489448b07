package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

func TestE2ECancelThenRun(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("inv@example.com", emulator.KindInvited)
	w.emu.Seed("nys@example.com", emulator.KindUnmanaged)
	w.write("users.csv", "email\ninv@example.com\nnys@example.com\nbad/x@example.com\n")

	res := w.run("cancel", "--dry-run", "users.csv")
	if res.code != 1 {
		t.Fatalf("cancel --dry-run exit = %d\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.cancel.dryrun.report.csv"))
	if got["inv@example.com"] != "would_cancel" || got["nys@example.com"] != "not_invited" || got["bad/x@example.com"] != "invalid" {
		t.Errorf("dry-run outcomes = %v", got)
	}
	if n := w.emu.Stats().Total(emulator.MethodCancel); n != 0 {
		t.Errorf("a dry run cancelled %d", n)
	}

	res = w.run("cancel", "users.csv")
	if res.code != 1 {
		t.Fatalf("cancel exit = %d\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.cancel.report.csv")); got["inv@example.com"] != "cancelled" {
		t.Errorf("cancel outcomes = %v", got)
	}
	// A later invite run leaves the cancelled address alone and invites
	// the other one.
	before := w.emu.Sends("inv@example.com")
	res = w.run("run", "users.csv")
	got = outcomeByEmail(w.report("users.report.csv"))
	if got["inv@example.com"] != "not_invitable" || got["nys@example.com"] != "sent" {
		t.Errorf("run after cancel: %v\n%s", got, res.stderr)
	}
	if w.emu.Sends("inv@example.com") != before {
		t.Errorf("the cancelled address was emailed again")
	}
	// ledger forget lets it be invited again.
	if res := w.run("ledger", "forget", "inv@example.com"); res.code != 0 || !strings.Contains(res.stderr, "removed 1") {
		t.Fatalf("ledger forget: %d\n%s", res.code, res.stderr)
	}
	w.run("run", "--fresh", "users.csv")
	if got := outcomeByEmail(w.report("users.report.csv")); got["inv@example.com"] != "sent" {
		t.Errorf("after ledger forget: %v", got)
	}
}

func TestE2EResendAfter(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.emu.SetInvitation("old@example.com", emulator.StateInvited, 1, now.Add(-15*24*time.Hour))
	w.emu.SetInvitation("recent@example.com", emulator.StateInvited, 1, now.Add(-24*time.Hour))
	w.emu.SetInvitation("many@example.com", emulator.StateInvited, 3, now.Add(-30*24*time.Hour))
	w.emu.SetInvitation("dec@example.com", emulator.StateDeclined, 1, now.Add(-30*24*time.Hour))
	w.write("users.csv", "email\nold@example.com\nrecent@example.com\nmany@example.com\ndec@example.com\n")
	res := w.run("run", "--resend-after", "336h", "--max-mails", "3", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.report.csv"))
	want := map[string]string{"old@example.com": "resent", "recent@example.com": "already_invited",
		"many@example.com": "already_invited", "dec@example.com": "declined"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	if w.emu.Stats().Sends != 1 {
		t.Errorf("sends = %d, want 1", w.emu.Stats().Sends)
	}
	// Right after, the ledger says this tool emailed it today: no re-send.
	w.run("run", "--fresh", "--resend-after", "336h", "--max-mails", "3", "users.csv")
	if w.emu.Stats().Sends != 1 {
		t.Errorf("a second run re-sent: sends = %d", w.emu.Stats().Sends)
	}
}

func TestE2EMaxSendsStopsAndResumes(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 12 {
		fmt.Fprintf(&b, "u%02d@example.com\n", i)
	}
	w.write("users.csv", b.String())
	res := w.run("run", "--max-sends", "5", "--summary", "sum.json", "users.csv")
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3\n%s", res.code, res.stderr)
	}
	if s := w.summary("sum.json"); s.Stopped != "max-sends" || s.Outcomes["sent"] != 5 {
		t.Errorf("summary stopped=%q sent=%d", s.Stopped, s.Outcomes["sent"])
	}
	if n := w.emu.Stats().Sends; n != 5 {
		t.Errorf("sends = %d, want 5", n)
	}
	for range 3 {
		res = w.run("run", "--max-sends", "5", "users.csv")
	}
	if res.code != 0 {
		t.Fatalf("last resume exit = %d\n%s", res.code, res.stderr)
	}
	rows := w.report("users.report.csv")
	if len(rows) != 12 {
		t.Errorf("report has %d rows, want 12", len(rows))
	}
	if st := w.emu.Stats(); st.Sends != 12 || st.DuplicateSends != 0 {
		t.Errorf("sends %d, duplicates %d; want 12, 0", st.Sends, st.DuplicateSends)
	}
}

func TestE2EProgressOnlyWhenAsked(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	// Off a terminal (the test's pipes): no bar.
	res := w.run("run", "users.csv")
	if strings.Contains(res.stderr, "/2, ") || strings.Contains(res.stderr, "% |") {
		t.Errorf("progress bar off a terminal:\n%s", res.stderr)
	}
	// Forced, with console logs, it shows; never inside JSON logs.
	res = w.run("run", "--fresh", "--progress", "always", "--log-format", "console", "users.csv")
	if !strings.Contains(res.stderr, "/2, ") || !strings.Contains(res.stderr, "% |") {
		t.Errorf("--progress always showed no bar:\n%s", res.stderr)
	}
}

func TestE2ELedgerShowForgetPrune(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	if res := w.run("run", "users.csv"); res.code != 0 {
		t.Fatalf("run: %d\n%s", res.code, res.stderr)
	}
	res := w.run("ledger", "show")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "time,email,status\n") ||
		!strings.Contains(res.stdout, ",a@example.com,sent\n") || !strings.Contains(res.stdout, ",b@example.com,send_intent\n") {
		t.Errorf("ledger show: exit %d\n%s", res.code, res.stdout)
	}
	res = w.run("ledger", "show", "B@example.com")
	if strings.Contains(res.stdout, "a@example.com") || !strings.Contains(res.stdout, "b@example.com") {
		t.Errorf("ledger show ADDRESS:\n%s", res.stdout)
	}
	// Records younger than reports.MinPruneAge are never pruned: a prune
	// asking for that is a usage error (it deleted the whole ledger).
	for _, age := range []string{"1ms", "1h", "719h"} {
		if res := w.run("ledger", "prune", "--older-than", age); res.code != 2 || !strings.Contains(res.stderr, "never pruned") {
			t.Errorf("prune %s: exit %d, want 2\n%s", age, res.code, res.stderr)
		}
	}
	if res := w.run("ledger", "prune", "--older-than", "720h"); res.code != 0 || !strings.Contains(res.stderr, "removed 0") {
		t.Errorf("prune 720h: %d %s", res.code, res.stderr)
	}
	if res := w.run("ledger", "forget", "a@example.com", "b@example.com"); res.code != 0 || !strings.Contains(res.stderr, "removed 2") {
		t.Errorf("forget: %d %s", res.code, res.stderr)
	}
	if res := w.run("ledger", "show"); res.stdout != "time,email,status\n" {
		t.Errorf("after forget:\n%s", res.stdout)
	}
	if res := w.run("ledger", "forget", "not an address"); res.code != 2 {
		t.Errorf("forget of a bad address: exit %d, want 2", res.code)
	}
}
