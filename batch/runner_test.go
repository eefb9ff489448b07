package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch/input"
)

func newTestRunner(api API, l Ledger) *Runner {
	return &Runner{
		API:     api,
		Ledger:  l,
		Pacer:   NewPacer(1e6, 1000, false),
		Backoff: Backoff{Base: time.Millisecond, Max: 5 * time.Millisecond, MaxAttempts: 4},
		Workers: 4,
	}
}

func outcomes(s memSink) map[int]string {
	m := make(map[int]string, len(s))
	for row, r := range s {
		m[row] = r.Outcome.String()
	}
	return m
}

func TestRunOutcomes(t *testing.T) {
	for _, lookup := range []Lookup{LookupAuto, LookupGet} {
		t.Run(fmt.Sprint("lookup=", lookup), func(t *testing.T) {
			api := newFakeAPI()
			api.unmanaged("new@x.com", "dup@x.com")
			api.inv["inv@x.com"] = Invitation{Email: "inv@x.com", State: StateInvited, MailsSent: 1}
			api.invitable["inv@x.com"] = true
			api.inv["acc@x.com"] = Invitation{Email: "acc@x.com", State: StateAccepted}
			api.inv["dec@x.com"] = Invitation{Email: "dec@x.com", State: StateDeclined}
			api.invitable["fresh@x.com"] = true
			api.hidden["fresh@x.com"] = true
			r := newTestRunner(api, newMemLedger())
			r.Lookup = lookup
			r.ExpectedRows = 10
			sink := memSink{}
			csv := "email,name\n" +
				"new@x.com,a\n" + // 1 sent
				"managed@x.com,b\n" + // 2 not_invitable
				"inv@x.com,c\n" + // 3 already_invited
				"acc@x.com,d\n" + // 4 already_accepted
				"dec@x.com,e\n" + // 5 declined
				"not an address,f\n" + // 6 invalid
				" DUP@x.com ,g\n" + // 7 sent
				"dup@X.com,h\n" + // 8 duplicate
				"ragged@x.com\n" + // 9 invalid (too few fields)
				"fresh@x.com,i\n" // 10 sent (too new to be listed, still invitable)
			st, err := r.Run(context.Background(), csvSource(csv), sink)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := map[int]string{1: "sent", 2: "not_invitable", 3: "already_invited", 4: "already_accepted",
				5: "declined", 6: "invalid", 7: "sent", 8: "duplicate", 9: "invalid", 10: "sent"}
			if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("outcomes = %v, want %v", got, want)
			}
			if got := sink[7].Email; got != " DUP@x.com " {
				t.Errorf("row 7 email = %q, want it as it appeared", got)
			}
			if api.sends["dup@x.com"] != 1 || api.sends["new@x.com"] != 1 || api.sends["fresh@x.com"] != 1 {
				t.Errorf("sends = %v, want one each", api.sends)
			}
			if got := st.Rows(); got != 10 {
				t.Errorf("Rows() = %d, want 10", got)
			}
			if lookup == LookupAuto {
				if st.Lookup != "list" {
					t.Errorf("Lookup = %q, want list", st.Lookup)
				}
				// send alone for the two listed rows, isInvitableUser + send
				// for the one too new to be listed.
				if got := st.CallsByOutcome[Sent]; got != 4 {
					t.Errorf("calls for 3 sent rows = %v, want 4", got)
				}
			}
		})
	}
}

func TestRunLedgerPreventsSecondEmail(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com")
	l := newMemLedger()
	l.entries["a@x.com"] = LedgerEntry{Status: LedgerSent, Time: time.Now()}
	sink := memSink{}
	st, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\na@x.com\nb@x.com\n"), sink)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcomes(sink); got[1] != "already_invited" || got[2] != "sent" {
		t.Errorf("outcomes = %v, want already_invited then sent", got)
	}
	if api.sends["a@x.com"] != 0 {
		t.Errorf("a@x.com emailed %d times, want 0", api.sends["a@x.com"])
	}
	if st.CallsByOutcome[AlreadyInvited] != 0 {
		t.Errorf("calls for the ledger-settled row = %d, want 0", st.CallsByOutcome[AlreadyInvited])
	}
}

func retryable(code int, ambiguous bool) error {
	return &APIError{Kind: KindRetryable, Code: code, Ambiguous: ambiguous, Msg: fmt.Sprintf("send: %d", code)}
}

func TestRunSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		hidden    bool
		fail      []error // the next send calls' errors (before sending)
		afterSend error   // the first send is performed, then fails so
		want      string
		wantSends int
		wantLedge LedgerStatus
	}{
		{name: "429 then success", fail: []error{retryable(429, false), retryable(429, false)}, want: "sent", wantSends: 1, wantLedge: LedgerSent},
		{name: "retries exhausted", fail: []error{retryable(503, false), retryable(503, false), retryable(503, false), retryable(503, false)}, want: "failed", wantLedge: LedgerNotSent},
		{name: "ambiguous, delivered", afterSend: retryable(500, true), want: "sent", wantSends: 1, wantLedge: LedgerSent},
		{name: "ambiguous, not delivered, sent again", fail: []error{retryable(503, true)}, want: "sent", wantSends: 1, wantLedge: LedgerSent},
		{name: "ambiguous on a hidden account", hidden: true, afterSend: retryable(0, true), want: "unconfirmed", wantSends: 1, wantLedge: LedgerUnconfirmed},
		{name: "ambiguous three times", fail: []error{retryable(503, true), retryable(503, true), retryable(503, true)}, want: "unconfirmed", wantLedge: LedgerUnconfirmed},
		{name: "refused", fail: []error{&APIError{Kind: KindPrecondition, Code: 400, Msg: "send: 400"}}, want: "not_invitable", wantLedge: LedgerNotSent},
		{name: "bad request", fail: []error{&APIError{Kind: KindPermanent, Code: 400, Msg: "send: 400"}}, want: "failed", wantLedge: LedgerNotSent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.unmanaged("a@x.com")
			api.hidden["a@x.com"] = tt.hidden
			api.fail[MethodSend] = tt.fail
			if tt.afterSend != nil {
				api.afterSend["a@x.com"] = tt.afterSend
			}
			l := newMemLedger()
			sink := memSink{}
			if _, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if got := sink[1].Outcome.String(); got != tt.want {
				t.Errorf("outcome = %q (%s), want %q", got, sink[1].Reason, tt.want)
			}
			if got := api.sends["a@x.com"]; got != tt.wantSends {
				t.Errorf("emails delivered = %d, want %d", got, tt.wantSends)
			}
			if got := l.entries["a@x.com"].Status; got != tt.wantLedge {
				t.Errorf("ledger status = %v, want %v", got, tt.wantLedge)
			}
		})
	}
}

func TestRunSettlesEarlierIntent(t *testing.T) {
	tests := []struct {
		name      string
		state     State // "" = no invitation
		hidden    bool
		want      string
		wantSends int
	}{
		{"delivered before the crash", StateInvited, false, "sent", 0},
		{"not delivered", StateNotYetSent, false, "sent", 1},
		{"too new to confirm", StateInvited, true, "unconfirmed", 0},
		{"accepted since", StateAccepted, false, "already_accepted", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI()
			api.invitable["a@x.com"] = true
			api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: tt.state}
			api.hidden["a@x.com"] = tt.hidden
			l := newMemLedger()
			l.entries["a@x.com"] = LedgerEntry{Status: LedgerSendIntent}
			sink := memSink{}
			if _, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if got := sink[1].Outcome.String(); got != tt.want {
				t.Errorf("outcome = %q (%s), want %q", got, sink[1].Reason, tt.want)
			}
			if got := api.sends["a@x.com"]; got != tt.wantSends {
				t.Errorf("emails delivered = %d, want %d", got, tt.wantSends)
			}
		})
	}
}

func TestRunFatalStops(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com")
	fatal := &APIError{Kind: KindFatal, Code: 403, Msg: "403 PERMISSION_DENIED"}
	api.fail[MethodList] = []error{fatal}
	_, err := newTestRunner(api, newMemLedger()).Run(context.Background(), csvSource("email\na@x.com\nb@x.com\n"), memSink{})
	if KindOf(err) != KindFatal {
		t.Fatalf("err = %v, want a fatal APIError", err)
	}
	if n := api.calls[MethodIsInvitable] + api.calls[MethodSend]; n != 0 {
		t.Errorf("%d row calls after a fatal error, want 0", n)
	}

	// Fatal in the middle of the rows: the run ends with the error.
	api = newFakeAPI()
	api.unmanaged("a@x.com")
	api.fail[MethodSend] = []error{fatal}
	sink := memSink{}
	_, err = newTestRunner(api, newMemLedger()).Run(context.Background(), csvSource("email\na@x.com\n"), sink)
	if KindOf(err) != KindFatal {
		t.Fatalf("err = %v, want a fatal APIError", err)
	}
	if len(sink) != 0 {
		t.Errorf("sink = %v, want no outcome for the interrupted row", sink)
	}
}

