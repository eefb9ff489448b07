package emulator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"

	v1 "google.golang.org/api/cloudidentity/v1"
)

func TestNameRejection(t *testing.T) {
	bad := []string{
		"a/b@example.com",   // an extra path segment
		"a%2Fb@example.com", // sent as a%252Fb: a '%' in the address
		"a%41@example.com",
		"sp ace@example.com",
		"q?x@example.com",
		"h#x@example.com",
		"\u00fc@example.com",
		"tab\t@example.com",
		"a..b@example.com",
		".a@example.com",
		"@example.com",
		"a@",
		"a@example",
		"a@b@example.com",
		"a:b@example.com",
		"a@-x.example.com",
		"a@x_y.example.com",
		"",
		"a/../b@example.com",
	}
	for _, version := range []string{"v1", "v1beta1"} {
		e, apis, _ := newTest(t)
		a := apis[version]
		for _, email := range bad {
			t.Run(version+"/"+email, func(t *testing.T) {
				_, err := a.get(email)
				if c := httpCode(err); c != 400 && c != 404 {
					t.Errorf("get: %d (%v), want 400 or 404", c, err)
				}
				_, _, err = a.send(email)
				if c := httpCode(err); c != 400 && c != 404 {
					t.Errorf("send: %d (%v), want 400 or 404", c, err)
				}
				_, err = a.invitable(email)
				if c := httpCode(err); c != 400 && c != 404 {
					t.Errorf("isInvitableUser: %d (%v), want 400 or 404", c, err)
				}
			})
		}
		if s := e.Stats(); s.Sends != 0 || s.Held != 0 {
			t.Errorf("%s: after bad names: %d sends, %d held, want 0", version, s.Sends, s.Held)
		}
		// Unusual but valid addresses go through, lower-cased.
		for _, email := range []string{"a.b+tag@example.com", "O'Brien@Example.com", "x!$&*=^_`{|}~-@example.com"} {
			got, _, err := a.send(email)
			if err != nil {
				t.Errorf("%s: send %q: %v", version, email, err)
				continue
			}
			if want := name(strings.ToLower(email)); got.Name != want {
				t.Errorf("%s: send %q: name %q, want %q", version, email, got.Name, want)
			}
		}
	}
	// Seeding a bad address is a programming error.
	defer func() {
		if recover() == nil {
			t.Error("Seed of a bad address did not panic")
		}
	}()
	New(Options{}).Seed("a/b@example.com", KindInvited)
}

// apiErr returns the *apierror.APIError inside a client error.
func apiErr(t *testing.T, err error) *apierror.APIError {
	t.Helper()
	var ae *apierror.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%v (%T) is not an *apierror.APIError", err, err)
	}
	return ae
}

