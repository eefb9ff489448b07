package main

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// ledgerRecords returns the records of `ledger show --ledger path`, each as
// {time, status}, by address.
func ledgerRecords(t *testing.T, w *world, path string) map[string][][2]string {
	t.Helper()
	show := w.run("ledger", "show", "--ledger", path)
	if show.code != 0 {
		t.Fatalf("ledger show: exit %d\n%s", show.code, show.stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(show.stdout)).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("ledger show: %v\n%s", err, show.stdout)
	}
	h := map[string][][2]string{}
	for _, r := range recs[1:] {
		h[r[1]] = append(h[r[1]], [2]string{r[0], r[2]})
	}
	return h
}

// TestE2EKillDuringRefusedResendWaitIsNotSent (review stop 11, finding 1):
// a re-send (--resend-after) refused with 429 closed its resend_intent with
// a `sent` stamped at the refusal; killed -9 during the 429's wait, the
// resumed run read that record as a send of the interrupted run and
// reported the row `sent` ("sent before the run was interrupted") although
// no email went out, and never re-sent it. The refused attempt now puts
// back the earlier `sent` with its own time: --resend-after still counts
// from the first email, and the resumed run re-sends it.
func TestE2EKillDuringRefusedResendWaitIsNotSent(t *testing.T) {
	w := newWorld(t)
	addr := usersCSV(w, 1)[0]
	if res := w.runR("run", "--ledger", "ledger", "users.csv"); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	first := ledgerRecords(t, w, "ledger")[addr]
	if len(first) == 0 || first[len(first)-1][1] != "sent" {
		t.Fatalf("ledger after the first run: %v, want it to end with sent", first)
	}
	sentAt := first[len(first)-1][0]
	time.Sleep(1100 * time.Millisecond) // the re-send run starts in a later second
	w.emu.SetInvitation(addr, "INVITED", 1, time.Now().Add(-30*24*time.Hour))
	// One request for the read before the re-send, then a 429 that asks
	// for a wait of about 100 s.
	w.emu.SetQuota(0.01, 1)
	args := []string{"run", "--ledger", "ledger", "--resend-after", "1ms", "users.csv"}
	p := w.start(args...)
	deadline := time.Now().Add(time.Minute)
	for w.emu.Stats().Requests[emulator.MethodSend][429] == 0 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no re-send was refused with 429 (exited: %v); emulator requests %v\n%s", p.exited(), w.emu.Stats().Requests, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the run has its answer; its retry is ~100 s away
	if res := p.kill9(); res.signaled == 0 {
		t.Fatalf("the run ended before the kill: exit %d\n%s", res.code, res.stderr)
	}
	if n := w.emu.Sends(addr); n != 1 {
		t.Fatalf("%s emailed %d times before the resumed run, want 1 (the re-send was refused)", addr, n)
	}
	h := ledgerRecords(t, w, "ledger")[addr]
	if last := h[len(h)-1]; last != [2]string{sentAt, "sent"} {
		t.Errorf("ledger after the refused re-send: %v; want it to end with the first run's sent at %s (--resend-after counts from it)", h, sentAt)
	}
	w.emu.SetQuota(0, 1)
	res := w.runR(args...)
	if res.code != 0 {
		t.Errorf("resumed run: exit %d, want 0\n%s", res.code, res.stderr)
	}
	row := w.report("users.report.csv")[0]
	n := w.emu.Sends(addr)
	if (row["outcome"] == "sent" || row["outcome"] == "resent") && n != 2 {
		t.Errorf("%s: %s (%s) but emailed %d times in all: the re-send never went out", addr, row["outcome"], row["error"], n)
	}
	if row["outcome"] != "resent" || n != 2 {
		t.Errorf("%s: %s (%s), emailed %d times; want resent, twice in all", addr, row["outcome"], row["error"], n)
	}
}
