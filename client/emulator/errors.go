package emulator

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// apiError is a google.rpc.Status as the JSON API wraps it in "error".
type apiError struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details,omitempty"`
	// Errors is the legacy errors[] array some Google APIs still send
	// (throttle.go).
	Errors []legacyError `json:"errors,omitempty"`

	header   map[string]string // extra response headers
	throttle bool              // a rate quota's refusal, whatever its code
}

const (
	typeErrorInfo = "type.googleapis.com/google.rpc.ErrorInfo"
	typeRetryInfo = "type.googleapis.com/google.rpc.RetryInfo"
	typeHelp      = "type.googleapis.com/google.rpc.Help"
)

func errorInfo(reason string, metadata map[string]string) map[string]any {
	if metadata == nil {
		metadata = map[string]string{}
	}
	return map[string]any{"@type": typeErrorInfo, "reason": reason, "domain": "googleapis.com", "metadata": metadata}
}

// statusOf maps an HTTP code to the google.rpc.Code name Google pairs it
// with (google/rpc/code.proto).
func statusOf(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}

var defaultMessages = map[int]string{
	400: "Request contains an invalid argument.",
	401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
	403: "The caller does not have permission",
	404: "Requested entity was not found.",
	409: "The operation was aborted.",
	499: "The operation was cancelled.",
	429: "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service 'cloudidentity.googleapis.com' for consumer 'project_number:123'.",
	500: "Internal error encountered.",
	503: "The service is currently unavailable.",
	504: "The request timed out.",
}

// codeError is the error an injected failure of an HTTP code gives.
func codeError(code int) *apiError {
	if code == 429 {
		return rateLimited(time.Second)
	}
	msg, ok := defaultMessages[code]
	if !ok {
		msg = http.StatusText(code)
	}
	e := &apiError{Code: code, Message: msg, Status: statusOf(code)}
	if code == 401 {
		e.Details = []map[string]any{errorInfo("ACCESS_TOKEN_EXPIRED", map[string]string{"service": "cloudidentity.googleapis.com", "method": "google.apps.cloudidentity.v1.UserInvitationService"})}
		e.header = map[string]string{"WWW-Authenticate": `Bearer realm="https://accounts.google.com/", error="invalid_token"`}
	}
	return e
}

func invalidArgument(msg string) *apiError {
	return &apiError{Code: 400, Message: msg, Status: "INVALID_ARGUMENT"}
}

var (
	errNotFound     = &apiError{Code: 404, Message: defaultMessages[404], Status: "NOT_FOUND"}
	errPrecondition = &apiError{Code: 400, Message: "Precondition check failed.", Status: "FAILED_PRECONDITION"}
	errNoMethod     = &apiError{Code: 404, Message: "Method not found.", Status: "NOT_FOUND"}
)

// rateLimited is the 429 of an exhausted quota, telling the client to wait
// at least d.
func rateLimited(d time.Duration) *apiError {
	if d < time.Millisecond {
		d = time.Millisecond
	}
	d = d.Round(time.Millisecond)
	return &apiError{
		Code:    429,
		Message: defaultMessages[429],
		Status:  "RESOURCE_EXHAUSTED",
		Details: []map[string]any{
			errorInfo("RATE_LIMIT_EXCEEDED", map[string]string{
				"service":      "cloudidentity.googleapis.com",
				"quota_metric": "cloudidentity.googleapis.com/default",
				"quota_limit":  "defaultPerMinutePerProject",
				"consumer":     "projects/123",
			}),
			{"@type": typeRetryInfo, "retryDelay": durationJSON(d)},
		},
		header: map[string]string{"Retry-After": strconv.Itoa(int(math.Ceil(d.Seconds())))},
	}
}

// durationJSON formats d as protobuf JSON does: seconds with 0, 3, 6 or 9
// fractional digits.
func durationJSON(d time.Duration) string {
	sec, ns := int64(d/time.Second), int64(d%time.Second)
	switch {
	case ns == 0:
		return fmt.Sprintf("%ds", sec)
	case ns%1e6 == 0:
		return fmt.Sprintf("%d.%03ds", sec, ns/1e6)
	case ns%1e3 == 0:
		return fmt.Sprintf("%d.%06ds", sec, ns/1e3)
	}
	return fmt.Sprintf("%d.%09ds", sec, ns)
}

// timestampJSON formats t as the service does: UTC, with 0, 3, 6 or 9
// fractional digits.
func timestampJSON(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	layout := "2006-01-02T15:04:05.000000000Z"
	switch {
	case ns == 0:
		layout = "2006-01-02T15:04:05Z"
	case ns%1e6 == 0:
		layout = "2006-01-02T15:04:05.000Z"
	case ns%1e3 == 0:
		layout = "2006-01-02T15:04:05.000000Z"
	}
	return t.Format(layout)
}

// The fatal errors of SetFatal.
var fatalErrors = map[Fatal]*apiError{
	FatalPermissionDenied: {Code: 403, Message: "The caller does not have permission", Status: "PERMISSION_DENIED"},
	FatalServiceDisabled: {
		Code:    403,
		Message: "Cloud Identity API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=123 then retry. If you enabled this API recently, wait a few minutes for the action to propagate to our systems and retry.",
		Status:  "PERMISSION_DENIED",
		Details: []map[string]any{
			errorInfo("SERVICE_DISABLED", map[string]string{
				"consumer":      "projects/123",
				"service":       "cloudidentity.googleapis.com",
				"serviceTitle":  "Cloud Identity API",
				"activationUrl": "https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=123",
				"containerInfo": "123",
			}),
			{"@type": typeHelp, "links": []map[string]string{{
				"description": "Google developers console API activation",
				"url":         "https://console.developers.google.com/apis/api/cloudidentity.googleapis.com/overview?project=123",
			}}},
		},
	},
	FatalQuotaProject: {
		Code:    403,
		Message: "Your application is authenticating by using local Application Default Credentials. The cloudidentity.googleapis.com API requires a quota project, which is not set by default. To learn how to set your quota project, see https://cloud.google.com/docs/authentication/adc-troubleshooting/user-creds .",
		Status:  "PERMISSION_DENIED",
		Details: []map[string]any{
			errorInfo("USER_PROJECT_DENIED", map[string]string{
				"consumer": "projects/764086051850",
				"service":  "cloudidentity.googleapis.com",
			}),
		},
	},
	FatalUnauthenticated: codeError(401),
}

// writeJSON writes a 200 reply.
func writeJSON(w http.ResponseWriter, v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return writeError(w, &apiError{Code: 500, Message: defaultMessages[500], Status: "INTERNAL"})
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return http.StatusOK
}

// writeError writes an error reply and returns its code.
func writeError(w http.ResponseWriter, e *apiError) int {
	b, _ := json.Marshal(struct {
		Error *apiError `json:"error"`
	}{e})
	h := w.Header()
	for k, v := range e.header {
		h.Set(k, v)
	}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(e.Code)
	w.Write(b)
	return e.Code
}
