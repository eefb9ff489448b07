package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// binary is the invitebatch binary the end-to-end tests drive, built once
// by TestMain.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "invitebatch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "invitebatch")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the binary: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// world is one end-to-end setting: an emulator served over HTTP, a
// directory for the files, and the environment pointing the binary at it.
type world struct {
	t   *testing.T
	emu *emulator.Emulator
	srv *httptest.Server
	dir string
}

const testCustomer = "C0test"

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldWith(t, emulator.Options{})
}

// newWorldWith is newWorld with an emulator made from opts (for the test
// customer).
func newWorldWith(t *testing.T, opts emulator.Options) *world {
	t.Helper()
	opts.Customer = testCustomer
	emu := emulator.New(opts)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &world{t: t, emu: emu, srv: srv, dir: t.TempDir()}
}

func (w *world) path(name string) string { return filepath.Join(w.dir, name) }

func (w *world) write(name, content string) string {
	w.t.Helper()
	p := w.path(name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// result is what one run of the binary left.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the binary with args in the world's directory, pointed at the
// emulator, with its own ledger.
func (w *world) run(args ...string) result {
	w.t.Helper()
	return w.runEnv(nil, args...)
}

func (w *world) runEnv(env []string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(),
		"CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer,
		"XDG_STATE_HOME="+w.path("state"),
	)
	cmd.Env = append(cmd.Env, env...)
	return runCmd(w.t, cmd)
}

// runCmd runs cmd and returns its exit code and output; only a failure to
// start it fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// report reads a report CSV into rows keyed by column name.
func (w *world) report(name string) []map[string]string {
	w.t.Helper()
	f, err := os.Open(w.path(name))
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		w.t.Fatalf("report %s: %v", name, err)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func outcomeByEmail(rows []map[string]string) map[string]string {
	m := map[string]string{}
	for _, r := range rows {
		m[r["email"]] = r["outcome"]
	}
	return m
}

func (w *world) summary(name string) reports.Summary {
	w.t.Helper()
	b, err := os.ReadFile(w.path(name))
	if err != nil {
		w.t.Fatal(err)
	}
	var s reports.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// profiles are the emulator's ways of refusing single addresses; the
// outcome tests run under each.
var profiles = []emulator.Profile{emulator.ProfileDefault, emulator.ProfileGoogleStrict}

func TestE2EEveryOutcome(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) { testEveryOutcome(t, p) })
	}
}

