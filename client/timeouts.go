package client

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// Bounds on every request, so that no half-open connection hangs a worker,
// the token fetch or the end of a run (and with it the ledger lock a cron
// run holds). See Config.ReadTimeout and Config.SendTimeout.
const (
	// DefaultReadTimeout is the default per-attempt deadline of a read.
	DefaultReadTimeout = 30 * time.Second
	// dialTimeout and tlsTimeout bound connecting.
	dialTimeout = 10 * time.Second
	tlsTimeout  = 10 * time.Second
	// tokenTimeout bounds fetching an access token, or less: see
	// timeouts.token.
	tokenTimeout = 30 * time.Second
	// pingAfter: an HTTP/2 connection silent for this long gets a ping,
	// and is closed if the ping is not answered within pingTimeout. The
	// transport is a clone of http.DefaultTransport, which (unlike
	// Google's own transport, whose read-idle timeout is 31 s) sends no
	// health pings at all.
	pingAfter   = 30 * time.Second
	pingTimeout = 15 * time.Second
)

// timeouts are a Client's per-request bounds.
type timeouts struct {
	read time.Duration // per attempt of a read: the whole request
	send time.Duration // a send's or cancel's reply headers; the body gets as long again
}

// token bounds fetching an access token: tokenTimeout, or a send's
// reply-header bound if that is shorter (--request-timeout 2s: 4 s), so
// that a token source bringing its own HTTP client (the metadata server's
// retries a hung request for ~30 s) keeps to the run's request bounds, as
// the token client does (tokenClient), and a first stop does not wait
// longer for a token than for a request.
func (t timeouts) token() time.Duration {
	return min(tokenTimeout, max(t.send, t.read))
}

func newTimeouts(cfg Config) timeouts {
	t := timeouts{read: cfg.ReadTimeout, send: cfg.SendTimeout}
	if t.read <= 0 {
		t.read = DefaultReadTimeout
	}
	if t.send <= 0 {
		t.send = 2 * t.read
	}
	return t
}

// attempt returns the context of one request of method. A read gets its
// per-attempt deadline. A send or cancel is bounded by the transport's
// response-header timeout (after which it is ambiguous: the server may have
// acted on it) and, as a backstop for a reply whose body never ends, by a
// deadline of twice that.
func (t timeouts) attempt(ctx context.Context, method string) (context.Context, context.CancelFunc) {
	if mutating(method) {
		return context.WithTimeout(ctx, 2*t.send)
	}
	return context.WithTimeout(ctx, t.read)
}

// boundTransport sets the dial, TLS, response-header and HTTP/2 health
// bounds of tr.
func boundTransport(tr *http.Transport, t timeouts) *http.Transport {
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = tlsTimeout
	tr.ResponseHeaderTimeout = max(t.send, t.read)
	tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingTimeout}
	return tr
}

// tokenClient is the HTTP client of token fetches (the oauth2 packages
// take it from the context): bounded like the API requests, and as a whole
// by t.token().
func tokenClient(t timeouts) *http.Client {
	tr := boundTransport(http.DefaultTransport.(*http.Transport).Clone(), t)
	return &http.Client{Transport: tr, Timeout: t.token()}
}

// boundedToken calls src.Token, giving up after d. Not every token source
// uses the context's HTTP client (impersonation and the metadata server
// bring their own), so this bounds them all; a fetch given up on ends in
// the background within its own transport's bounds.
func boundedToken(src oauth2.TokenSource, d time.Duration) (*oauth2.Token, error) {
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := src.Token()
		done <- result{tok, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.tok, r.err
	case <-timer.C:
		return nil, fmt.Errorf("token: i/o timeout: no access token within %v", d)
	}
}
