package emulator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/googleapi"
	"google.golang.org/grpc/codes"
)

// The rate quotas refuse as SetThrottleAs says, read through the real Go
// client: 429 RESOURCE_EXHAUSTED, 403 with an ErrorInfo of reason
// RATE_LIMIT_EXCEEDED, or 403 with only a legacy errors[] reason. The
// daily quota stays a 429; Stats.Throttled counts every quota refusal.
func TestThrottleAs(t *testing.T) {
	type quota struct {
		name string
		set  func(e *Emulator)
	}
	quotas := []quota{
		{"bucket", func(e *Emulator) { e.SetQuota(0.5, 1) }},
		{"window", func(e *Emulator) { e.SetWindowQuota(1, time.Hour, 0) }},
	}
	for _, q := range quotas {
		for _, th := range []Throttle{Throttle429, Throttle403, Throttle403Legacy} {
			t.Run(q.name+"/"+th.String(), func(t *testing.T) {
				e, apis, _ := newTest(t)
				a := apis["v1"]
				e.SetThrottleAs(th)
				q.set(e)
				if _, err := a.get("x@example.com"); err != nil {
					t.Fatalf("first request: %v", err)
				}
				_, _, err := a.send("x@example.com")
				var ge *googleapi.Error
				if !errors.As(err, &ge) {
					t.Fatalf("over quota: %v (%T), want a *googleapi.Error", err, err)
				}
				wantCode := 429
				if th != Throttle429 {
					wantCode = 403
				}
				if ge.Code != wantCode {
					t.Fatalf("over quota: %d, want %d", ge.Code, wantCode)
				}
				// The bucket's refusals carry RetryInfo and Retry-After by
				// default, the window's do not; the legacy form never does.
				wantDelay := q.name == "bucket" && th != Throttle403Legacy
				if got := ge.Header.Get("Retry-After") != ""; got != wantDelay {
					t.Errorf("Retry-After %q, want one: %v", ge.Header.Get("Retry-After"), wantDelay)
				}
				switch th {
				case Throttle429, Throttle403:
					ae := apiErr(t, err)
					wantStatus := codes.ResourceExhausted
					if th == Throttle403 {
						wantStatus = codes.PermissionDenied
					}
					if ae.Reason() != "RATE_LIMIT_EXCEEDED" || ae.GRPCStatus().Code() != wantStatus {
						t.Errorf("reason %q, status %v; want RATE_LIMIT_EXCEEDED, %v", ae.Reason(), ae.GRPCStatus().Code(), wantStatus)
					}
					if got := ae.Details().RetryInfo != nil; got != wantDelay {
						t.Errorf("RetryInfo %v, want one: %v", ae.Details().RetryInfo, wantDelay)
					}
				case Throttle403Legacy:
					if len(ge.Errors) != 1 || ge.Errors[0].Reason != "rateLimitExceeded" || !strings.Contains(ge.Body, `"domain":"usageLimits"`) {
						t.Errorf("errors[] = %+v, want one usageLimits/rateLimitExceeded", ge.Errors)
					}
					if len(ge.Details) != 0 {
						t.Errorf("details = %v, want none in the legacy form", ge.Details)
					}
				}
				st := e.Stats()
				if st.Throttled != 1 || st.Requests[MethodSend][wantCode] != 1 || st.Sends != 0 {
					t.Errorf("stats: throttled %d, sends %v (%d delivered); want 1 refusal with %d, nothing sent",
						st.Throttled, st.Requests[MethodSend], st.Sends, wantCode)
				}
			})
		}
	}
}

// A daily quota used up answers 429 whatever SetThrottleAs says: the tool
// tells it from a rate quota by its ErrorInfo.
func TestThrottleAsLeavesTheDailyQuota(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1"]
	e.SetThrottleAs(Throttle403Legacy)
	e.SetDailyQuota(1)
	a.get("x@example.com")
	if _, err := a.get("x@example.com"); httpCode(err) != 429 {
		t.Errorf("daily quota used up: %v, want 429", err)
	}
}

func TestParseThrottle(t *testing.T) {
	for s, want := range map[string]Throttle{"": Throttle429, "429": Throttle429, "403": Throttle403, " 403-Legacy ": Throttle403Legacy} {
		if got, err := ParseThrottle(s); err != nil || got != want {
			t.Errorf("ParseThrottle(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if _, err := ParseThrottle("418"); err == nil {
		t.Error("ParseThrottle(418) succeeded")
	}
}
