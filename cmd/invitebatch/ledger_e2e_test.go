package main

import (
	"encoding/csv"
	"strings"
	"testing"
	"time"

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

// TestE2ERefusedSendClosesItsIntent: a send refused with 429 certainly did
// not go out, yet its retry wrote a new send_intent without closing the
// first, so `ledger show` listed intents without a result (an admin, or a
// script reading the ledger after a crash, counted possible sends that
// never left). Every intent of a refused attempt is now closed with
// not_sent before the retry's intent.
func TestE2ERefusedSendClosesItsIntent(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	w.emu.FailNext(emulator.MethodSend, 3, 429)
	res := w.runR("run", "--workers", "1", "--ledger", "ledger", "users.csv")
	if res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
	}
	if st := w.emu.Stats(); st.Sends != 2 || st.DuplicateSends != 0 {
		t.Errorf("emulator: %d sends, %d duplicates; want 2, 0", st.Sends, st.DuplicateSends)
	}
	show := w.run("ledger", "show", "--ledger", "ledger")
	if show.code != 0 {
		t.Fatalf("ledger show: exit %d\n%s", show.code, show.stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(show.stdout)).ReadAll()
	if err != nil || len(recs) < 1 {
		t.Fatalf("ledger show: %v\n%s", err, show.stdout)
	}
	history := map[string][]string{}
	for _, r := range recs[1:] {
		history[r[1]] = append(history[r[1]], r[2])
	}
	intents, notSent := 0, 0
	for email, h := range history {
		for i, s := range h {
			switch {
			case s == "send_intent" && i+1 < len(h) && h[i+1] == "send_intent":
				t.Errorf("%s: ledger %v: a send_intent is followed by another send_intent without a result", email, h)
			case s == "send_intent":
				intents++
			case s == "not_sent":
				notSent++
			}
		}
		if h[len(h)-1] != "sent" {
			t.Errorf("%s: ledger %v, want it to end with sent", email, h)
		}
	}
	if intents != 5 || notSent != 3 {
		t.Errorf("ledger:\n%s\nwant 5 send_intent (2 sends, 3 refused attempts) and 3 not_sent", show.stdout)
	}
}

// TestE2EKillDuringRefusedSendWaitIsNotUnconfirmed: a send refused with 429
// waits for the server's delay before its retry; a kill -9 during that wait
// left the refused attempt's send_intent as the address's last record, and
// the next run, unable to see an account too new to be listed, made the row
// unconfirmed (exit 1, never re-sent) although nothing was sent. The intent
// is now closed as soon as the 429 comes, so the next run sends it.
func TestE2EKillDuringRefusedSendWaitIsNotUnconfirmed(t *testing.T) {
	const addr = "fresh@example.com"
	w := newWorld(t)
	w.emu.Seed(addr, emulator.KindNew)
	w.write("users.csv", "email\n"+addr+"\n")
	// Two requests for the reads before the send, then a 429 that asks
	// for a wait of about 100 s (a token every 100 s).
	w.emu.SetQuota(0.01, 2)
	args := []string{"run", "--ledger", "ledger", "users.csv"}
	p := w.start(args...)
	deadline := time.Now().Add(time.Minute)
	for w.emu.Stats().Requests[emulator.MethodSend][429] == 0 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no send was refused with 429 (exited: %v); emulator requests %v\n%s", p.exited(), w.emu.Stats().Requests, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The run has its answer; its retry is ~100 s away.
	time.Sleep(2 * time.Second)
	if res := p.kill9(); res.signaled == 0 {
		t.Fatalf("the run ended before the kill: exit %d\n%s", res.code, res.stderr)
	}
	w.emu.SetQuota(0, 1)
	res := w.runR(args...)
	if res.code != 0 {
		t.Errorf("rerun: exit %d, want 0\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv"))[addr]; got != "sent" {
		t.Errorf("%s: %s, want sent (the refused send never left)", addr, got)
	}
	if n := w.emu.Sends(addr); n != 1 {
		t.Errorf("%s emailed %d times, want 1", addr, n)
	}
}
