package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

const customer = "C0test"

// newEmulated returns a Client of version api talking, without credentials,
// to a test server running h.
func newEmulated(t *testing.T, api string, h http.Handler) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(context.Background(), Config{
		Customer: customer,
		API:      api,
		Emulator: srv.Listener.Addr().String(),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// call calls the batch.API method named method.
func call(ctx context.Context, c *Client, method, email string) error {
	switch method {
	case "isInvitable":
		_, err := c.IsInvitable(ctx, email)
		return err
	case "get":
		_, err := c.Get(ctx, email)
		return err
	case "send":
		return c.Send(ctx, email)
	case "cancel":
		return c.Cancel(ctx, email)
	case "list":
		_, _, err := c.List(ctx, nil, "")
		return err
	}
	panic("unknown method " + method)
}

func TestClassifyHTTP(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		code    int
		header  map[string]string
		body    string
		want    batch.APIError // Msg: a substring of the message
		wantMsg []string
	}{
		{
			name:   "429 with RetryInfo",
			method: "send",
			code:   429,
			body: `{"error":{"code":429,"message":"quota exceeded","status":"RESOURCE_EXHAUSTED","details":[
				{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED","domain":"googleapis.com","metadata":{"service":"cloudidentity.googleapis.com"}},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"30s"}]}}`,
			want:    batch.APIError{Kind: batch.KindRetryable, Code: 429, Status: "RESOURCE_EXHAUSTED", Reason: "RATE_LIMIT_EXCEEDED", RetryAfter: 30 * time.Second},
			wantMsg: []string{"send: 429 RESOURCE_EXHAUSTED: quota exceeded"},
		},
		{
			name:   "429 with legacy errors only",
			method: "get",
			code:   429,
			body: `{"error":{"code":429,"message":"Rate Limit Exceeded","status":"RESOURCE_EXHAUSTED",
				"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}]}}`,
			want: batch.APIError{Kind: batch.KindRetryable, Code: 429, Status: "RESOURCE_EXHAUSTED", Reason: "rateLimitExceeded"},
		},
		{
			name:   "429 with legacy errors and raw RetryInfo",
			method: "get",
			code:   429,
			body: `{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED",
				"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}],
				"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12.5s"}]}}`,
			want: batch.APIError{Kind: batch.KindRetryable, Code: 429, Status: "RESOURCE_EXHAUSTED", Reason: "rateLimitExceeded", RetryAfter: 12500 * time.Millisecond},
		},
		{
			name:   "429 with Retry-After",
			method: "send",
			code:   429,
			header: map[string]string{"Retry-After": "7"},
			body:   `{"error":{"code":429,"message":"too many","status":"RESOURCE_EXHAUSTED"}}`,
			want:   batch.APIError{Kind: batch.KindRetryable, Code: 429, Status: "RESOURCE_EXHAUSTED", RetryAfter: 7 * time.Second},
		},
		{
			name:   "503 on get",
			method: "get",
			code:   503,
			body:   `{"error":{"code":503,"message":"The service is currently unavailable.","status":"UNAVAILABLE"}}`,
			want:   batch.APIError{Kind: batch.KindRetryable, Code: 503, Status: "UNAVAILABLE"},
		},
		{
			name:    "500 on send is ambiguous",
			method:  "send",
			code:    500,
			body:    `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`,
			want:    batch.APIError{Kind: batch.KindRetryable, Code: 500, Status: "INTERNAL", Ambiguous: true},
			wantMsg: []string{"send: 500 INTERNAL: Internal error encountered."},
		},
		{
			name:   "500 on get is not",
			method: "get",
			code:   500,
			body:   `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`,
			want:   batch.APIError{Kind: batch.KindRetryable, Code: 500, Status: "INTERNAL"},
		},
		{
			name:    "502 without a JSON body on cancel",
			method:  "cancel",
			code:    502,
			body:    `<html>bad gateway</html>`,
			want:    batch.APIError{Kind: batch.KindRetryable, Code: 502, Ambiguous: true},
			wantMsg: []string{"cancel: 502 bad gateway"},
		},
		{
			name:   "408 on cancel",
			method: "cancel",
			code:   408,
			body:   `{"error":{"code":408,"message":"timeout"}}`,
			want:   batch.APIError{Kind: batch.KindRetryable, Code: 408, Ambiguous: true},
		},
		{
			name:   "403 legacy rateLimitExceeded",
			method: "send",
			code:   403,
			body: `{"error":{"code":403,"message":"Rate Limit Exceeded",
				"errors":[{"domain":"usageLimits","reason":"rateLimitExceeded","message":"Rate Limit Exceeded"}]}}`,
			want: batch.APIError{Kind: batch.KindRetryable, Code: 403, Reason: "rateLimitExceeded"},
		},
		{
			name:   "403 userRateLimitExceeded in raw details",
			method: "get",
			code:   403,
			body: `{"error":{"code":403,"message":"slow","status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}],
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"userRateLimitExceeded"}]}}`,
			want: batch.APIError{Kind: batch.KindRetryable, Code: 403, Status: "PERMISSION_DENIED", Reason: "userRateLimitExceeded"},
		},
		{
			name:    "403 PERMISSION_DENIED",
			method:  "send",
			code:    403,
			body:    `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED"},
			wantMsg: []string{"send: 403 PERMISSION_DENIED: The caller does not have permission", "super administrator", `"C0test"`, "domain-wide delegation", Scope},
		},
		{
			name:   "403 SERVICE_DISABLED",
			method: "get",
			code:   403,
			body: `{"error":{"code":403,"message":"Cloud Identity API has not been used in project 123 before or it is disabled.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com",
				"metadata":{"consumer":"projects/123","service":"cloudidentity.googleapis.com"}}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "SERVICE_DISABLED"},
			wantMsg: []string{"enable the Cloud Identity API in projects/123"},
		},
		{
			name:   "403 SERVICE_DISABLED in gcloud's project",
			method: "get",
			code:   403,
			body: `{"error":{"code":403,"message":"Cloud Identity API has not been used in project 764086051850 before or it is disabled.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","metadata":{"consumer":"projects/764086051850"}}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "SERVICE_DISABLED"},
			wantMsg: []string{"gcloud auth application-default set-quota-project PROJECT", "--quota-project"},
		},
		{
			name:   "403 USER_PROJECT_DENIED",
			method: "list",
			code:   403,
			body: `{"error":{"code":403,"message":"Your application is authenticating by using local Application Default Credentials. The cloudidentity.googleapis.com API requires a quota project, which is not set by default.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"USER_PROJECT_DENIED","domain":"googleapis.com"}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "USER_PROJECT_DENIED"},
			wantMsg: []string{"gcloud auth application-default set-quota-project PROJECT", "--quota-project"},
		},
		{
			name:   "403 ACCESS_TOKEN_SCOPE_INSUFFICIENT",
			method: "send",
			code:   403,
			body: `{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com"}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
			wantMsg: []string{Scope, "allow-list"},
		},
		{
			name:   "401",
			method: "get",
			code:   401,
			body:   `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			want:   batch.APIError{Kind: batch.KindUnauthenticated, Code: 401, Status: "UNAUTHENTICATED"},
		},
		{
			name:   "404",
			method: "get",
			code:   404,
			body:   `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`,
			want:   batch.APIError{Kind: batch.KindNotFound, Code: 404, Status: "NOT_FOUND"},
		},
		{
			name:   "400 FAILED_PRECONDITION",
			method: "send",
			code:   400,
			body:   `{"error":{"code":400,"message":"Precondition check failed.","status":"FAILED_PRECONDITION"}}`,
			want:   batch.APIError{Kind: batch.KindPrecondition, Code: 400, Status: "FAILED_PRECONDITION"},
		},
		{
			name:   "400 INVALID_ARGUMENT for an address",
			method: "send",
			code:   400,
			body:   `{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}`,
			want:   batch.APIError{Kind: batch.KindPrecondition, Code: 400, Status: "INVALID_ARGUMENT"},
		},
		{
			name:   "400 INVALID_ARGUMENT on isInvitableUser",
			method: "isInvitable",
			code:   400,
			body:   `{"error":{"code":400,"message":"Invalid email.","status":"INVALID_ARGUMENT"}}`,
			want:   batch.APIError{Kind: batch.KindPrecondition, Code: 400, Status: "INVALID_ARGUMENT"},
		},
		{
			name:   "400 INVALID_ARGUMENT on list is not per address",
			method: "list",
			code:   400,
			body:   `{"error":{"code":400,"message":"Invalid filter.","status":"INVALID_ARGUMENT"}}`,
			want:   batch.APIError{Kind: batch.KindPermanent, Code: 400, Status: "INVALID_ARGUMENT"},
		},
		{
			name:    "404 on isInvitableUser: not invitable",
			method:  "isInvitable",
			code:    404,
			body:    `{"error":{"code":404,"message":"User not found.","status":"NOT_FOUND"}}`,
			want:    batch.APIError{Kind: batch.KindPrecondition, Code: 404, Status: "NOT_FOUND"},
			wantMsg: []string{"User not found."},
		},
		{
			name:   "404 on send: no invitation",
			method: "send",
			code:   404,
			body:   `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`,
			want:   batch.APIError{Kind: batch.KindPrecondition, Code: 404, Status: "NOT_FOUND"},
		},
		{
			name:   "404 on cancel",
			method: "cancel",
			code:   404,
			body:   `{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}`,
			want:   batch.APIError{Kind: batch.KindNotFound, Code: 404, Status: "NOT_FOUND"},
		},
		{
			name:    "bare 403 on isInvitableUser: checked by the runner",
			method:  "isInvitable",
			code:    403,
			body:    `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`,
			want:    batch.APIError{Kind: batch.KindForbidden, Code: 403, Status: "PERMISSION_DENIED"},
			wantMsg: []string{"isInvitable: 403 PERMISSION_DENIED: The caller does not have permission"},
		},
		{
			name:   "403 with an unknown reason on get",
			method: "get",
			code:   403,
			body: `{"error":{"code":403,"message":"Domain not owned.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"DOMAIN_NOT_OWNED","domain":"cloudidentity.googleapis.com"}]}}`,
			want: batch.APIError{Kind: batch.KindForbidden, Code: 403, Status: "PERMISSION_DENIED", Reason: "DOMAIN_NOT_OWNED"},
		},
		{
			name:   "403 SERVICE_DISABLED on isInvitableUser is fatal at once",
			method: "isInvitable",
			code:   403,
			body: `{"error":{"code":403,"message":"disabled","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"SERVICE_DISABLED","domain":"googleapis.com"}]}}`,
			want: batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "SERVICE_DISABLED"},
		},
		{
			name:   "403 on send naming the address",
			method: "send",
			code:   403,
			body: `{"error":{"code":403,"message":"Not allowed for this user.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"USER_NOT_INVITABLE","domain":"cloudidentity.googleapis.com","metadata":{"email":"A@example.com"}}]}}`,
			want: batch.APIError{Kind: batch.KindPrecondition, Code: 403, Status: "PERMISSION_DENIED", Reason: "USER_NOT_INVITABLE"},
		},
		{
			name:   "403 on send naming another address is fatal",
			method: "send",
			code:   403,
			body: `{"error":{"code":403,"message":"Not allowed.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"USER_NOT_INVITABLE","domain":"cloudidentity.googleapis.com","metadata":{"email":"b@example.com"}}]}}`,
			want: batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "USER_NOT_INVITABLE"},
		},
		{
			name:    "403 USER_PROJECT_DENIED on a quota project that is set",
			method:  "get",
			code:    403,
			body:    `{"error":{"code":403,"message":"Caller does not have required permission to use project my-proj.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"USER_PROJECT_DENIED","domain":"googleapis.com","metadata":{"consumer":"projects/my-proj","service":"cloudidentity.googleapis.com"}}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "USER_PROJECT_DENIED"},
			wantMsg: []string{"roles/serviceusage.serviceUsageConsumer", "projects/my-proj"},
		},
		{
			name:   "403 insufficient scopes gives the login line",
			method: "get",
			code:   403,
			body: `{"error":{"code":403,"message":"Request had insufficient authentication scopes.","status":"PERMISSION_DENIED",
				"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com"}]}}`,
			want:    batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT"},
			wantMsg: []string{"gcloud auth application-default login --scopes=" + Scope + ",https://www.googleapis.com/auth/cloud-platform"},
		},
		{
			name:   "501 is not retried",
			method: "send",
			code:   501,
			body:   `{"error":{"code":501,"message":"Method not implemented.","status":"UNIMPLEMENTED"}}`,
			want:   batch.APIError{Kind: batch.KindPermanent, Code: 501, Status: "UNIMPLEMENTED"},
		},
		{
			name:   "409 ALREADY_EXISTS on send",
			method: "send",
			code:   409,
			body:   `{"error":{"code":409,"message":"Invitation already exists.","status":"ALREADY_EXISTS"}}`,
			want:   batch.APIError{Kind: batch.KindConflict, Code: 409, Status: "ALREADY_EXISTS"},
		},
		{
			name:   "409 ABORTED on send",
			method: "send",
			code:   409,
			body:   `{"error":{"code":409,"message":"Aborted.","status":"ABORTED"}}`,
			want:   batch.APIError{Kind: batch.KindPermanent, Code: 409, Status: "ABORTED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newEmulated(t, APIv1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.code)
				w.Write([]byte(tt.body))
			}))
			err := call(context.Background(), c, tt.method, "a@example.com")
			var got *batch.APIError
			if !errors.As(err, &got) {
				t.Fatalf("got error %T %v, want *batch.APIError", err, err)
			}
			gotMsg := got.Msg
			got.Msg = ""
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(gotMsg, want) {
					t.Errorf("got message %q, want it to contain %q", gotMsg, want)
				}
			}
			if strings.ContainsAny(gotMsg, "\n{") {
				t.Errorf("got message %q, want one line without the body", gotMsg)
			}
			if again := Classify(err, tt.method); again != err {
				t.Errorf("Classify(classified) = %v, want it unchanged", again)
			}
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	hijack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}))
	defer hijack.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name   string
		addr   string
		method string
		want   batch.APIError
	}{
		{"connection closed during send", hijack.Listener.Addr().String(), "send", batch.APIError{Kind: batch.KindRetryable, Ambiguous: true}},
		{"connection closed during get", hijack.Listener.Addr().String(), "get", batch.APIError{Kind: batch.KindRetryable}},
		{"connection refused on send", closed, "send", batch.APIError{Kind: batch.KindRetryable, NotSent: true}},
		{"connection refused on cancel", closed, "cancel", batch.APIError{Kind: batch.KindRetryable, NotSent: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(context.Background(), Config{Customer: customer, Emulator: tt.addr})
			if err != nil {
				t.Fatal(err)
			}
			err = call(context.Background(), c, tt.method, "a@example.com")
			var got *batch.APIError
			if !errors.As(err, &got) {
				t.Fatalf("got error %T %v, want *batch.APIError", err, err)
			}
			t.Logf("message: %s", got.Msg)
			if strings.Contains(got.Msg, "a@example.com") {
				t.Errorf("got message %q, want it without the URL", got.Msg)
			}
			got.Msg = ""
			if *got != tt.want {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestClassifyContext(t *testing.T) {
	for _, err := range []error{context.Canceled, context.DeadlineExceeded} {
		if got := Classify(err, "send"); got != err {
			t.Errorf("Classify(%v) = %v, want it unchanged", err, got)
		}
	}
	if got := Classify(nil, "send"); got != nil {
		t.Errorf("Classify(nil) = %v, want nil", got)
	}

	// The caller's cancellation comes back as itself, not as an APIError.
	block := make(chan struct{})
	c := newEmulated(t, APIv1, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Send(ctx, "a@example.com")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want context.DeadlineExceeded", err)
	}
	var ae *batch.APIError
	if errors.As(err, &ae) {
		t.Errorf("got *batch.APIError %+v, want the context error", ae)
	}

	// A timeout of the transport's own is an ambiguous retryable error.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block) // before the servers close: they wait for their handlers
	c, err = New(context.Background(), Config{
		Customer:   customer,
		Emulator:   srv.Listener.Addr().String(),
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(context.Background(), "a@example.com")
	if !errors.As(err, &ae) || ae.Kind != batch.KindRetryable || !ae.Ambiguous {
		t.Errorf("got %#v, want an ambiguous retryable *batch.APIError", err)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{"-1", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		if got := retryAfterHeader(tt.in, now); got != tt.want {
			t.Errorf("retryAfterHeader(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
