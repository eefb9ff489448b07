package client

import (
	"context"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/api/googleapi"

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
