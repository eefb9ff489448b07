package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A list lookup of several pages: each page is a request of its own,
// counted in Stats.Calls, and a failed page is retried from its own page
// token, not from the first page.
func TestRunListPagesAreRequests(t *testing.T) {
	api := newFakeAPI()
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 2*listPageSize + 50 {
		e := fmt.Sprintf("u%04d@x.com", i)
		api.inv[e] = Invitation{Email: e, State: StateInvited, MailsSent: 1}
		csv.WriteString(e + "\n")
	}
	// The first page works, the second fails once.
	api.fail[MethodList] = []error{nil, retryable(503, false)}
	r := newTestRunner(api, newMemLedger())
	r.Lookup = LookupList
	st, err := r.Run(context.Background(), csvSource(csv.String()), memSink{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lookup != "list" {
		t.Fatalf("Lookup = %q, want list", st.Lookup)
	}
	wantTokens := []string{"", "200", "200", "400"}
	if diff := cmp.Diff(wantTokens, api.listTokens); diff != "" {
		t.Errorf("page tokens requested (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int]int{200: 3, 503: 1}, st.Calls[MethodList]); diff != "" {
		t.Errorf("list requests counted by status (-want +got):\n%s", diff)
	}
	if st.Outcomes[AlreadyInvited] != 2*listPageSize+50 {
		t.Errorf("already_invited = %d, want every row", st.Outcomes[AlreadyInvited])
	}
}
