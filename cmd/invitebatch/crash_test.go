package main

// Crash tests for "Resume after any failure, and never email anyone twice":
// the binary is killed with SIGKILL at random moments, its checkpoint is torn
// or damaged, and every rerun must finish the job without a second email.
//
// TestCrashKillNineNeverSendsTwice is sized for CI by default. For a longer
// local soak, set
//
//	INVITEBATCH_CRASH_ROWS=N    input rows (default 2000)
//	INVITEBATCH_CRASH_KILLS=K   SIGKILLs before the final, unkilled reruns (default 10)
//	INVITEBATCH_CRASH_SEED=S    the random seed (default: from the clock; every run logs it)
//
// e.g. INVITEBATCH_CRASH_ROWS=20000 INVITEBATCH_CRASH_KILLS=50 go test -race
// -run TestCrashKillNine ./cmd/invitebatch/. A failure logs the seed: rerun
// with INVITEBATCH_CRASH_SEED set to it to replay the same kill schedule (the
// timing of the machine still varies).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// contractOutcomes are the outcome words of CONTRACT.md for `run`.
var contractOutcomes = map[string]bool{
	"sent": true, "resent": true, "would_send": true, "not_invitable": true, "already_invited": true,
	"already_accepted": true, "declined": true, "unconfirmed": true, "invalid": true, "duplicate": true,
	"failed": true,
}

// checkpoint loads a checkpoint file; nil if there is none.
func (w *world) checkpoint(name string) *reports.CheckpointState {
	w.t.Helper()
	s, err := reports.LoadCheckpoint(w.path(name))
	if err != nil {
		w.t.Fatalf("checkpoint %s: %v", name, err)
	}
	return s
}

// recorded returns how many rows a checkpoint gives a final outcome.
func recorded(s *reports.CheckpointState) int {
	if s == nil {
		return 0
	}
	return s.Rows() - s.Count(batch.OutcomeNone)
}

// waitProgress waits until the checkpoint records at least n rows or the
// run ends, whichever comes first.
func (w *world) waitProgress(p *proc, name string, n int) {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !p.exited() && time.Now().Before(deadline) {
		s, err := reports.LoadCheckpoint(w.path(name))
		if err != nil {
			w.t.Fatalf("checkpoint %s while the run writes it: %v", name, err)
		}
		if recorded(s) >= n {
			return
		}
		time.Sleep(15 * time.Millisecond)
	}
}

