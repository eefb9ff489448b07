package emulator

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProfileGoogleStrict(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1"]
	e.Seed("nobody@example.com", KindNone)
	e.Seed("managed@example.com", KindManaged)
	e.Seed("acc@example.com", KindAccepted)
	check := func(what string, err error, want int) {
		t.Helper()
		if got := httpCode(err); got != want {
			t.Errorf("%s: %d (%v), want %d", what, got, err, want)
		}
	}
	// The default profile: false and 400.
	ok, err := a.invitable("nobody@example.com")
	check("default isInvitable(no account)", err, 200)
	if ok {
		t.Errorf("default isInvitable(no account) = true")
	}
	_, _, err = a.send("managed@example.com")
	check("default send(managed)", err, 400)

	e.SetProfile(ProfileGoogleStrict)
	_, err = a.invitable("nobody@example.com")
	check("isInvitable(no account)", err, 404)
	_, err = a.invitable("x@other.com")
	check("isInvitable(other domain)", err, 403)
	_, err = a.get("x@other.com")
	check("get(other domain)", err, 403)
	_, err = a.invitable("managed@example.com")
	check("isInvitable(managed)", err, 200)
	for _, email := range []string{"nobody@example.com", "managed@example.com", "x@other.com"} {
		_, _, err = a.send(email)
		check("send("+email+")", err, 404)
		_, _, err = a.cancel(email)
		check("cancel("+email+")", err, 404)
	}
	_, _, err = a.send("acc@example.com")
	check("send(accepted)", err, 400)
	_, _, err = a.send("u@example.com")
	check("send(unmanaged)", err, 200)
	if s := e.Stats(); s.Sends != 1 {
		t.Errorf("sends = %d, want 1", s.Sends)
	}
	if got := e.Config().Profile; got != "google-strict" {
		t.Errorf("Config().Profile = %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1beta1"]
	e.SetReadOnly(true)
	if _, err := a.invitable("u@example.com"); err != nil {
		t.Errorf("isInvitable: %v", err)
	}
	if _, err := a.list("", "", 1, ""); err != nil {
		t.Errorf("list: %v", err)
	}
	_, _, err := a.send("u@example.com")
	if httpCode(err) != 403 || !strings.Contains(err.Error(), "The caller does not have permission") {
		t.Errorf("send: %v, want 403 PERMISSION_DENIED", err)
	}
	if s := e.Stats(); s.Sends != 0 {
		t.Errorf("sends = %d, want 0", s.Sends)
	}
}

// A hung request is never answered: the client's own deadline ends it.
func TestHangRate(t *testing.T) {
	e := New(Options{Customer: testCustomer, Seed: 1})
	srv, _ := newServer(t, e)
	e.SetHangRate(1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/customers/"+testCustomer+"/userinvitations/u@example.com:send", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("a hung request was answered: %s", resp.Status)
	}
	// The handler notices the client leaving and counts the request.
	for range 500 {
		if e.Stats().Requests[MethodSend][CodeHung] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.Stats().Requests[MethodSend]; got[CodeHung] != 1 {
		t.Errorf("requests = %v, want one hung send", got)
	}
	if err := e.Apply(Config{HangRate: 2}); err == nil {
		t.Errorf("Apply accepted hang_rate 2")
	}
}
