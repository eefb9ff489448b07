package emulator

import (
	"testing"
	"time"
)

func TestWindowStart(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 15, 0, time.UTC)
	tests := []struct {
		w, offset time.Duration
		want      time.Time
	}{
		{time.Minute, 0, time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)},
		{time.Minute, 20 * time.Second, time.Date(2026, 12, 1, 9, 59, 20, 0, time.UTC)},
		{time.Minute, 10 * time.Second, time.Date(2026, 12, 1, 10, 0, 10, 0, time.UTC)},
		{7 * time.Second, 0, time.Unix(at.Unix()/7*7, 0)},
	}
	for _, tt := range tests {
		if got := windowStart(at, tt.w, tt.offset); !got.Equal(tt.want) {
			t.Errorf("windowStart(%v, %v, %v) = %v, want %v", at, tt.w, tt.offset, got.UTC(), tt.want.UTC())
		}
	}
}

func TestWindowQuota(t *testing.T) {
	e := New(Options{})
	e.SetWindowQuota(3, time.Minute, 17*time.Second)
	base := time.Date(2026, 12, 1, 10, 0, 17, 0, time.UTC) // a window starts
	take := func(d time.Duration) *apiError {
		e.knobMu.Lock()
		defer e.knobMu.Unlock()
		return e.takeWindow(base.Add(d))
	}
	for i := range 3 {
		if err := take(time.Duration(i) * time.Second); err != nil {
			t.Fatalf("request %d refused: %v", i+1, err.Message)
		}
	}
	err := take(10 * time.Second)
	if err == nil || err.Code != 429 {
		t.Fatalf("4th request in the window = %v, want 429", err)
	}
	if len(err.Details) != 1 || err.header["Retry-After"] != "" {
		t.Errorf("window 429 = %+v, want an ErrorInfo and no RetryInfo or Retry-After", err)
	}
	md := err.Details[0]["metadata"].(map[string]string)
	if md["quota_limit_value"] != "3" || md["quota_limit"] != "defaultPerWindowPerProject" {
		t.Errorf("metadata = %v", md)
	}
	if err := take(time.Minute); err != nil {
		t.Errorf("first request of the next window refused: %v", err.Message)
	}
	ws := e.Stats().Windows
	if len(ws) != 2 || ws[0].Accepted != 3 || ws[0].Throttled != 1 || ws[1].Accepted != 1 ||
		ws[0].Start != base.UnixMilli() {
		t.Errorf("windows = %+v, want [3 accepted 1 refused from %d, 1 accepted]", ws, base.UnixMilli())
	}

	if err := e.SetRetryInfo("1s"); err != nil {
		t.Fatal(err)
	}
	take(time.Minute + time.Second)
	take(time.Minute + 2*time.Second)
	err = take(time.Minute + 3*time.Second)
	if err == nil || len(err.Details) != 2 || err.Details[1]["retryDelay"] != "1s" {
		t.Errorf("with --retry-info 1s: %+v, want RetryInfo 1s", err)
	}
	if e.SetRetryInfo("soon") == nil {
		t.Error("SetRetryInfo(soon) = nil, want an error")
	}
}

func TestDailyQuota(t *testing.T) {
	e := New(Options{})
	e.SetDailyQuota(2)
	// 23:00 Pacific (PST, UTC-8) on Dec 1 is 07:00 UTC on Dec 2.
	late := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	take := func(t time.Time) *apiError {
		e.knobMu.Lock()
		defer e.knobMu.Unlock()
		return e.takeWindow(t)
	}
	take(late)
	take(late)
	err := take(late.Add(59 * time.Minute))
	if err == nil || err.Code != 429 {
		t.Fatalf("3rd request of the day = %v, want 429", err)
	}
	md := err.Details[0]["metadata"].(map[string]string)
	if md["quota_limit"] != "defaultPerDayPerProject" || md["quota_limit_value"] != "2" || len(err.Details) != 1 {
		t.Errorf("daily 429 = %+v, want a per-day ErrorInfo and no RetryInfo", err)
	}
	if err := take(late.Add(time.Hour)); err != nil {
		t.Errorf("first request after midnight Pacific refused: %v", err.Message)
	}
}

func TestQuotaConfigRoundTrip(t *testing.T) {
	e := New(Options{})
	c := e.Config()
	c.QuotaConfig = QuotaConfig{RetryInfo: "none", WindowQuota: 100, WindowSeconds: 30, WindowOffsetSeconds: 7, DailyQuota: 5, ThrottleAs: "403-legacy"}
	if err := e.Apply(c); err != nil {
		t.Fatal(err)
	}
	if got := e.Config().QuotaConfig; got != c.QuotaConfig {
		t.Errorf("Config() = %+v, want %+v", got, c.QuotaConfig)
	}
	c.WindowSeconds = 0
	if e.Apply(c) == nil {
		t.Error("a window quota without a length was accepted")
	}
}