func TestRunUnauthenticatedOnceThenFatal(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	u := &APIError{Kind: KindUnauthenticated, Code: 401, Msg: "401"}
	api.fail[MethodSend] = []error{u}
	sink := memSink{}
	if _, err := newTestRunner(api, newMemLedger()).Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatalf("one 401: %v", err)
	}
	api = newFakeAPI()
	api.unmanaged("a@x.com")
	api.fail[MethodSend] = []error{u, u}
	_, err := newTestRunner(api, newMemLedger()).Run(context.Background(), csvSource("email\na@x.com\n"), memSink{})
	if KindOf(err) != KindFatal {
		t.Errorf("two 401s: err = %v, want fatal", err)
	}
}

func TestRunDryRun(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com")
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.DryRun = true
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != WouldSend {
		t.Errorf("outcome = %v, want would_send", got)
	}
	if api.calls[MethodSend] != 0 || len(l.log) != 0 {
		t.Errorf("dry run made %d sends and %d ledger entries, want none", api.calls[MethodSend], len(l.log))
	}
}

func TestRunSkipAndDomains(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com", "c@y.com")
	r := newTestRunner(api, newMemLedger())
	r.Skip = func(row int) bool { return row == 1 }
	r.Domains = []string{"x.com"}
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\nA@x.com\nb@x.com\nc@y.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{2: "duplicate", 3: "sent", 4: "invalid"}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v (skipped rows still count for duplicates)", got, want)
	}
	if !strings.Contains(sink[4].Reason, "--domain") {
		t.Errorf("reason = %q, want it to name --domain", sink[4].Reason)
	}
}

// countingSource counts the records read from it.
type countingSource struct {
	Source
	n int
}

func (s *countingSource) Next() (input.Record, error) {
	s.n++
	return s.Source.Next()
}

func TestRunSkipFrom(t *testing.T) {
	api := newFakeAPI()
	src := &countingSource{Source: csvSource(unmanagedRows(api, 1000))}
	r := newTestRunner(api, newMemLedger())
	r.Skip = func(row int) bool { return row != 2 }
	r.SkipFrom = 3
	sink := memSink{}
	if _, err := r.Run(context.Background(), src, sink); err != nil {
		t.Fatal(err)
	}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(map[int]string{2: "sent"}) {
		t.Errorf("outcomes = %v, want only row 2 sent", got)
	}
	if src.n > 3 {
		t.Errorf("read %d records, want at most 3: rows from SkipFrom on are not read", src.n)
	}
}

func TestRunStop(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 100)
	stop := make(chan struct{})
	close(stop)
	r := newTestRunner(api, newMemLedger())
	r.Stop = stop
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csv), sink)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Stopped || len(sink) != 0 {
		t.Errorf("Stopped = %v with %d outcomes, want stopped with none", st.Stopped, len(sink))
	}
}

type failingSink struct{ n int }

func (s *failingSink) Record(Result) error {
	s.n++
	if s.n == 2 {
		return errors.New("disk full")
	}
	return nil
}

