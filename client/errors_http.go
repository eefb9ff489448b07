package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/googleapis/gax-go/v2/apierror"
	v1 "google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/invitebatch/invitebatch/batch"
)

// httpFailure is what classification needs of an error reply.
type httpFailure struct {
	code       int
	status     string   // RESOURCE_EXHAUSTED...
	message    string   // the server's message
	reasons    []string // ErrorInfo reasons and legacy errors[].reason
	metadata   map[string]string
	retryAfter time.Duration
}

// httpFailureOf reads the parsed details, falling back to the raw ones:
// gax leaves the parsed details empty when the body has a legacy errors[]
// array or a detail type it does not know.
func httpFailureOf(herr *googleapi.Error) httpFailure {
	f := httpFailure{code: herr.Code, message: herr.Message}
	var body struct {
		Error struct {
			Status string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(herr.Body), &body) == nil {
		f.status = body.Error.Status
	}
	var aerr *apierror.APIError
	if errors.As(herr, &aerr) {
		if r := aerr.Reason(); r != "" {
			f.reasons = append(f.reasons, r)
			f.metadata = aerr.Metadata()
		}
		if ri := aerr.Details().RetryInfo; ri != nil && ri.GetRetryDelay() != nil {
			f.retryAfter = ri.GetRetryDelay().AsDuration()
		}
	}
	for _, e := range herr.Errors {
		if e.Reason != "" {
			f.reasons = append(f.reasons, e.Reason)
		}
	}
	f.addRawDetails(herr.Details)
	if f.retryAfter == 0 {
		f.retryAfter = retryAfterHeader(herr.Header.Get("Retry-After"), time.Now())
	}
	return f
}

// addRawDetails adds what ErrorInfo and RetryInfo details, as decoded JSON
// maps, hold and f lacks.
func (f *httpFailure) addRawDetails(details []any) {
	for _, d := range details {
		m, ok := d.(map[string]any)
		if !ok {
			continue
		}
		if r, ok := m["reason"].(string); ok && r != "" {
			f.reasons = append(f.reasons, r)
			if md, ok := m["metadata"].(map[string]any); ok && f.metadata == nil {
				f.metadata = make(map[string]string, len(md))
				for k, v := range md {
					if s, ok := v.(string); ok {
						f.metadata[k] = s
					}
				}
			}
		}
		if s, ok := m["retryDelay"].(string); ok && f.retryAfter == 0 {
			if d, err := time.ParseDuration(s); err == nil && d > 0 {
				f.retryAfter = d
			}
		}
	}
}

// retryAfterHeader parses a Retry-After value: seconds or an HTTP date.
func retryAfterHeader(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// classifyStatus classifies the error of an Operation that is done: a
// google.rpc.Status whose code is a gRPC code, not an HTTP one.
func classifyStatus(st *v1.Status, method, customer, email string) *batch.APIError {
	f := httpFailure{
		code:    httpCode(st.Code),
		status:  code.Code_name[int32(st.Code)],
		message: st.Message,
	}
	details := make([]any, 0, len(st.Details))
	for _, raw := range st.Details {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			details = append(details, m)
		}
	}
	f.addRawDetails(details)
	return classifyHTTP(f, method, customer, email)
}

// httpCode maps a google.rpc.Code to its HTTP status (google/rpc/code.proto).
func httpCode(c int64) int {
	switch code.Code(c) {
	case code.Code_CANCELLED:
		return 499
	case code.Code_INVALID_ARGUMENT, code.Code_FAILED_PRECONDITION, code.Code_OUT_OF_RANGE:
		return http.StatusBadRequest
	case code.Code_DEADLINE_EXCEEDED:
		return http.StatusGatewayTimeout
	case code.Code_NOT_FOUND:
		return http.StatusNotFound
	case code.Code_ALREADY_EXISTS, code.Code_ABORTED:
		return http.StatusConflict
	case code.Code_PERMISSION_DENIED:
		return http.StatusForbidden
	case code.Code_UNAUTHENTICATED:
		return http.StatusUnauthorized
	case code.Code_RESOURCE_EXHAUSTED:
		return http.StatusTooManyRequests
	case code.Code_UNIMPLEMENTED:
		return http.StatusNotImplemented
	case code.Code_UNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// mutating reports whether method may have taken effect when it failed.
func mutating(method string) bool { return method == "send" || method == "cancel" }

// perAddress reports whether method concerns one address (all but list).
func perAddress(method string) bool { return method != "list" && method != "" }

// classifyHTTP applies the rules of CONTRACT.md "API errors". email is the
// lower-case address of the request, if known.
func classifyHTTP(f httpFailure, method, customer, email string) *batch.APIError {
	e := &batch.APIError{
		Kind:       batch.KindPermanent,
		Code:       f.code,
		Status:     f.status,
		RetryAfter: f.retryAfter,
	}
	if len(f.reasons) > 0 {
		e.Reason = f.reasons[0]
	}
	advice := ""
	switch c := f.code; {
	case f.dailyQuotaRefusal():
		// Not retried for hours: the run stops resumably (batch.QuotaStop).
		e.Kind, e.Resets = batch.KindFatal, dailyReset(time.Now())
		advice = dailyAdvice(e.Resets)
	case f.rateLimited():
		e.Kind = batch.KindRetryable
		if r := f.rateLimitReason(); r != "" {
			e.Reason = r
		}
	case c == http.StatusNotImplemented:
		// The method does not exist here: retrying cannot help, and
		// nothing was done (contract: 5xx except 501).
	case c == http.StatusRequestTimeout || c >= 500:
		e.Kind = batch.KindRetryable
		e.Ambiguous = mutating(method)
	case c == http.StatusForbidden:
		switch {
		case f.setupProblem():
			// A reason or message that holds for the whole customer.
			e.Kind = batch.KindFatal
			advice = forbiddenAdvice(f, customer)
		case method == "isInvitable" || method == "get":
			// Perhaps this address only (no account, another domain), as
			// GAM treats it; the runner checks with a customer-wide read.
			e.Kind = batch.KindForbidden
		case mutating(method) && f.namesAddress(email):
			e.Kind = batch.KindPrecondition
		default:
			// A send refused without naming the address: a credential
			// that can read but not write would otherwise turn a whole
			// migration into not_invitable.
			e.Kind = batch.KindFatal
			advice = forbiddenAdvice(f, customer)
		}
	case c == http.StatusUnauthorized:
		e.Kind = batch.KindUnauthenticated
	case c == http.StatusNotFound && (method == "isInvitable" || method == "send"):
		// GAM reads these as "not invitable" / "unknown user invitation".
		e.Kind = batch.KindPrecondition
	case c == http.StatusNotFound:
		e.Kind = batch.KindNotFound
	case c == http.StatusBadRequest && (perAddress(method) || f.status == "FAILED_PRECONDITION"):
		e.Kind = batch.KindPrecondition
	case c == http.StatusConflict && f.status == "ALREADY_EXISTS" && method == "send":
		e.Kind = batch.KindConflict
	}
	status := f.status
	if status == "" {
		status = strings.ToLower(http.StatusText(f.code))
	}
	e.Msg = strings.TrimSpace(fmt.Sprintf("%s: %d %s", method, f.code, status))
	if m := clean(f.message); m != "" {
		e.Msg += ": " + m
	}
	if advice != "" {
		e.Msg += "; " + advice
	}
	return e
}

// setupReasons are the ErrorInfo reasons (google/api/error_reason.proto,
// domain googleapis.com) and legacy errors[].reason values of a 403 that
// hold for the caller, project or customer as a whole, never for one
// address. Rate limits are not among them.
var setupReasons = []string{
	"SERVICE_DISABLED", "accessNotConfigured", "BILLING_DISABLED", "USER_PROJECT_DENIED",
	"ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions", "ACCESS_TOKEN_TYPE_UNSUPPORTED",
	"ACCESS_TOKEN_EXPIRED", "CREDENTIALS_MISSING", "CONSUMER_INVALID", "CONSUMER_SUSPENDED",
	"SERVICE_NOT_VISIBLE", "GCP_SUSPENDED", "SECURITY_POLICY_VIOLATED", "ORG_RESTRICTION_VIOLATION",
	"ORG_RESTRICTION_HEADER_INVALID", "USER_BLOCKED_BY_ADMIN", "ACCOUNT_STATE_INVALID",
	"RESOURCE_PROJECT_INVALID", "IAM_PERMISSION_DENIED", "API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED",
	"LOCATION_POLICY_VIOLATED", "RESOURCE_USAGE_RESTRICTION_VIOLATED",
	// "Daily Limit for Unauthenticated Use Exceeded": no credentials
	// reached Google. (dailyLimitExceeded itself is a daily quota.)
	"dailyLimitExceededUnreg",
}

// setupProblem reports whether a 403 holds for the whole customer: by its
// reason, or by the messages Google gives such errors.
func (f httpFailure) setupProblem() bool {
	msg := strings.ToLower(f.message)
	return f.hasReason(setupReasons...) || strings.Contains(msg, "quota project") ||
		strings.Contains(msg, "has not been used in project") || strings.Contains(msg, "is disabled") ||
		strings.Contains(msg, "insufficient authentication scopes")
}

// namesAddress reports whether the ErrorInfo metadata of a failure names
// email: the one way a 403 on send can say it concerns the address.
func (f httpFailure) namesAddress(email string) bool {
	if email == "" {
		return false
	}
	for _, v := range f.metadata {
		if strings.EqualFold(strings.TrimSpace(v), email) || strings.EqualFold(v, "userinvitations/"+email) ||
			strings.HasSuffix(strings.ToLower(v), "/userinvitations/"+email) {
			return true
		}
	}
	return false
}

func (f httpFailure) rateLimitReason() string {
	for _, r := range f.reasons {
		switch r {
		case "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED":
			return r
		}
	}
	return ""
}

// rateLimited reports whether the failure refuses for a rate quota: a 429,
// or a 403 with a rate-limit reason (some Google APIs refuse quota with
// 403).
func (f httpFailure) rateLimited() bool {
	return f.code == http.StatusTooManyRequests || (f.code == http.StatusForbidden && f.rateLimitReason() != "")
}

// dailyQuotaRefusal reports whether the failure refuses for a daily quota:
// a rate-quota refusal (rateLimited) whose quota is per day (dailyQuota),
// or a 403 with the legacy reason dailyLimitExceeded. The run stops
// resumably until midnight Pacific time instead of retrying for hours.
func (f httpFailure) dailyQuotaRefusal() bool {
	return (f.rateLimited() && dailyQuota(f)) ||
		(f.code == http.StatusForbidden && f.hasReason("dailyLimitExceeded"))
}

func (f httpFailure) hasReason(reasons ...string) bool {
	for _, r := range f.reasons {
		for _, want := range reasons {
			if strings.EqualFold(r, want) {
				return true
			}
		}
	}
	return false
}
