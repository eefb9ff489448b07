package emulator

import (
	"fmt"
	"strconv"
	"time"
)

// Quotas as Google Cloud counts them (see the reference's "Quota
// windows"): a fixed-window rate quota, N requests per window, and a daily
// quota that comes back at midnight Pacific time. Both are checked after
// the token bucket of SetQuota, over all API requests.

// SetWindowQuota enforces n requests per fixed window of length w over all
// API requests (n <= 0 or w <= 0: off). Windows start at offset past each
// multiple of w since the Unix epoch: offset 0 aligns 60 s windows to the
// clock minute, any other offset starts them part way through it. Once a
// window's n requests are used, every request gets 429 RESOURCE_EXHAUSTED
// until the next window; by default that 429 carries no RetryInfo, as many
// of Google's do (see SetRetryInfo).
func (e *Emulator) SetWindowQuota(n int, w, offset time.Duration) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	if n <= 0 || w <= 0 {
		n, w = 0, 0
	}
	e.winN, e.winLen, e.winOffset = n, w, offset
	e.winStart, e.winUsed = time.Time{}, 0
}

// SetDailyQuota enforces n requests per day over all API requests (n <= 0:
// off). The day ends at midnight Pacific time; until then every request
// over it gets 429 RESOURCE_EXHAUSTED whose ErrorInfo names a per-day
// limit (quota_limit "defaultPerDayPerProject") and carries no RetryInfo.
func (e *Emulator) SetDailyQuota(n int) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.dayN, e.dayUsed = max(n, 0), 0
}

// RetryInfo modes of SetRetryInfo.
const (
	// RetryInfoExact: a rate 429 carries RetryInfo and Retry-After of the
	// time until a request would be accepted (the default).
	RetryInfoExact = "exact"
	// RetryInfoNone: no RetryInfo and no Retry-After.
	RetryInfoNone = "none"
)

// SetRetryInfo says what the 429s of the token bucket and the window quota
// tell the client: RetryInfoExact, RetryInfoNone, or a fixed delay such as
// "1s" (whatever the real wait). "" (the default) is exact for the bucket
// and none for the window quota.
func (e *Emulator) SetRetryInfo(mode string) error {
	if _, err := parseRetryInfo(mode); err != nil {
		return err
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.retryInfo = mode
	return nil
}

// parseRetryInfo returns the fixed delay of mode, 0 for exact, -1 for none.
func parseRetryInfo(mode string) (time.Duration, error) {
	switch mode {
	case "", RetryInfoExact:
		return 0, nil
	case RetryInfoNone:
		return -1, nil
	}
	d, err := time.ParseDuration(mode)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("emulator: retry info %q: want exact, none or a positive duration", mode)
	}
	return d, nil
}

// QuotaConfig is the part of Config that window.go's knobs take.
type QuotaConfig struct {
	RetryInfo           string  `json:"retry_info"`            // "" (exact for the bucket, none for the window), "exact", "none" or a duration
	WindowQuota         int     `json:"window_quota"`          // requests per window; 0: no window quota
	WindowSeconds       float64 `json:"window_seconds"`        // the window's length
	WindowOffsetSeconds float64 `json:"window_offset_seconds"` // where windows start, past each multiple of the length
	DailyQuota          int     `json:"daily_quota"`           // requests per Pacific day; 0: none
	ThrottleAs          string  `json:"throttle_as"`           // how the bucket and the window quota refuse: "429" (or ""), "403", "403-legacy" (throttle.go)
}

// quotaConfig returns the knobs; the caller holds e.knobMu.
func (e *Emulator) quotaConfig() QuotaConfig {
	return QuotaConfig{RetryInfo: e.retryInfo, WindowQuota: e.winN, WindowSeconds: e.winLen.Seconds(),
		WindowOffsetSeconds: e.winOffset.Seconds(), DailyQuota: e.dayN, ThrottleAs: e.throttleAs.String()}
}

func (c QuotaConfig) check() error {
	if _, err := parseRetryInfo(c.RetryInfo); err != nil {
		return err
	}
	if _, err := ParseThrottle(c.ThrottleAs); err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if c.WindowQuota < 0 || c.WindowSeconds < 0 || c.DailyQuota < 0 || (c.WindowQuota > 0 && c.WindowSeconds <= 0) {
		return fmt.Errorf("emulator: a window quota needs a positive count and length, a daily quota a count >= 0")
	}
	return nil
}

// applyQuotas sets the knobs of c (checked); a window or daily quota
// starts afresh only when it changed.
func (e *Emulator) applyQuotas(c QuotaConfig) {
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	e.knobMu.Lock()
	old := e.quotaConfig()
	e.retryInfo = c.RetryInfo
	e.throttleAs, _ = ParseThrottle(c.ThrottleAs) // checked
	e.knobMu.Unlock()
	if c.WindowQuota != old.WindowQuota || c.WindowSeconds != old.WindowSeconds || c.WindowOffsetSeconds != old.WindowOffsetSeconds {
		e.SetWindowQuota(c.WindowQuota, sec(c.WindowSeconds), sec(c.WindowOffsetSeconds))
	}
	if c.DailyQuota != old.DailyQuota {
		e.SetDailyQuota(c.DailyQuota)
	}
}

