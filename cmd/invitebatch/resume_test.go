package main

// Tests of what a rerun does (CONTRACT.md, "What a rerun does"), of signals,
// of the locks, and of the cron use: the same command on a growing file.

import (
	"bytes"
	"fmt"
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

// stopEarly runs users.csv slowly with --max-duration so that it stops with
// some rows done and others not (exit 3), and returns the checkpoint.
func stopEarly(t *testing.T, w *world, n int, extra ...string) *reports.CheckpointState {
	t.Helper()
	w.emu.SetLatency(30*time.Millisecond, 0)
	defer w.emu.SetLatency(0, 0)
	args := append([]string{"run", "--qps", "20", "--workers", "2", "--max-duration", "700ms"}, extra...)
	res := w.runR(append(args, "users.csv")...)
	if res.code != 3 {
		t.Fatalf("--max-duration run: exit %d, want 3\n%s", res.code, res.stderr)
	}
	s := w.checkpoint("users.checkpoint")
	if s == nil || s.Finished || recorded(s) == 0 || recorded(s) >= n {
		t.Fatalf("after --max-duration the checkpoint is %+v with %d rows; want unfinished, 0 < rows < %d", s, recorded(s), n)
	}
	return s
}

// done returns the addresses of the rows a checkpoint gives an outcome.
func done(s *reports.CheckpointState, emails []string) map[string]bool {
	m := map[string]bool{}
	for i, e := range emails {
		if o, _ := s.Outcome(i + 1); o != batch.OutcomeNone {
			m[e] = true
		}
	}
	return m
}

// callDiff returns the requests of method between two snapshots.
func callDiff(before, after emulator.Stats, method string) int {
	return after.Total(method) - before.Total(method)
}

func TestSignalStopsAndResumes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		sigs  []syscall.Signal
		extra string // stderr must mention it too
	}{
		{"SIGINT", []syscall.Signal{syscall.SIGINT}, ""},
		{"SIGTERM", []syscall.Signal{syscall.SIGTERM}, ""},
		{"SIGINT twice", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, "stopping now"},
		{"SIGTERM then SIGINT", []syscall.Signal{syscall.SIGTERM, syscall.SIGINT}, "stopping now"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			emails := usersCSV(w, 60)
			w.emu.SetLatency(50*time.Millisecond, 0)
			p := w.start("run", "--qps", "20", "--workers", "4", "users.csv")
			w.waitCheckpoint(p, "users.checkpoint", 3, 30*time.Second)
			if len(tt.sigs) > 1 {
				// After the first signal the rows waiting for the limiter
				// leave at once: keep requests in flight so that the run
				// is still there for the second.
				w.emu.SetLatency(5*time.Second, 0)
				time.Sleep(300 * time.Millisecond)
			}
			for i, sig := range tt.sigs {
				if i > 0 {
					time.Sleep(20 * time.Millisecond)
				}
				p.signal(sig)
			}
			res := p.wait(30 * time.Second)
			checkRaces(t, res.stderr)
			if res.signaled != 0 || res.code != 3 {
				t.Fatalf("exit %d (signal %v), want exit 3\n%s", res.code, res.signaled, res.stderr)
			}
			if !strings.Contains(strings.ToLower(res.stderr), "resume") || !strings.Contains(res.stderr, tt.extra) {
				t.Errorf("stderr does not say the same command resumes (and %q):\n%s", tt.extra, res.stderr)
			}
			s := w.checkpoint("users.checkpoint")
			if s == nil || s.Finished {
				t.Fatalf("checkpoint after a signal: %+v, want unfinished", s)
			}
			rows := w.report("users.report.csv")
			if len(rows) == 0 || len(rows) >= len(emails) || len(rows) != recorded(s) {
				t.Errorf("report of the stopped run has %d rows; want the %d processed (of %d)", len(rows), recorded(s), len(emails))
			}
			for _, r := range rows {
				row, _ := strconv.Atoi(r["row"])
				if o, _ := s.Outcome(row); o.String() != r["outcome"] || r["outcome"] == "" {
					t.Errorf("report row %s: outcome %q, checkpoint %q", r["row"], r["outcome"], o)
				}
			}

			w.emu.SetLatency(0, 0)
			res2 := w.runR("run", "--qps", "500", "users.csv")
			if res2.code != 0 {
				t.Fatalf("rerun: exit %d\n%s", res2.code, res2.stderr)
			}
			checkAllSentOnce(t, w, emails, "")
		})
	}
}

