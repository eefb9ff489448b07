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

	"cloud.google.com/go/auth"
	"golang.org/x/oauth2"

	"github.com/invitebatch/invitebatch/batch"
)

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
