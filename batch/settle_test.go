package batch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSendIntentIsDurableBeforeTheSend: when a send leaves, the ledger holds
// its intent on stable storage. Without it, a crash between the send and its
// result would leave no trace of an email that went out.
func TestSendIntentIsDurableBeforeTheSend(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 20)
	l := newMemLedger()
	var mu sync.Mutex
	var missing []string
	api.onSend = func(email string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.durable[email] != LedgerSendIntent {
			mu.Lock()
			missing = append(missing, email)
			mu.Unlock()
		}
	}
	sink := memSink{}
	if _, err := newTestRunner(api, l).Run(context.Background(), csvSource(csv), sink); err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("sends left without a durable intent: %v", missing)
	}
	if got := len(sink); got != 20 {
		t.Errorf("%d outcomes, want 20", got)
	}
}

// TestHardStopWhileWaitingOnTheLimiterLeavesNoIntents: rows whose send waits
// for the limiter when the run is cancelled never reached the network, and
// must not leave an intent (a rerun would read a too-new account back as
// unconfirmed for good).
func TestHardStopWhileWaitingOnTheLimiterLeavesNoIntents(t *testing.T) {
	const workers = 8
	api := newFakeAPI()
	csv := unmanagedRows(api, 40)
	l := newMemLedger()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The first rows pass isInvitableUser together, so that every worker
	// then queues in the limiter for its send.
	var arrived sync.WaitGroup
	arrived.Add(workers)
	var once sync.Once
	api.onIsInvitable = func(string) {
		arrived.Done()
		arrived.Wait()
	}
	var mu sync.Mutex
	reached := map[string]bool{} // addresses whose send reached the API
	api.onSend = func(email string) {
		mu.Lock()
		reached[email] = true
		mu.Unlock()
		once.Do(cancel) // a hard stop as the first send leaves
	}
	r := newTestRunner(api, l)
	r.Workers = workers
	r.Lookup = LookupGet
	r.Pacer = NewPacer(20, 1, false) // 50 ms between requests
	_, err := r.Run(ctx, csvSource(csv), memSink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// Not only the ledger's last word: an intent written, even if settled
	// since, would have stayed after a kill -9.
	var stray []string
	for _, email := range l.intents {
		if !reached[email] {
			stray = append(stray, email)
		}
	}
	if len(stray) > 0 {
		t.Errorf("%d intents written for sends that never left: %v", len(stray), stray)
	}
	for email, e := range l.entries {
		if e.Status == LedgerSendIntent && !reached[email] {
			t.Errorf("%s: intent left in the ledger for a send that never left", email)
		}
	}
}

// TestNeverSentIntentIsSettledNotSent: a send that failed before a connection
// was obtained (the context ended first) never reached the server; its
// intent is settled not_sent, so that the rerun decides the row normally.
func TestNeverSentIntentIsSettledNotSent(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api.onSend = func(string) { cancel() }
	api.fail[MethodSend] = []error{&APIError{Kind: KindRetryable, NotSent: true, Msg: "send: context canceled before a connection"}}
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.Lookup = LookupGet
	if _, err := r.Run(ctx, csvSource("email\na@x.com\n"), memSink{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if got := l.durable["a@x.com"]; got != LedgerNotSent {
		t.Errorf("ledger (durable) = %v, want not_sent (%v)", got, LedgerNotSent)
	}
}

// TestAmbiguousSendIsNotRepeatedBeforeTheSettleWindow: a send that went out
// but failed ambiguously reads NOT_YET_SENT for a while on a lagging API. A
// read-back before the settle window would send a second email.
func TestAmbiguousSendIsNotRepeatedBeforeTheSettleWindow(t *testing.T) {
	const window = 300 * time.Millisecond
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	api.afterSend["a@x.com"] = retryable(500, true)
	api.lag = window // reads show NOT_YET_SENT until the window has passed
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.SettleWindow = window
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if n := api.sends["a@x.com"]; n != 1 {
		t.Errorf("emailed %d times, want once", n)
	}
	if got := sink[1]; got.Outcome != Sent {
		t.Errorf("outcome %v (%s), want sent", got.Outcome, got.Reason)
	}
	for _, at := range api.getAt["a@x.com"] {
		if d := at.Sub(api.sentAt["a@x.com"]); d < window {
			t.Errorf("read back %v after the send, before the settle window (%v)", d, window)
		}
	}
}

// TestAmbiguousSendMovesToTheBack: the row whose send waits for its settle
// window does not hold its worker: the other rows go on meanwhile.
func TestAmbiguousSendMovesToTheBack(t *testing.T) {
	const window = time.Second
	api := newFakeAPI()
	csv := unmanagedRows(api, 6)
	api.afterSend["u0@x.com"] = retryable(500, true)
	r := newTestRunner(api, newMemLedger())
	r.Workers = 1
	r.SettleWindow = window
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource(csv), sink); err != nil {
		t.Fatal(err)
	}
	for row := 1; row <= 6; row++ {
		if sink[row].Outcome != Sent {
			t.Errorf("row %d: %v (%s), want sent", row, sink[row].Outcome, sink[row].Reason)
		}
	}
	last := api.sentAt["u5@x.com"]
	if gets := api.getAt["u0@x.com"]; len(gets) != 1 || !gets[0].After(last) {
		t.Errorf("u0's read-back at %v, the last row sent at %v: the single worker waited for the window", gets, last)
	}
}

// TestStopLeavesRowsWaitingForTheirWindow: a row waiting for its settle
// window is not in flight. A stop leaves it as an intent, without an
// outcome, and the run reports that it stopped.
func TestStopLeavesRowsWaitingForTheirWindow(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	api.afterSend["a@x.com"] = retryable(0, true)
	stop := make(chan struct{})
	var once sync.Once
	api.onSend = func(string) { once.Do(func() { close(stop) }) }
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.Stop = stop
	r.SettleWindow = time.Hour
	sink := memSink{}
	var st *Stats
	var err error
	ran := make(chan struct{})
	go func() { st, err = r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); close(ran) }()
	select {
	case <-ran:
	case <-time.After(time.Minute): // not a timing measure: a hang guard
		t.Fatal("Run did not return after the stop: it waits for the row's settle window")
	}
	if err != nil {
		t.Fatal(err)
	}
	if !st.Stopped || len(sink) != 0 {
		t.Errorf("Stopped %v, outcomes %v; want stopped with no outcome", st.Stopped, outcomes(sink))
	}
	if got := l.entries["a@x.com"].Status; got != LedgerSendIntent {
		t.Errorf("ledger %v, want the intent left for the rerun", got)
	}
	if n := len(api.getAt["a@x.com"]); n != 0 {
		t.Errorf("%d read-backs before the window", n)
	}
}

// TestEarlierIntentWaitsForItsWindow: after a crash, the window runs from the
// intent's time: a rerun right after the crash does not read it back at once.
func TestEarlierIntentWaitsForItsWindow(t *testing.T) {
	const window = 10 * time.Second
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com")
	l := newMemLedger()
	intent := time.Now().Add(-window + 400*time.Millisecond)
	l.entries["a@x.com"] = LedgerEntry{Status: LedgerSendIntent, Time: intent}
	r := newTestRunner(api, l)
	r.Lookup = LookupGet
	r.SettleWindow = window
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\nb@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	gets := api.getAt["a@x.com"]
	if len(gets) == 0 {
		t.Fatalf("a@x.com never read back: %v (%s)", sink[1].Outcome, sink[1].Reason)
	}
	if early := intent.Add(window).Sub(gets[0]); early > 0 {
		t.Errorf("read back %v before the intent's window ended", early)
	}
	if sink[1].Outcome != Sent || sink[2].Outcome != Sent || api.sends["a@x.com"] != 1 {
		t.Errorf("outcomes %v, sends %v; want both sent once (the intent's send had not gone out)", outcomes(sink), api.sends)
	}
}

// TestStaleReadAfterDeliveredResendIsNotResentAgain: an ambiguous re-send
// (--resend-after) whose read-back shows no proof is unconfirmed, never sent
// again: on a lagging API, a delivered re-send reads as before.
func TestStaleReadAfterDeliveredResendIsNotResentAgain(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name string
		lag  time.Duration
		want Outcome
	}{
		{"stale read-back", time.Hour, Unconfirmed},
		{"read-back shows the mail count", 0, Resent},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1, Updated: now.Add(-30 * 24 * time.Hour)}
			api.invitable["a@x.com"] = true
			api.afterSend["a@x.com"] = retryable(500, true)
			api.lag = tt.lag
			l := newMemLedger()
			r := newTestRunner(api, l)
			r.Lookup = LookupGet
			r.ResendAfter = 7 * 24 * time.Hour
			r.SettleWindow = 10 * time.Millisecond
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if n := api.sends["a@x.com"]; n != 1 {
				t.Errorf("emailed %d times, want once", n)
			}
			if got := sink[1]; got.Outcome != tt.want {
				t.Errorf("outcome %v (%s), want %v", got.Outcome, got.Reason, tt.want)
			}
		})
	}
}

