package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

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

// openIntents returns the positions in h of intents followed by another
// intent with no result between them: an intent left open for a request
// that was refused, which a crash-recovery reader could take for a request
// that may have gone out.
func openIntents(h []LedgerStatus) []int {
	var open []int
	for i := 1; i < len(h); i++ {
		if h[i-1].Intent() && h[i].Intent() {
			open = append(open, i-1)
		}
	}
	return open
}

// A send or cancel refused with 429 (or a 401 cured by a credential
// refresh) certainly did not happen: its intent is settled before the
// retry writes the next one, keeping what the ledger said before (an
// earlier send stays on record).
func TestRunRefusedAttemptClosesItsIntent(t *testing.T) {
	unauth := &APIError{Kind: KindUnauthenticated, Code: 401, Msg: "send: 401"}
	tests := []struct {
		name   string
		cancel bool
		resend bool // a re-send (--resend-after) of an invitation this tool sent
		prior  LedgerStatus
		fail   []error
		want   []LedgerStatus
		fatal  bool // the run stops with the error
	}{
		{name: "send, 429 twice", fail: []error{retryable(429, false), retryable(429, false)},
			want: []LedgerStatus{LedgerSendIntent, LedgerNotSent, LedgerSendIntent, LedgerNotSent, LedgerSendIntent, LedgerSent}},
		{name: "send, 401 then refreshed", fail: []error{unauth},
			want: []LedgerStatus{LedgerSendIntent, LedgerNotSent, LedgerSendIntent, LedgerSent}},
		{name: "send, 401 twice: credentials refused", fail: []error{unauth, unauth}, fatal: true,
			want: []LedgerStatus{LedgerSendIntent, LedgerNotSent, LedgerSendIntent, LedgerNotSent}},
		{name: "send, 429 asking for hours", fail: []error{&APIError{Kind: KindRetryable, Code: 429, RetryAfter: 2 * time.Hour, Msg: "send: 429"}}, fatal: true,
			want: []LedgerStatus{LedgerSendIntent, LedgerNotSent}},
		{name: "send, 429 then refused", fail: []error{retryable(429, false), &APIError{Kind: KindPrecondition, Code: 400, Msg: "send: 400"}},
			want: []LedgerStatus{LedgerSendIntent, LedgerNotSent, LedgerSendIntent, LedgerNotSent}},
		{name: "re-send, 429", resend: true, prior: LedgerSent, fail: []error{retryable(429, false)},
			want: []LedgerStatus{LedgerSent, LedgerResendIntent, LedgerSent, LedgerResendIntent, LedgerSent}},
		{name: "cancel after a send, 429", cancel: true, prior: LedgerSent, fail: []error{retryable(429, false)},
			want: []LedgerStatus{LedgerSent, LedgerCancelIntent, LedgerSent, LedgerCancelIntent, LedgerCancelled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newCancelAPI()
			api.unmanaged("a@x.com")
			method := MethodSend
			if tt.cancel || tt.resend {
				api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1, Updated: time.Now().Add(-10 * 24 * time.Hour)}
			}
			if tt.cancel {
				method = MethodCancel
			}
			api.fail[method] = tt.fail
			l := newMemLedger()
			if tt.prior != LedgerNone {
				_, _ = l.Settle("a@x.com", tt.prior)
				l.entries["a@x.com"] = LedgerEntry{Status: tt.prior, Time: time.Now().Add(-10 * 24 * time.Hour)}
			}
			r := newTestRunner(api, l)
			r.Cancel = tt.cancel
			if tt.resend {
				r.ResendAfter = 7 * 24 * time.Hour
			}
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); (err != nil) != tt.fatal {
				t.Fatalf("run: %v, want an error: %v", err, tt.fatal)
			}
			h := l.history["a@x.com"]
			if open := openIntents(h); len(open) > 0 {
				t.Errorf("ledger %v: the intents at %v are followed by another intent without a result", h, open)
			}
			if fmt.Sprint(h) != fmt.Sprint(tt.want) {
				t.Errorf("ledger %v, want %v (outcome %v: %s)", h, tt.want, sink[1].Outcome, sink[1].Reason)
			}
		})
	}
}

// readyAPI is a cancelAPI that is a Readier: ready is called before every
// attempt of a send or cancel, before its intent is written.
type readyAPI struct {
	cancelAPI
	ready func()
}

func (a readyAPI) Ready(context.Context) error {
	a.ready()
	return nil
}

// The intent of a refused attempt is closed at once, not when the retry
// comes: a 429's wait can last minutes, and a crash during it left an open
// intent that the next run reads back, which for an account too new to be
// listed made the row unconfirmed (never re-sent) although nothing was sent.
func TestRunRefusedAttemptClosedBeforeTheWait(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		t.Run(fmt.Sprint("cancel=", cancel), func(t *testing.T) {
			api := readyAPI{cancelAPI: newCancelAPI()}
			api.unmanaged("a@x.com")
			method, closed := MethodSend, LedgerNotSent
			l := newMemLedger()
			if cancel {
				api.inv["a@x.com"] = Invitation{Email: "a@x.com", State: StateInvited, MailsSent: 1}
				method, closed = MethodCancel, LedgerSent
				l.entries["a@x.com"] = LedgerEntry{Status: LedgerSent, Time: time.Now().Add(-time.Hour)}
			}
			api.fail[method] = []error{retryable(429, false)}
			var seen []LedgerStatus // the address's last record when each attempt is ready
			api.ready = func() {
				e, _ := l.Lookup("a@x.com")
				seen = append(seen, e.Status)
			}
			r := newTestRunner(api, l)
			r.Cancel = cancel
			sink := memSink{}
			if _, err := r.Run(context.Background(), csvSource("email\na@x.com\n"), sink); err != nil {
				t.Fatal(err)
			}
			if len(seen) != 2 || seen[1] != closed {
				t.Errorf("the ledger's last record when each attempt was ready: %v; want the refused attempt's intent closed (%v) before the retry", seen, closed)
			}
		})
	}
}