// quotaError is the 429 of the bucket or the window quota: RetryInfo as
// SetRetryInfo says, wait being the real time until a request would pass;
// a 403 instead if SetThrottleAs says so. The caller holds e.knobMu.
func (e *Emulator) quotaError(wait time.Duration, limit string, value int) *apiError {
	mode := e.retryInfo
	if mode == "" && limit != "" {
		mode = RetryInfoNone // a window quota's default
	}
	fixed, _ := parseRetryInfo(mode)
	var err *apiError
	switch {
	case fixed < 0:
		err = rateLimited(wait)
		err.Details = err.Details[:1] // the ErrorInfo only
		err.header = nil
	case fixed > 0:
		err = rateLimited(fixed)
	default:
		err = rateLimited(wait)
	}
	if limit != "" {
		md := err.Details[0]["metadata"].(map[string]string)
		md["quota_limit"] = limit
		md["quota_limit_value"] = strconv.Itoa(value)
	}
	return e.throttleReply(err)
}

// earlyGrace is how long after a 429 with RetryInfo requests still count
// as already in flight when it was sent, not as early.
const earlyGrace = 200 * time.Millisecond

// checkEarly counts a request that arrives while the client was told to
// wait: after a 429 whose RetryInfo has not yet run out, later than
// earlyGrace after that 429. A client that honours RetryInfo for every
// request it makes, not only the one told, makes none. The caller holds
// e.knobMu.
func (e *Emulator) checkEarly(now time.Time) {
	if now.After(e.toldAt.Add(earlyGrace)) && now.Before(e.toldUntil) {
		e.early++
	}
}

// told notes a 429 telling the client to wait d. The caller holds
// e.knobMu.
func (e *Emulator) told(now time.Time, err *apiError) {
	for _, d := range err.Details {
		if d["@type"] != typeRetryInfo {
			continue
		}
		if wait, perr := time.ParseDuration(d["retryDelay"].(string)); perr == nil {
			if until := now.Add(wait); until.After(e.toldUntil) {
				e.toldAt, e.toldUntil = now, until
			}
		}
	}
}

// takeWindow counts a request against the window and daily quotas; it
// returns the 429 of the first one used up. The caller holds e.knobMu.
func (e *Emulator) takeWindow(now time.Time) *apiError {
	if e.winN > 0 {
		start := windowStart(now, e.winLen, e.winOffset)
		if !start.Equal(e.winStart) {
			e.closeWindow()
			e.winStart, e.winUsed, e.winThrottled = start, 0, 0
		}
		if e.winUsed >= e.winN {
			e.winThrottled++
			return e.quotaError(start.Add(e.winLen).Sub(now), "defaultPerWindowPerProject", e.winN)
		}
	}
	if e.dayN > 0 {
		day := pacificDay(now)
		if day != e.day {
			e.day, e.dayUsed = day, 0
		}
		if e.dayUsed >= e.dayN {
			err := rateLimited(time.Second)
			err.Message = "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service 'cloudidentity.googleapis.com' for consumer 'project_number:123'."
			err.Details = err.Details[:1]
			err.header = nil
			md := err.Details[0]["metadata"].(map[string]string)
			md["quota_limit"] = "defaultPerDayPerProject"
			md["quota_limit_value"] = strconv.Itoa(e.dayN)
			return err
		}
		e.dayUsed++
	}
	if e.winN > 0 {
		e.winUsed++
	}
	return nil
}

// closeWindow records the window that ends in the per-window counts. The
// caller holds e.knobMu.
func (e *Emulator) closeWindow() {
	if e.winStart.IsZero() {
		return
	}
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	e.windows = append(e.windows, WindowCount{Start: e.winStart.UnixMilli(), Accepted: e.winUsed, Throttled: e.winThrottled})
}

// windowStart returns the start of the fixed window holding now.
func windowStart(now time.Time, w, offset time.Duration) time.Time {
	since := now.Sub(time.Unix(0, 0).Add(offset))
	k := since / w
	if since < 0 && since%w != 0 {
		k--
	}
	return time.Unix(0, 0).Add(offset + k*w)
}

// pacific is the time zone of Google's daily quota resets.
var pacific = func() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	return time.FixedZone("PST", -8*3600)
}()

func pacificDay(t time.Time) string { return t.In(pacific).Format("2006-01-02") }

// WindowCount is what one window of the window quota accepted and refused.
type WindowCount struct {
	Start     int64 `json:"start_unix_ms"`
	Accepted  int   `json:"accepted"`
	Throttled int   `json:"throttled"`
}

// windowStats returns the windows so far, the current one last.
func (e *Emulator) windowStats() []WindowCount {
	e.knobMu.Lock()
	cur := WindowCount{Start: e.winStart.UnixMilli(), Accepted: e.winUsed, Throttled: e.winThrottled}
	has := !e.winStart.IsZero()
	e.knobMu.Unlock()
	e.statsMu.Lock()
	out := append([]WindowCount(nil), e.windows...)
	e.statsMu.Unlock()
	if has {
		out = append(out, cur)
	}
	return out
}