// TestResendOnlyInvited: --resend-after re-sends INVITED invitations only,
// within --max-mails; an address this tool emailed whose invitation an
// admin cancelled since (NOT_YET_SENT) is not invited again.
func TestResendOnlyInvited(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	old := now.Add(-30 * 24 * time.Hour)
	api := newFakeAPI()
	api.inv["cancelled@x.com"] = Invitation{Email: "cancelled@x.com", State: StateNotYetSent, MailsSent: 3, Updated: old}
	api.invitable["cancelled@x.com"] = true
	l := newMemLedger()
	l.entries["cancelled@x.com"] = LedgerEntry{Status: LedgerSent, Time: old}
	r := newTestRunner(api, l)
	r.Now = func() time.Time { return now }
	r.ResendAfter = 7 * 24 * time.Hour
	r.MaxMails = 3
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\ncancelled@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if n := api.sends["cancelled@x.com"]; n != 0 {
		t.Errorf("emailed %d times, want never", n)
	}
	if got := sink[1]; got.Outcome != AlreadyInvited {
		t.Errorf("outcome %v (%s), want already_invited", got.Outcome, got.Reason)
	}
}

// TestCancelUsesTheLedger: an address this tool emailed that the API does
// not show yet (too new to be listed) is cancelled anyway; a 404 makes the
// row failed, with the send time and advice to run cancel again.
func TestCancelUsesTheLedger(t *testing.T) {
	sentAt := time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC)
	for _, status := range []LedgerStatus{LedgerSent, LedgerSendIntent, LedgerUnconfirmed} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			api := newCancelAPI()
			api.invitable["new@x.com"] = true
			api.inv["new@x.com"] = Invitation{Email: "new@x.com", State: StateInvited, MailsSent: 1}
			api.hidden["new@x.com"] = true
			api.fail[MethodCancel] = []error{&APIError{Kind: KindNotFound, Code: 404, Msg: "cancel: 404 NOT_FOUND"}}
			l := newMemLedger()
			l.entries["new@x.com"] = LedgerEntry{Status: status, Time: sentAt}
			r := newTestRunner(api, l)
			r.Cancel = true
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\nnew@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			got := sink[1]
			if got.Outcome != Failed || !strings.Contains(got.Reason, "2026-11-30") || !strings.Contains(got.Reason, "run cancel again later") {
				t.Errorf("outcome %v (%s), want failed naming the send time and to run cancel again later", got.Outcome, got.Reason)
			}
			if api.calls[MethodCancel] != 1 {
				t.Errorf("%d cancel requests, want 1", api.calls[MethodCancel])
			}
			// The failed cancel puts back what the ledger said, its time
			// included (a send intent comes back as itself, for an invite
			// run to settle by reading it back; the cancel intent must not
			// stand for it).
			if e := l.entries["new@x.com"]; e.Status != status || !e.Time.Equal(sentAt) {
				t.Errorf("ledger %v at %v, want %v at %v (the send record keeps a second email away)", e.Status, e.Time, status, sentAt)
			}
			// Once it is cancelled (visible or not), the rerun records it.
			r = newTestRunner(api, l)
			r.Cancel = true
			sink = memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\nnew@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if got := sink[1]; got.Outcome != Cancelled || l.entries["new@x.com"].Status != LedgerCancelled {
				t.Errorf("rerun: %v (%s), ledger %v; want cancelled", got.Outcome, got.Reason, l.entries["new@x.com"].Status)
			}
		})
	}
}

