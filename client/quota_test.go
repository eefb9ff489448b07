package client

import (
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// A 429 for a daily quota is not retried: it stops the run resumably and
// says when the quota comes back (midnight Pacific time). A per-minute 429
// stays retryable.
func TestClassifyDailyQuota(t *testing.T) {
	tests := []struct {
		name     string
		metadata map[string]string
		message  string
		daily    bool
	}{
		{"per-minute limit", map[string]string{"quota_limit": "defaultPerMinutePerProject", "quota_limit_value": "600"}, "Quota exceeded", false},
		{"per-day limit", map[string]string{"quota_limit": "defaultPerDayPerProject", "quota_limit_value": "10000"}, "Quota exceeded", true},
		{"limit of 0", map[string]string{"quota_limit": "defaultPerMinutePerProject", "quota_limit_value": "0"}, "Quota exceeded", true},
		{"daily unit", map[string]string{"quota_unit": "1/d/{project}"}, "Quota exceeded", true},
		{"message only", nil, "Quota exceeded for quota metric 'Queries' and limit 'Queries per day'", true},
		{"no details", nil, "Rate Limit Exceeded", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := httpFailure{code: 429, status: "RESOURCE_EXHAUSTED", message: tt.message,
				reasons: []string{"RATE_LIMIT_EXCEEDED"}, metadata: tt.metadata}
			e := classifyHTTP(f, "send", "C0test", "a@example.com")
			_, stop := batch.QuotaStop(e)
			if stop != tt.daily {
				t.Fatalf("QuotaStop = %v, want %v (%+v)", stop, tt.daily, e)
			}
			if !tt.daily {
				if e.Kind != batch.KindRetryable {
					t.Errorf("Kind = %v, want retryable", e.Kind)
				}
				return
			}
			if e.Kind != batch.KindFatal || !strings.Contains(e.Msg, "midnight Pacific") {
				t.Errorf("got %+v, want a stop that names midnight Pacific", e)
			}
			if d := time.Until(e.Resets); d <= 0 || d > 25*time.Hour {
				t.Errorf("resets in %v, want within a day", d)
			}
		})
	}
}

// A daily quota refused with 403 stops the run resumably like a 429 for
// one: a rate-limit 403 whose limit is per day, and the legacy reason
// dailyLimitExceeded. A per-minute rate-limit 403 stays retryable, and
// dailyLimitExceededUnreg (no credentials reached Google) is a setup
// problem. (Before, the first was retried a hundred times and the row
// failed; the second stopped the run with exit 5. Found in review.)
func TestClassifyDailyQuotaAs403(t *testing.T) {
	tests := []struct {
		name     string
		f        httpFailure
		daily    bool
		wantKind batch.Kind
	}{
		{"rate-limit 403, per day", httpFailure{code: 403, status: "PERMISSION_DENIED",
			message: "Quota exceeded for quota metric 'Requests' and limit 'Requests per day'",
			reasons: []string{"RATE_LIMIT_EXCEEDED"}, metadata: map[string]string{"quota_limit": "RequestsPerDayPerProject"}}, true, batch.KindFatal},
		{"legacy dailyLimitExceeded", httpFailure{code: 403, message: "Daily Limit Exceeded",
			reasons: []string{"dailyLimitExceeded"}}, true, batch.KindFatal},
		{"rate-limit 403, per minute", httpFailure{code: 403, status: "PERMISSION_DENIED", message: "Quota exceeded",
			reasons: []string{"RATE_LIMIT_EXCEEDED"}, metadata: map[string]string{"quota_limit": "RequestsPerMinutePerProject"}}, false, batch.KindRetryable},
		{"legacy userRateLimitExceeded", httpFailure{code: 403, message: "User Rate Limit Exceeded",
			reasons: []string{"userRateLimitExceeded"}}, false, batch.KindRetryable},
		{"unauthenticated daily limit", httpFailure{code: 403, message: "Daily Limit for Unauthenticated Use Exceeded. Continued use requires signup.",
			reasons: []string{"dailyLimitExceededUnreg"}}, false, batch.KindFatal},
		{"per day in a setup message", httpFailure{code: 403, status: "PERMISSION_DENIED",
			message: "The caller does not have permission to send more than 10 invitations per day"}, false, batch.KindForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := classifyHTTP(tt.f, "isInvitable", "C0test", "a@example.com")
			if _, stop := batch.QuotaStop(e); stop != tt.daily {
				t.Fatalf("QuotaStop = %v, want %v (%+v)", stop, tt.daily, e)
			}
			if e.Kind != tt.wantKind {
				t.Errorf("Kind = %v, want %v (%+v)", e.Kind, tt.wantKind, e)
			}
		})
	}
}

func TestDailyReset(t *testing.T) {
	tests := []struct{ now, want time.Time }{
		// 23:30 PST on Dec 1 (07:30 UTC Dec 2): midnight PST is 08:00 UTC.
		{time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC), time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)},
		// 00:30 PST on Dec 2: the next midnight, a day later.
		{time.Date(2026, 12, 2, 8, 30, 0, 0, time.UTC), time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)},
		// Summer time (PDT, UTC-7).
		{time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 7, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := dailyReset(tt.now); !got.Equal(tt.want) {
			t.Errorf("dailyReset(%v) = %v, want %v", tt.now, got.UTC(), tt.want)
		}
	}
}
