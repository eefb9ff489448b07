package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// csvOf is an input of the given addresses.
func csvOf(emails ...string) string {
	return "email\n" + strings.Join(emails, "\n") + "\n"
}

// A row the list shows NOT_YET_SENT is an unmanaged account of a verified
// domain: it goes straight to send, one request. Rows not in the list
// (too new, managed, no account) keep isInvitableUser before send.
func TestListedNotYetSentIsSentWithOneRequest(t *testing.T) {
	for _, lookup := range []Lookup{LookupAuto, LookupList} {
		t.Run(fmt.Sprint("lookup=", lookup), func(t *testing.T) {
			api := newFakeAPI()
			api.unmanaged("a@x.com", "b@x.com", "fresh@x.com")
			api.hidden["fresh@x.com"] = true // too new to be listed
			api.inv["inv@x.com"] = Invitation{Email: "inv@x.com", State: StateInvited, MailsSent: 1}
			api.invitable["inv@x.com"] = true
			r := newTestRunner(api, newMemLedger())
			r.Lookup = lookup
			r.ExpectedRows = 5
			sink := memSink{}
			st, err := r.Run(context.Background(), csvSource(csvOf("a@x.com", "b@x.com", "fresh@x.com", "managed@x.com", "inv@x.com")), sink)
			if err != nil {
				t.Fatal(err)
			}
			want := map[int]string{1: "sent", 2: "sent", 3: "sent", 4: "not_invitable", 5: "already_invited"}
			if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("outcomes = %v, want %v", got, want)
			}
			if st.Lookup != "list" {
				t.Errorf("Lookup = %q, want list", st.Lookup)
			}
			// a, b: send only (2); fresh: isInvitableUser + send (2).
			if got := st.CallsByOutcome[Sent]; got != 4 {
				t.Errorf("requests for 3 sent rows = %d, want 4 (1 per listed row, 2 for the unlisted one)", got)
			}
			// Only the unlisted rows were checked: fresh and managed.
			if got := api.calls[MethodIsInvitable]; got != 2 {
				t.Errorf("isInvitableUser calls = %d, want 2 (the rows not in the list)", got)
			}
			if api.sends["inv@x.com"] != 0 {
				t.Error("an INVITED row was emailed again")
			}
		})
	}
}

// A listed NOT_YET_SENT row can have changed within the API's lag, or break
// a rule only send enforces: send refuses it and the row is not_invitable,
// with nothing delivered.
func TestListedRowRefusedBySendIsNotInvitable(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("alias@x.com")
	api.invitable["alias@x.com"] = false // listed, but send refuses it
	l := newMemLedger()
	r := newTestRunner(api, l)
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csvOf("alias@x.com")), sink)
	if err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != NotInvitable {
		t.Errorf("outcome = %v (%s), want not_invitable", got, sink[1].Reason)
	}
	if api.sends["alias@x.com"] != 0 {
		t.Error("refused row delivered")
	}
	if got := l.entries["alias@x.com"].Status; got != LedgerNotSent {
		t.Errorf("ledger = %v, want not_sent", got)
	}
	if got := st.CallsByOutcome[NotInvitable]; got != 1 {
		t.Errorf("requests = %d, want 1 (the refused send)", got)
	}
}

// --check-each asks isInvitableUser before every send, listed or not.
func TestCheckEachAsksBeforeEverySend(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com", "alias@x.com")
	api.invitable["alias@x.com"] = false
	r := newTestRunner(api, newMemLedger())
	r.CheckEach = true
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csvOf("a@x.com", "b@x.com", "alias@x.com")), sink)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "sent", 2: "sent", 3: "not_invitable"}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	if got := api.calls[MethodIsInvitable]; got != 3 {
		t.Errorf("isInvitableUser calls = %d, want 3", got)
	}
	if got := api.calls[MethodSend]; got != 2 {
		t.Errorf("send calls = %d, want 2 (the ineligible row is never sent)", got)
	}
	if got := st.CallsByOutcome[Sent]; got != 4 {
		t.Errorf("requests for 2 sent rows = %d, want 4", got)
	}
}

// With per-row gets, a get that shows NOT_YET_SENT says what the list would
// have: get + send, 2 requests per sent row (was get + isInvitableUser +
// send).
func TestGetLookupNotYetSentSendsDirectly(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com")
	r := newTestRunner(api, newMemLedger())
	r.Lookup = LookupGet
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csvOf("a@x.com", "b@x.com")), sink)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Outcomes[Sent]; got != 2 {
		t.Fatalf("sent = %d, want 2", got)
	}
	if got := st.CallsByOutcome[Sent]; got != 4 {
		t.Errorf("requests for 2 sent rows = %d, want 4 (get + send each)", got)
	}
}

// A dry run still asks isInvitableUser before would_send, so that its
// prediction does not count rows that send would refuse.
func TestDryRunChecksListedRows(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "alias@x.com")
	api.invitable["alias@x.com"] = false
	r := newTestRunner(api, nil)
	r.DryRun = true
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource(csvOf("a@x.com", "alias@x.com")), sink); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "would_send", 2: "not_invitable"}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
}

// --lookup auto pages while the list stays within a page per 10 rows, and
// abandons it past that: the pages read still answer their rows, the others
// are read with a get each. The summary says which and why.
func TestAutoLookupBudget(t *testing.T) {
	tests := []struct {
		name      string
		others    int // listed accounts not in the input
		rows      int // ExpectedRows
		wantHow   string
		wantPages int
		wantGets  int
	}{
		// 3 pages for 30 rows: within a page per 10 rows.
		{name: "cheap list", others: 2*listPageSize + 10, rows: 30, wantHow: "list", wantPages: 3, wantGets: 0},
		// 3 pages for 10 rows: abandoned after 1; "aa@" sorts into the
		// first page, "zz@" after it and needs a get.
		{name: "long list", others: 2*listPageSize + 10, rows: 10, wantHow: "get", wantPages: 1, wantGets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			for i := range tt.others {
				api.unmanaged(fmt.Sprintf("m%04d@x.com", i))
			}
			api.unmanaged("aa@x.com", "zz@x.com")
			r := newTestRunner(api, newMemLedger())
			r.ExpectedRows = tt.rows
			sink := memSink{}
			st, err := r.Run(context.Background(), csvSource(csvOf("aa@x.com", "zz@x.com")), sink)
			if err != nil {
				t.Fatal(err)
			}
			if st.Lookup != tt.wantHow || st.LookupReason == "" {
				t.Errorf("Lookup = %q (%q), want %q and a reason", st.Lookup, st.LookupReason, tt.wantHow)
			}
			if got := api.pages; got != tt.wantPages {
				t.Errorf("list pages = %d, want %d", got, tt.wantPages)
			}
			if got := api.calls[MethodGet]; got != tt.wantGets {
				t.Errorf("gets = %d, want %d", got, tt.wantGets)
			}
			if got := st.Outcomes[Sent]; got != 2 {
				t.Errorf("sent = %d, want 2", got)
			}
			if got := api.calls[MethodIsInvitable]; got != 0 {
				t.Errorf("isInvitableUser calls = %d, want 0 (both rows are NOT_YET_SENT)", got)
			}
		})
	}
}
