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
