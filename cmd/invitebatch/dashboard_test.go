package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
	"github.com/invitebatch/invitebatch/reports/dashboard"
)

// historyWorld is a world whose emulator holds a seeded past migration and
// whose ledger (w.path("ledger")) agrees with it.
func historyWorld(t *testing.T, h emulator.History) (*world, []emulator.Past) {
	t.Helper()
	w := newWorld(t)
	past := h.Generate(time.Now())
	w.emu.LoadHistory(past)
	backend, err := client.BackendOf(client.Config{Emulator: strings.TrimPrefix(w.srv.URL, "http://")})
	if err != nil {
		t.Fatal(err)
	}
	if err := writeHistoryLedger(w.path("ledger"), reports.LedgerIdentity{Backend: backend.ID(), Customer: testCustomer}, past); err != nil {
		t.Fatal(err)
	}
	return w, past
}

// TestDashboardJSONAgreesWithEmulator: the figures of a seeded history,
// a run on top of it and its input file agree with what the emulator holds
// and what the history did.
func TestDashboardJSONAgreesWithEmulator(t *testing.T) {
	w, past := historyWorld(t, emulator.History{Count: 450, Weeks: 6, Uninvited: 60, Seed: 3})
	var uninvited []string
	cancelled, accepted := 0, 0
	for _, p := range past {
		switch {
		case len(p.Sends) == 0:
			uninvited = append(uninvited, p.Email)
		case !p.Cancelled.IsZero():
			cancelled++
		case p.State == emulator.StateAccepted:
			accepted++
		}
	}
	w.write("users.csv", "email,department\n"+
		uninvited[0]+",Sales\n"+uninvited[1]+",Sales\n"+uninvited[2]+",IT\nnew.person@example.com,IT\nnot-an-address,IT\n")
	if res := w.run("run", "--ledger", "ledger", "users.csv"); res.code != 1 {
		t.Fatalf("run: exit %d, want 1 (an invalid row)\n%s", res.code, res.stderr)
	}
	res := w.run("dashboard", "--format", "json", "--ledger", "ledger", "--group-by", "Department", "--metrics-file", "d.prom", "users.csv")
	if res.code != 0 {
		t.Fatalf("dashboard: exit %d\n%s", res.code, res.stderr)
	}
	var f dashboard.Figures
	if err := json.Unmarshal([]byte(res.stdout), &f); err != nil {
		t.Fatalf("dashboard JSON: %v\n%s", err, res.stdout)
	}
	if f.Schema != dashboard.Schema {
		t.Errorf("schema = %q, want %q", f.Schema, dashboard.Schema)
	}
	states := w.emu.StateCounts()
	if d := cmp.Diff(states, f.Funnel.States); d != "" {
		t.Errorf("funnel states differ from the emulator's (-emulator +dashboard):\n%s", d)
	}
	if got, want := f.Funnel.Count(dashboard.StageAccepted), states[emulator.StateAccepted]; got != want || got != accepted {
		t.Errorf("accepted = %d, want %d (emulator) = %d (history)", got, want, accepted)
	}
	if got := f.Funnel.Count(dashboard.StageCancelled); got != cancelled || cancelled == 0 {
		t.Errorf("cancelled = %d, want %d from the ledger", got, cancelled)
	}
	if got, want := f.Funnel.Count(dashboard.StagePending), states[emulator.StateInvited]; got != want {
		t.Errorf("pending = %d, want the emulator's INVITED %d", got, want)
	}
	listed := 0
	for _, n := range states {
		listed += n
	}
	if f.Source.Listed != listed || f.Source.ListPages != (listed+199)/200 || !f.Source.Emulator || f.Source.Ledger != "ledger" {
		t.Errorf("source = %+v; want %d listed in %d pages, emulator, ledger \"ledger\"", f.Source, listed, (listed+199)/200)
	}
	// The run sent 4 (3 uninvited, 1 new); the curve ends at every first
	// email the ledger holds.
	last := f.Daily[len(f.Daily)-1]
	if last.CumulativeSent != f.Funnel.SentByTool || last.CumulativeAccepted != accepted {
		t.Errorf("last day %+v: want cumulative sent %d, accepted %d", last, f.Funnel.SentByTool, accepted)
	}
	if len(f.Daily) < 6*7 {
		t.Errorf("%d days, want the six weeks of history", len(f.Daily))
	}
	if f.TimeToAccept.Measured != accepted || f.TimeToAccept.P50Hours <= 0 {
		t.Errorf("time to accept: %+v; want all %d accepted measured", f.TimeToAccept, accepted)
	}
	// The group-by column: Sales 2 pending, IT 1 pending, 1 unconfirmed or
	// pending (new.person is too new? no: unseeded means unmanaged and
	// listed once sent), 1 invalid row.
	groups := map[string]dashboard.Group{}
	for _, g := range f.ByGroup {
		groups[g.Name] = g
	}
	if g := groups["Sales"]; g.Found != 2 || g.Pending != 2 {
		t.Errorf("group Sales = %+v, want 2 found, 2 pending", g)
	}
	if g := groups["IT"]; g.Found != 2 || g.InvalidRows != 1 {
		t.Errorf("group IT = %+v, want 2 found, 1 invalid row", g)
	}
	found := false
	for _, a := range f.Attention.Rows {
		if a.Email == "not-an-address" && a.Status == "invalid" && strings.HasSuffix(a.Where, "users.csv:5") {
			found = true
		}
	}
	if !found {
		t.Errorf("attention %+v: want the invalid row users.csv:5", f.Attention.Rows)
	}

	m, err := os.Open(w.path("d.prom"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(m)
	if err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, mt := range mfs[dashboard.MetricInvitations].GetMetric() {
		gauges[mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
	}
	for _, s := range f.Funnel.Stages {
		if gauges[s.Name] != float64(s.Count) {
			t.Errorf("gauge %s{state=%q} = %v, want %d", dashboard.MetricInvitations, s.Name, gauges[s.Name], s.Count)
		}
	}
}

func TestDashboardUsage(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email,department\na@example.com,Sales\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dashboard", "--format", "xml"}, "--format"},
		{[]string{"dashboard", "--group-by", "department"}, "needs input files"},
		{[]string{"dashboard", "--group-by", "office", "users.csv"}, "no column \"office\""},
		{[]string{"dashboard", "missing.csv"}, "missing.csv"},
		{[]string{"dashboard", "--metrics-file", "m.txt"}, ".prom"},
	} {
		res := w.run(c.args...)
		if res.code != 2 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", c.args, res.code, c.want, res.stderr)
		}
		if n := w.emu.Stats().Total(emulator.MethodList); n != 0 {
			t.Errorf("%v: %d list requests before the usage error", c.args, n)
		}
	}
}

// TestDashboardHTMLAndPendingCSV: the page and the pending CSV beside it
// are private (0600), the page's funnel is the emulator's, and run
// --resend-after takes the CSV as its input.
func TestDashboardHTMLAndPendingCSV(t *testing.T) {
	w, _ := historyWorld(t, emulator.History{Count: 300, Weeks: 4, Seed: 9})
	if err := os.Mkdir(w.path("out"), 0o700); err != nil {
		t.Fatal(err)
	}
	res := w.run("dashboard", "--ledger", "ledger", "--output", "out/m.html")
	if res.code != 0 {
		t.Fatalf("dashboard: exit %d\n%s", res.code, res.stderr)
	}
	for _, name := range []string{"out/m.html", "out/m.pending.csv"} {
		st, err := os.Stat(w.path(name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (addresses are personal data)", name, st.Mode().Perm())
		}
	}
	page, err := os.ReadFile(w.path("out/m.html"))
	if err != nil {
		t.Fatal(err)
	}
	states := w.emu.StateCounts()
	for stage, want := range map[string]int{"accepted": states[emulator.StateAccepted], "declined": states[emulator.StateDeclined], "pending": states[emulator.StateInvited]} {
		if cell := fmt.Sprintf(`data-stage=%q>`, stage); !strings.Contains(string(page), cell) ||
			!strings.Contains(string(page), fmt.Sprintf(`<td class="count">%d</td>`, want)) {
			t.Errorf("page: no %s row with count %d", stage, want)
		}
	}
	if !strings.Contains(string(page), `href="m.pending.csv"`) {
		t.Errorf("page does not link m.pending.csv")
	}
	res = w.run("run", "--dry-run", "--resend-after", "1h", "--ledger", "ledger", "out/m.pending.csv")
	if res.code != 0 {
		t.Fatalf("run --resend-after on the pending CSV: exit %d\n%s", res.code, res.stderr)
	}
	name := "out/m.pending.dryrun.report.csv" // --dry-run's own report name
	if _, err := os.Stat(w.path(name)); err != nil {
		name = "out/m.pending.report.csv"
	}
	rows := w.report(name)
	if len(rows) != states[emulator.StateInvited] {
		t.Errorf("run read %d rows of the pending CSV, want the %d INVITED", len(rows), states[emulator.StateInvited])
	}
	resend := 0
	for _, r := range rows {
		if r["outcome"] == "would_send" {
			resend++
		}
	}
	if resend == 0 {
		t.Errorf("no pending row was due for a re-send after 1h: %v", rows[:min(3, len(rows))])
	}
}

// TestDashboardRefusesAnotherCustomersLedger: the ledger names its owner;
// a dashboard for another customer refuses it (exit 2) before any request.
func TestDashboardRefusesAnotherCustomersLedger(t *testing.T) {
	w, _ := historyWorld(t, emulator.History{Count: 20, Weeks: 1, Seed: 2})
	res := w.run("dashboard", "--customer", "C0other", "--ledger", "ledger", "--format", "json")
	if res.code != 2 || !strings.Contains(res.stderr, "belongs to") {
		t.Errorf("exit %d, want 2 and the ledger's owner named\n%s", res.code, res.stderr)
	}
	if n := w.emu.Stats().Total(emulator.MethodList); n != 0 {
		t.Errorf("%d list requests before the refusal", n)
	}
}
