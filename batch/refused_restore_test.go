package batch

import (
	"context"
	"testing"
	"time"
)

// Review finding 1 (stop 11): a refused re-send (--resend-after) or cancel
// closed its intent with a fresh `sent` record stamped now. A run resuming
// the stopped one read that record as a send of the interrupted run and
// reported the row `sent` ("sent before the run was interrupted") although
// no email went out, and --resend-after counted from the refusal. A
// refused attempt now puts back the earlier entry with its own time.

// resendFixture is an address this tool emailed ten days ago, INVITED since.
func resendFixture() (*fakeAPI, *memLedger, LedgerEntry) {
	old := time.Now().Add(-10 * 24 * time.Hour).Truncate(time.Second)
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1, Updated: old}
	l := newMemLedger()
	e := LedgerEntry{Status: LedgerSent, Time: old}
	l.entries["a@x.com"] = e
	return api, l, e
}

// checkRestored fails unless the ledger's entry for a@x.com is want.
func checkRestored(t *testing.T, l *memLedger, want LedgerEntry) {
	t.Helper()
	l.mu.Lock()
	got, h := l.entries["a@x.com"], l.history["a@x.com"]
	l.mu.Unlock()
	if got.Status != want.Status || !got.Time.Equal(want.Time) {
		t.Errorf("ledger after the refused attempt: %v at %v (history %v); want the earlier %v at %v",
			got.Status, got.Time.UTC(), h, want.Status, want.Time.UTC())
	}
}

// resume runs an invite run that resumes a run started at since, and fails
// if it reports a@x.com sent or resent without a send.
func resume(t *testing.T, api *fakeAPI, l *memLedger, since time.Time) Result {
	t.Helper()
	before := api.sends["a@x.com"]
	r := newTestRunner(api, l)
	r.ResendAfter = 7 * 24 * time.Hour
	r.SentSince = since
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	got := sink[1]
	if (got.Outcome == Sent || got.Outcome == Resent) && api.sends["a@x.com"] == before {
		t.Errorf("resumed run reports %v (%q) but it sent nothing", got.Outcome, got.Reason)
	}
	return got
}

// TestRefusedResendThenStopIsNotReportedSent (the reviewer's
// TestReviewRefusedResendThenStopReportsSent): a re-send refused with 429,
// the run stopped during the 429's wait; the resumed run re-sends it.
func TestRefusedResendThenStopIsNotReportedSent(t *testing.T) {
	api, l, prior := resendFixture()
	stop := make(chan struct{})
	api.fail[MethodSend] = []error{&APIError{Kind: KindRetryable, Code: 429, RetryAfter: 30 * time.Second, Msg: "send: 429"}}
	api.onSend = func(string) { go func() { time.Sleep(50 * time.Millisecond); close(stop) }() }
	started := time.Now()
	r := newTestRunner(api, l)
	r.ResendAfter = 7 * 24 * time.Hour
	r.Stop = stop
	sink := memSink{}
	_, _ = r.Run(context.Background(), csvSource("email\na@x.com\n"), sink)
	if _, ok := sink[1]; ok || api.sends["a@x.com"] != 0 {
		t.Fatalf("run 1 settled the row (%v) or sent (%d)", sink[1], api.sends["a@x.com"])
	}
	checkRestored(t, l, prior)
	api.onSend = nil
	if got := resume(t, api, l, started); got.Outcome != Resent || api.sends["a@x.com"] != 1 {
		t.Errorf("resumed run: %v (%q) with %d sends; want resent, one send", got.Outcome, got.Reason, api.sends["a@x.com"])
	}
}

// TestFailedResendKeepsTheEarlierSendTime: a re-send refused for good
// (failed) keeps the earlier send's time: --resend-after is not postponed,
// and the rerun of the failed rows does not take it for a send of its own.
func TestFailedResendKeepsTheEarlierSendTime(t *testing.T) {
	api, l, prior := resendFixture()
	api.fail[MethodSend] = []error{&APIError{Kind: KindPermanent, Code: 400, Msg: "send: 400 INVALID_ARGUMENT"}}
	started := time.Now()
	r := newTestRunner(api, l)
	r.ResendAfter = 7 * 24 * time.Hour
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != Failed {
		t.Fatalf("run 1: %v (%q), want failed", got, sink[1].Reason)
	}
	checkRestored(t, l, prior)
	if got := resume(t, api, l, started); got.Outcome != Resent || api.sends["a@x.com"] != 1 {
		t.Errorf("rerun of the failed row: %v (%q) with %d sends; want resent, one send", got.Outcome, got.Reason, api.sends["a@x.com"])
	}
}

// TestFailedCancelKeepsTheEarlierSendTime: a cancel that failed puts back
// the earlier send with its own time, so that an invite run resuming a run
// started before the cancel does not report the row sent.
func TestFailedCancelKeepsTheEarlierSendTime(t *testing.T) {
	for _, prior := range []LedgerStatus{LedgerSent, LedgerUnconfirmed, LedgerResendIntent} {
		t.Run(ledgerWord(prior), func(t *testing.T) {
			fake, l, e := resendFixture()
			e.Status = prior
			l.entries["a@x.com"] = e
			api := cancelAPI{fake}
			api.fail[MethodCancel] = []error{&APIError{Kind: KindRetryable, Code: 429, Msg: "cancel: 429"},
				&APIError{Kind: KindPermanent, Code: 400, Msg: "cancel: 400"}}
			started := time.Now()
			r := newTestRunner(api, l)
			r.Cancel = true
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if got := sink[1].Outcome; got != Failed {
				t.Fatalf("cancel: %v (%q), want failed", got, sink[1].Reason)
			}
			checkRestored(t, l, e)
			if prior == LedgerSent {
				if got := resume(t, fake, l, started); got.Outcome != Resent {
					t.Errorf("invite run: %v (%q), want resent", got.Outcome, got.Reason)
				}
			}
		})
	}
}
