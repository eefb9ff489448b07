package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"cloud.google.com/go/auth"
	"github.com/googleapis/gax-go/v2/apierror"
	"golang.org/x/oauth2"
	v1 "google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/googleapi"
	"google.golang.org/genproto/googleapis/rpc/code"

	"github.com/invitebatch/invitebatch/batch"
)

// Classify turns an error of a generated-client call into a
// *batch.APIError. method is the batch.API method ("isInvitable", "get",
// "send", "cancel" or "list"); only "send" and "cancel" can be Ambiguous.
// An error wrapping context.Canceled or context.DeadlineExceeded is
// returned unchanged: it is taken to be the caller's context ending. nil
// gives nil, and an error holding a *batch.APIError gives that.
//
// The Msg of the result is short and safe to log: the method, the HTTP code
// and status and the server's message, never a header, a raw body or
// anything from the credentials.
func Classify(err error, method string) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae *batch.APIError
	if errors.As(err, &ae) {
		return ae // already classified, e.g. by a Client method
	}
	return classify(err, method, "", "")
}

// classify is Classify without the context test; customer, if known, goes
// into the advice on permission errors, and email is the lower-case address
// of the request ("" if none or unknown).
func classify(err error, method, customer, email string) *batch.APIError {
	var herr *googleapi.Error
	if errors.As(err, &herr) {
		return classifyHTTP(httpFailureOf(herr), method, customer, email)
	}
	return classifyTransport(err, method)
}

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
	case c == http.StatusTooManyRequests && dailyQuota(f):
		// Not retried for hours: the run stops resumably (batch.QuotaStop).
		e.Kind, e.Resets = batch.KindFatal, dailyReset(time.Now())
		advice = dailyAdvice(e.Resets)
	case c == http.StatusTooManyRequests:
		e.Kind = batch.KindRetryable
	case c == http.StatusNotImplemented:
		// The method does not exist here: retrying cannot help, and
		// nothing was done (contract: 5xx except 501).
	case c == http.StatusRequestTimeout || c >= 500:
		e.Kind = batch.KindRetryable
		e.Ambiguous = mutating(method)
	case c == http.StatusForbidden:
		if r := f.rateLimitReason(); r != "" {
			e.Kind, e.Reason = batch.KindRetryable, r
			break
		}
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
	"LOCATION_POLICY_VIOLATED", "RESOURCE_USAGE_RESTRICTION_VIOLATED", "dailyLimitExceeded",
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

// gcloudProjects are the projects of gcloud's own OAuth clients: an API
// "disabled" in one of them means user credentials without a quota project.
var gcloudProjects = []string{"projects/764086051850", "projects/32555940559"}

// UserLogin is the command that gives user credentials (Application
// Default Credentials) the scope the tool needs.
const UserLogin = "gcloud auth application-default login --scopes=" + Scope + ",https://www.googleapis.com/auth/cloud-platform"

// forbiddenAdvice says what to fix for a 403 that is not a rate limit.
func forbiddenAdvice(f httpFailure, customer string) string {
	msg := strings.ToLower(f.message)
	consumer := f.metadata["consumer"]
	gcloudConsumer := containsAny(consumer, gcloudProjects)
	switch {
	case f.hasReason("USER_PROJECT_DENIED") && consumer != "" && !gcloudConsumer &&
		!strings.Contains(msg, "requires a quota project"):
		// A quota project is set, but the caller may not bill it.
		return "the quota project " + consumer + " refuses this caller: grant it roles/serviceusage.serviceUsageConsumer " +
			"on that project (gcloud projects add-iam-policy-binding PROJECT --member=user:YOU --role=roles/serviceusage.serviceUsageConsumer), " +
			"or pass --quota-project with a project where it has that role"
	case f.hasReason("USER_PROJECT_DENIED") || strings.Contains(msg, "quota project") ||
		(f.hasReason("SERVICE_DISABLED", "accessNotConfigured") && gcloudConsumer):
		return "user credentials need a quota project with the Cloud Identity API enabled: " +
			"run `gcloud auth application-default set-quota-project PROJECT` or pass --quota-project " +
			"(the caller needs roles/serviceusage.serviceUsageConsumer on it)"
	case f.hasReason("SERVICE_DISABLED", "accessNotConfigured") ||
		strings.Contains(msg, "has not been used in project") || strings.Contains(msg, "is disabled"):
		project := "the project"
		if consumer != "" {
			project = consumer
		}
		return "enable the Cloud Identity API in " + project +
			" (gcloud services enable cloudidentity.googleapis.com --project PROJECT)"
	case f.hasReason("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions") ||
		strings.Contains(msg, "insufficient authentication scopes"):
		return "the token lacks the scope " + Scope + ": for a service account, add it to the " +
			"domain-wide delegation allow-list of its client ID (Admin console, Security, API controls); " +
			"for user credentials, log in again with `" + UserLogin + "`"
	}
	cust := "the customer ID"
	if customer != "" {
		cust = "the customer ID " + strconv.Quote(customer)
	}
	return "check that the acting user is a super administrator, that " + cust +
		" is the right one for that user's organization, and, for a service account, that its client ID " +
		"has domain-wide delegation of " + Scope + " and the admin is the subject"
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// classifyTransport classifies a failure without an HTTP reply.
func classifyTransport(err error, method string) *batch.APIError {
	var terr *tokenError
	if errors.As(err, &terr) {
		return classifyToken(terr.err, method)
	}
	var rerr *oauth2.RetrieveError
	var aerr *auth.Error
	if errors.As(err, &rerr) || errors.As(err, &aerr) {
		return classifyToken(err, method)
	}

	inner := err
	var uerr *url.Error
	if errors.As(err, &uerr) {
		inner = uerr.Err // without the URL, which holds the address
	}
	e := &batch.APIError{Kind: batch.KindRetryable}
	switch {
	case neverSent(err):
		e.Msg = method + ": connection failed, request not sent: " + clean(inner.Error())
	case badCertificate(err):
		e.Kind = batch.KindFatal
		e.Msg = method + ": tls certificate verification failed: " + clean(inner.Error())
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(inner.Error(), "timeout awaiting response headers"):
		// The request's own bound (timeouts.go), not the caller's context:
		// a send may have been acted on.
		e.Ambiguous = mutating(method)
		e.Msg = method + ": no reply within the request timeout: " + clean(inner.Error())
	default:
		// A timeout, a reset, an EOF, a broken pipe, a closed connection or
		// anything unknown: the request may have been written and acted on.
		e.Ambiguous = mutating(method)
		e.Msg = method + ": transport error: " + clean(inner.Error())
	}
	return e
}

// neverSent reports whether err happened before the request could leave:
// the connection was refused or the host not found.
func neverSent(err error) bool {
	var dnsErr *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) {
		return true
	}
	// Some libraries flatten the error chain with %v.
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host")
}

