package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
)

// Export the unmanaged accounts, run the export file, export again: every
// row is sent once, and the accounts now list as INVITED.
func TestExportRoundTrip(t *testing.T) {
	w := newWorld(t)
	var unmanaged []string
	for i := range 230 { // more than a page
		e := fmt.Sprintf("user%03d@example.com", i)
		unmanaged = append(unmanaged, e)
		w.emu.Seed(e, emulator.KindUnmanaged)
	}
	w.emu.Seed("other@other.com", emulator.KindUnmanaged)
	w.emu.Seed("inv@example.com", emulator.KindInvited)
	w.emu.Seed("acc@example.com", emulator.KindAccepted)
	w.emu.Seed("managed@example.com", emulator.KindManaged)

	res := w.run("export", "--state", "not_yet_sent", "--domain", "example.com")
	if res.code != 0 {
		t.Fatalf("export: exit %d\n%s", res.code, res.stderr)
	}
	header, rows := parseCSV(t, res.stdout)
	if diff := cmp.Diff([]string{"email", "state", "mails_sent", "updated"}, header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r["email"])
		if r["state"] != "NOT_YET_SENT" || r["mails_sent"] != "0" || r["updated"] == "" {
			t.Errorf("row %v", r)
		}
	}
	slices.Sort(got)
	if diff := cmp.Diff(unmanaged, got); diff != "" {
		t.Errorf("exported addresses (-want +got):\n%s", diff)
	}
	if !strings.Contains(res.stderr, "totals: 230: NOT_YET_SENT 230") {
		t.Errorf("stderr lacks the totals:\n%s", res.stderr)
	}
	w.write("unmanaged.csv", res.stdout)

	// run takes the export as it is.
	if res := w.run("run", "--qps", "500", "--summary", "sum.json", "unmanaged.csv"); res.code != 0 {
		t.Fatalf("run on the export: exit %d\n%s", res.code, res.stderr)
	}
	for email, o := range outcomeByEmail(w.report("unmanaged.report.csv")) {
		if o != "sent" {
			t.Errorf("%s: %s, want sent", email, o)
		}
	}
	if st := w.emu.Stats(); st.Sends != 230 || st.DuplicateSends != 0 {
		t.Errorf("emulator: %d sends, %d duplicates; want 230, 0", st.Sends, st.DuplicateSends)
	}

	// Again: nothing left to invite; all of them (and inv@) are INVITED.
	res = w.run("export", "--domain", "example.com")
	if _, rows := parseCSV(t, res.stdout); res.code != 0 || len(rows) != 0 {
		t.Errorf("second export of not_yet_sent: exit %d, %d rows; want 0, 0", res.code, len(rows))
	}
	res = w.run("export", "--state", "invited", "--output", "invited.csv")
	if res.code != 0 || res.stdout != "" {
		t.Fatalf("export --state invited --output: exit %d, stdout %q\n%s", res.code, res.stdout, res.stderr)
	}
	b, err := os.ReadFile(w.path("invited.csv"))
	if err != nil {
		t.Fatal(err)
	}
	_, rows = parseCSV(t, string(b))
	got = got[:0]
	for _, r := range rows {
		got = append(got, r["email"])
		if r["state"] != "INVITED" || r["mails_sent"] != "1" {
			t.Errorf("row %v, want INVITED with 1 mail", r)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(append(slices.Clone(unmanaged), "inv@example.com")))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invited after the run (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(w.path("invited.csv")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("--output mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
}

func TestExportFatalLeavesOutputUntouched(t *testing.T) {
	for _, f := range []emulator.Fatal{emulator.FatalServiceDisabled, emulator.FatalUnauthenticated} {
		t.Run(f.String(), func(t *testing.T) {
			w := newWorld(t)
			w.emu.Seed("a@example.com", emulator.KindUnmanaged)
			w.write("out.csv", "email\nold@example.com\n")
			w.emu.SetFatal(f)
			res := w.run("export", "--output", "out.csv")
			if res.code != 5 {
				t.Fatalf("exit = %d, want 5\n%s", res.code, res.stderr)
			}
			if b, _ := os.ReadFile(w.path("out.csv")); string(b) != "email\nold@example.com\n" {
				t.Errorf("out.csv changed: %q", b)
			}
		})
	}
}

// An address starting with a formula character is neutralised like every
// cell; run reads the neutralised cell back as the same address.
func TestExportFormulaAddress(t *testing.T) {
	w := newWorld(t)
	w.emu.Seed("=x@example.com", emulator.KindUnmanaged)
	w.emu.Seed("ok@example.com", emulator.KindUnmanaged)
	res := w.run("export", "--output", "unmanaged.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	b, err := os.ReadFile(w.path("unmanaged.csv"))
	if err != nil || !strings.Contains(string(b), "'=x@example.com") {
		t.Fatalf("export = %q, %v; want the cell neutralised", b, err)
	}
	if res := w.run("run", "unmanaged.csv"); res.code != 0 {
		t.Fatalf("run on the export: exit %d\n%s", res.code, res.stderr)
	}
	if w.emu.Sends("=x@example.com") != 1 {
		t.Errorf("=x@example.com was not invited from the exported file")
	}
}

// flakyList serves pages of a fixed list and fails once on the third
// page, as a connection dropped in the middle of a long list would.
type flakyList struct {
	batch.API
	pages  [][]batch.Invitation
	failed bool
	tokens []string // the page token of each request
}

func (f *flakyList) List(ctx context.Context, states []batch.State, token string) ([]batch.Invitation, string, error) {
	f.tokens = append(f.tokens, token)
	i := 0
	if token != "" {
		i, _ = strconv.Atoi(strings.TrimPrefix(token, "p"))
	}
	if i == 2 && !f.failed {
		f.failed = true
		return nil, "", &batch.APIError{Kind: batch.KindRetryable, Code: 503, Msg: "unavailable"}
	}
	next := ""
	if i+1 < len(f.pages) {
		next = fmt.Sprintf("p%d", i+1)
	}
	return f.pages[i], next, nil
}

// A page that fails is retried from its own page token: the pages before
// it are not read again, and no address is passed on twice.
func TestExportListRetriesTheFailedPage(t *testing.T) {
	api := &flakyList{}
	var want []string
	for p := range 4 {
		var page []batch.Invitation
		for i := range 3 {
			e := fmt.Sprintf("u%d-%d@example.com", p, i)
			want = append(want, e)
			page = append(page, batch.Invitation{Email: e, State: batch.StateNotYetSent})
		}
		api.pages = append(api.pages, page)
	}
	c := newCaller(api, 1000)
	c.Backoff = batch.Backoff{Base: 1, Max: 1, MaxAttempts: 2}
	var got []string
	err := c.list(context.Background(), nil, func(inv batch.Invitation) error {
		got = append(got, inv.Email)
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"", "p1", "p2", "p2", "p3"}, api.tokens); diff != "" {
		t.Errorf("page tokens requested (-want +got):\n%s", diff)
	}
}