func TestQuota(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1"]
	e.SetQuota(1, 2)
	for i := range 2 {
		if _, err := a.get("x@example.com"); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	_, err := a.get("x@example.com")
	var ge *googleapi.Error
	if !errors.As(err, &ge) || ge.Code != 429 {
		t.Fatalf("over quota: %v, want a 429 *googleapi.Error", err)
	}
	if got := ge.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	ae := apiErr(t, err)
	if ae.Reason() != "RATE_LIMIT_EXCEEDED" || ae.GRPCStatus().Code() != codes.ResourceExhausted {
		t.Errorf("reason %q, code %v; want RATE_LIMIT_EXCEEDED, ResourceExhausted", ae.Reason(), ae.GRPCStatus().Code())
	}
	if d := ae.Details().RetryInfo.GetRetryDelay().AsDuration(); d <= 900*time.Millisecond || d > time.Second {
		t.Errorf("retryDelay %v, want about 1s", d)
	}

	// A fast bucket refills: wait the advertised delay and go again.
	e.SetQuota(50, 1)
	if _, err := a.get("x@example.com"); err != nil {
		t.Fatal(err)
	}
	_, err = a.get("x@example.com")
	d := apiErr(t, err).Details().RetryInfo.GetRetryDelay().AsDuration()
	if d <= 0 || d > 20*time.Millisecond {
		t.Fatalf("retryDelay %v, want (0, 20ms]", d)
	}
	time.Sleep(d)
	if _, err := a.get("x@example.com"); err != nil {
		t.Errorf("after retryDelay: %v", err)
	}

	e.SetQuota(0, 0)
	for range 20 {
		if _, err := a.get("x@example.com"); err != nil {
			t.Fatalf("unlimited: %v", err)
		}
	}
	s := e.Stats()
	if s.Throttled != 2 || s.Requests[MethodGet][429] != 2 {
		t.Errorf("Throttled %d, get 429s %d; want 2", s.Throttled, s.Requests[MethodGet][429])
	}
}

func TestFailNext(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1beta1"]
	e.FailNext(MethodSend, 2, 503)
	e.FailNext("", 1, 403)
	e.FailNext(MethodSend, 1, 500)
	e.FailNext(MethodGet, 1, 429)
	steps := []struct {
		op   string
		code int
		grpc codes.Code
	}{
		{"send", 503, codes.Unavailable},
		{"get", 429, codes.ResourceExhausted},
		{"send", 503, codes.Unavailable},
		{"send", 500, codes.Internal},
		{"send", 403, codes.PermissionDenied},
		{"get", 200, codes.OK},
		{"send", 200, codes.OK},
	}
	for i, s := range steps {
		var err error
		if s.op == "send" {
			_, _, err = a.send("f@example.com")
		} else {
			_, err = a.get("f@example.com")
		}
		if got := httpCode(err); got != s.code {
			t.Fatalf("step %d %s: %d (%v), want %d", i, s.op, got, err, s.code)
		}
		if err != nil {
			if got := apiErr(t, err).GRPCStatus().Code(); got != s.grpc {
				t.Errorf("step %d: grpc code %v, want %v", i, got, s.grpc)
			}
		}
	}
	// Injected failures happen before the send does anything.
	if got := e.Sends("f@example.com"); got != 1 {
		t.Errorf("Sends = %d, want 1", got)
	}
	if inv, _ := a.get("f@example.com"); inv.Mails != 1 {
		t.Errorf("mailsSentCount %d, want 1", inv.Mails)
	}
}

func TestFailRate(t *testing.T) {
	e, apis, _ := newTest(t)
	e.SetFailRate(1)
	for range 5 {
		if _, err := apis["v1"].invitable("x@example.com"); httpCode(err) != 503 {
			t.Fatalf("fail rate 1: %v, want 503", err)
		}
	}
	e.SetFailRate(0.5)
	fails := 0
	for range 200 {
		if _, err := apis["v1"].invitable("x@example.com"); err != nil {
			fails++
		}
	}
	if fails < 60 || fails > 140 {
		t.Errorf("fail rate 0.5: %d of 200 failed", fails)
	}
}

func TestAmbiguousSend(t *testing.T) {
	for _, tt := range []struct {
		mode AmbiguousMode
		code int // what the client sees; -1 for no reply
		stat int // what Stats counts
	}{
		{AmbiguousStatus500, 500, 500},
		{AmbiguousDrop, -1, CodeDropped},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			e, apis, _ := newTest(t)
			a := apis["v1"]
			e.SetAmbiguousSendRate(1, tt.mode)
			_, _, err := a.send("amb@example.com")
			if got := httpCode(err); got != tt.code {
				t.Fatalf("send: %d (%v), want %d", got, err, tt.code)
			}
			// Only sends that would succeed are ambiguous.
			e.Seed("acc@example.com", KindAccepted)
			if _, _, err := a.send("acc@example.com"); httpCode(err) != 400 {
				t.Errorf("send to accepted: %v, want 400", err)
			}
			e.SetAmbiguousSendRate(0, tt.mode)
			got, err := a.get("amb@example.com")
			if err != nil || got.State != StateInvited || got.Mails != 1 {
				t.Errorf("after the ambiguous send: %+v, %v; want INVITED, 1 mail", got, err)
			}
			s := e.Stats()
			if e.Sends("amb@example.com") != 1 || s.Sends != 1 || s.Requests[MethodSend][tt.stat] != 1 {
				t.Errorf("Sends %d, total %d, sends with code %d: %d; want 1, 1, 1",
					e.Sends("amb@example.com"), s.Sends, tt.stat, s.Requests[MethodSend][tt.stat])
			}
		})
	}
}

