package main

// The report while a run goes on, and after it is killed (CONTRACT.md:
// "Until a run finishes, the report lists the rows processed so far; the
// resumed run completes it"). The report was written only when a run
// ended: during a run the default report did not exist (or was the last
// run's), and after kill -9 no report listed the rows processed.

import (
	"encoding/csv"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

// readReport reads a report that a run may be rewriting: ok is false if
// there is none yet. The rewrite is atomic, so a report that exists is
// complete CSV.
func (w *world) readReport(name string) (header []string, rows []map[string]string, ok bool) {
	w.t.Helper()
	f, err := os.Open(w.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false
	}
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		w.t.Fatalf("report %s while the run writes it: %v (%d records)", name, err, len(recs))
	}
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows, true
}

// checkPartialReport checks a report written while its run went on: the
// report's columns, rows in input order each at most once, each with the
// row's address and name and the outcome the checkpoint cp (loaded after
// the report was read) records for it.
func checkPartialReport(t *testing.T, header []string, rows []map[string]string, emails []string, cp *reports.CheckpointState) {
	t.Helper()
	want := []string{"row", "email", "outcome", "error", "run_id", "name"}
	if len(header) != len(want) {
		t.Fatalf("report header %q, want %q", header, want)
	}
	for i := range want {
		if header[i] != want[i] {
			t.Fatalf("report header %q, want %q", header, want)
		}
	}
	last := 0
	for _, r := range rows {
		row, err := strconv.Atoi(r["row"])
		if err != nil || row <= last || row > len(emails) {
			t.Fatalf("report row %q after row %d: want rows in input order, each once, 1..%d", r["row"], last, len(emails))
		}
		last = row
		if r["email"] != emails[row-1] || r["name"] != "User "+strconv.Itoa(row-1) || r["run_id"] == "" {
			t.Errorf("report row %d: %v, want %s, User %d and a run id", row, r, emails[row-1], row-1)
		}
		o, _ := cp.Outcome(row)
		if o == batch.OutcomeNone || r["outcome"] != o.String() {
			t.Errorf("report row %d: %s, the checkpoint says %v: the report must never be ahead of the checkpoint", row, r["outcome"], o)
		}
	}
}

// covers reports whether rows list every row the checkpoint s records,
// with its outcome.
func covers(rows []map[string]string, s *reports.CheckpointState) bool {
	listed := make(map[int]string, len(rows))
	for _, r := range rows {
		n, _ := strconv.Atoi(r["row"])
		listed[n] = r["outcome"]
	}
	for row := 1; row <= s.Rows(); row++ {
		if o, _ := s.Outcome(row); o != batch.OutcomeNone && listed[row] != o.String() {
			return false
		}
	}
	return true
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
}

// TestE2EReportListsRowsDuringRun: while a slow run goes on, the report at
// the default path lists the rows processed so far (as the checkpoint
// records them), in input order, with the report's columns.
func TestE2EReportListsRowsDuringRun(t *testing.T) {
	const n = 300
	w, emails := crashWorld(t, n)
	p := w.start("run", "--qps", "20", "--ledger", "ledger", "users.csv")
	partial := 0 // partial reports seen
	most := 0
	for !p.exited() {
		header, rows, ok := w.readReport("users.report.csv")
		if ok && len(rows) > most && len(rows) < n {
			checkPartialReport(t, header, rows, emails, w.checkpoint("users.checkpoint"))
			checkMode(t, w.path("users.report.csv"))
			partial++
			most = len(rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
	res := p.wait(time.Minute)
	checkRaces(t, res.stderr)
	if res.code != 0 && res.code != 1 {
		t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
	}
	if partial == 0 {
		t.Fatalf("while the run went on, the report never listed the rows processed so far (it was written only at the end)")
	}
	t.Logf("%d partial reports seen, the last with %d of %d rows", partial, most, n)
	checkReport(t, w.report("users.report.csv"), n)
}

// TestE2EReportAfterKill9: after kill -9, the report lists (at least) every
// row the checkpoint had recorded reports.DefaultReportInterval (and a
// margin) before, each with that outcome; a rewrite torn by the kill leaves no temporary file behind once
// the same command resumes, and the resumed run completes the report with
// exactly one line per input row.
func TestE2EReportAfterKill9(t *testing.T) {
	const n = 400
	w, emails := crashWorld(t, n)
	args := []string{"run", "--qps", "20", "--ledger", "ledger", "users.csv"}
	p := w.start(args...)
	before := w.waitCheckpoint(p, "users.checkpoint", 40, 2*time.Minute)
	// The bound the README states: the report is rewritten every
	// reports.DefaultReportInterval while rows finish (a report this small
	// takes milliseconds), so one rewrite has started after this point and
	// ended within the interval and a margin.
	time.Sleep(reports.DefaultReportInterval + 3*time.Second)
	if res := p.kill9(); res.signaled == 0 {
		t.Fatalf("the run ended before the kill: exit %d", res.code)
	}
	header, rows, ok := w.readReport("users.report.csv")
	if !ok || !covers(rows, before) {
		t.Fatalf("after kill -9 the report lacks rows the checkpoint recorded before (exists: %v, %d rows)", ok, len(rows))
	}
	checkPartialReport(t, header, rows, emails, w.checkpoint("users.checkpoint"))
	checkMode(t, w.path("users.report.csv"))

	// What a kill in the middle of a rewrite leaves: a temporary file with
	// personal data beside the report.
	torn := w.write(".users.report.csv.tmp-1234", "row,email\n1,"+emails[0]+"\n")
	res := w.runR(args...)
	if res.code != 0 && res.code != 1 {
		t.Fatalf("resumed run: exit %d\n%s", res.code, res.stderr)
	}
	final := checkReport(t, w.report("users.report.csv"), n)
	for row := 1; row <= before.Rows(); row++ {
		if o, _ := before.Outcome(row); o != batch.OutcomeNone && final[emails[row-1]] != o.String() {
			t.Errorf("row %d: %s after the resumed run, %s before the kill", row, final[emails[row-1]], o)
		}
	}
	if _, err := os.Stat(torn); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary file of a torn report rewrite is still there after the resumed run (%v)", err)
	}
	if left, _ := filepath.Glob(w.path(".users.report.csv.tmp-*")); len(left) > 0 {
		t.Errorf("temporary report files left: %v", left)
	}
	if st := w.emu.Stats(); st.DuplicateSends != 0 {
		t.Errorf("%d duplicate sends", st.DuplicateSends)
	}
}