func TestRunSinkFailureStops(t *testing.T) {
	api := newFakeAPI()
	api.unmanaged("a@x.com", "b@x.com", "c@x.com")
	_, err := newTestRunner(api, newMemLedger()).Run(context.Background(), csvSource("email\na@x.com\nb@x.com\nc@x.com\n"), &failingSink{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("err = %v, want the sink's error", err)
	}
}

func TestRunSentSince(t *testing.T) {
	api := newFakeAPI()
	start := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	l := newMemLedger()
	l.entries["old@x.com"] = LedgerEntry{Status: LedgerSent, Time: start.Add(-time.Hour)}
	l.entries["new@x.com"] = LedgerEntry{Status: LedgerSent, Time: start}
	r := newTestRunner(api, l)
	r.SentSince = start
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\nold@x.com\nnew@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := outcomes(sink); got[1] != "already_invited" || got[2] != "sent" {
		t.Errorf("outcomes = %v, want already_invited (earlier run) and sent (the interrupted run)", got)
	}
	if n := api.calls[MethodGet] + api.calls[MethodIsInvitable] + api.calls[MethodSend]; n != 0 {
		t.Errorf("calls = %v, want no row calls", api.calls)
	}
}

// orderSink checks, as each outcome arrives, that the ledger already holds
// the row's send result durably: the checkpoint (a sink) must never be ahead
// of the ledger, or a crash between the two could leave a send unsettled.
type orderSink struct {
	t *testing.T
	l *memLedger
}

func (s orderSink) Record(r Result) error {
	if r.Outcome == Sent || r.Outcome == Unconfirmed {
		s.l.mu.Lock()
		st := s.l.durable[strings.ToLower(r.Email)]
		s.l.mu.Unlock()
		if st != LedgerSent && st != LedgerUnconfirmed {
			s.t.Errorf("row %d recorded %v while the ledger durably says %v", r.Row, r.Outcome, st)
		}
	}
	return nil
}

func TestRunLedgerSettledBeforeOutcome(t *testing.T) {
	api := newFakeAPI()
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 200 {
		e := fmt.Sprintf("u%d@x.com", i)
		api.unmanaged(e)
		if i%10 == 0 {
			api.hidden[e] = true
			api.afterSend[e] = retryable(0, true)
		}
		b.WriteString(e + "\n")
	}
	l := newMemLedger()
	if _, err := newTestRunner(api, l).Run(context.Background(), csvSource(b.String()), orderSink{t, l}); err != nil {
		t.Fatal(err)
	}
}

func TestRunResendPolicy(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	api := newFakeAPI()
	for e, inv := range map[string]Invitation{
		"old@x.com":    {State: StateInvited, MailsSent: 1, Updated: now.Add(-10 * 24 * time.Hour)},
		"recent@x.com": {State: StateInvited, MailsSent: 1, Updated: now.Add(-time.Hour)},
		"capped@x.com": {State: StateInvited, MailsSent: 3, Updated: now.Add(-10 * 24 * time.Hour)},
		"dec@x.com":    {State: StateDeclined, MailsSent: 1, Updated: now.Add(-10 * 24 * time.Hour)},
	} {
		inv.Email = e
		api.inv[e] = inv
		api.invitable[e] = true
	}
	r := newTestRunner(api, newMemLedger())
	r.Now = func() time.Time { return now }
	r.ResendAfter = 7 * 24 * time.Hour
	r.MaxMails = 3
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\nold@x.com\nrecent@x.com\ncapped@x.com\ndec@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "resent", 2: "already_invited", 3: "already_invited", 4: "declined"}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	if api.sends["old@x.com"] != 1 || api.sends["recent@x.com"]+api.sends["capped@x.com"]+api.sends["dec@x.com"] != 0 {
		t.Errorf("sends = %v, want only old@x.com", api.sends)
	}
}

func TestRunMaxSends(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 50)
	r := newTestRunner(api, newMemLedger())
	r.MaxSends = 5
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(csv), sink)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(api.sends); got != 5 {
		t.Errorf("emails = %d, want 5", got)
	}
	if !st.Stopped || !st.MaxSendsReached || st.Outcomes[Sent] != 5 {
		t.Errorf("stats: stopped=%v maxSends=%v sent=%d; want stopped after 5 sends", st.Stopped, st.MaxSendsReached, st.Outcomes[Sent])
	}
	for _, res := range sink {
		if res.Outcome != Sent {
			t.Errorf("row %d: %v, want only sent rows recorded (the rest are left for a rerun)", res.Row, res.Outcome)
		}
	}
}

func TestRunCancel(t *testing.T) {
	api := newCancelAPI()
	api.inv["inv@x.com"] = Invitation{Email: "inv@x.com", State: StateInvited, MailsSent: 1}
	api.inv["nys@x.com"] = Invitation{Email: "nys@x.com", State: StateNotYetSent}
	l := newMemLedger()
	r := newTestRunner(api, l)
	r.Cancel = true
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\ninv@x.com\nnys@x.com\nnone@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	want := map[int]string{1: "cancelled", 2: "not_invited", 3: "not_invited"}
	if got := outcomes(sink); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	if l.entries["inv@x.com"].Status != LedgerCancelled {
		t.Errorf("ledger = %v, want cancelled", l.entries["inv@x.com"])
	}
	// A later invite run does not re-invite what this tool cancelled.
	api.invitable["inv@x.com"] = true
	sink = memSink{}
	if _, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\ninv@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1]; got.Outcome != NotInvitable || !strings.Contains(got.Reason, "ledger forget") {
		t.Errorf("later run: %v (%s), want not_invitable naming ledger forget", got.Outcome, got.Reason)
	}
}

