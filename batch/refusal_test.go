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

// refusingAPI is a fakeAPI that refuses some addresses (per method and
// address) and can be probed.
type refusingAPI struct {
	*fakeAPI
	mu       sync.Mutex
	refuse   map[string]error // "method email" -> error
	probeErr error
	probes   int
	// onSend, when set, runs instead of a refused send's usual nothing.
	onSend func(email string)
}

func newRefusingAPI() *refusingAPI {
	return &refusingAPI{fakeAPI: newFakeAPI(), refuse: map[string]error{}}
}

func (f *refusingAPI) refused(method, email string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refuse[method+" "+email]
}

func (f *refusingAPI) IsInvitable(ctx context.Context, email string) (bool, error) {
	if err := f.refused(MethodIsInvitable, email); err != nil {
		return false, err
	}
	return f.fakeAPI.IsInvitable(ctx, email)
}

func (f *refusingAPI) Get(ctx context.Context, email string) (Invitation, error) {
	if err := f.refused(MethodGet, email); err != nil {
		return Invitation{}, err
	}
	return f.fakeAPI.Get(ctx, email)
}

func (f *refusingAPI) Send(ctx context.Context, email string) error {
	if err := f.refused(MethodSend, email); err != nil {
		if f.onSend != nil {
			f.onSend(email)
		}
		return err
	}
	return f.fakeAPI.Send(ctx, email)
}

func (f *refusingAPI) Probe(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.probes++
	return f.probeErr
}

// noProbe hides the Probe method.
type noProbe struct{ API }

var (
	bare403  = &APIError{Kind: KindForbidden, Code: 403, Status: "PERMISSION_DENIED", Msg: "isInvitable: 403 PERMISSION_DENIED: The caller does not have permission"}
	list403  = &APIError{Kind: KindFatal, Code: 403, Status: "PERMISSION_DENIED", Msg: "list: 403 PERMISSION_DENIED: The caller does not have permission; check that the acting user is a super administrator"}
	notFound = &APIError{Kind: KindPrecondition, Code: 404, Status: "NOT_FOUND", Msg: "isInvitable: 404 NOT_FOUND: No such user."}
)

// A CSV sorted by domain holds many refused addresses in a row: each is
// not_invitable, the run goes on, and the probe is not repeated per row.
func TestRunPerAddressRefusalsInARow(t *testing.T) {
	api := newRefusingAPI()
	var b strings.Builder
	b.WriteString("email\n")
	api.unmanaged("first@corp.com", "last@corp.com")
	b.WriteString("first@corp.com\n")
	for i := range 200 {
		e := fmt.Sprintf("c%03d@contractor.com", i)
		switch i % 4 {
		case 0:
			api.refuse[MethodIsInvitable+" "+e] = bare403
		case 1:
			api.refuse[MethodIsInvitable+" "+e] = notFound
		case 2:
			api.refuse[MethodGet+" "+e] = &APIError{Kind: KindForbidden, Code: 403, Msg: "get: 403 PERMISSION_DENIED"}
		case 3:
			api.refuse[MethodIsInvitable+" "+e] = &APIError{Kind: KindPrecondition, Code: 400, Status: "INVALID_ARGUMENT", Msg: "isInvitable: 400 INVALID_ARGUMENT: bad user"}
		}
		fmt.Fprintln(&b, e)
	}
	b.WriteString("last@corp.com\n")
	r := newTestRunner(api, newMemLedger())
	r.Lookup = LookupGet
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource(b.String()), sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for row := 2; row <= 201; row++ {
		if got := sink[row]; got.Outcome != NotInvitable || !strings.Contains(got.Reason, "refused for this address") {
			t.Fatalf("row %d = %v (%s), want not_invitable with the server's message", row, got.Outcome, got.Reason)
		}
	}
	if !strings.Contains(sink[3].Reason, "No such user.") {
		t.Errorf("row 3 reason = %q, want the server's message", sink[3].Reason)
	}
	if sink[1].Outcome != Sent || sink[202].Outcome != Sent {
		t.Errorf("rows around the refusals: %v, %v; want sent", sink[1].Outcome, sink[202].Outcome)
	}
	if api.probes < 1 || api.probes > 2 || r.forbidden.probes != api.probes {
		t.Errorf("probes = %d, want 1 (one probe vouches for %v)", api.probes, probeFresh)
	}
	if st.Calls[MethodList][200] < 1 {
		t.Errorf("calls = %v, want the probe counted as a list request", st.Calls)
	}
}

// A bare 403 that the customer-wide read meets too stops the run (exit 5),
// naming the fix; no row is marked.
func TestRunForbiddenForTheCustomerIsFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  func(*refusingAPI) API
	}{
		{"probe refused", func(a *refusingAPI) API { a.probeErr = list403; return a }},
		{"no prober", func(a *refusingAPI) API { return noProbe{a} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newRefusingAPI()
			api.invitable["a@x.com"] = true // no invitation visible: isInvitableUser is asked
			api.refuse[MethodIsInvitable+" a@x.com"] = bare403
			sink := memSink{}
			r := newTestRunner(tc.api(api), newMemLedger())
			r.Lookup = LookupGet
			_, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink)
			if KindOf(err) != KindFatal {
				t.Fatalf("err = %v, want fatal", err)
			}
			if tc.name == "probe refused" && !strings.Contains(err.Error(), "super administrator") {
				t.Errorf("err = %v, want the fix named", err)
			}
			if len(sink) != 0 {
				t.Errorf("sink = %v, want no outcome", sink)
			}
		})
	}
}

