package main

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// messyInput has a row of every kind check and run tell apart: BOM and
// semicolons, valid, invalid, ragged, duplicates (case and white space),
// outside the domain, and a blank line (not a record).
const messyInput = "\ufeffName;E-Mail;Note\n" +
	"Alice;alice@example.com;a\n" +
	"Bob;bob@example.com;b\n" +
	"Bad;a/../b@example.com;c\n" +
	"Dup; ALICE@Example.com ;d\n" +
	"\n" +
	"Other;o@other.com;e\n" +
	"Ragged;r@example.com\n" +
	"Mailto;mailto:m@example.com;f\n" +
	"Dup2;bob@example.com;g\n" +
	"Other2;o@other.com;h\n" +
	"Empty;;i\n"

func checkJSON(t *testing.T, res result) checkResult {
	t.Helper()
	var got checkResult
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("check --format json: %v\n%s\n%s", err, res.stdout, res.stderr)
	}
	return got
}

func TestCheckReportsRowsInvalidDuplicatesDomains(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", messyInput)
	res := w.run("check", "--format", "json", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1 (invalid rows)\n%s", res.code, res.stderr)
	}
	got := checkJSON(t, res)
	want := checkResult{
		File: "users.csv", EmailColumn: "E-Mail", Rows: 10, Valid: 3,
		Invalid: []invalidRow{
			{3, "a/../b@example.com", "contains '/'"},
			{6, "r@example.com", "row has 2 fields, header has 3"},
			{7, "mailto:m@example.com", "mailto: prefix; give the bare address"},
			{10, "", "empty address"},
		},
		Duplicates: []duplicateRow{{4, " ALICE@Example.com ", 1}, {8, "bob@example.com", 2}, {9, "o@other.com", 5}},
		Domains:    []domainCount{{"example.com", 2, false}, {"other.com", 1, false}},
	}
	// The reasons are the address checker's: compare rows and cells, and
	// only that each invalid row has a reason (the agreement test compares
	// the reasons with run's).
	for i := range got.Invalid {
		if got.Invalid[i].Reason == "" {
			t.Errorf("invalid row %d has no reason", got.Invalid[i].Row)
		}
		if i < len(want.Invalid) {
			got.Invalid[i].Reason = want.Invalid[i].Reason
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("check result (-want +got):\n%s", diff)
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("check made API calls: %v", w.emu.Stats().Requests)
	}

	// --domain: the other domain's rows become invalid, and are counted
	// under their domain, marked outside.
	got = checkJSON(t, w.run("check", "--format", "json", "--domain", "example.com", "users.csv"))
	var outside []int
	for _, r := range got.Invalid {
		if strings.HasPrefix(r.Reason, "outside --domain") {
			outside = append(outside, r.Row)
		}
	}
	if diff := cmp.Diff([]int{5, 9}, outside); diff != "" {
		t.Errorf("rows outside --domain (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]domainCount{{"example.com", 2, false}, {"other.com", 2, true}}, got.Domains); diff != "" {
		t.Errorf("domains with --domain (-want +got):\n%s", diff)
	}

	// Text: a summary line, each problem with its row, the domains.
	res = w.run("check", "users.csv")
	for _, s := range []string{"10 rows: 3 valid, 4 invalid, 3 duplicates", `row 3: "a/../b@example.com": address contains '/'`,
		`row 4: " ALICE@Example.com ": same address as row 1`, "example.com", "other.com"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("text output lacks %q:\n%s", s, res.stdout)
		}
	}
}

// check and run read a file the same way: the rows check calls invalid or
// duplicate are exactly those run --dry-run reports so, with the same
// reasons for the invalid ones.
func TestCheckAgreesWithRunDryRun(t *testing.T) {
	for _, domain := range []string{"", "example.com"} {
		t.Run("domain="+domain, func(t *testing.T) {
			w := newWorld(t)
			w.write("users.csv", messyInput+
				"Ctl;\"x\x01y@example.com\";j\n"+
				"Quote;\"q\"\"q@example.com\";k\n"+
				"Idn;jörg@example.com;l\n"+
				"Disp;Alice <alice@example.com>;m\n"+
				"Upper;BOB@EXAMPLE.COM;n\n")
			args := []string{"--ledger", "l.ledger"}
			checkArgs := []string{"check", "--format", "json"}
			if domain != "" {
				args = append(args, "--domain", domain)
				checkArgs = append(checkArgs, "--domain", domain)
			}
			got := checkJSON(t, w.run(append(checkArgs, "users.csv")...))
			res := w.run(append(append([]string{"run", "--dry-run"}, args...), "users.csv")...)
			if res.code != 1 {
				t.Fatalf("run --dry-run exit = %d\n%s", res.code, res.stderr)
			}
			wantInvalid := map[int]string{}
			wantDup := map[int]bool{}
			for _, r := range w.report("users.dryrun.report.csv") {
				row, _ := strconv.Atoi(r["row"])
				switch r["outcome"] {
				case "invalid":
					wantInvalid[row] = r["error"]
				case "duplicate":
					wantDup[row] = true
				}
			}
			gotInvalid := map[int]string{}
			for _, r := range got.Invalid {
				gotInvalid[r.Row] = r.Reason
			}
			gotDup := map[int]bool{}
			for _, r := range got.Duplicates {
				gotDup[r.Row] = true
			}
			if diff := cmp.Diff(wantInvalid, gotInvalid); diff != "" {
				t.Errorf("invalid rows and reasons, run (-) vs check (+):\n%s", diff)
			}
			if diff := cmp.Diff(wantDup, gotDup); diff != "" {
				t.Errorf("duplicate rows, run (-) vs check (+):\n%s", diff)
			}
			if len(wantInvalid) < 5 || len(wantDup) < 2 {
				t.Errorf("the input should exercise both: %d invalid, %d duplicates", len(wantInvalid), len(wantDup))
			}
		})
	}
}

func TestCheckExitCodes(t *testing.T) {
	tests := []struct {
		name, content string
		args          []string
		want          int
	}{
		{"clean", "email\na@example.com\nb@example.com\n", nil, 0},
		{"duplicates only", "email\na@example.com\nA@example.com\n", nil, 0},
		{"duplicates, strict", "email\na@example.com\nA@example.com\n", []string{"--strict"}, 1},
		{"invalid", "email\nnot-an-address\n", nil, 1},
		{"header only", "email\n", nil, 0},
		{"explicit column", "a,b\nx,y@example.com\n", []string{"--email-column", "b"}, 0},
		{"no email column", "name,phone\nalice,123\n", nil, 2},
		{"named column missing", "email\na@example.com\n", []string{"--email-column", "mail2"}, 2},
		{"empty file", "", nil, 2},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00", nil, 2},
		{"binary", "email\n\x00\x01\x02", nil, 2},
		{"bad format", "email\na@example.com\n", []string{"--format", "xml"}, 2},
		{"bad domain", "email\na@example.com\n", []string{"--domain", "a/b"}, 2},
	}
	w := newWorld(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.write("in.csv", tt.content)
			res := w.run(append(append([]string{"check"}, tt.args...), "in.csv")...)
			if res.code != tt.want {
				t.Errorf("exit = %d, want %d\nstdout: %s\nstderr: %s", res.code, tt.want, res.stdout, res.stderr)
			}
		})
	}
	if res := w.run("check", "missing.csv"); res.code != 2 || !strings.Contains(res.stderr, "missing.csv") {
		t.Errorf("missing file: exit %d, stderr %q; want 2 naming the file", res.code, res.stderr)
	}
	if res := w.run("check"); res.code != 2 {
		t.Errorf("no file: exit %d, want 2", res.code)
	}
	// No credentials, no customer, no API: offline even with neither set.
	if res := w.runEnv([]string{"INVITEBATCH_CUSTOMER=", "CLOUDIDENTITY_EMULATOR_HOST="}, "check", "in.csv"); res.code != 0 {
		t.Errorf("without customer or emulator: exit %d, want 0\n%s", res.code, res.stderr)
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("check made API calls: %v", w.emu.Stats().Requests)
	}
}

func TestCheckReadsStdin(t *testing.T) {
	w := newWorld(t)
	cmd := exec.Command(binary, "check", "--format", "json", "-")
	cmd.Dir = w.dir
	cmd.Stdin = strings.NewReader("\ufeffEmail\r\na@example.com\r\nA@example.com\r\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := checkJSON(t, result{stdout: string(out)})
	if got.File != "-" || got.Rows != 2 || got.Valid != 1 || len(got.Duplicates) != 1 || got.Duplicates[0].Of != 1 {
		t.Errorf("check of stdin = %+v", got)
	}
}
