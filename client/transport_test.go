package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/invitebatch/invitebatch/batch"
)

// Impersonation token errors carry no type, only "impersonate: status code
// N: body". A 429 or 5xx of the IAM credentials service is retried; other
// codes are a refused credential.
func TestImpersonateTokenErrors(t *testing.T) {
	tests := []struct {
		code int
		want batch.Kind
	}{
		{429, batch.KindRetryable},
		{500, batch.KindRetryable},
		{503, batch.KindRetryable},
		{403, batch.KindFatal},
		{404, batch.KindFatal},
	}
	for _, tt := range tests {
		inner := fmt.Errorf("impersonate: status code %d: {\"error\":{\"message\":\"nope\"}}", tt.code)
		// As the oauth2 transport wraps a token source's error.
		err := fmt.Errorf("Get \"https://x\": %w", &tokenError{inner})
		got := Classify(err, "get")
		var ae *batch.APIError
		if !asAPIError(got, &ae) || ae.Kind != tt.want {
			t.Errorf("%d: %v, want kind %v", tt.code, got, tt.want)
			continue
		}
		if tt.want == batch.KindRetryable && ae.Code != tt.code {
			t.Errorf("%d: code %d", tt.code, ae.Code)
		}
	}
	if n := impersonateStatus(fmt.Errorf("impersonate: status code x")); n != 0 {
		t.Errorf("impersonateStatus(no number) = %d", n)
	}
}

func asAPIError(err error, ae **batch.APIError) bool {
	e, ok := err.(*batch.APIError)
	*ae = e
	return ok
}

// Credentials only travel over HTTPS: a plain http:// endpoint is refused
// by New before any token is fetched, unless it is loopback.
func TestEndpointMustBeHTTPS(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://proxy.corp.example/", true},
		{"http://127.0.0.1:8086/", true},
		{"http://[::1]:8086/", true},
		{"http://localhost:8086/", true},
		{"http://10.1.2.3:8086/", false},
		{"http://cloudidentity.googleapis.com/", false},
		{"ftp://x/", false},
	} {
		err := checkEndpoint(tt.endpoint)
		if (err == nil) != tt.ok {
			t.Errorf("checkEndpoint(%s) = %v, want ok=%v", tt.endpoint, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), tt.endpoint[:4]) {
			t.Errorf("error %q does not name the endpoint", err)
		}
	}
	_, err := New(context.Background(), Config{Customer: customer, Endpoint: "http://10.1.2.3/", CredentialsFile: "/nonexistent"})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("New with a remote http endpoint: %v, want refused before reading credentials", err)
	}
}

// A request the server accepts and never answers ends at the client's own
// bound: a read is retryable, a send ambiguous (the server may have acted).
func TestHungRequestsEnd(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(context.Background(), Config{Customer: customer, Emulator: srv.Listener.Addr().String(),
		ReadTimeout: 100 * time.Millisecond, SendTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method    string
		ambiguous bool
	}{{"get", false}, {"isInvitable", false}, {"list", false}, {"send", true}, {"cancel", true}} {
		err := call(context.Background(), c, tt.method, "a@example.com")
		var ae *batch.APIError
		if !errors.As(err, &ae) || ae.Kind != batch.KindRetryable || ae.Ambiguous != tt.ambiguous {
			t.Errorf("%s: %v, want retryable, ambiguous=%v", tt.method, err, tt.ambiguous)
			continue
		}
		if !strings.Contains(ae.Msg, "no reply within the request timeout") {
			t.Errorf("%s: message %q", tt.method, ae.Msg)
		}
	}
}

// A reply whose headers come and whose body never ends is bounded too: by
// the read's own deadline, which the transport's header timeout does not
// cover.
func TestHungBodyEnds(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"isInvitableUser": `))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(context.Background(), Config{Customer: customer, Emulator: srv.Listener.Addr().String(),
		ReadTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.IsInvitable(context.Background(), "a@example.com"); done <- err }()
	select {
	case err := <-done:
		if batch.KindOf(err) != batch.KindRetryable {
			t.Errorf("IsInvitable = %v, want a retryable timeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a reply whose body never ends hung the request")
	}
}

func TestTransportBounds(t *testing.T) {
	tr := boundTransport(apiTransport(4), newTimeouts(Config{}))
	if tr.HTTP2 == nil || tr.HTTP2.SendPingTimeout <= 0 || tr.HTTP2.PingTimeout <= 0 {
		t.Errorf("HTTP2 = %+v, want health pings", tr.HTTP2)
	}
	if tr.ResponseHeaderTimeout != 2*DefaultReadTimeout || tr.TLSHandshakeTimeout <= 0 || tr.DialContext == nil {
		t.Errorf("transport bounds: header %v tls %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
	// Fetching a token keeps to the requests' bounds, and to 30 s.
	for _, tt := range []struct{ read, want time.Duration }{
		{0, tokenTimeout}, {2 * time.Second, 4 * time.Second}, {time.Hour, tokenTimeout},
	} {
		if got := newTimeouts(Config{ReadTimeout: tt.read}).token(); got != tt.want {
			t.Errorf("read timeout %v: token bound %v, want %v", tt.read, got, tt.want)
		}
	}
	// A token source that never answers is given up on.
	_, err := boundedToken(hangingSource{}, 50*time.Millisecond)
	if got := Classify(&tokenError{err}, "get"); batch.KindOf(got) != batch.KindRetryable {
		t.Errorf("hung token fetch: %v, want retryable", got)
	}
}

type hangingSource struct{}

func (hangingSource) Token() (*oauth2.Token, error) { select {} }

// countingSource gives a new token valid for an hour on every call.
type countingSource struct{ calls atomic.Int32 }

func (s *countingSource) Token() (*oauth2.Token, error) {
	n := s.calls.Add(1)
	return &oauth2.Token{AccessToken: fmt.Sprint("t", n), Expiry: time.Now().Add(time.Hour)}, nil
}

// TestRenewingSourceKeepsValidToken: a valid token is returned without
// calling the source again (and so without boundedToken's goroutine and
// timer for every request); after invalidate, the fresh source is asked.
func TestRenewingSourceKeepsValidToken(t *testing.T) {
	first, second := &countingSource{}, &countingSource{}
	s := &renewingSource{src: first, renew: func() (oauth2.TokenSource, error) { return second, nil }}
	for range 3 {
		if tok, err := s.Token(); err != nil || tok.AccessToken != "t1" {
			t.Fatalf("Token() = %v, %v; want t1", tok, err)
		}
	}
	if n := first.calls.Load(); n != 1 {
		t.Errorf("source called %d times for a token still valid, want 1", n)
	}
	s.invalidate(s.generation())
	if _, err := s.Token(); err != nil || second.calls.Load() != 1 {
		t.Errorf("after invalidate: %v, renewed source called %d times, want 1", err, second.calls.Load())
	}
}
