package emulator

import (
	"fmt"
	"math"
	"time"
)

// AmbiguousMode is how an ambiguous send fails after it was performed.
type AmbiguousMode int

const (
	// AmbiguousStatus500 replies 500 INTERNAL.
	AmbiguousStatus500 AmbiguousMode = iota
	// AmbiguousDrop closes the connection without a reply.
	AmbiguousDrop
	// AmbiguousOperation replies 200 with an Operation that is done with
	// the error RESOURCE_EXHAUSTED: the server accepted the request.
	AmbiguousOperation
)

var ambiguousNames = [...]string{AmbiguousStatus500: "status500", AmbiguousDrop: "drop", AmbiguousOperation: "operation"}

// String returns the name Config uses for m: "status500", "drop" or
// "operation".
func (m AmbiguousMode) String() string {
	if m < 0 || int(m) >= len(ambiguousNames) {
		return fmt.Sprintf("AmbiguousMode(%d)", int(m))
	}
	return ambiguousNames[m]
}

// Fatal is a failure every request meets, as a broken project or credential
// gives.
type Fatal int

const (
	// FatalNone: no fatal failure (the default).
	FatalNone Fatal = iota
	// FatalPermissionDenied: 403 PERMISSION_DENIED, "The caller does not
	// have permission".
	FatalPermissionDenied
	// FatalServiceDisabled: 403 PERMISSION_DENIED with ErrorInfo reason
	// SERVICE_DISABLED (the API is not enabled in the project).
	FatalServiceDisabled
	// FatalQuotaProject: 403 PERMISSION_DENIED with ErrorInfo reason
	// USER_PROJECT_DENIED (user credentials without a quota project).
	FatalQuotaProject
	// FatalUnauthenticated: 401 UNAUTHENTICATED (a revoked or expired
	// token).
	FatalUnauthenticated
)

var fatalNames = [...]string{
	FatalNone:             "none",
	FatalPermissionDenied: "permission_denied",
	FatalServiceDisabled:  "service_disabled",
	FatalQuotaProject:     "quota_project",
	FatalUnauthenticated:  "unauthenticated",
}

// String returns the name Config uses for f.
func (f Fatal) String() string {
	if f < 0 || int(f) >= len(fatalNames) {
		return fmt.Sprintf("Fatal(%d)", int(f))
	}
	return fatalNames[f]
}

func parseName(what, s string, names []string) (int, error) {
	for i, n := range names {
		if s == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown %s %q (want one of %v)", what, s, names)
}

// The method names of Stats.Requests and FailNext.
const (
	MethodGet         = "get"
	MethodIsInvitable = "isInvitableUser"
	MethodSend        = "send"
	MethodList        = "list"
	MethodCancel      = "cancel"
	// MethodOther counts requests that match no method (404).
	MethodOther = "other"
)

// SetLatency delays every API request by base plus a uniformly random
// duration in [0, jitter). A request whose client gives up while it waits
// is counted with code 499.
func (e *Emulator) SetLatency(base, jitter time.Duration) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.latency, e.jitter = max(base, 0), max(jitter, 0)
}

// SetQuota enforces a token bucket of qps requests per second with the
// given burst over all API requests (qps <= 0: unlimited; burst < 1 counts
// as 1). The bucket starts full. A request over quota gets 429
// RESOURCE_EXHAUSTED whose RetryInfo.retryDelay is the time until a token
// is free, rounded up to a millisecond, and a Retry-After header of that
// time in whole seconds, rounded up.
func (e *Emulator) SetQuota(qps float64, burst int) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.qps, e.burst = max(qps, 0), max(burst, 1)
	e.tokens, e.last = float64(e.burst), time.Now()
}

// take takes a token from the quota bucket; if none is free it returns how
// long until one is. The caller holds e.knobMu.
func (e *Emulator) take(now time.Time) (wait time.Duration, ok bool) {
	if e.qps <= 0 {
		return 0, true
	}
	if el := now.Sub(e.last); el > 0 {
		e.tokens = math.Min(float64(e.burst), e.tokens+el.Seconds()*e.qps)
		e.last = now
	}
	if e.tokens >= 1 {
		e.tokens--
		return 0, true
	}
	return time.Duration(math.Ceil((1 - e.tokens) / e.qps * float64(time.Second))), false
}

// SetFailRate makes each API request fail with 503 UNAVAILABLE with
// probability p, before it has any effect.
func (e *Emulator) SetFailRate(p float64) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.failRate = p
}

// FailNext makes the next n requests of a method (one of the Method
// constants, or "" for any method) fail with the HTTP code, before they have
// any effect. The error body carries the google.rpc status Google pairs with
// the code; a 429 also carries a 1s RetryInfo. Calls queue up: after
// FailNext(MethodSend, 1, 503) and FailNext(MethodSend, 1, 500) the next
// send gets 503 and the one after 500. A method-specific failure is used
// before an any-method one.
func (e *Emulator) FailNext(method string, n int, code int) {
	switch method {
	case "", MethodGet, MethodIsInvitable, MethodSend, MethodList, MethodCancel:
	default:
		panic(fmt.Sprintf("emulator: FailNext: unknown method %q", method))
	}
	if code < 400 || code > 599 {
		panic(fmt.Sprintf("emulator: FailNext: %d is not an error code", code))
	}
	if n <= 0 {
		return
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.failNext[method] = append(e.failNext[method], failure{code: code, n: n})
}

type failure struct{ code, n int }

// nextFailure pops an injected failure for method; the caller holds
// e.knobMu.
func (e *Emulator) nextFailure(method string) (code int, ok bool) {
	for _, m := range [...]string{method, ""} {
		q := e.failNext[m]
		if len(q) == 0 {
			continue
		}
		code = q[0].code
		if q[0].n--; q[0].n == 0 {
			q = q[1:]
		}
		if len(q) == 0 {
			delete(e.failNext, m)
		} else {
			e.failNext[m] = q
		}
		return code, true
	}
	return 0, false
}

// SetAmbiguousSendRate makes each send that would succeed fail, after it was
// performed, with probability p: the email goes out and counts in Sends,
// but the client sees 500 INTERNAL or a dropped connection, as mode says.
func (e *Emulator) SetAmbiguousSendRate(p float64, mode AmbiguousMode) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.ambRate, e.ambMode = p, mode
}

