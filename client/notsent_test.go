package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
)

// timeoutError is a dial timeout, as net.Dialer returns one.
type timeoutError struct{}

func (timeoutError) Error() string   { return "dial tcp 10.0.0.1:443: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// dialing returns a Client whose every connection attempt calls dial.
func dialing(t *testing.T, dial func(ctx context.Context) (net.Conn, error)) *Client {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}
	c, err := New(context.Background(), Config{Customer: customer, Emulator: "127.0.0.1:9", HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSendWithoutConnectionIsNotSent: a send or cancel that failed before a
// connection was obtained never reached the server. It is NotSent, never
// Ambiguous, even when it failed by the end of the caller's context or by a
// dial timeout (which used to count as ambiguous).
func TestSendWithoutConnectionIsNotSent(t *testing.T) {
	tests := []struct {
		name string
		dial func(ctx context.Context, cancel func()) (net.Conn, error)
	}{
		{"context ended while dialling", func(ctx context.Context, cancel func()) (net.Conn, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{"dial timeout", func(context.Context, func()) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: timeoutError{}}
		}},
		{"connection reset during the TLS handshake", func(context.Context, func()) (net.Conn, error) {
			return nil, &net.OpError{Op: "remote error", Net: "tcp", Err: errors.New("tls: handshake failure: connection reset by peer")}
		}},
	}
	for _, tt := range tests {
		for _, method := range []string{"send", "cancel"} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				c := dialing(t, func(dctx context.Context) (net.Conn, error) { return tt.dial(dctx, cancel) })
				err := call(ctx, c, method, "a@x.com")
				var ae *batch.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("got %v (%T), want a *batch.APIError", err, err)
				}
				if !ae.NotSent || ae.Ambiguous {
					t.Errorf("got NotSent %v, Ambiguous %v (%s); want not sent, not ambiguous", ae.NotSent, ae.Ambiguous, ae.Msg)
				}
			})
		}
	}
}

// TestSendAfterConnectionStaysAmbiguous: once the transport has a connection,
// the request may have been written and acted on, whatever ends it.
func TestSendAfterConnectionStaysAmbiguous(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(context.Background(), Config{Customer: customer, Emulator: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-entered; cancel() }()
	err = c.Send(ctx, "a@x.com")
	var ae *batch.APIError
	if errors.As(err, &ae) && ae.NotSent {
		t.Errorf("got NotSent (%s) for a request the server received", ae.Msg)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the context's own error (the intent stays for a read-back)", err)
	}
}

// TestReady: Ready fetches the access token before the pipeline writes a
// send's intent. A refused credential is fatal and NotSent, without any API
// request; a token it fetched serves the next request.
func TestReady(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		tokens := &fakeTokenEndpoint{t: t, reply: func() (int, string) {
			if refuse {
				return 400, `{"error":"invalid_grant","error_description":"Invalid grant: account not found"}`
			}
			return 200, `{"access_token":"ya29.ok","token_type":"Bearer","expires_in":3600}`
		}}
		tokenSrv := httptest.NewServer(tokens)
		defer tokenSrv.Close()
		keyFile, _, pub := serviceAccountKey(t, tokenSrv.URL+"/token")
		tokens.key = pub
		rec := &recorder{}
		apiSrv := httptest.NewServer(rec)
		defer apiSrv.Close()
		c, err := New(context.Background(), Config{Customer: customer, Endpoint: apiSrv.URL + "/", CredentialsFile: keyFile, ImpersonateUser: admin})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Ready(context.Background())
		if refuse {
			var ae *batch.APIError
			if !errors.As(err, &ae) || ae.Kind != batch.KindFatal || !ae.NotSent || ae.Ambiguous {
				t.Errorf("refused token: Ready = %v, want a fatal, not-sent *batch.APIError", err)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("refused token: %d API requests, want none", n)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Ready: %v", err)
		}
		if err := c.Send(context.Background(), "a@x.com"); err != nil {
			t.Fatal(err)
		}
		tokens.mu.Lock()
		n := len(tokens.claims)
		tokens.mu.Unlock()
		if n != 1 {
			t.Errorf("%d token requests for Ready and a send, want 1", n)
		}
	}
}
