package emulator

import (
	"fmt"
	"strings"
)

// Throttle is how the rate quotas (the token bucket of SetQuota and the
// window quota of SetWindowQuota) refuse a request. Google's newer APIs
// answer 429 RESOURCE_EXHAUSTED; some older ones answer 403 with the
// reason rateLimitExceeded or userRateLimitExceeded, in an ErrorInfo or
// only in the legacy errors[] array (see the reference's "Errors &
// retries"). Which one Cloud Identity sends is not documented. The daily
// quota always answers 429.
type Throttle int

const (
	// Throttle429: 429 RESOURCE_EXHAUSTED with an ErrorInfo of reason
	// RATE_LIMIT_EXCEEDED (the default).
	Throttle429 Throttle = iota
	// Throttle403: 403 PERMISSION_DENIED with the same ErrorInfo (reason
	// RATE_LIMIT_EXCEEDED, the quota metadata) and the same RetryInfo and
	// Retry-After as the 429 would carry.
	Throttle403
	// Throttle403Legacy: 403 PERMISSION_DENIED "Rate Limit Exceeded" whose
	// only reason is in the legacy errors[] array (domain usageLimits,
	// reason rateLimitExceeded): no details, so no RetryInfo and no
	// Retry-After.
	Throttle403Legacy
)

var throttleNames = [...]string{Throttle429: "429", Throttle403: "403", Throttle403Legacy: "403-legacy"}

// String returns the name Config and the emulator command use for t.
func (t Throttle) String() string {
	if t < 0 || int(t) >= len(throttleNames) {
		return fmt.Sprintf("Throttle(%d)", int(t))
	}
	return throttleNames[t]
}

// ParseThrottle parses a throttle name: "429", "403" or "403-legacy" (""
// is 429).
func ParseThrottle(s string) (Throttle, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Throttle429, nil
	}
	i, err := parseName("throttle", s, throttleNames[:])
	return Throttle(i), err
}

// SetThrottleAs sets how the rate quotas refuse a request.
func (e *Emulator) SetThrottleAs(t Throttle) {
	if t < 0 || int(t) >= len(throttleNames) {
		panic(fmt.Sprintf("emulator: SetThrottleAs: invalid throttle %d", int(t)))
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.throttleAs = t
}

// legacyError is one entry of the legacy errors[] array of an error reply.
type legacyError struct {
	Message string `json:"message"`
	Domain  string `json:"domain"`
	Reason  string `json:"reason"`
}

// throttleReply turns the 429 of a rate quota into the refusal SetThrottleAs
// asks for. err is freshly made (rateLimited), so it may be changed. The
// caller holds e.knobMu.
func (e *Emulator) throttleReply(err *apiError) *apiError {
	err.throttle = true
	switch e.throttleAs {
	case Throttle403:
		err.Code, err.Status = 403, "PERMISSION_DENIED"
	case Throttle403Legacy:
		const msg = "Rate Limit Exceeded"
		err.Code, err.Status, err.Message = 403, "PERMISSION_DENIED", msg
		err.Details, err.header = nil, nil
		err.Errors = []legacyError{{Message: msg, Domain: "usageLimits", Reason: "rateLimitExceeded"}}
	}
	return err
}