// TestInterruptedResendIsReportedTruthfully: a re-send left in flight by a
// stop is settled by the rerun without taking the INVITED state (which it
// had before) for proof: unconfirmed, never sent again, and the ledger keeps
// the earlier email on record.
func TestInterruptedResendIsReportedTruthfully(t *testing.T) {
	api := newFakeAPI()
	api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1, Updated: time.Now().Add(-30 * 24 * time.Hour)}
	api.invitable["a@x.com"] = true
	api.afterSend["a@x.com"] = retryable(0, true)
	stop := make(chan struct{})
	var once sync.Once
	api.onSend = func(string) { once.Do(func() { close(stop) }) }
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.Lookup = LookupGet
	r.ResendAfter = 7 * 24 * time.Hour
	r.SettleWindow = time.Hour
	r.Stop = stop
	if st, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), memSink{}); err != nil || !st.Stopped {
		t.Fatalf("first run: stopped %v, %v; want stopped", st.Stopped, err)
	}
	// The rerun, once the window has passed.
	e := l.entries["a@x.com"]
	e.Time = e.Time.Add(-2 * time.Hour)
	l.entries["a@x.com"] = e
	r = newTestRunner(api, l)
	r.Lookup = LookupGet
	r.ResendAfter = 7 * 24 * time.Hour
	r.SettleWindow = time.Hour
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1]; got.Outcome != Unconfirmed {
		t.Errorf("rerun: %v (%s), want unconfirmed", got.Outcome, got.Reason)
	}
	if n := api.sends["a@x.com"]; n != 1 {
		t.Errorf("emailed %d times by the re-sends, want once", n)
	}
	if got := l.entries["a@x.com"].Status; got != LedgerSent {
		t.Errorf("ledger %v, want sent (the earlier email stays on record)", got)
	}
}

