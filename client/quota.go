package client

import (
	"strings"
	"time"
)

// dailyQuota reports whether a rate-quota refusal (rateLimited) is for a
// daily quota: its ErrorInfo's quota_limit names a per-day limit
// (defaultPerDayPerProject, a "1/d" unit), the limit's value is 0 (no quota
// at all), or the message says "per day". Retrying it within the run
// cannot work: the quota comes back at midnight Pacific time.
func dailyQuota(f httpFailure) bool {
	limit := strings.ToLower(f.metadata["quota_limit"] + " " + f.metadata["quota_unit"])
	for _, s := range []string{"perday", "per_day", "per-day", "daily", "/d/", "/d "} {
		if strings.Contains(limit, s) {
			return true
		}
	}
	if v, ok := f.metadata["quota_limit_value"]; ok && strings.TrimSpace(v) == "0" {
		return true
	}
	return strings.Contains(strings.ToLower(f.message), "per day")
}

// pacific is the time zone of Google's daily quota resets. The binary
// embeds time/tzdata (the container image has no zoneinfo); a fixed UTC-8
// is the fallback of a program that does not. It is named for what it is,
// not "PST": in summer it is an hour off Pacific time, and a reset time
// the log labels "UTC-8" shows that the zone data was missing
// (TestE2EDailyQuotaWithoutZoneinfo).
var pacific = func() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	return time.FixedZone("UTC-8", -8*3600)
}()

// dailyReset returns the next midnight Pacific time after now.
func dailyReset(now time.Time) time.Time {
	p := now.In(pacific)
	return time.Date(p.Year(), p.Month(), p.Day()+1, 0, 0, 0, 0, pacific)
}

// dailyAdvice is the advice of a daily-quota 429.
func dailyAdvice(resets time.Time) string {
	return "a daily quota is used up; it comes back at midnight Pacific time, " +
		resets.In(pacific).Format("2006-01-02 15:04 MST") + " (" + resets.UTC().Format(time.RFC3339) +
		"): run the same command again then; a higher quota can be requested in the Cloud console (APIs & Services, Cloud Identity API, Quotas)"
}
