package batch

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestUnconfirmedIsNotResentByALaterRun: a row an earlier run left
// unconfirmed (its send may have gone out, e.g. two ambiguous 5xx sends that
// still read NOT_YET_SENT on a lagging API) is not sent again by the next
// run: the contract's "not re-sent automatically". Only `ledger forget`
// allows a new send. INVITED still settles it as sent.
func TestUnconfirmedIsNotResentByALaterRun(t *testing.T) {
	for _, tt := range []struct {
		name      string
		state     State
		want      Outcome
		wantSends int
	}{
		{"still NOT_YET_SENT", StateNotYetSent, Unconfirmed, 0},
		{"INVITED after all", StateInvited, Sent, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.unmanaged("a@x.com")
			api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: tt.state}
			l := newMemLedger()
			l.entries["a@x.com"] = LedgerEntry{Status: LedgerUnconfirmed, Time: time.Now().Add(-time.Hour)}
			r := newTestRunner(api, l)
			r.Lookup = LookupGet
			r.SettleWindow = time.Second
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if n := api.sends["a@x.com"]; n != tt.wantSends {
				t.Errorf("emailed %d times, want %d", n, tt.wantSends)
			}
			got := sink[1]
			if got.Outcome != tt.want {
				t.Errorf("outcome %v (%s), want %v", got.Outcome, got.Reason, tt.want)
			}
			if tt.want == Unconfirmed && !strings.Contains(got.Reason, "ledger forget") {
				t.Errorf("reason %q does not say how to allow a new send", got.Reason)
			}
			if e, _ := l.Lookup("a@x.com"); tt.want == Unconfirmed && e.Status != LedgerUnconfirmed {
				t.Errorf("ledger %v, want it still unconfirmed", e.Status)
			}
		})
	}
}
