package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// seedListed seeds n listed unmanaged accounts u0..u(n-1)@example.com and
// returns an input of them plus the given extra addresses.
func seedListed(w *world, n int, extra ...string) string {
	var b strings.Builder
	b.WriteString("email\n")
	for i := range n {
		e := fmt.Sprintf("u%d@example.com", i)
		w.emu.Seed(e, emulator.KindUnmanaged)
		b.WriteString(e + "\n")
	}
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	return w.write("users.csv", b.String())
}

// #13: a row listed NOT_YET_SENT costs one request (send); rows not in the
// list keep isInvitableUser before their send.
func TestE2EListedRowsCostOneRequest(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.emu.Seed("managed@example.com", emulator.KindManaged)
	w.emu.Seed("inv@example.com", emulator.KindInvited)
	seedListed(w, 10, "fresh@example.com", "managed@example.com", "inv@example.com")
	res := w.run("run", "--qps", "1000", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	st := w.emu.Stats()
	if got := st.Total(emulator.MethodIsInvitable); got != 2 {
		t.Errorf("isInvitableUser requests = %d, want 2 (fresh and managed, not in the list)", got)
	}
	if got := st.Total(emulator.MethodSend); got != 11 {
		t.Errorf("send requests = %d, want 11", got)
	}
	if st.Sends != 11 || st.DuplicateSends != 0 || w.emu.Sends("inv@example.com") != 0 {
		t.Errorf("emails: %d, duplicates %d, to the invited one %d; want 11, 0, 0", st.Sends, st.DuplicateSends, w.emu.Sends("inv@example.com"))
	}
	s := w.summary("sum.json")
	if s.Lookup != "list" || s.LookupReason == "" {
		t.Errorf("summary lookup = %q (%q), want list and why", s.Lookup, s.LookupReason)
	}
	if !strings.Contains(res.stderr, "states read by list") {
		t.Errorf("the text summary does not say how states were read:\n%s", res.stderr)
	}
	// 11 sent rows: 10 listed at 1 request, fresh at 2.
	if got := s.CallsPerRow["sent"]; fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", 12.0/11) {
		t.Errorf("calls per sent row = %v, want 12/11", got)
	}
}

// #13: the emulator's listed-but-refused account, under each way send may
// refuse it: the row is not_invitable, nothing is delivered, and the run
// goes on with the other rows (a 403 that names the address is about the
// address, not the caller).
func TestE2EListedRowRefusedBySend(t *testing.T) {
	for _, refusal := range []emulator.Refusal{emulator.RefuseFailedPrecondition, emulator.RefuseNotFound, emulator.RefusePermissionDenied} {
		t.Run(refusal.String(), func(t *testing.T) {
			w := newWorld(t)
			w.emu.SetRefusal(refusal)
			w.emu.Seed("alias@example.com", emulator.KindIneligible)
			seedListed(w, 3, "alias@example.com")
			res := w.run("run", "--qps", "1000", "--summary", "sum.json", "users.csv")
			if res.code != 0 {
				t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
			}
			got := outcomeByEmail(w.report("users.report.csv"))
			want := map[string]string{"u0@example.com": "sent", "u1@example.com": "sent", "u2@example.com": "sent", "alias@example.com": "not_invitable"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("outcomes = %v, want %v", got, want)
			}
			if n := w.emu.Sends("alias@example.com"); n != 0 {
				t.Errorf("emails to the refused address = %d", n)
			}
			if n := w.emu.Stats().Total(emulator.MethodIsInvitable); n != 0 {
				t.Errorf("isInvitableUser requests = %d, want 0 (every row is listed)", n)
			}
		})
	}
}

