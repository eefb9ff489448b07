package main

// Regression tests of issue 11, item 8: the input is read once; a file
// replaced or rewritten while a run reads it never makes the report pair an
// outcome with another person.

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// peopleCSV returns a CSV of n people whose name column says whose row it
// is: <prefix>NNN@example.com,<PREFIX>NNN.
func peopleCSV(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(&b, "%s%03d@example.com,%s%03d\n", prefix, i, strings.ToUpper(prefix), i)
	}
	return b.String()
}

// checkPairs checks that every report row pairs its outcome with the
// person the run acted on: only a-people were in the file the run read, each
// reported sent was emailed once, and the carried name is that person's.
func checkPairs(t *testing.T, w *world, n int) {
	t.Helper()
	rows := w.report("users.report.csv")
	if len(rows) != n {
		t.Errorf("report has %d rows, want %d", len(rows), n)
	}
	for _, r := range rows {
		e := r["email"]
		if !strings.HasPrefix(e, "a") || r["name"] != strings.ToUpper(strings.TrimSuffix(e, "@example.com")) {
			t.Errorf("row %s: email %q with name %q: not a row of the file the run read", r["row"], e, r["name"])
		}
		if r["outcome"] != "sent" || w.emu.Sends(e) != 1 {
			t.Errorf("row %s: %s %s, emailed %d times; want sent, once", r["row"], e, r["outcome"], w.emu.Sends(e))
		}
	}
	if st := w.emu.Stats(); st.Sends != n {
		t.Errorf("%d sends, want %d (the a-people only)", st.Sends, n)
	}
}

// An export cron replaces the file by rename while the run reads it.
func TestInputReplacedByRenameMidRun(t *testing.T) {
	w := newWorld(t)
	const n = 30
	w.write("users.csv", peopleCSV("a", n))
	w.emu.SetLatency(30*time.Millisecond, 0)
	p := w.start("run", "--qps", "50", "--workers", "2", "users.csv")
	w.waitCheckpoint(p, "users.checkpoint", 3, 30*time.Second)
	w.write("users.csv.new", peopleCSV("b", n))
	if err := os.Rename(w.path("users.csv.new"), w.path("users.csv")); err != nil {
		t.Fatal(err)
	}
	res := p.wait(60 * time.Second)
	checkRaces(t, res.stderr)
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	checkPairs(t, w, n)
}

// The file is rewritten in place (same inode) while the run reads it.
func TestInputRewrittenInPlaceMidRun(t *testing.T) {
	w := newWorld(t)
	const n = 30
	w.write("users.csv", peopleCSV("a", n))
	w.emu.SetLatency(30*time.Millisecond, 0)
	p := w.start("run", "--qps", "50", "--workers", "2", "users.csv")
	w.waitCheckpoint(p, "users.checkpoint", 3, 30*time.Second)
	w.write("users.csv", peopleCSV("b", n)) // os.WriteFile: truncate and write, same file
	res := p.wait(60 * time.Second)
	checkRaces(t, res.stderr)
	if res.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", res.code, res.stderr)
	}
	checkPairs(t, w, n)
}