// SetFatal makes every API request fail as f says (FatalNone: stop doing
// so).
func (e *Emulator) SetFatal(f Fatal) {
	if f < 0 || int(f) >= len(fatalNames) {
		panic(fmt.Sprintf("emulator: SetFatal: invalid mode %d", int(f)))
	}
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.fatal = f
}

// RequireToken makes every API request without an "Authorization: Bearer
// <token>" header whose token valid accepts fail with 401 UNAUTHENTICATED.
// nil, the default, checks nothing.
func (e *Emulator) RequireToken(valid func(token string) bool) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	e.validToken = valid
}

// Config is the emulator's knobs in the form the standalone server and
// the POST /emulator/config endpoint take them.
type Config struct {
	LatencyMS         float64 `json:"latency_ms"`
	JitterMS          float64 `json:"jitter_ms"`
	QuotaQPS          float64 `json:"quota_qps"`   // 0: unlimited
	QuotaBurst        int     `json:"quota_burst"` // < 1 counts as 1
	FailRate          float64 `json:"fail_rate"`
	AmbiguousSendRate float64 `json:"ambiguous_send_rate"`
	AmbiguousMode     string  `json:"ambiguous_mode"` // "status500", "drop" or "operation"
	Fatal             string  `json:"fatal"`          // "none", "permission_denied", "service_disabled", "quota_project", "unauthenticated"
	Refusal           string  `json:"refusal"`        // how send refuses an ineligible account: "failed_precondition", "not_found", "permission_denied"
	Profile           string  `json:"profile"`        // "default" or "google-strict" (strict.go)
	ReadOnly          bool    `json:"read_only"`      // send and cancel 403 (strict.go)
	HangRate          float64 `json:"hang_rate"`      // fraction of requests never answered (strict.go)
	// The window and daily quotas (window.go), inline in the JSON.
	QuotaConfig
}

// Config returns the current knobs.
func (e *Emulator) Config() Config {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	return Config{
		LatencyMS:         float64(e.latency) / float64(time.Millisecond),
		JitterMS:          float64(e.jitter) / float64(time.Millisecond),
		QuotaQPS:          e.qps,
		QuotaBurst:        e.burst,
		FailRate:          e.failRate,
		AmbiguousSendRate: e.ambRate,
		AmbiguousMode:     e.ambMode.String(),
		Fatal:             e.fatal.String(),
		Refusal:           e.refusal.String(),
		Profile:           e.profile.String(),
		ReadOnly:          e.readOnly,
		HangRate:          e.hangRate,
		QuotaConfig:       e.quotaConfig(),
	}
}

// Apply sets every knob from c. Empty AmbiguousMode and Fatal mean
// "status500" and "none". The quota bucket is refilled only if the quota
// changed. Nothing is changed if c is invalid.
func (e *Emulator) Apply(c Config) error {
	if err := c.QuotaConfig.check(); err != nil {
		return err
	}
	if c.AmbiguousMode == "" {
		c.AmbiguousMode = AmbiguousStatus500.String()
	}
	if c.Fatal == "" {
		c.Fatal = FatalNone.String()
	}
	mode, err := parseName("ambiguous mode", c.AmbiguousMode, ambiguousNames[:])
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	fatal, err := parseName("fatal mode", c.Fatal, fatalNames[:])
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if c.Refusal == "" {
		c.Refusal = RefuseFailedPrecondition.String()
	}
	refusal, err := ParseRefusal(c.Refusal)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	profile, err := ParseProfile(c.Profile)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	for _, p := range []float64{c.FailRate, c.AmbiguousSendRate, c.HangRate} {
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("emulator: rate %v is not a probability", p)
		}
	}
	if c.LatencyMS < 0 || c.JitterMS < 0 || c.QuotaQPS < 0 {
		return fmt.Errorf("emulator: negative latency, jitter or quota")
	}
	if c.QuotaQPS != e.Config().QuotaQPS || max(c.QuotaBurst, 1) != e.Config().QuotaBurst {
		e.SetQuota(c.QuotaQPS, c.QuotaBurst)
	}
	ms := func(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }
	e.SetLatency(ms(c.LatencyMS), ms(c.JitterMS))
	e.SetFailRate(c.FailRate)
	e.SetAmbiguousSendRate(c.AmbiguousSendRate, AmbiguousMode(mode))
	e.SetFatal(Fatal(fatal))
	e.SetRefusal(refusal)
	e.SetProfile(profile)
	e.SetReadOnly(c.ReadOnly)
	e.SetHangRate(c.HangRate)
	e.applyQuotas(c.QuotaConfig)
	return nil
}
