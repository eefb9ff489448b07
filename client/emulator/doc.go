// Package emulator is an in-process HTTP emulator of the Cloud Identity
// customers.userinvitations API (v1 and v1beta1), for tests, demos, dry runs
// and benchmarks.
//
// An Emulator is an http.Handler: serve it with httptest.NewServer and point
// the generated client at it with option.WithEndpoint(srv.URL+"/") and
// option.WithoutAuthentication(). It speaks the wire format of the real
// service (JSON field names, mailsSentCount as a string, google.rpc.Status
// error bodies with ErrorInfo and RetryInfo details), so the real client
// parses its replies, and its errors, exactly as it would Google's.
//
// # Accounts
//
// Every address has a Kind. Addresses nobody seeded have Options.Default.
// Only seeded addresses and addresses touched by send or cancel are held in
// memory, so sending to millions of unseeded addresses stays cheap. For the
// same reason list enumerates only those held addresses: an unseeded
// unmanaged address answers get with NOT_YET_SENT but is not listed until a
// send or cancel touches it.
//
// The state machine (see Kind for what get, list and isInvitableUser show):
//
//	NOT_YET_SENT --send--> INVITED (mailsSentCount+1, updateTime=now)
//	INVITED      --send--> INVITED (a re-send: mailsSentCount+1)
//	INVITED      --cancel-> NOT_YET_SENT (mailsSentCount kept)
//
// Any other send or cancel, and a send to an address that is not invitable
// (managed, no account, outside Options.Domains), fails with 400
// FAILED_PRECONDITION. Addresses outside Options.Domains have no visible
// invitation at all (get 404), whatever their kind.
//
// # Seed files
//
// LoadSeed and the POST /emulator/seed endpoint read CSV with a header row
// naming an "email" and a "kind" column (any order, case-insensitive, other
// columns ignored; lines starting with # are comments):
//
//	email,kind
//	alice@example.com,unmanaged
//	bob@example.com,invited
//	carol@example.com,accepted
//	dave@example.com,declined
//	erin@example.com,managed
//	frank@example.com,none
//	grace@example.com,new
//	heidi@example.com,ineligible
//
// An ineligible account is listed NOT_YET_SENT like an unmanaged one, but
// isInvitableUser says false and send refuses it as SetRefusal says (400
// FAILED_PRECONDITION, 404, or a 403 naming the address): a secondary
// address, an alias domain, a family group, or an account that became
// managed within the API's lag.
//
// Addresses are case-insensitive; a later row for the same address wins.
// The whole file is checked before any row is applied.
//
// # Faults and limits
//
// SetLatency, SetQuota, SetFailRate, FailNext, SetAmbiguousSendRate,
// SetFatal and RequireToken change how requests fail; all may be called
// while the emulator serves. A request that names an API method waits out
// the latency, then passes the checks in this order: token (RequireToken),
// fatal mode, quota, FailNext, fail rate, then the request itself
// (customer, resource name, state machine). Only ambiguous sends are
// performed and then fail; every other injected failure happens before the
// request has any effect. A path that names no method gets 404 at once and
// is counted under MethodOther. The quotas (SetQuota, SetWindowQuota)
// refuse with 429 RESOURCE_EXHAUSTED, or with a rate-limit 403 as
// SetThrottleAs says; the daily quota (SetDailyQuota) always with 429.
//
// Resource names are checked on the escaped path: an address with a "/"
// makes an extra segment and gets 400 INVALID_ARGUMENT, as does any
// address that is not plain ASCII dot-atom (no "%", "?", "#", spaces or
// control characters) with a domain of at least two labels. Serve the
// Emulator itself, not behind an http.ServeMux: a ServeMux cleans "." and
// ".." segments out of the path (with a redirect), hiding what the client
// sent.
//
// # History
//
// History generates a seeded past migration (weeks of sends, acceptances,
// declines, reminders, cancels, with realistic updateTimes); LoadHistory
// puts it into an Emulator and Actions lists what a ledger that agrees
// with it holds.
//
// # Admin endpoints
//
// Outside /v1 and /v1beta1 the handler serves, without latency, faults,
// auth or counting:
//
//	GET  /emulator/stats   Stats as JSON
//	GET  /emulator/states  StateCounts as JSON: visible invitations by state
//	GET  /emulator/config  the current Config as JSON
//	POST /emulator/config  a JSON Config; fields left out keep their value
//	POST /emulator/seed    a seed CSV, as LoadSeed
//	POST /emulator/reset   ResetCounters
//
// They are unauthenticated: serve them on a loopback address only.
package emulator
