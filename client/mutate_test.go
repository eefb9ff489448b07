package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	v1 "google.golang.org/api/cloudidentity/v1"

	"github.com/invitebatch/invitebatch/batch"
)

// TestOperationErrorIsAmbiguous (review stop 11, finding 4; after the
// reviewer's TestReviewOperationErrorIsNotARefusal): a send or cancel
// whose Operation came back done with an error was accepted by the server,
// so RESOURCE_EXHAUSTED, UNAUTHENTICATED, UNAVAILABLE and the like inside it
// may come after the email went out. They were classified as a refusal at
// the door (429, 401: not Ambiguous), so batch closed the intent not_sent
// and sent again with no read-back. They are Ambiguous now; the server's
// verdict on the address (FAILED_PRECONDITION, INVALID_ARGUMENT, NOT_FOUND,
// ALREADY_EXISTS) is not, and a fatal error stays fatal, but ambiguous.
func TestOperationErrorIsAmbiguous(t *testing.T) {
	tests := []struct {
		code      int64
		kind      batch.Kind
		ambiguous bool
	}{
		{8, batch.KindRetryable, true},  // RESOURCE_EXHAUSTED
		{16, batch.KindRetryable, true}, // UNAUTHENTICATED
		{14, batch.KindRetryable, true}, // UNAVAILABLE
		{13, batch.KindRetryable, true}, // INTERNAL
		{4, batch.KindRetryable, true},  // DEADLINE_EXCEEDED
		{2, batch.KindRetryable, true},  // UNKNOWN
		{10, batch.KindRetryable, true}, // ABORTED
		{7, batch.KindFatal, true},      // PERMISSION_DENIED, not naming the address
		{9, batch.KindPrecondition, false},
		{3, batch.KindPrecondition, false},
		{5, batch.KindPrecondition, false}, // send; cancel: KindNotFound
		{6, batch.KindConflict, false},     // send; cancel: permanent, ambiguous
	}
	for _, api := range []string{APIv1, APIv1beta1} {
		for _, tt := range tests {
			body := fmt.Sprintf(`{"name":"operations/1","done":true,"error":{"code":%d,"message":"operation failed"}}`, tt.code)
			c := newEmulated(t, api, &recorder{reply: func(*http.Request) (int, string) { return 200, body }})
			for _, m := range []string{"send", "cancel"} {
				kind, ambiguous := tt.kind, tt.ambiguous
				switch {
				case m == "cancel" && tt.code == 5:
					kind = batch.KindNotFound
				case m == "cancel" && tt.code == 6:
					kind, ambiguous = batch.KindRetryable, true
				}
				var ae *batch.APIError
				if err := call(context.Background(), c, m, "a@x.com"); !errors.As(err, &ae) {
					t.Fatalf("%s %s code %d: %v, want *batch.APIError", api, m, tt.code, err)
				}
				if ae.Kind != kind || ae.Ambiguous != ambiguous || ae.NotSent {
					t.Errorf("%s %s: Operation done with code %d: kind %v, Ambiguous %v, NotSent %v; want kind %v, Ambiguous %v (%s)",
						api, m, tt.code, ae.Kind, ae.Ambiguous, ae.NotSent, kind, ambiguous, ae.Msg)
				}
			}
		}
	}
	// Reads have no Operation; operationError leaves them as classified.
	if e := operationError(&v1.Status{Code: 8}, "get", customer, "a@x.com"); e.Ambiguous {
		t.Errorf("get: %+v, want not ambiguous", e)
	}
}

// bodyRecorder records, for each API request that reaches it, whether the
// transport could replay its body (GetBody set).
type bodyRecorder struct {
	mu       sync.Mutex
	replayed map[string]bool // method and path: GetBody != nil
}

func (b *bodyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "userinvitations") {
		b.mu.Lock()
		b.replayed[r.Method+" "+r.URL.Path] = r.GetBody != nil
		b.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestMutateCannotBeReplayed (review stop 11, finding 4): Go's HTTP/2
// transport sends a request again on its own after a stream reset
// (PROTOCOL_ERROR) or a GOAWAY, even after writing its body, whenever
// GetBody can give the body again (golang/go#47635): a send the tool never
// learns of. The send and cancel requests reach the transport without
// GetBody, with an emulator and with credentials alike.
func TestMutateCannotBeReplayed(t *testing.T) {
	for _, creds := range []bool{false, true} {
		t.Run(fmt.Sprint("credentials=", creds), func(t *testing.T) {
			api := httptest.NewServer(&recorder{})
			defer api.Close()
			rec := &bodyRecorder{replayed: map[string]bool{}}
			cfg := Config{Customer: customer, HTTPClient: &http.Client{Transport: rec}}
			if creds {
				tokens := &fakeTokenEndpoint{t: t, reply: func() (int, string) {
					return 200, `{"access_token":"` + accessToken + `","token_type":"Bearer","expires_in":3600}`
				}}
				tokenSrv := httptest.NewServer(tokens)
				defer tokenSrv.Close()
				keyFile, _, pub := serviceAccountKey(t, tokenSrv.URL+"/token")
				tokens.key = pub
				cfg.Endpoint, cfg.CredentialsFile, cfg.ImpersonateUser = api.URL+"/", keyFile, admin
			} else {
				cfg.Emulator = api.Listener.Addr().String()
			}
			c, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"send", "cancel", "get"} {
				if err := call(context.Background(), c, m, "a@x.com"); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			posts := 0
			for req, replayable := range rec.replayed {
				if strings.HasPrefix(req, "POST ") {
					posts++
					if replayable {
						t.Errorf("%s reached the transport with GetBody set: HTTP/2 may send it again unseen", req)
					}
				}
			}
			if posts != 2 {
				t.Errorf("requests %v, want a send and a cancel POST", rec.replayed)
			}
		})
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestOutboundCopiesOnce: the innermost transport sets the quota project
// and clears GetBody on one copy, leaving the caller's request as it was.
func TestOutboundCopiesOnce(t *testing.T) {
	req, err := http.NewRequest(http.MethodPost, "http://x/v1/send", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var got *http.Request
	tr := outbound{project: "billing", base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
	})}
	if _, err := tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got == req || got.GetBody != nil || got.Header.Get("X-Goog-User-Project") != "billing" {
		t.Errorf("transport got %p (caller's %p), GetBody set %v, quota project %q", got, req, got.GetBody != nil, got.Header.Get("X-Goog-User-Project"))
	}
	if req.GetBody == nil || req.Header.Get("X-Goog-User-Project") != "" {
		t.Error("the caller's request was changed")
	}
	get, _ := http.NewRequest(http.MethodGet, "http://x/v1/get", nil)
	if _, err := (outbound{base: tr.base}).RoundTrip(get); err != nil || got != get {
		t.Errorf("a GET without a quota project was copied (%v)", err)
	}
}