// #13: --check-each asks isInvitableUser before every send: the refused
// account is never sent to, at one more request per invitation; the
// summary says so.
func TestE2ECheckEach(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("alias@example.com", emulator.KindIneligible)
	seedListed(w, 4, "alias@example.com")
	res := w.run("run", "--check-each", "--qps", "1000", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	st := w.emu.Stats()
	if got := st.Total(emulator.MethodIsInvitable); got != 5 {
		t.Errorf("isInvitableUser requests = %d, want 5", got)
	}
	if got := st.Total(emulator.MethodSend); got != 4 {
		t.Errorf("send requests = %d, want 4 (never to the ineligible row)", got)
	}
	if s := w.summary("sum.json"); !s.CheckEach || s.CallsPerRow["sent"] != 2 {
		t.Errorf("summary check_each=%v calls/sent=%v, want true, 2", s.CheckEach, s.CallsPerRow["sent"])
	}
}

// #13: a small CSV against a customer with many more listed accounts: auto
// stops paging at its budget (a page per 10 rows), answers the rows the
// pages read, reads the others one by one, and says so in the summary.
func TestE2EAutoAbandonsLongList(t *testing.T) {
	w := newWorld(t)
	for i := range 2000 { // 10 pages of 200
		w.emu.Seed(fmt.Sprintf("m%04d@example.com", i), emulator.KindUnmanaged)
	}
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 20 { // spread over the list: m0000, m0100, ...
		fmt.Fprintf(&b, "m%04d@example.com\n", i*100)
	}
	w.write("users.csv", b.String())
	res := w.run("run", "--qps", "1000", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	st := w.emu.Stats()
	if got := st.Total(emulator.MethodList); got != 2 {
		t.Errorf("list pages = %d, want 2 (the budget for 20 rows)", got)
	}
	// m0000..m0300 are in the two pages read (400 addresses): no get.
	if got := st.Total(emulator.MethodGet); got != 16 {
		t.Errorf("gets = %d, want 16 (the rows past the pages read)", got)
	}
	if st.Sends != 20 || st.Total(emulator.MethodIsInvitable) != 0 {
		t.Errorf("sends %d, isInvitableUser %d; want 20, 0", st.Sends, st.Total(emulator.MethodIsInvitable))
	}
	s := w.summary("sum.json")
	if s.Lookup != "get" || !strings.Contains(s.LookupReason, "had not ended after 2 page(s)") {
		t.Errorf("summary lookup = %q (%q), want get and why", s.Lookup, s.LookupReason)
	}
}

// #13 and the contract's rerun table: --check-each is part of the
// checkpoint's identity. A run stopped without it, rerun with it, starts a
// new run (every row then checked before its send), and says why.
func TestCheckpointOtherCheckEachStartsNewRun(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 5)
	if res := w.runR("run", "--max-sends", "2", "users.csv"); res.code != 3 {
		t.Fatalf("--max-sends 2: exit %d, want 3\n%s", res.code, res.stderr)
	}
	res := w.runR("run", "--check-each", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("rerun with --check-each: exit %d\n%s", res.code, res.stderr)
	}
	if s := w.summary("sum.json"); s.Resumed || !s.CheckEach {
		t.Errorf("rerun resumed=%v check_each=%v, want a new run with --check-each", s.Resumed, s.CheckEach)
	}
	checkSetAside(t, w, res.stderr, "--check-each")
	if st := w.emu.Stats(); st.Sends != 5 || st.DuplicateSends != 0 {
		t.Errorf("sends %d, duplicates %d; want 5, 0", st.Sends, st.DuplicateSends)
	}
}

// The other side of the 403 rule: a send 403 that does not name the
// address is about the caller, and stops the run (exit 5), even on a row
// the list shows NOT_YET_SENT.
func TestE2EListedRowBare403StopsTheRun(t *testing.T) {
	w := newWorld(t)
	seedListed(w, 3)
	w.emu.FailNext(emulator.MethodSend, 1, 403)
	res := w.run("run", "--workers", "1", "--qps", "1000", "users.csv")
	if res.code != 5 {
		t.Fatalf("exit = %d, want 5 (a 403 on send that does not name the address)\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv")); got["u0@example.com"] == "not_invitable" {
		t.Errorf("the caller's 403 was taken for the address's: %v", got)
	}
}
