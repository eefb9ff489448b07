package main

// Regression tests of issue 11, item 2: the ledger is chosen by customer
// and backend, not by their spelling.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// port is the world emulator's port.
func (w *world) port() string {
	_, port, _ := strings.Cut(strings.TrimPrefix(w.srv.URL, "http://"), ":")
	return port
}

// stateLedger is the path of a ledger file in the world's state directory.
func (w *world) stateLedger(name string) string {
	dir := w.path("state/invitebatch")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		w.t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// writeOldLedger writes a ledger as an earlier version did (no header) at
// path, saying this tool emailed each of emails.
func writeOldLedger(t *testing.T, path string, emails ...string) {
	t.Helper()
	writeLedger(t, path, reports.LedgerIdentity{}, emails...)
}

func writeLedger(t *testing.T, path string, id reports.LedgerIdentity, emails ...string) {
	t.Helper()
	l, err := reports.OpenLedger(path, reports.LedgerOptions{Identity: id})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range emails {
		wait, err := l.Settle(e, batch.LedgerSent)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A too-new account (the API hides it for 48 hours) emailed through
// 127.0.0.1:PORT must not be emailed again through localhost:PORT.
func TestLedgerLocalhostIsLoopbackAddress(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.write("users.csv", "email\nfresh@example.com\n")
	if res := w.runR("run", "users.csv"); res.code != 0 {
		t.Fatalf("run through 127.0.0.1: exit %d\n%s", res.code, res.stderr)
	}
	for _, host := range []string{"localhost:" + w.port(), "LocalHost:" + w.port()} {
		res := w.runEnv([]string{goraceEnv, "CLOUDIDENTITY_EMULATOR_HOST=" + host}, "run", "--fresh", "users.csv")
		checkRaces(t, res.stderr)
		if res.code != 0 {
			t.Fatalf("run through %s: exit %d\n%s", host, res.code, res.stderr)
		}
		if got := outcomeByEmail(w.report("users.report.csv")); got["fresh@example.com"] != "already_invited" {
			t.Errorf("through %s: %v, want already_invited (the ledger)", host, got)
		}
	}
	if st := w.emu.Stats(); st.Sends != 1 || st.DuplicateSends != 0 {
		t.Errorf("sends %d, duplicate sends %d; want 1, 0", st.Sends, st.DuplicateSends)
	}
}

// --customer c0test and C0test are one customer, so one ledger; the
// emulator, answering for C0test, takes both spellings as the tool does.
func TestLedgerCustomerCaseInsensitive(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.write("users.csv", "email\nfresh@example.com\n")
	if res := w.runR("run", "users.csv"); res.code != 0 { // INVITEBATCH_CUSTOMER=C0test
		t.Fatalf("run as C0test: exit %d\n%s", res.code, res.stderr)
	}
	for _, c := range []string{"c0test", "C0TEST"} {
		if res := w.runR("run", "--customer", c, "--fresh", "users.csv"); res.code != 0 {
			t.Fatalf("run as %s: exit %d\n%s", c, res.code, res.stderr)
		}
		if got := outcomeByEmail(w.report("users.report.csv")); got["fresh@example.com"] != "already_invited" {
			t.Errorf("as %s: %v, want already_invited (the ledger)", c, got)
		}
	}
	if st := w.emu.Stats(); st.Sends != 1 || st.DuplicateSends != 0 {
		t.Errorf("sends %d, duplicate sends %d; want 1, 0", st.Sends, st.DuplicateSends)
	}
}

// Google spelled out (--endpoint https://cloudidentity.googleapis.com/) is
// Google: its ledger is the production ledger. The ledger command chooses
// the ledger the way run does, with no request to make.
func TestLedgerGoogleSpelledOutIsProduction(t *testing.T) {
	w := newWorld(t)
	writeOldLedger(t, w.stateLedger("C0test.ledger"), "a@example.com")
	writeOldLedger(t, w.stateLedger("C0test.cloudidentity.googleapis.com.ledger"), "b@example.com")
	env := []string{noEmulatorHost}
	for _, ep := range []string{"https://cloudidentity.googleapis.com/", "https://cloudidentity.mtls.googleapis.com", "https://proxy.corp.example:8443/"} {
		res := w.runEnv(env, "ledger", "forget", "--endpoint", ep, "nobody@example.com")
		if res.code != 0 {
			t.Fatalf("ledger forget --endpoint %s: exit %d\n%s", ep, res.code, res.stderr)
		}
		res = w.runEnv(env, "ledger", "show", "--endpoint", ep)
		if !strings.Contains(res.stdout, "a@example.com") || !strings.Contains(res.stdout, "b@example.com") {
			t.Errorf("ledger show --endpoint %s: exit %d, does not show both sends of the production ledger:\n%s%s", ep, res.code, res.stdout, res.stderr)
		}
	}
	if res := w.runEnv(env, "ledger", "show"); !strings.Contains(res.stdout, "a@example.com") || !strings.Contains(res.stdout, "b@example.com") {
		t.Errorf("ledger show (Google by default) does not show both sends:\n%s%s", res.stdout, res.stderr)
	}
	// The test backend's ledger is another.
	if res := w.run("ledger", "show"); strings.Contains(res.stdout, "a@example.com") {
		t.Errorf("the emulator's ledger shows the production ledger's sends:\n%s", res.stdout)
	}
}

// An earlier version's ledgers, split by spelling, are merged into one
// ledger, once, saying so, and no send is forgotten; the run does not stop
// with exit 2.
func TestLedgerUpgradeMergesSpellings(t *testing.T) {
	w := newWorld(t)
	port := w.port()
	old := map[string]string{
		"C0test.emulator-127.0.0.1_" + port + ".ledger": "fresh1@example.com", // CLOUDIDENTITY_EMULATOR_HOST=127.0.0.1:PORT
		"C0test.emulator-localhost_" + port + ".ledger": "fresh2@example.com", // ...=localhost:PORT
		"c0test.127.0.0.1_" + port + ".ledger":          "fresh3@example.com", // --endpoint http://127.0.0.1:PORT/, --customer c0test
	}
	var b strings.Builder
	b.WriteString("email\nnew@example.com\n")
	for name, e := range old {
		writeOldLedger(t, w.stateLedger(name), e)
		w.emu.Seed(e, emulator.KindNew) // emailed by the earlier version, not visible yet
		b.WriteString(e + "\n")
	}
	writeOldLedger(t, w.stateLedger("C0test.ledger"), "prod@example.com") // Google's: not this backend's
	w.emu.Seed("prod@example.com", emulator.KindNew)
	b.WriteString("prod@example.com\n")
	w.write("users.csv", b.String())

	res := w.runR("run", "users.csv")
	if res.code != 0 {
		t.Fatalf("first run after the upgrade: exit %d\n%s", res.code, res.stderr)
	}
	got := outcomeByEmail(w.report("users.report.csv"))
	for name, e := range old {
		if got[e] != "already_invited" || w.emu.Sends(e) != 0 {
			t.Errorf("%s (in %s): %s, emailed %d times; want already_invited, never", e, name, got[e], w.emu.Sends(e))
		}
		if !strings.Contains(res.stderr, "merged "+w.stateLedger(name)) {
			t.Errorf("stderr does not say %s was merged:\n%s", name, res.stderr)
		}
		if _, err := os.Stat(w.stateLedger(name)); err == nil {
			t.Errorf("%s is still there: the next run would merge it again", name)
		}
	}
	if got["new@example.com"] != "sent" || got["prod@example.com"] != "sent" {
		t.Errorf("outcomes %v; want new and prod (the production ledger's, not this backend's) sent", got)
	}
	if _, err := os.Stat(w.stateLedger("C0test.ledger")); err != nil {
		t.Errorf("the production ledger was touched: %v", err)
	}
	if st := w.emu.Stats(); st.DuplicateSends != 0 {
		t.Errorf("%d duplicate sends", st.DuplicateSends)
	}
	res = w.runR("run", "--fresh", "users.csv")
	if res.code != 0 || strings.Contains(res.stderr, "merged") {
		t.Errorf("second run: exit %d, or it merged again:\n%s", res.code, res.stderr)
	}
	if st := w.emu.Stats(); st.Sends != 2 || st.DuplicateSends != 0 {
		t.Errorf("sends %d, duplicates %d after the second run; want 2, 0", st.Sends, st.DuplicateSends)
	}
}

// A header-less ledger at the default path is adopted, once, saying so.
func TestLedgerHeaderlessAdoptedOnce(t *testing.T) {
	w := newWorld(t)
	writeOldLedger(t, w.stateLedger("c0test.test-127.0.0.1_"+w.port()+".ledger"), "fresh@example.com")
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	w.write("users.csv", "email\nfresh@example.com\n")
	res := w.runR("run", "users.csv")
	if res.code != 0 || !strings.Contains(res.stderr, "earlier version") {
		t.Fatalf("exit %d, or stderr does not say the ledger was adopted:\n%s", res.code, res.stderr)
	}
	if got := outcomeByEmail(w.report("users.report.csv")); got["fresh@example.com"] != "already_invited" || w.emu.Sends("fresh@example.com") != 0 {
		t.Errorf("%v, emailed %d times; want already_invited, never", got, w.emu.Sends("fresh@example.com"))
	}
	if res := w.runR("run", "--fresh", "users.csv"); res.code != 0 || strings.Contains(res.stderr, "earlier version") {
		t.Errorf("second run: exit %d, or it adopted again:\n%s", res.code, res.stderr)
	}
}

// --emulator --ledger <the production ledger> wrote pretend sends into it,
// so those people were never invited for real.
func TestLedgerOtherBackendRefused(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 3)
	prodOld := w.stateLedger("c0test.ledger")
	writeOldLedger(t, prodOld, "someone@example.com")
	prodNew := w.path("prod.ledger")
	writeLedger(t, prodNew, reports.LedgerIdentity{Backend: "google", Customer: "C0test"}, "someone@example.com")
	for _, tt := range []struct {
		name string
		env  []string
		args []string
	}{
		{"--emulator, the default production ledger (an earlier version's)", []string{noEmulatorHost}, []string{"--emulator", "--ledger", prodOld}},
		{"--emulator, a production ledger", []string{noEmulatorHost}, []string{"--emulator", "--ledger", prodNew}},
		{"emulator host, a production ledger", nil, []string{"--ledger", prodNew}},
		{"another customer", nil, []string{"--customer", "C0other", "--ledger", prodNew}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(prodNew)
			beforeOld, _ := os.ReadFile(prodOld)
			calls := arrivals(w.emu)
			res := w.runEnv(append([]string{goraceEnv}, tt.env...), append(append([]string{"run"}, tt.args...), "users.csv")...)
			if res.code != 2 || !strings.Contains(res.stderr, "ledger") {
				t.Errorf("exit %d, want 2 with a message about the ledger\n%s", res.code, res.stderr)
			}
			after, _ := os.ReadFile(prodNew)
			afterOld, _ := os.ReadFile(prodOld)
			if string(after) != string(before) || string(afterOld) != string(beforeOld) || arrivals(w.emu) != calls {
				t.Errorf("the refused run changed a production ledger or made requests")
			}
		})
	}
}

// my_customer is refused where the ledger is written, saying where to find
// the customer ID; read-only uses accept it.
func TestMyCustomerRefusedForLedgerWrites(t *testing.T) {
	w := newWorld(t)
	usersCSV(w, 2)
	for _, args := range [][]string{
		{"run", "--customer", "my_customer", "users.csv"},
		{"run", "--customer", "MY_CUSTOMER", "users.csv"},
		{"cancel", "--customer", "my_customer", "users.csv"},
		{"ledger", "forget", "--customer", "my_customer", "a@example.com"},
		{"ledger", "prune", "--customer", "my_customer", "--older-than", "1h"},
	} {
		calls := arrivals(w.emu)
		res := w.runR(args...)
		if res.code != 2 || !strings.Contains(res.stderr, "Account settings") || arrivals(w.emu) != calls {
			t.Errorf("%v: exit %d, %d requests; want 2, none, and where to find the ID\n%s", args, res.code, arrivals(w.emu)-calls, res.stderr)
		}
	}
	if res := w.runR("run", "--dry-run", "--customer", "my_customer", "users.csv"); res.code != 0 {
		t.Errorf("run --dry-run --customer my_customer: exit %d, want 0\n%s", res.code, res.stderr)
	}
}

// run --emulator has a ledger of its own, which `ledger show --emulator`
// shows; neither Google's nor the emulator host's ledger holds its sends.
func TestLedgerBuiltinEmulatorOwnLedger(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\npretend@example.com\n")
	env := []string{goraceEnv, noEmulatorHost}
	if res := w.runEnv(env, "run", "--emulator", "users.csv"); res.code != 0 {
		t.Fatalf("run --emulator: exit %d\n%s", res.code, res.stderr)
	}
	if res := w.runEnv(env, "ledger", "show", "--emulator"); res.code != 0 || !strings.Contains(res.stdout, "pretend@example.com") {
		t.Errorf("ledger show --emulator: exit %d, want the pretend send:\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, args := range [][]string{{"ledger", "show"}, {"ledger", "show", "--endpoint", "https://cloudidentity.googleapis.com/"}} {
		if res := w.runEnv(env, args...); strings.Contains(res.stdout, "pretend@example.com") {
			t.Errorf("%v shows the built-in emulator's send:\n%s", args, res.stdout)
		}
	}
	if res := w.run("ledger", "show"); strings.Contains(res.stdout, "pretend@example.com") {
		t.Errorf("the emulator host's ledger shows the built-in emulator's send:\n%s", res.stdout)
	}
	// Any ledger file can be shown by name; changing one is checked.
	builtin := w.stateLedger("c0test.emulator-builtin.ledger")
	if res := w.runEnv(env, "ledger", "show", "--ledger", builtin); res.code != 0 || !strings.Contains(res.stdout, "pretend@example.com") {
		t.Errorf("ledger show --ledger %s: exit %d\n%s%s", builtin, res.code, res.stdout, res.stderr)
	}
	if res := w.runEnv(env, "ledger", "forget", "--ledger", builtin, "pretend@example.com"); res.code != 2 {
		t.Errorf("ledger forget --ledger <the built-in emulator's> for Google's ledger: exit %d, want 2\n%s", res.code, res.stderr)
	}
	if res := w.runEnv(env, "ledger", "forget", "--emulator", "--ledger", builtin, "pretend@example.com"); res.code != 0 {
		t.Errorf("ledger forget --emulator --ledger <the built-in emulator's>: exit %d, want 0\n%s", res.code, res.stderr)
	}
	if res := w.run("ledger", "show", "--emulator"); res.code != 2 {
		t.Errorf("ledger show --emulator with CLOUDIDENTITY_EMULATOR_HOST set: exit %d, want 2 (choose one)", res.code)
	}
}
