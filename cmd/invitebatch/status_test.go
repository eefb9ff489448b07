package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// parseCSV parses CSV output into its header and rows keyed by column.
func parseCSV(t *testing.T, s string) ([]string, []map[string]string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("output is not CSV with a header: %v\n%s", err, s)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = rec[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}

// statusWorld seeds an invitation of each state and a file naming them.
func statusWorld(t *testing.T) (*world, time.Time) {
	w := newWorld(t)
	updated := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	w.emu.SetInvitation("inv@example.com", "INVITED", 3, updated)
	w.emu.Seed("acc@example.com", emulator.KindAccepted)
	w.emu.Seed("dec@example.com", emulator.KindDeclined)
	w.emu.Seed("um@example.com", emulator.KindUnmanaged)
	w.emu.Seed("sent@example.com", emulator.KindUnmanaged)
	w.emu.Seed("managed@example.com", emulator.KindManaged)
	w.emu.Seed("fresh@example.com", emulator.KindNew)
	// This tool emails sent@ (the ledger records it).
	w.write("one.csv", "email\nsent@example.com\n")
	if res := w.run("run", "one.csv"); res.code != 0 {
		t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
	}
	w.write("users.csv", "Name,Email,state\n"+
		"Inv,inv@example.com,x\n"+
		"Acc,acc@example.com,x\n"+
		"Dec,dec@example.com,x\n"+
		"Um,um@example.com,x\n"+
		"Sent,sent@example.com,x\n"+
		"Man,managed@example.com,x\n"+
		"Fresh,fresh@example.com,x\n"+
		"=cmd|' /C calc'!A0,bad/x@example.com,x\n"+
		"Dup, INV@example.com ,x\n")
	w.emu.ResetCounters()
	return w, updated
}

func TestStatusFileEveryState(t *testing.T) {
	for _, lookup := range []string{"auto", "list", "get"} {
		t.Run(lookup, func(t *testing.T) {
			w, updated := statusWorld(t)
			res := w.run("status", "--lookup", lookup, "users.csv")
			if res.code != 1 {
				t.Fatalf("exit = %d, want 1 (an INVALID row)\n%s", res.code, res.stderr)
			}
			header, rows := parseCSV(t, res.stdout)
			wantHeader := []string{"email", "state", "mails_sent", "updated", "ledger_status", "ledger_time", "row", "error", "Name", "input_state"}
			if diff := cmp.Diff(wantHeader, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			type line struct{ Email, State, Mails, Updated, Ledger, Row string }
			var got []line
			for _, r := range rows {
				got = append(got, line{r["email"], r["state"], r["mails_sent"], r["updated"], r["ledger_status"], r["row"]})
				if r["input_state"] != "x" {
					t.Errorf("row %s: input column state not carried as input_state: %v", r["row"], r)
				}
			}
			u := updated.Format(time.RFC3339)
			want := []line{
				{"inv@example.com", "INVITED", "3", u, "", "1"},
				{"acc@example.com", "ACCEPTED", "1", "*", "", "2"},
				{"dec@example.com", "DECLINED", "1", "*", "", "3"},
				{"um@example.com", "NOT_YET_SENT", "0", "*", "", "4"},
				{"sent@example.com", "INVITED", "1", "*", "sent", "5"},
				{"managed@example.com", "NONE", "", "", "", "6"},
				{"fresh@example.com", "NONE", "", "", "", "7"},
				{"bad/x@example.com", "INVALID", "", "", "", "8"},
				{"inv@example.com", "INVITED", "3", u, "", "9"},
			}
			for i := range got {
				if i < len(want) && want[i].Updated == "*" && got[i].Updated != "" {
					got[i].Updated = "*"
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if len(rows) == 9 {
				if rows[4]["ledger_time"] == "" {
					t.Errorf("sent@: no ledger_time: %v", rows[4])
				}
				if rows[7]["Name"] != "'=cmd|' /C calc'!A0" || rows[7]["error"] == "" {
					t.Errorf("invalid row: want the formula neutralised and a reason: %v", rows[7])
				}
			}
			if !strings.Contains(res.stderr, "totals: 9: NOT_YET_SENT 1, INVITED 3, ACCEPTED 1, DECLINED 1, NONE 2, INVALID 1\n") {
				t.Errorf("stderr lacks the totals:\n%s", res.stderr)
			}
			// The cost: one list page, or one get per distinct address
			// (the duplicate and the invalid row cost nothing).
			st := w.emu.Stats()
			lists, gets := st.Total(emulator.MethodList), st.Total(emulator.MethodGet)
			switch lookup {
			case "get":
				if lists != 0 || gets != 7 {
					t.Errorf("requests: %d list, %d get; want 0, 7", lists, gets)
				}
			default:
				if lists != 1 || gets != 0 {
					t.Errorf("requests: %d list, %d get; want 1, 0", lists, gets)
				}
			}
			if st.Sends != 0 || st.Total(emulator.MethodIsInvitable) != 0 {
				t.Errorf("status changed or probed something: %v", st.Requests)
			}
		})
	}
}

// The list costs more pages than the file has addresses: auto reads one
// page, gives up, and gets each address.
func TestStatusAutoPrefersGetsForAShortFile(t *testing.T) {
	w := newWorld(t)
	for i := range 450 {
		w.emu.Seed(fmt.Sprintf("u%03d@example.com", i), emulator.KindUnmanaged)
	}
	w.emu.SetInvitation("u123@example.com", "INVITED", 2, time.Now())
	w.write("users.csv", "email\nu123@example.com\nu400@example.com\n")
	res := w.run("status", "--format", "json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	var doc struct {
		Invitations []stateRow     `json:"invitations"`
		Totals      map[string]int `json:"totals"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, res.stdout)
	}
	if len(doc.Invitations) != 2 || doc.Invitations[0].State != "INVITED" || *doc.Invitations[0].MailsSent != 2 ||
		doc.Invitations[1].State != "NOT_YET_SENT" || doc.Invitations[1].Row != 2 {
		t.Errorf("invitations = %+v", doc.Invitations)
	}
	if diff := cmp.Diff(map[string]int{"INVITED": 1, "NOT_YET_SENT": 1}, doc.Totals); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	st := w.emu.Stats()
	if l, g := st.Total(emulator.MethodList), st.Total(emulator.MethodGet); l != 2 || g != 2 {
		t.Errorf("requests: %d list, %d get; want 2 (the budget), 2", l, g)
	}
}

func TestStatusWholeCustomerWithStateFilter(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("inv@example.com", emulator.KindInvited)
	w.emu.Seed("acc@example.com", emulator.KindAccepted)
	w.emu.Seed("dec@example.com", emulator.KindDeclined)
	w.emu.Seed("um@example.com", emulator.KindUnmanaged)
	for i := range 250 { // two pages
		w.emu.Seed(fmt.Sprintf("x%03d@example.com", i), emulator.KindInvited)
	}
	res := w.run("status", "--state", "invited", "--state", "ACCEPTED")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	header, rows := parseCSV(t, res.stdout)
	if diff := cmp.Diff([]string{"email", "state", "mails_sent", "updated", "ledger_status", "ledger_time"}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	counts := map[string]int{}
	for _, r := range rows {
		counts[r["state"]]++
	}
	if diff := cmp.Diff(map[string]int{"INVITED": 251, "ACCEPTED": 1}, counts); diff != "" {
		t.Errorf("states listed (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.stderr, "totals: 252: INVITED 251, ACCEPTED 1") {
		t.Errorf("stderr lacks the totals:\n%s", res.stderr)
	}
	// Every state by default.
	_, rows = parseCSV(t, w.run("status").stdout)
	if len(rows) != 254 {
		t.Errorf("status without --state: %d rows, want 254", len(rows))
	}
}

func TestStatusRetriesTransientErrors(t *testing.T) {
	w, _ := statusWorld(t)
	w.emu.FailNext(emulator.MethodList, 2, 503)
	w.emu.FailNext(emulator.MethodGet, 1, 429)
	w.emu.FailNext(emulator.MethodGet, 2, 500)
	for _, lookup := range []string{"list", "get"} {
		res := w.run("status", "--lookup", lookup, "--qps", "100", "users.csv")
		if res.code != 1 {
			t.Fatalf("%s: exit = %d, want 1 (the INVALID row only)\n%s", lookup, res.code, res.stderr)
		}
		_, rows := parseCSV(t, res.stdout)
		for _, r := range rows {
			if r["state"] == "ERROR" {
				t.Errorf("%s: row %s: ERROR %s", lookup, r["row"], r["error"])
			}
		}
	}
	st := w.emu.Stats()
	if st.Requests[emulator.MethodList][503] != 2 || st.Requests[emulator.MethodGet][500] != 2 || st.Throttled != 1 {
		t.Errorf("the injected failures were not all met: %v", st.Requests)
	}
}

func TestStatusPersistentErrorIsAnErrorRow(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("a@example.com", emulator.KindInvited)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	w.emu.FailNext(emulator.MethodGet, 100, 400)
	res := w.run("status", "--lookup", "get", "--workers", "1", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1\n%s", res.code, res.stderr)
	}
	_, rows := parseCSV(t, res.stdout)
	if len(rows) != 2 || rows[0]["state"] != "ERROR" || rows[0]["error"] == "" {
		t.Errorf("rows = %v, want ERROR with a reason", rows)
	}
}

func TestStatusFatalExits5(t *testing.T) {
	for _, args := range [][]string{{"status", "users.csv"}, {"status", "--lookup", "get", "users.csv"}, {"status"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			w := newWorld(t)
			w.write("users.csv", "email\na@example.com\n")
			w.emu.SetFatal(emulator.FatalPermissionDenied)
			res := w.run(args...)
			if res.code != 5 {
				t.Fatalf("exit = %d, want 5\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, "PERMISSION_DENIED") {
				t.Errorf("stderr does not explain:\n%s", res.stderr)
			}
			if strings.Contains(res.stdout, "a@example.com") {
				t.Errorf("rows written despite the fatal error:\n%s", res.stdout)
			}
		})
	}
}

func TestStatusUsageErrorsMakeNoCalls(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\n")
	w.write("nocol.csv", "name\nx\n")
	for _, tt := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"status", "--format", "xml"}},
		{nil, []string{"status", "--state", "pending"}},
		{nil, []string{"status", "--state", "invited", "users.csv"}},
		{nil, []string{"status", "--lookup", "sometimes", "users.csv"}},
		{nil, []string{"status", "-"}},
		{nil, []string{"status", "a.csv", "b.csv"}},
		{nil, []string{"status", "missing.csv"}},
		{nil, []string{"status", "nocol.csv"}},
		{nil, []string{"status", "--qps", "0"}},
		{nil, []string{"status", "--credentials", "key.json"}},
		{[]string{"INVITEBATCH_CUSTOMER="}, []string{"status"}},
		{nil, []string{"export", "--state", "pending"}},
		{nil, []string{"export", "extra"}},
		{nil, []string{"export", "--domain", "a/b"}},
		{[]string{"INVITEBATCH_CUSTOMER="}, []string{"export"}},
	} {
		if res := w.runEnv(tt.env, tt.args...); res.code != 2 {
			t.Errorf("%v %v: exit %d, want 2\n%s", tt.env, tt.args, res.code, res.stderr)
		}
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("API calls were made: %v", w.emu.Stats().Requests)
	}
}

func TestStatusTable(t *testing.T) {
	w, _ := statusWorld(t)
	res := w.run("status", "--format", "table", "users.csv")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if res.code != 1 || len(lines) != 12 {
		t.Fatalf("exit %d, %d lines; want 1, header + 9 rows + blank + totals\n%s", res.code, len(lines), res.stdout)
	}
	if !strings.HasPrefix(lines[0], "email ") || !strings.Contains(lines[1], "inv@example.com  ") ||
		!strings.HasPrefix(lines[11], "totals: 9:") {
		t.Errorf("table:\n%s", res.stdout)
	}
	// On a terminal a crafted cell is shown escaped, not interpreted.
	w.write("esc.csv", "name,email\n\x1b[2Jboom,inv@example.com\n")
	res = w.run("status", "--format", "table", "esc.csv")
	if res.code != 0 || strings.Contains(res.stdout, "\x1b") || !strings.Contains(res.stdout, `\x1b[2Jboom`) {
		t.Errorf("exit %d, table:\n%q", res.code, res.stdout)
	}
}
