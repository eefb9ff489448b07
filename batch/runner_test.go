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