func TestLockSecondRunExits4(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 40)
	w.emu.SetLatency(50*time.Millisecond, 0)
	first := w.start("run", "--qps", "20", "--workers", "4", "users.csv")
	w.waitCheckpoint(first, "users.checkpoint", 1, 30*time.Second)
	// Freeze the holder, so that every request the emulator sees from now
	// on would be the second run's.
	first.signal(syscall.SIGSTOP)
	time.Sleep(200 * time.Millisecond)
	host, _ := os.Hostname()
	holder := fmt.Sprintf("pid %d on %s", first.cmd.Process.Pid, host)

	for _, tt := range []struct{ name, ledger string }{
		{"same ledger and checkpoint", ""},
		{"other ledger, same checkpoint", "other.ledger"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := arrivals(w.emu)
			args := []string{"run", "--qps", "500", "users.csv"}
			if tt.ledger != "" {
				args = append(args, "--ledger", tt.ledger)
			}
			res := w.runR(args...)
			if res.code != 4 {
				t.Fatalf("second run: exit %d, want 4\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, holder) {
				t.Errorf("stderr does not name the holder (%s):\n%s", holder, res.stderr)
			}
			if n := arrivals(w.emu) - calls; n != 0 {
				t.Errorf("the locked-out run made %d API calls, want none", n)
			}
		})
	}
	if s := w.checkpoint("users.checkpoint"); s == nil || s.Finished {
		t.Errorf("the locked-out runs changed the holder's checkpoint: %+v", s)
	}

	// The kernel drops a killed holder's locks: the next run is not blocked
	// and completes the job.
	if res := first.kill9(); res.signaled != syscall.SIGKILL {
		t.Fatalf("the first run: exit %d, want killed", res.code)
	}
	w.emu.SetLatency(0, 0)
	res := w.runR("run", "--qps", "500", "users.csv")
	if res.code != 0 {
		t.Fatalf("run after the holder was killed: exit %d\n%s", res.code, res.stderr)
	}
	checkAllSentOnce(t, w, emails, "")
}

// TestResumeOutcomeTableRace runs a resume with the race detector's default
// settings: a data race in the binary makes a run that would exit 0 exit 66.
// Many rows past the checkpoint's last and few workers keep the producer
// reading the outcome table while the collector grows it.
func TestResumeOutcomeTableRace(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 300)
	stopEarly(t, w, 300)
	res := w.run("run", "--qps", "1000", "--workers", "2", "users.csv")
	if res.code != 0 || strings.Contains(res.stderr, "DATA RACE") {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stderr)
	}
}

// (a) unfinished: only the rows without an outcome are processed.
func TestResumeUnfinishedProcessesOnlyRowsWithoutOutcome(t *testing.T) {
	w := newWorld(t)
	const n = 30
	emails := usersCSV(w, n)
	s := stopEarly(t, w, n)
	left := n - recorded(s)
	before := w.emu.Stats()
	res := w.runR("run", "--qps", "500", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stderr)
	}
	after := w.emu.Stats()
	for _, m := range []string{emulator.MethodIsInvitable, emulator.MethodSend} {
		if d := callDiff(before, after, m); d != left {
			t.Errorf("resumed run made %d %s calls, want %d (the rows without an outcome)", d, m, left)
		}
	}
	if d := callDiff(before, after, emulator.MethodGet); d != 0 {
		t.Errorf("resumed run made %d get calls, want 0 (nothing was in flight)", d)
	}
	// The earlier run's rows keep their outcome: sent, not already_invited.
	checkAllSentOnce(t, w, emails, "")
	sum := w.summary("sum.json")
	if !sum.Resumed || sum.RowsThisRun != left || sum.Rows != n {
		t.Errorf("summary: resumed %v, rows %d, rows_this_run %d; want true, %d, %d", sum.Resumed, sum.Rows, sum.RowsThisRun, n, left)
	}
	if s2 := w.checkpoint("users.checkpoint"); !s2.Finished || s2.RunID != s.RunID {
		t.Errorf("checkpoint: finished %v, run %s; want finished, the resumed run %s", s2.Finished, s2.RunID, s.RunID)
	}
}