// waitCheckpoint waits until the checkpoint records at least n rows, or the
// run ends.
func (w *world) waitCheckpoint(p *proc, name string, n int, timeout time.Duration) *reports.CheckpointState {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// The run appends while we read: a torn last line is ignored by the
		// loader, so only a real error can come back.
		s, err := reports.LoadCheckpoint(w.path(name))
		if err != nil {
			w.t.Fatalf("checkpoint %s while the run writes it: %v", name, err)
		}
		if recorded(s) >= n {
			return s
		}
		if p.exited() {
			w.t.Fatalf("the run ended before its checkpoint had %d rows; stderr:\n%s", n, p.stderr.String())
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("checkpoint %s has %d rows after %v, want %d", name, recorded(s), timeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// arrivals is the number of API requests the emulator has received.
func arrivals(emu *emulator.Emulator) int {
	n := 0
	for _, s := range emu.Stats().PerSecond {
		n += s.Requests
	}
	return n
}

// checkReport checks that a report has rows 1..n, each exactly once, in
// order, with an outcome word of the contract; it returns the outcomes by
// email.
func checkReport(t *testing.T, rows []map[string]string, n int) map[string]string {
	t.Helper()
	if len(rows) != n {
		t.Errorf("report has %d rows, want %d", len(rows), n)
	}
	seen := make(map[int]bool, n)
	out := make(map[string]string, n)
	for i, r := range rows {
		row, err := strconv.Atoi(r["row"])
		switch {
		case err != nil || row < 1 || row > n:
			t.Errorf("report line %d: row %q, want 1..%d", i+2, r["row"], n)
		case seen[row]:
			t.Errorf("report line %d: row %d appears twice", i+2, row)
		case row != i+1:
			t.Errorf("report line %d: row %d, want %d (input order)", i+2, row, i+1)
		}
		seen[row] = true
		if !contractOutcomes[r["outcome"]] {
			t.Errorf("row %s (%s): outcome %q is not a contract word", r["row"], r["email"], r["outcome"])
		}
		out[r["email"]] = r["outcome"]
	}
	return out
}

// envInt reads a positive integer from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// crashKind gives row i (0-based) of the crash test its kind: mostly
// unmanaged, 5% too new to be listed, 2% each of the others.
func crashKind(i int) emulator.Kind {
	switch {
	case i%20 == 7:
		return emulator.KindNew
	case i%50 == 1:
		return emulator.KindInvited
	case i%50 == 2:
		return emulator.KindAccepted
	case i%50 == 3:
		return emulator.KindDeclined
	case i%50 == 4:
		return emulator.KindManaged
	case i%50 == 5:
		return emulator.KindNone
	}
	return emulator.KindUnmanaged
}

// crashWorld is a world seeded with n addresses of crashKind, written to
// users.csv.
func crashWorld(t *testing.T, n int) (*world, []string) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email,name\n")
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("user%05d@example.com", i)
		fmt.Fprintf(&b, "%s,User %d\n", emails[i], i)
		if k := crashKind(i); k != emulator.KindUnmanaged {
			w.emu.Seed(emails[i], k)
		}
	}
	w.write("users.csv", b.String())
	w.emu.SetLatency(2*time.Millisecond, 2*time.Millisecond)
	return w, emails
}

func TestCrashKillNineNeverSendsTwice(t *testing.T) {
	n := envInt(t, "INVITEBATCH_CRASH_ROWS", 2000)
	kills := envInt(t, "INVITEBATCH_CRASH_KILLS", 10)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("INVITEBATCH_CRASH_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("INVITEBATCH_CRASH_SEED=%q: %v", s, err)
		}
	}
	t.Logf("rows=%d kills=%d seed=%d (replay: INVITEBATCH_CRASH_SEED=%d)", n, kills, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	args := []string{"run", "--qps", "2000", "--workers", "32", "--ledger", "ledger", "users.csv"}
	// Every third stop is a hard one (Ctrl-C twice) of a run slow enough
	// that most workers wait for the rate limiter: their sends never left,
	// and must leave no intent behind.
	slow := []string{"run", "--qps", "150", "--workers", "32", "--ledger", "ledger", "users.csv"}
	modes := [...]emulator.AmbiguousMode{emulator.AmbiguousStatus500, emulator.AmbiguousDrop}

	w, emails := crashWorld(t, n)
	// The API's reads lag its writes by less than the emulator's default
	// settle window (1s): a read-back made sooner than the window after an
	// ambiguous send (in the run, or by the rerun right after a kill) would
	// see NOT_YET_SENT and send a second email.
	w.emu.SetReadLag(500 * time.Millisecond)
	var midRun, early, late, hard int
	seriesEnded := false // a kill came too late: the checkpoint was finished
	for k := range kills {
		w.emu.SetAmbiguousSendRate(0.05, modes[k%2])
		before := recorded(w.checkpoint("users.checkpoint"))
		if n-before < 48 { // a kill would likely come after the end
			t.Logf("kill %d: only %d rows left, no more kills", k+1, n-before)
			break
		}
		hardStop := k%3 == 2
		cmdline := args
		if hardStop {
			cmdline = slow
		}
		p := w.start(cmdline...)
		// Aim the kill at a random point of what is left of the run: one in
		// eight during the start-up (input check, locks, list lookup), the
		// others after a random share (up to 60%) of the remaining rows, plus
		// a random delay so that it lands anywhere in a row's life.
		var aim string
		if rng.IntN(8) == 0 {
			d := time.Duration(rng.Int64N(int64(300 * time.Millisecond)))
			time.Sleep(d)
			aim = fmt.Sprintf("%v after the start", d)
		} else {
			target := before + 1 + rng.IntN((n-before)*6/10)
			w.waitProgress(p, "users.checkpoint", target)
			d := time.Duration(rng.Int64N(int64(20 * time.Millisecond)))
			time.Sleep(d)
			aim = fmt.Sprintf("%v after row %d of %d", d, target, n)
		}
		var res procResult
		if hardStop {
			hard++
			p.signal(os.Interrupt)
			time.Sleep(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
			p.signal(os.Interrupt)
			res = p.wait(time.Minute)
			aim += ", hard stop (Ctrl-C twice)"
		} else {
			res = p.kill9()
		}
		checkRaces(t, res.stderr)
		after := w.checkpoint("users.checkpoint")
		switch {
		case (!hardStop && res.signaled != syscall.SIGKILL) || (hardStop && res.code != 3) || (after != nil && after.Finished):
			late++
			seriesEnded = true
			t.Logf("kill %d, %s: too late (exit %d)", k+1, aim, res.code)
		case recorded(after) == before:
			early++
			t.Logf("kill %d, %s: before any new row was recorded", k+1, aim)
		default:
			midRun++
			t.Logf("kill %d, %s: mid-run, %d rows recorded", k+1, aim, recorded(after))
		}
		if seriesEnded {
			break
		}
	}
	if midRun == 0 {
		t.Errorf("no kill landed mid-run (%d early, %d after the end): the test tested nothing", early, late)
	}

	// Rerun without killing until the run finishes.
	var final result
	for try := 0; ; try++ {
		if try == 5 {
			t.Fatalf("no rerun finished after %d tries; last exit %d\n%s", try, final.code, final.stderr)
		}
		w.emu.SetAmbiguousSendRate(0.05, modes[try%2])
		if final = w.runR(args...); final.code == 0 || final.code == 1 {
			break
		}
		t.Logf("rerun %d: exit %d\n%s", try+1, final.code, final.stderr)
	}
	if s := w.checkpoint("users.checkpoint"); s == nil || !s.Finished {
		t.Errorf("after the final run the checkpoint is not finished")
	}

	got := checkReport(t, w.report("users.report.csv"), n)
	st := w.emu.Stats()
	if st.DuplicateSends != 0 {
		t.Errorf("emulator counted %d duplicate sends", st.DuplicateSends)
	}
	counts := map[string]int{}
	for i, e := range emails {
		o, sends := got[e], w.emu.Sends(e)
		counts[o]++
		if o == "sent" && sends != 1 {
			t.Errorf("%s: outcome sent, but emailed %d times", e, sends)
		}
		switch kind := crashKind(i); kind {
		case emulator.KindUnmanaged:
			// Every send was made by this series of runs: the interrupted
			// run's sends are reported sent (the ledger's SentSince, or a
			// state read after an unanswered send), never already_invited.
			want := "sent"
			if seriesEnded && o == "already_invited" {
				want = o // the last kill came after the end: the final run was a new one
			}
			if o != want || sends != 1 {
				t.Errorf("%s (unmanaged): outcome %q, emailed %d times; want %s, emailed once", e, o, sends, want)
			}
		case emulator.KindNew:
			// Not visible to get or list: an unanswered send cannot be
			// confirmed, and must not be repeated.
			if sends > 1 || (o != "sent" && o != "unconfirmed" && !(seriesEnded && o == "already_invited")) {
				t.Errorf("%s (too new to be listed): outcome %q, emailed %d times; want sent or unconfirmed, at most once", e, o, sends)
			}
		default:
			want := map[emulator.Kind]string{
				emulator.KindInvited: "already_invited", emulator.KindAccepted: "already_accepted",
				emulator.KindDeclined: "declined", emulator.KindManaged: "not_invitable", emulator.KindNone: "not_invitable",
			}[kind]
			if o != want || sends != 0 {
				t.Errorf("%s (%v): outcome %q, emailed %d times; want %s, never emailed", e, kind, o, sends, want)
			}
		}
	}
	wantCode := 0
	if counts["unconfirmed"] > 0 {
		wantCode = 1
	}
	if final.code != wantCode {
		t.Errorf("final run exit %d, want %d (outcomes %v)", final.code, wantCode, counts)
	}
	t.Logf("outcomes %v; stops: %d mid-run, %d early, %d after the end (%d of them hard stops); %d sends, %d requests",
		counts, midRun, early, late, hard, st.Sends, arrivals(w.emu))

	// The next run of the same command (cron): nobody is emailed again.
	w.emu.SetAmbiguousSendRate(0, emulator.AmbiguousStatus500)
	sendsBefore := w.emu.Stats().Sends
	res := w.runR(args...)
	if res.code != 0 && res.code != 1 {
		t.Fatalf("the next run: exit %d\n%s", res.code, res.stderr)
	}
	if st := w.emu.Stats(); st.Sends != sendsBefore || st.DuplicateSends != 0 {
		t.Errorf("the next run sent %d emails (%d duplicates), want none", st.Sends-sendsBefore, st.DuplicateSends)
	}
	next := checkReport(t, w.report("users.report.csv"), n)
	for _, e := range emails {
		if got[e] == "sent" && next[e] != "already_invited" && next[e] != "sent" {
			t.Errorf("%s: sent, then %q in the next run; want already_invited", e, next[e])
		}
	}
}

// usersCSV writes users.csv with n unmanaged addresses u000..; it returns
// them.
func usersCSV(w *world, n int) []string {
	var b strings.Builder
	b.WriteString("email\n")
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("u%03d@example.com", i)
		b.WriteString(emails[i] + "\n")
	}
	w.write("users.csv", b.String())
	return emails
}

// checkAllSentOnce checks that every address was emailed exactly once and
// that the report says so (or already_invited where allowed).
func checkAllSentOnce(t *testing.T, w *world, emails []string, alsoOK string) {
	t.Helper()
	got := checkReport(t, w.report("users.report.csv"), len(emails))
	for _, e := range emails {
		if o := got[e]; o != "sent" && (alsoOK == "" || o != alsoOK) {
			t.Errorf("%s: outcome %q, want sent", e, o)
		}
		if n := w.emu.Sends(e); n != 1 {
			t.Errorf("%s: emailed %d times, want once", e, n)
		}
	}
	if d := w.emu.Stats().DuplicateSends; d != 0 {
		t.Errorf("%d duplicate sends", d)
	}
}