func badCertificate(err error) bool {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	return errors.As(err, &verr) || errors.As(err, &uerr) || errors.As(err, &herr) || errors.As(err, &cerr)
}

// transient reports whether a token failure is worth retrying: the token
// endpoint was unreachable, timed out or reset.
func transient(err error) bool {
	if neverSent(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"i/o timeout", "Client.Timeout", "connection reset", "unexpected EOF", "TLS handshake timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// classifyToken classifies a failure to get an access token. No API request
// was made, so it is never Ambiguous. Only the OAuth error code and
// description are kept: a raw token response must not reach a log.
func classifyToken(err error, method string) *batch.APIError {
	e := &batch.APIError{Kind: batch.KindFatal}
	status, code, desc := 0, "", ""
	var rerr *oauth2.RetrieveError
	var aerr *auth.Error
	var body []byte
	switch {
	case errors.As(err, &rerr):
		code, desc, body = rerr.ErrorCode, rerr.ErrorDescription, rerr.Body
		if rerr.Response != nil {
			status = rerr.Response.StatusCode
		}
	case errors.As(err, &aerr):
		body = aerr.Body
		if aerr.Response != nil {
			status = aerr.Response.StatusCode
		}
	default:
		if transient(err) {
			e.Kind = batch.KindRetryable
			e.Msg = method + ": token endpoint unreachable: " + clean(err.Error())
			return e
		}
		if status := impersonateStatus(err); status == http.StatusTooManyRequests || status >= 500 {
			// The IAM credentials service is throttling or failing: a
			// later try may work, so it is not a refused credential.
			e.Kind = batch.KindRetryable
			e.Code = status
			e.Msg = fmt.Sprintf("%s: impersonation token endpoint: %d %s", method, status, strings.ToLower(http.StatusText(status)))
			return e
		}
		e.Msg = method + ": cannot get an access token: " + clean(err.Error()) +
			"; check the credentials, and for impersonation roles/iam.serviceAccountTokenCreator"
		return e
	}
	if code == "" {
		// Only these two fields: the rest of the body is not logged.
		var f struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &f) == nil {
			code, desc = f.Error, f.Description
		}
	}
	if status == http.StatusTooManyRequests || status >= 500 {
		e.Kind = batch.KindRetryable
		e.Code = status
		e.Msg = fmt.Sprintf("%s: token endpoint: %d %s", method, status, strings.ToLower(http.StatusText(status)))
		return e
	}
	what := code
	if what == "" {
		what = fmt.Sprintf("http %d", status)
	}
	if d := clean(desc); d != "" {
		what += ": " + d
	}
	e.Reason = code
	e.Msg = method + ": credentials refused by the token endpoint: " + what +
		"; the token may be revoked or expired, the key deleted or disabled, or, with domain-wide " +
		"delegation, the client ID not allowed the scope " + Scope + " or the subject not an admin"
	return e
}

// impersonateStatus returns the HTTP status of an impersonation token
// failure ("impersonate: status code N: body", as google.golang.org/api
// and cloud.google.com/go/auth word it, without a type to match), 0 for any
// other error.
func impersonateStatus(err error) int {
	const marker = "impersonate: status code "
	msg := err.Error()
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(marker):]
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n < 100 || n > 599 {
		return 0
	}
	return n
}

// clean makes a server-provided text fit for a one-line message: control
// characters dropped, at most 300 bytes.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
	const limit = 300
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