func TestFatal(t *testing.T) {
	tests := []struct {
		fatal   Fatal
		code    int
		reason  string
		message string
	}{
		{FatalPermissionDenied, 403, "", "The caller does not have permission"},
		{FatalServiceDisabled, 403, "SERVICE_DISABLED", "Cloud Identity API has not been used in project 123 before or it is disabled"},
		{FatalQuotaProject, 403, "USER_PROJECT_DENIED", "requires a quota project"},
		{FatalUnauthenticated, 401, "ACCESS_TOKEN_EXPIRED", "invalid authentication credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.fatal.String(), func(t *testing.T) {
			e, apis, _ := newTest(t)
			e.SetFatal(tt.fatal)
			for _, call := range []func() error{
				func() error { _, err := apis["v1"].get("x@example.com"); return err },
				func() error { _, _, err := apis["v1beta1"].send("x@example.com"); return err },
				func() error { _, err := apis["v1"].list("", "", 0, ""); return err },
			} {
				err := call()
				if got := httpCode(err); got != tt.code {
					t.Fatalf("code %d (%v), want %d", got, err, tt.code)
				}
				ae := apiErr(t, err)
				if ae.Reason() != tt.reason {
					t.Errorf("reason %q, want %q", ae.Reason(), tt.reason)
				}
				if !strings.Contains(ae.GRPCStatus().Message(), tt.message) {
					t.Errorf("message %q, want it to contain %q", ae.GRPCStatus().Message(), tt.message)
				}
			}
			if e.Stats().Sends != 0 {
				t.Error("a send went out in fatal mode")
			}
			e.SetFatal(FatalNone)
			if _, err := apis["v1"].get("x@example.com"); err != nil {
				t.Errorf("after FatalNone: %v", err)
			}
		})
	}
}

func TestRequireToken(t *testing.T) {
	e, apis, _ := newTest(t)
	e.RequireToken(func(tok string) bool { return tok == "good" })
	s := apis["v1"].(v1API).s
	for _, tt := range []struct {
		auth   string
		code   int
		reason string
	}{
		{"", 401, "CREDENTIALS_MISSING"},
		{"Basic Z29vZA==", 401, "CREDENTIALS_MISSING"},
		{"Bearer bad", 401, "ACCESS_TOKEN_EXPIRED"},
		{"Bearer good", 200, ""},
		{"bearer good", 200, ""},
	} {
		c := s.Send(name("t@example.com"), &v1.SendUserInvitationRequest{})
		if tt.auth != "" {
			c.Header().Set("Authorization", tt.auth)
		}
		_, err := c.Do()
		if got := httpCode(err); got != tt.code {
			t.Errorf("%q: %d (%v), want %d", tt.auth, got, err, tt.code)
			continue
		}
		if err != nil {
			if r := apiErr(t, err).Reason(); r != tt.reason {
				t.Errorf("%q: reason %q, want %q", tt.auth, r, tt.reason)
			}
		}
	}
	if got := e.Sends("t@example.com"); got != 2 {
		t.Errorf("Sends = %d, want 2", got)
	}
	e.RequireToken(nil)
	if _, err := apis["v1"].get("t@example.com"); err != nil {
		t.Errorf("without a token check: %v", err)
	}
}

func TestLatency(t *testing.T) {
	e, apis, _ := newTest(t)
	e.SetLatency(30*time.Millisecond, 10*time.Millisecond)
	start := time.Now()
	if _, err := apis["v1"].get("x@example.com"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("request took %v, want at least 30ms", d)
	}

	// A client that gives up is counted as 499 and nothing is done. The
	// client's deadline leaves the request time to reach the emulator on a
	// loaded machine (10 ms did not, now and then: no 499 was counted).
	e.SetLatency(5*time.Second, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := apis["v1"].(v1API).s.Send(name("x@example.com"), &v1.SendUserInvitationRequest{}).Context(ctx).Do()
	if err == nil {
		t.Fatal("send succeeded past its deadline")
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Requests[MethodSend][CodeClientGone] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no 499 counted: %v", e.Stats().Requests)
		}
		time.Sleep(time.Millisecond)
	}
	if e.Sends("x@example.com") != 0 {
		t.Error("the abandoned send went out")
	}
}

func TestReadLag(t *testing.T) {
	e := New(Options{Customer: testCustomer})
	e.SetReadLag(time.Hour)
	_, apis := newServer(t, e)
	a := apis["v1"]
	if _, _, err := a.send("a@x.com"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.get("a@x.com"); err != nil || got.State != "NOT_YET_SENT" {
		t.Errorf("get during the lag: %+v, %v; want NOT_YET_SENT", got, err)
	}
	e.SetReadLag(0)
	if got, err := a.get("a@x.com"); err != nil || got.State != "INVITED" || got.Mails != 1 {
		t.Errorf("get after the lag: %+v, %v; want INVITED with 1 mail", got, err)
	}
	if n := e.Sends("a@x.com"); n != 1 {
		t.Errorf("Sends = %d, want 1", n)
	}
}