func testEveryOutcome(t *testing.T, profile emulator.Profile) {
	w := newWorldWith(t, emulator.Options{Domains: []string{"example.com"}})
	w.emu.SetProfile(profile)
	for email, kind := range map[string]emulator.Kind{
		"inv@example.com": emulator.KindInvited, "acc@example.com": emulator.KindAccepted,
		"dec@example.com": emulator.KindDeclined, "managed@example.com": emulator.KindManaged,
		"nobody@example.com": emulator.KindNone, "fresh@example.com": emulator.KindNew,
	} {
		w.emu.Seed(email, kind)
	}
	w.write("users.csv", "Name;E-Mail;outcome\n"+
		"Alice;alice@example.com;x\n"+
		"Inv;inv@example.com;x\n"+
		"Acc;acc@example.com;x\n"+
		"Dec;dec@example.com;x\n"+
		"Man;managed@example.com;x\n"+
		"Nob;nobody@example.com;x\n"+
		"Bad;a/../b@example.com;x\n"+
		"Dup; ALICE@example.com ;x\n"+
		"Fresh;fresh@example.com;x\n"+
		"Other;o@other.com;x\n")
	res := w.run("run", "--domain", "example.com", "--summary", "sum.json", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1 (an invalid row)\n%s", res.code, res.stderr)
	}
	rows := w.report("users.report.csv")
	got := outcomeByEmail(rows)
	want := map[string]string{
		"alice@example.com": "sent", "inv@example.com": "already_invited", "acc@example.com": "already_accepted",
		"dec@example.com": "declined", "managed@example.com": "not_invitable", "nobody@example.com": "not_invitable",
		"a/../b@example.com": "invalid", " ALICE@example.com ": "duplicate", "fresh@example.com": "sent",
		"o@other.com": "invalid",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes:\n got %v\nwant %v", got, want)
	}
	if rows[0]["row"] != "1" || rows[9]["row"] != "10" || rows[0]["Name"] != "Alice" || rows[0]["input_outcome"] != "x" {
		t.Errorf("first row = %v, want row 1 with input columns carried (outcome -> input_outcome)", rows[0])
	}
	st := w.emu.Stats()
	if st.DuplicateSends != 0 || w.emu.Sends("alice@example.com") != 1 || w.emu.Sends("fresh@example.com") != 1 {
		t.Errorf("sends: %+v", st)
	}
	if n := st.Total(emulator.MethodSend); n != 2 {
		t.Errorf("send requests = %d, want 2", n)
	}
	s := w.summary("sum.json")
	if !s.Emulator || s.Outcomes["sent"] != 2 || s.Rows != 10 || s.ExitCode != 1 {
		t.Errorf("summary = %+v", s)
	}
	if fi, err := os.Stat(w.path("users.report.csv")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if !strings.Contains(res.stderr, "EMULATOR") {
		t.Errorf("stderr does not say loudly that this is an emulator run:\n%s", res.stderr)
	}

	// The same command again: nobody is emailed twice, a new run (the
	// checkpoint finished) whose sent rows the ledger settles.
	res = w.run("run", "--domain", "example.com", "users.csv")
	if res.code != 1 {
		t.Fatalf("rerun exit = %d\n%s", res.code, res.stderr)
	}
	got = outcomeByEmail(w.report("users.report.csv"))
	if got["alice@example.com"] != "already_invited" || got["fresh@example.com"] != "already_invited" {
		t.Errorf("rerun outcomes = %v, want the sent rows already_invited", got)
	}
	if st := w.emu.Stats(); st.Sends != 2 || st.DuplicateSends != 0 {
		t.Errorf("after rerun: sends %d, duplicates %d; want 2, 0", st.Sends, st.DuplicateSends)
	}
}

func TestE2ERetriesAndAmbiguousSend(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 20 {
		fmt.Fprintf(&b, "u%02d@example.com\n", i)
	}
	w.write("users.csv", b.String())
	w.emu.FailNext(emulator.MethodIsInvitable, 3, 429)
	w.emu.FailNext(emulator.MethodSend, 2, 503)
	w.emu.SetAmbiguousSendRate(0.3, emulator.AmbiguousDrop)
	res := w.run("run", "--qps", "200", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	for email, o := range outcomeByEmail(w.report("users.report.csv")) {
		if o != "sent" {
			t.Errorf("%s: %s, want sent", email, o)
		}
	}
	st := w.emu.Stats()
	if st.DuplicateSends != 0 || st.Sends != 20 {
		t.Errorf("emulator: %d sends, %d duplicates; want 20, 0", st.Sends, st.DuplicateSends)
	}
	// The 429s are retried with backoff; the 503s on send are ambiguous
	// (the email may have gone out), so each is settled with a get first.
	s := w.summary("sum.json")
	if s.Retries < 3 || s.Throttled < 3 {
		t.Errorf("summary retries=%d throttled=%d, want >= 3 each", s.Retries, s.Throttled)
	}
	if gets := s.APICalls["get"]["200"]; gets < 2 {
		t.Errorf("get calls = %d, want >= 2 (one per ambiguous send)", gets)
	}
}

func TestE2EAmbiguousSendToFreshAccountIsUnconfirmed(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.write("users.csv", "email\nfresh@example.com\n")
	w.emu.SetAmbiguousSendRate(1, emulator.AmbiguousStatus500)
	res := w.run("run", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1 (unconfirmed)\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv"))["fresh@example.com"]; got != "unconfirmed" {
		t.Errorf("outcome = %s, want unconfirmed", got)
	}
	if n := w.emu.Sends("fresh@example.com"); n != 1 {
		t.Errorf("emails = %d, want exactly 1", n)
	}
	// Rerunning does not re-send it either.
	w.emu.SetAmbiguousSendRate(0, emulator.AmbiguousStatus500)
	w.run("run", "users.csv")
	if n := w.emu.Sends("fresh@example.com"); n != 1 {
		t.Errorf("after rerun, emails = %d, want exactly 1", n)
	}
}

func TestE2EBadInputExits2WithoutCalls(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"no email column", "name,phone\nalice,123\n", "no email column"},
		{"empty file", "", "empty"},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"},
		{"binary", "email\n\x00\x01\x02", "binary"},
		{"zip", "PK\x03\x04\x14\x00\x00\x00", "zip"},
		{"utf-16", "\xff\xfee\x00m\x00a\x00i\x00l\x00\n\x00", "utf-16"},
		{"invalid utf-8 header", "em\xffail\na@example.com\n", "utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.write("users.csv", tt.content)
			res := w.run("run", "users.csv")
			if res.code != 2 {
				t.Errorf("exit = %d, want 2\n%s", res.code, res.stderr)
			}
			if !strings.Contains(strings.ToLower(res.stderr), tt.want) {
				t.Errorf("stderr = %q, want it to mention %q", res.stderr, tt.want)
			}
			if n := len(w.emu.Stats().PerSecond); n != 0 {
				t.Errorf("API calls were made: %v", w.emu.Stats().Requests)
			}
			if _, err := os.Stat(w.path("users.checkpoint")); err == nil {
				t.Errorf("a checkpoint was written for unusable input")
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		w := newWorld(t)
		if res := w.run("run", "nope.csv"); res.code != 2 {
			t.Errorf("exit = %d, want 2\n%s", res.code, res.stderr)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		w := newWorld(t)
		w.write("users.csv", "email\na@example.com\n")
		for _, args := range [][]string{
			{"run", "--qps", "0", "users.csv"},
			{"run", "--bogus", "users.csv"},
			{"run", "--api", "v2", "users.csv"},
			{"run"},
		} {
			if res := w.run(args...); res.code != 2 {
				t.Errorf("%v: exit = %d, want 2\n%s", args, res.code, res.stderr)
			}
		}
		if n := len(w.emu.Stats().PerSecond); n != 0 {
			t.Errorf("API calls were made: %v", w.emu.Stats().Requests)
		}
	})
}

func TestE2EHeaderOnlyAndRaggedRows(t *testing.T) {
	w := newWorld(t)
	w.write("empty.csv", "email,name\n")
	if res := w.run("run", "empty.csv"); res.code != 0 {
		t.Errorf("header-only file: exit %d, want 0\n%s", res.code, res.stderr)
	}
	if rows := w.report("empty.report.csv"); len(rows) != 0 {
		t.Errorf("header-only report has %d rows", len(rows))
	}
	big := strings.Repeat("x", 10<<20)
	w.write("users.csv", "email,name\n"+
		"a@example.com,A\n"+
		"b@example.com\n"+ // too few fields
		"c@example.com,C,extra\n"+ // too many
		"\n"+ // blank: not a record
		"\"d@example.com\",\"multi\nline, with comma\"\n"+
		"e@example.com,"+big+"\n"+
		"f@example.com,\xffnot utf-8\n")
	res := w.run("run", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1 (ragged rows are invalid)\n%s", res.code, res.stderr)
	}
	rows := w.report("users.report.csv")
	if len(rows) != 6 {
		t.Fatalf("report has %d rows, want 6 (every record once)", len(rows))
	}
	want := []string{"sent", "invalid", "invalid", "sent", "sent", "sent"}
	for i, r := range rows {
		if r["row"] != fmt.Sprint(i+1) || r["outcome"] != want[i] {
			t.Errorf("report row %d = %s %s (%s), want row %d %s", i, r["row"], r["outcome"], r["error"], i+1, want[i])
		}
	}
	if !strings.Contains(rows[1]["error"], "field") {
		t.Errorf("ragged row reason = %q, want it to say what is wrong", rows[1]["error"])
	}
	if got := rows[3]["name"]; got != "multi\nline, with comma" {
		t.Errorf("quoted field = %q", got)
	}
	if got := len(rows[4]["name"]); got != len(big) {
		t.Errorf("10 MB field carried as %d bytes", got)
	}
}

func TestE2EDryRun(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("inv@example.com", emulator.KindInvited)
	w.write("users.csv", "email\nnew@example.com\ninv@example.com\n")
	res := w.run("run", "--dry-run", "--ledger", "l.ledger", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.dryrun.report.csv"))
	if got["new@example.com"] != "would_send" || got["inv@example.com"] != "already_invited" {
		t.Errorf("outcomes = %v", got)
	}
	if w.emu.Stats().Sends != 0 {
		t.Errorf("a dry run sent")
	}
	for _, f := range []string{"users.checkpoint", "l.ledger"} {
		if _, err := os.Stat(w.path(f)); err == nil {
			t.Errorf("dry run wrote %s", f)
		}
	}

	// After a real run, a dry run predicts what a rerun would do: the
	// ledger's sends are already_invited, even those too new to be listed.
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.write("users.csv", "email\nnew@example.com\nfresh@example.com\n")
	if res := w.run("run", "--ledger", "l.ledger", "users.csv"); res.code != 0 {
		t.Fatalf("run: %d\n%s", res.code, res.stderr)
	}
	before, _ := os.ReadFile(w.path("l.ledger"))
	w.run("run", "--dry-run", "--ledger", "l.ledger", "users.csv")
	got = outcomeByEmail(w.report("users.dryrun.report.csv"))
	if got["new@example.com"] != "already_invited" || got["fresh@example.com"] != "already_invited" {
		t.Errorf("dry run after a run: %v, want already_invited for both", got)
	}
	if after, _ := os.ReadFile(w.path("l.ledger")); string(after) != string(before) {
		t.Errorf("the dry run changed the ledger")
	}
}

func TestE2EFatalExits5AndResumes(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	w.emu.SetFatal(emulator.FatalPermissionDenied)
	res := w.run("run", "users.csv")
	if res.code != 5 {
		t.Fatalf("exit = %d, want 5\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "PERMISSION_DENIED") {
		t.Errorf("stderr does not explain the problem:\n%s", res.stderr)
	}
	w.emu.SetFatal(emulator.FatalNone)
	res = w.run("run", "users.csv")
	if res.code != 0 {
		t.Fatalf("resumed run exit = %d\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv")); got["a@example.com"] != "sent" || got["b@example.com"] != "sent" {
		t.Errorf("outcomes = %v", got)
	}
}

func TestE2EStdinAndV1beta1(t *testing.T) {
	w := newWorld(t)
	cmd := exec.Command(binary, "run", "--api", "v1beta1", "--report", "out.csv", "-")
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer, "XDG_STATE_HOME="+w.path("state"))
	cmd.Stdin = strings.NewReader("\ufeffEmail\r\na@example.com\r\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := outcomeByEmail(w.report("out.csv")); got["a@example.com"] != "sent" {
		t.Errorf("outcomes = %v", got)
	}
	if w.emu.Stats().Requests[emulator.MethodSend][200] != 1 {
		t.Errorf("requests = %v", w.emu.Stats().Requests)
	}
}

func TestE2EDamagedLedgerExits2(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\n")
	w.write("l.ledger", "00000000 1 sent a@example.com\n00000000 2 sent b@example.com\n")
	res := w.run("run", "--ledger", "l.ledger", "users.csv")
	if res.code != 2 || !strings.Contains(res.stderr, "line 1") {
		t.Errorf("exit = %d, want 2 naming the line\n%s", res.code, res.stderr)
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("API calls were made with a damaged ledger")
	}
}