// TestNoThirdSend: after a send that failed ambiguously and visibly did not
// take effect, one more send; if that one is ambiguous too and still reads
// NOT_YET_SENT, the row is unconfirmed, never sent a third time.
func TestNoThirdSend(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	api.fail[MethodSend] = []error{retryable(503, true), retryable(503, true), retryable(503, true)}
	r := newTestRunner(api, newMemLedger())
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if n := api.calls[MethodSend]; n != 2 {
		t.Errorf("%d send requests, want 2", n)
	}
	if got := sink[1].Outcome; got != Unconfirmed {
		t.Errorf("outcome %v, want unconfirmed", got)
	}
}

// TestSkipFromWaitsForTheWaitingRows: a resumed run that stops reading its
// input early (SkipFrom) still settles the rows waiting for their window,
// instead of leaving them and calling the run stopped.
func TestSkipFromWaitsForTheWaitingRows(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 3)
	l := newMemLedger()
	l.entries["u0@x.com"] = LedgerEntry{Status: LedgerSendIntent, Time: time.Now()}
	r := newTestRunner(api, l)
	r.SettleWindow = 100 * time.Millisecond
	r.SkipFrom = 2
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csv), sink)
	if err != nil {
		t.Fatal(err)
	}
	if st.Stopped || sink[1].Outcome != Sent {
		t.Errorf("stopped %v, row 1 %v (%s); want finished, sent", st.Stopped, sink[1].Outcome, sink[1].Reason)
	}
}

// TestDryRunNeverSendsForAnEarlierIntent: a dry run that meets an earlier
// run's intent reads it back (without waiting) and predicts; it never sends.
func TestDryRunNeverSendsForAnEarlierIntent(t *testing.T) {
	for _, checkEach := range []bool{false, true} {
		api := newFakeAPI()
		api.unmanaged("a@x.com")
		l := newMemLedger()
		l.entries["a@x.com"] = LedgerEntry{Status: LedgerSendIntent, Time: time.Now()}
		r := newTestRunner(api, l)
		r.DryRun = true
		r.CheckEach = checkEach
		r.SettleWindow = time.Hour
		sink := memSink{}
		if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
			t.Fatal(err)
		}
		if got := sink[1].Outcome; got != WouldSend || api.calls[MethodSend] != 0 {
			t.Errorf("check-each %v: %v (%s) with %d sends, want would_send and none", checkEach, got, sink[1].Reason, api.calls[MethodSend])
		}
	}
}

// stoppingCancelAPI ends the run's context as a cancel request is made,
// before the request had a connection.
type stoppingCancelAPI struct {
	cancelAPI
	stop func()
}

func (s stoppingCancelAPI) Cancel(context.Context, string) error {
	s.stop()
	return &APIError{Kind: KindRetryable, NotSent: true, Msg: "cancel: stopped before a connection was obtained"}
}

// TestNeverSentCancelRestoresTheLedger: a cancel that never left (a hard stop
// before its connection) must not leave a cancel intent, which an invite run
// reads as "cancelled by this tool".
func TestNeverSentCancelRestoresTheLedger(t *testing.T) {
	api := newCancelAPI()
	api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newMemLedger()
	l.entries["a@x.com"] = LedgerEntry{Status: LedgerSent, Time: time.Now()}
	r := newTestRunner(stoppingCancelAPI{api, cancel}, l)
	r.Cancel = true
	if _, err := r.Run(ctx, csvSource("email\na@x.com\n"), memSink{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want context.Canceled", err)
	}
	if got := l.entries["a@x.com"].Status; got != LedgerSent {
		t.Errorf("ledger %v, want sent restored", got)
	}
}