// (b) finished with failed rows: only those are processed again.
func TestResumeFailedRowsOnly(t *testing.T) {
	w := newWorld(t)
	const n, failing = 20, 5
	emails := usersCSV(w, n)
	w.emu.FailNext(emulator.MethodIsInvitable, failing, 409) // ABORTED: failed, not per address
	res := w.runR("run", "--qps", "500", "--workers", "4", "users.csv")
	if res.code != 1 {
		t.Fatalf("run with failing rows: exit %d, want 1\n%s", res.code, res.stderr)
	}
	first := checkReport(t, w.report("users.report.csv"), n)
	failed := map[string]bool{}
	for e, o := range first {
		switch o {
		case "failed":
			failed[e] = true
		case "sent":
		default:
			t.Errorf("%s: %s, want sent or failed", e, o)
		}
	}
	if len(failed) != failing {
		t.Fatalf("%d rows failed, want %d", len(failed), failing)
	}
	if s := w.checkpoint("users.checkpoint"); !s.Finished || !s.HasFailed() {
		t.Fatalf("checkpoint: finished %v, failed rows %v; want both", s.Finished, s.HasFailed())
	}

	before := w.emu.Stats()
	res = w.runR("run", "--qps", "500", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	after := w.emu.Stats()
	for _, m := range []string{emulator.MethodIsInvitable, emulator.MethodSend} {
		if d := callDiff(before, after, m); d != failing {
			t.Errorf("rerun made %d %s calls, want %d (the failed rows)", d, m, failing)
		}
	}
	// Every row sent once; the rows sent by the first run keep `sent`.
	checkAllSentOnce(t, w, emails, "")
	if sum := w.summary("sum.json"); !sum.Resumed || sum.RowsThisRun != failing {
		t.Errorf("summary: resumed %v, rows_this_run %d; want true, %d", sum.Resumed, sum.RowsThisRun, failing)
	}
}

// (b') a rerun of failed rows that is interrupted in its turn: the same
// command again takes up the failed rows it did not get to, so that no
// extra rerun is needed.
func TestResumeInterruptedFailedRerun(t *testing.T) {
	w := newWorld(t)
	const n, failing = 40, 30
	emails := usersCSV(w, n)
	w.emu.FailNext(emulator.MethodIsInvitable, failing, 409) // ABORTED: failed, not per address
	if res := w.runR("run", "--qps", "500", "--workers", "4", "users.csv"); res.code != 1 {
		t.Fatalf("run with failing rows: exit %d, want 1\n%s", res.code, res.stderr)
	}
	if s := w.checkpoint("users.checkpoint"); !s.Finished || s.Count(batch.Failed) != failing {
		t.Fatalf("checkpoint: finished %v, %d failed rows; want finished, %d", s.Finished, s.Count(batch.Failed), failing)
	}

	// The rerun of the failed rows stops part way (exit 3).
	w.emu.SetLatency(30*time.Millisecond, 0)
	res := w.runR("run", "--qps", "20", "--workers", "2", "--max-duration", "700ms", "users.csv")
	w.emu.SetLatency(0, 0)
	if res.code != 3 {
		t.Fatalf("interrupted rerun: exit %d, want 3\n%s", res.code, res.stderr)
	}
	s := w.checkpoint("users.checkpoint")
	left := s.Count(batch.Failed)
	if s.Finished || left == 0 || left == failing {
		t.Fatalf("after the interrupted rerun: finished %v, %d rows still failed; want unfinished, 0 < failed < %d", s.Finished, left, failing)
	}

	before := w.emu.Stats()
	res = w.runR("run", "--qps", "500", "users.csv")
	if res.code != 0 {
		t.Fatalf("same command again: exit %d, want 0 (the failed rows it had left retried)\n%s", res.code, res.stderr)
	}
	after := w.emu.Stats()
	if d := callDiff(before, after, emulator.MethodSend); d != left {
		t.Errorf("same command again made %d sends, want %d (the rows still failed)", d, left)
	}
	checkAllSentOnce(t, w, emails, "")
	if s := w.checkpoint("users.checkpoint"); !s.Finished || s.HasFailed() {
		t.Errorf("checkpoint: finished %v, failed rows %v; want finished without", s.Finished, s.HasFailed())
	}
}

// (c) finished, no failed rows: a new run, which the ledger keeps from
// emailing anyone again.
func TestResumeFinishedIsNewRun(t *testing.T) {
	w := newWorld(t)
	const n = 10
	emails := usersCSV(w, n)
	if res := w.runR("run", "--qps", "500", "users.csv"); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	old := w.checkpoint("users.checkpoint")
	sends := w.emu.Stats().Sends
	res := w.runR("run", "--qps", "500", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("second run: exit %d\n%s", res.code, res.stderr)
	}
	got := checkReport(t, w.report("users.report.csv"), n)
	for _, e := range emails {
		if got[e] != "already_invited" || w.emu.Sends(e) != 1 {
			t.Errorf("%s: %s, emailed %d times; want already_invited, once", e, got[e], w.emu.Sends(e))
		}
	}
	if d := w.emu.Stats().Sends - sends; d != 0 {
		t.Errorf("the second run sent %d emails", d)
	}
	s := w.checkpoint("users.checkpoint")
	if sum := w.summary("sum.json"); sum.Resumed || sum.RowsThisRun != n || s.RunID == old.RunID || !s.Finished {
		t.Errorf("summary resumed %v, rows_this_run %d; checkpoint run %s (was %s), finished %v: want a new, finished run over %d rows",
			sum.Resumed, sum.RowsThisRun, s.RunID, old.RunID, s.Finished, n)
	}
}

// (d) the input changed: a new run, and the old checkpoint set aside.
func TestResumeInputChangedSetsCheckpointAside(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 30)
	s := stopEarly(t, w, 30)
	sentBefore := done(s, emails)
	oldCP, err := os.ReadFile(w.path("users.checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	// Same rows and two more: different content.
	emails = usersCSV(w, 32)
	res := w.runR("run", "--qps", "500", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("run on the changed input: exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "set aside") || !strings.Contains(res.stderr, "users.checkpoint.old") {
		t.Errorf("stderr does not say the old checkpoint was set aside (and where):\n%s", res.stderr)
	}
	aside, err := os.ReadFile(w.path("users.checkpoint.old"))
	if err != nil || !bytes.Equal(aside, oldCP) {
		t.Errorf("users.checkpoint.old: %v; want the old checkpoint, unchanged", err)
	}
	if fi, err := os.Stat(w.path("users.checkpoint.old")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("users.checkpoint.old mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if ns := w.checkpoint("users.checkpoint"); ns.RunID == s.RunID || ns.InputSHA256 == s.InputSHA256 || !ns.Finished {
		t.Errorf("the new checkpoint (run %s, sha %s) is not a new finished run", ns.RunID, ns.InputSHA256)
	}
	if sum := w.summary("sum.json"); sum.Resumed {
		t.Errorf("summary says resumed")
	}
	got := checkReport(t, w.report("users.report.csv"), len(emails))
	for _, e := range emails {
		want := "sent"
		if sentBefore[e] {
			want = "already_invited"
		}
		if got[e] != want || w.emu.Sends(e) != 1 {
			t.Errorf("%s: %s, emailed %d times; want %s, once", e, got[e], w.emu.Sends(e), want)
		}
	}
}

// (e) --fresh starts a new run over an unfinished checkpoint.
func TestResumeFreshForcesNewRun(t *testing.T) {
	w := newWorld(t)
	const n = 30
	emails := usersCSV(w, n)
	s := stopEarly(t, w, n)
	sentBefore := done(s, emails)
	before := w.emu.Stats()
	res := w.runR("run", "--qps", "500", "--fresh", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("--fresh run: exit %d\n%s", res.code, res.stderr)
	}
	// Every row is looked at again; the ledger answers for those sent.
	if d := callDiff(before, w.emu.Stats(), emulator.MethodSend); d != n-len(sentBefore) {
		t.Errorf("--fresh run sent %d, want %d", d, n-len(sentBefore))
	}
	got := checkReport(t, w.report("users.report.csv"), n)
	for _, e := range emails {
		want := "sent"
		if sentBefore[e] {
			want = "already_invited"
		}
		if got[e] != want || w.emu.Sends(e) != 1 {
			t.Errorf("%s: %s, emailed %d times; want %s, once", e, got[e], w.emu.Sends(e), want)
		}
	}
	ns := w.checkpoint("users.checkpoint")
	if sum := w.summary("sum.json"); sum.Resumed || sum.RowsThisRun != n || ns.RunID == s.RunID {
		t.Errorf("summary resumed %v, rows_this_run %d, checkpoint run %s (was %s): want a new run over all %d rows",
			sum.Resumed, sum.RowsThisRun, ns.RunID, s.RunID, n)
	}
}

// (f) tuning flags may change between runs: it still resumes.
func TestResumeWithOtherTuningFlags(t *testing.T) {
	w := newWorld(t)
	const n = 30
	emails := usersCSV(w, n)
	s := stopEarly(t, w, n)
	res := w.runR("run", "--qps", "300", "--workers", "16", "--burst", "5", "--log-level", "warn", "--log-format", "console",
		"--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("resumed run with other tuning flags: exit %d\n%s", res.code, res.stderr)
	}
	checkAllSentOnce(t, w, emails, "")
	if sum := w.summary("sum.json"); !sum.Resumed || sum.RowsThisRun != n-recorded(s) {
		t.Errorf("summary: resumed %v, rows_this_run %d; want true, %d", sum.Resumed, sum.RowsThisRun, n-recorded(s))
	}
}

// The cron use: the same command on a file that grows emails only the new
// rows.
func TestCronAppendedRowsOnly(t *testing.T) {
	w := newWorld(t)
	old := usersCSV(w, 5)
	if res := w.runR("run", "--qps", "500", "users.csv"); res.code != 0 {
		t.Fatalf("first run: exit %d\n%s", res.code, res.stderr)
	}
	all := usersCSV(w, 8)
	res := w.runR("run", "--qps", "500", "users.csv")
	if res.code != 0 {
		t.Fatalf("run on the grown file: exit %d\n%s", res.code, res.stderr)
	}
	got := checkReport(t, w.report("users.report.csv"), len(all))
	for i, e := range all {
		want := "sent"
		if i < len(old) {
			want = "already_invited"
		}
		if got[e] != want || w.emu.Sends(e) != 1 {
			t.Errorf("%s: %s, emailed %d times; want %s, once", e, got[e], w.emu.Sends(e), want)
		}
	}
	if st := w.emu.Stats(); st.Sends != len(all) || st.DuplicateSends != 0 {
		t.Errorf("sends %d (%d duplicates), want %d", st.Sends, st.DuplicateSends, len(all))
	}
	// And once more, unchanged: nothing to send.
	if res := w.runR("run", "--qps", "500", "users.csv"); res.code != 0 || w.emu.Stats().Sends != len(all) {
		t.Errorf("third run: exit %d, sends %d; want 0, %d", res.code, w.emu.Stats().Sends, len(all))
	}
}