// A 404 or 400 from send is that row's not_invitable: not failed (which
// every rerun retries), and the ledger says not sent.
func TestRunSendRefusedForTheAddress(t *testing.T) {
	for _, ae := range []*APIError{
		{Kind: KindPrecondition, Code: 404, Status: "NOT_FOUND", Msg: "send: 404 NOT_FOUND: unknown user invitation"},
		{Kind: KindPrecondition, Code: 400, Status: "INVALID_ARGUMENT", Msg: "send: 400 INVALID_ARGUMENT: bad"},
	} {
		api := newRefusingAPI()
		api.unmanaged("a@x.com")
		api.refuse[MethodSend+" a@x.com"] = ae
		l := newMemLedger()
		sink := memSink{}
		if _, err := newTestRunner(api, l).Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
			t.Fatal(err)
		}
		if got := sink[1]; got.Outcome != NotInvitable || !strings.Contains(got.Reason, ae.Msg) {
			t.Errorf("%d: outcome %v (%s), want not_invitable with %q", ae.Code, got.Outcome, got.Reason, ae.Msg)
		}
		if got := l.entries["a@x.com"].Status; got != LedgerNotSent {
			t.Errorf("%d: ledger %v, want not sent", ae.Code, got)
		}
	}
}

// A send answered 409 ALREADY_EXISTS is decided by the invitation's state.
func TestRunSendConflictReadsState(t *testing.T) {
	tests := []struct {
		state State
		want  Outcome
	}{
		{StateInvited, AlreadyInvited},
		{StateAccepted, AlreadyAccepted},
		{StateNotYetSent, Failed},
	}
	for _, tt := range tests {
		api := newRefusingAPI()
		api.unmanaged("a@x.com")
		api.refuse[MethodSend+" a@x.com"] = &APIError{Kind: KindConflict, Code: 409, Status: "ALREADY_EXISTS", Msg: "send: 409 ALREADY_EXISTS"}
		api.onSend = func(email string) {
			api.fakeAPI.mu.Lock()
			defer api.fakeAPI.mu.Unlock()
			api.inv[email] = Invitation{Email: email, State: tt.state, MailsSent: 1}
		}
		sink := memSink{}
		r := newTestRunner(api, newMemLedger())
		r.Lookup = LookupGet
		if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
			t.Fatal(err)
		}
		if got := sink[1].Outcome; got != tt.want {
			t.Errorf("state %s: outcome %v (%s), want %v", tt.state, got, sink[1].Reason, tt.want)
		}
		if n := api.calls[MethodGet]; n != 2 {
			t.Errorf("state %s: %d gets, want 2 (the lookup and the read after the 409)", tt.state, n)
		}
	}
}

// A stop ends the waits between attempts: a row waiting out a long
// backoff is left for the rerun at once instead of keeping the run alive.
func TestCallerStopEndsWaits(t *testing.T) {
	stop := make(chan struct{})
	c := &Caller{Pacer: NewPacer(1e6, 1000, false), Backoff: Backoff{Base: time.Hour, Max: time.Hour, MaxAttempts: 5}, Stop: stop}
	done := make(chan error, 1)
	calls := 0
	go func() {
		done <- c.Do(context.Background(), MethodGet, func(context.Context) error {
			calls++
			return &APIError{Kind: KindRetryable, Code: 503, RetryAfter: 4 * time.Minute, Msg: "503"}
		}, nil)
	}()
	close(stop)
	select {
	case err := <-done:
		if !errors.Is(err, ErrStopped) {
			t.Errorf("Do = %v, want ErrStopped", err)
		}
		if calls != 1 {
			t.Errorf("%d attempts, want 1", calls)
		}
	case <-time.After(time.Minute):
		t.Fatal("Do did not return after Stop closed")
	}
}

func TestRunStopLeavesRowInBackoff(t *testing.T) {
	api := newFakeAPI()
	api.invitable["a@x.com"] = true // no invitation visible: isInvitableUser is asked
	api.fail[MethodIsInvitable] = []error{&APIError{Kind: KindRetryable, Code: 503, RetryAfter: 4 * time.Minute, Msg: "503"}}
	stop := make(chan struct{})
	r := newTestRunner(api, newMemLedger())
	r.Stop = stop
	r.Backoff = Backoff{Base: time.Hour, Max: time.Hour, MaxAttempts: 3}
	go func() {
		for {
			api.mu.Lock()
			n := api.calls[MethodIsInvitable]
			api.mu.Unlock()
			if n > 0 {
				close(stop)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	sink := memSink{}
	st, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !st.Stopped || len(sink) != 0 {
		t.Errorf("stopped=%v sink=%v; want stopped with the row left for the rerun", st.Stopped, sink)
	}
}
