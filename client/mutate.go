package client

import (
	"net/http"

	v1 "google.golang.org/api/cloudidentity/v1"

	"github.com/invitebatch/invitebatch/batch"
)

// operationError classifies the error of a send's or cancel's Operation that
// came back done. The server accepted the request (it made the Operation),
// so a failure inside it is no refusal at the door: a RESOURCE_EXHAUSTED,
// UNAUTHENTICATED, UNAVAILABLE or INTERNAL there may come after the email
// went out. Such an error is Ambiguous: the send is never repeated before
// the invitation, read back after the settle window, shows it did not take
// effect (its intent stays open meanwhile, and after a crash). The
// server's verdict on the address itself (FAILED_PRECONDITION,
// INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, a 403 naming the address)
// stays what it is: nothing was sent. A fatal error (PERMISSION_DENIED
// for the customer, a daily quota) still stops the run, leaving the intent
// for the rerun to settle.
func operationError(st *v1.Status, method, customer, email string) *batch.APIError {
	e := classifyStatus(st, method, customer, email)
	if !mutating(method) {
		return e
	}
	switch e.Kind {
	case batch.KindPrecondition, batch.KindConflict, batch.KindNotFound:
		return e
	case batch.KindFatal:
	default:
		// Retryable, so that the caller sees an ambiguous failure (it
		// does not retry one) rather than a refresh-and-retry of a 401.
		e.Kind = batch.KindRetryable
	}
	e.Ambiguous, e.NotSent = true, false
	e.Msg += " (in the Operation of an accepted request: it may have taken effect)"
	return e
}

// outbound is the innermost RoundTripper of the API's requests, with
// credentials and an emulator alike. It sets the quota project header, if
// any (option.WithQuotaProject does nothing together with
// option.WithHTTPClient), and clears GetBody of a POST (send and cancel,
// the API's only POSTs): Go's HTTP/2 transport otherwise sends such a
// request again on its own when the server resets the stream
// (PROTOCOL_ERROR, REFUSED_STREAM) or the connection goes away, even after
// the body was written (golang/go#47635), and the tool never learns of the
// second send. Without GetBody the transport retries only a request whose
// body it had not begun to write, which the server cannot have acted on;
// after that, the failure comes back as an error, which after GotConn is
// ambiguous (read back before any second send). HTTP/1 never replays a
// POST. http.Client's own redirect handling, above this, keeps the
// request's GetBody. Both changes are made on one copy of the request.
type outbound struct {
	project string
	base    http.RoundTripper
}

func (t outbound) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	replayable := req.Method == http.MethodPost && req.GetBody != nil
	if t.project == "" && !replayable {
		return base.RoundTrip(req)
	}
	// A RoundTripper must not modify its request: a shallow copy, with
	// its own header if that changes.
	r := req.WithContext(req.Context())
	r.GetBody = nil
	if t.project != "" {
		r.Header = req.Header.Clone()
		if r.Header == nil {
			r.Header = make(http.Header)
		}
		r.Header.Set("X-Goog-User-Project", t.project)
	}
	return base.RoundTrip(r)
}