// cancelAPI is fakeAPI with Cancel.
type cancelAPI struct{ *fakeAPI }

func newCancelAPI() cancelAPI { return cancelAPI{newFakeAPI()} }

func (c cancelAPI) Cancel(_ context.Context, email string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.take(MethodCancel); err != nil {
		return err
	}
	inv, ok := c.inv[email]
	if !ok || inv.State != StateInvited {
		return &APIError{Kind: KindPrecondition, Code: 400, Msg: "cancel: 400 FAILED_PRECONDITION"}
	}
	inv.State = StateNotYetSent
	c.inv[email] = inv
	return nil
}

func TestRunSnapshotWhileRunning(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 300)
	r := newTestRunner(api, newMemLedger())
	if s := r.Snapshot(); s.Rows() != 0 {
		t.Errorf("snapshot before Run has %d rows", s.Rows())
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := r.Snapshot()
			if s.Rows() > 300 {
				t.Errorf("snapshot rows %d > 300", s.Rows())
			}
		}
	}()
	st, err := r.Run(context.Background(), csvSource(csv), memSink{})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Snapshot(); s.Rows() != st.Rows() || s.TotalCalls() != st.TotalCalls() {
		t.Errorf("final snapshot %d rows %d calls, Run's stats %d, %d", s.Rows(), s.TotalCalls(), st.Rows(), st.TotalCalls())
	}
}

// stopAfterSource closes stop once it has returned every record: the stop
// lands after the producer read the last row, while rows are still queued.
type stopAfterSource struct {
	Source
	stop chan struct{}
	once sync.Once
}

func (s *stopAfterSource) Next() (input.Record, error) {
	rec, err := s.Source.Next()
	if err == io.EOF {
		s.once.Do(func() { close(s.stop) })
	}
	return rec, err
}

func TestRunStopAfterLastRowIsStopped(t *testing.T) {
	api := newFakeAPI()
	csv := unmanagedRows(api, 40)
	stop := make(chan struct{})
	r := newTestRunner(api, newMemLedger())
	r.Workers = 1
	r.Stop = stop
	sink := memSink{}
	st, err := r.Run(context.Background(), &stopAfterSource{Source: csvSource(csv), stop: stop}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink) < 40 && !st.Stopped {
		t.Errorf("%d of 40 rows have an outcome but the run says it was not stopped", len(sink))
	}
}

func TestRunCancelIntentIsNeverUndone(t *testing.T) {
	// A cancel went through but the process died before recording it.
	api := newCancelAPI()
	api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateNotYetSent, MailsSent: 1}
	api.invitable["a@x.com"] = true
	l := newMemLedger()
	l.entries["a@x.com"] = LedgerEntry{Status: LedgerCancelIntent}
	sink := memSink{}
	if _, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != NotInvitable || api.sends["a@x.com"] != 0 {
		t.Errorf("invite run after an interrupted cancel: %v with %d sends; want not_invitable, none", got, api.sends["a@x.com"])
	}
	// The cancel command's rerun records it as cancelled.
	r := newTestRunner(api, l)
	r.Cancel = true
	sink = memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != Cancelled || l.entries["a@x.com"].Status != LedgerCancelled {
		t.Errorf("cancel rerun: %v, ledger %v; want cancelled", got, l.entries["a@x.com"].Status)
	}
}

func TestRunFailedCancelKeepsTheSendRecord(t *testing.T) {
	api := newCancelAPI()
	api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1}
	api.fail[MethodCancel] = []error{&APIError{Kind: KindPermanent, Code: 400, Msg: "cancel: 400"}}
	l := newMemLedger()
	l.entries["a@x.com"] = LedgerEntry{Status: LedgerSent}
	r := newTestRunner(api, l)
	r.Cancel = true
	sink := memSink{}
	if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
		t.Fatal(err)
	}
	if got := sink[1].Outcome; got != Failed || l.entries["a@x.com"].Status != LedgerSent {
		t.Errorf("failed cancel: %v, ledger %v; want failed with the send record kept", got, l.entries["a@x.com"].Status)
	}
}

// unmanagedRows makes n unmanaged addresses u0@x.com... in api and returns
// a CSV listing them.
func unmanagedRows(api *fakeAPI, n int) string {
	var b strings.Builder
	b.WriteString("email\n")
	for i := range n {
		e := fmt.Sprintf("u%d@x.com", i)
		api.unmanaged(e)
		b.WriteString(e + "\n")
	}
	return b.String()
}
