package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

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
