package main

// Shared by the commands that call the API (run, cancel, status, export,
// doctor): the flags that say which API to call and as whom, and a paced,
// retrying caller for the read-only requests of status and export.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/reports"
)

// apiFlags are the flags of a command that calls the API.
type apiFlags struct {
	customer, api, endpoint string
	credentials, quotaProj  string
	impersonateUser, impSA  string
	qps                     float64
	emulatorHost            string         // CLOUDIDENTITY_EMULATOR_HOST
	allowRemoteEmulator     bool           // transport.go
	requestTimeout          time.Duration  // transport.go
	backend                 client.Backend // what the flags reach: it names the default ledger
}

func (a *apiFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	a.registerClient(fs, getenv)
	fs.Float64Var(&a.qps, "qps", defaultQPS, "API requests per second, retries included")
}

// registerClient registers the flags that choose the API and the
// credentials (run registers its own --qps, doctor none).
func (a *apiFlags) registerClient(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&a.customer, "customer", getenv("INVITEBATCH_CUSTOMER"), "Cloud Identity / Workspace customer `ID` (C0xxxxxxx); default $INVITEBATCH_CUSTOMER")
	fs.StringVar(&a.api, "api", client.APIv1, "API version: v1 or v1beta1")
	fs.StringVar(&a.endpoint, "endpoint", "", "API base `URL` override; https:// only, except a loopback http:// test endpoint (credentials are still used)")
	fs.StringVar(&a.credentials, "credentials", "", "service-account key or user credentials JSON `file` (default: Application Default Credentials)")
	fs.StringVar(&a.impersonateUser, "impersonate-user", "", "admin `email` to act as through domain-wide delegation")
	fs.StringVar(&a.impSA, "impersonate-service-account", "", "service account `email` to impersonate without a key")
	fs.StringVar(&a.quotaProj, "quota-project", "", "`project` billed for the requests (user credentials need one)")
	a.registerTransport(fs)
}

// check validates the flags and reads CLOUDIDENTITY_EMULATOR_HOST; every
// problem is a usage error. builtin is run's --emulator.
func (a *apiFlags) check(cmd string, e env) error { return a.checkWith(cmd, e, false) }

func (a *apiFlags) checkWith(cmd string, e env, builtin bool) error {
	switch {
	case a.customer == "":
		return usagef("%s: --customer (or INVITEBATCH_CUSTOMER) is required", cmd)
	case !validCustomer(a.customer):
		return usagef("%s: --customer %q is not a customer ID (C0xxxxxxx: letters and digits)", cmd, a.customer)
	case a.api != client.APIv1 && a.api != client.APIv1beta1:
		return usagef("%s: --api %q: want v1 or v1beta1", cmd, a.api)
	case !(a.qps > 0):
		return usagef("%s: --qps must be > 0", cmd)
	}
	a.emulatorHost = e.getenv("CLOUDIDENTITY_EMULATOR_HOST")
	modes := 0
	for _, on := range []bool{builtin, a.emulatorHost != "", a.endpoint != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return usagef("%s: choose one of --emulator, CLOUDIDENTITY_EMULATOR_HOST and --endpoint", cmd)
	}
	if (builtin || a.emulatorHost != "") && (a.credentials != "" || a.impersonateUser != "" || a.impSA != "" || a.quotaProj != "") {
		return usagef("%s: the emulator takes no credentials; drop --credentials, --impersonate-* and --quota-project", cmd)
	}
	if err := a.checkTransport(cmd, e); err != nil {
		return err
	}
	a.backend = client.BuiltinEmulator
	if !builtin {
		var err error
		if a.backend, err = client.BackendOf(a.config()); err != nil {
			return usagef("%s: %v", cmd, err)
		}
	}
	return nil
}

// validCustomer reports whether c can be a customer ID: letters, digits,
// '_' and '-' (C0xxxxxxx; my_customer), at most 64 of them. The ID names
// the default ledger's file.
func validCustomer(c string) bool {
	return len(c) <= 64 && strings.Trim(c, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == ""
}

// owner is the customer and backend whose ledger the command uses.
func (a *apiFlags) owner() ledgerOwner { return ledgerOwner{customer: a.customer, backend: a.backend} }

// config is the client configuration the flags say.
func (a *apiFlags) config() client.Config {
	return client.Config{
		Customer:                  a.customer,
		API:                       a.api,
		Endpoint:                  a.endpoint,
		Emulator:                  a.emulatorHost,
		CredentialsFile:           a.credentials,
		ImpersonateUser:           a.impersonateUser,
		ImpersonateServiceAccount: a.impSA,
		QuotaProject:              a.quotaProj,
		ReadTimeout:               a.requestTimeout,
		UserAgent:                 "invitebatch/" + toolVersion(),
	}
}

// connect returns a client for the flags, for up to conns requests in flight
// at once (0: the client's default), saying loudly on stderr when it talks to
// an emulator.
func (a *apiFlags) connect(e env, conns int) (*client.Client, error) {
	cfg := a.config()
	cfg.Conns = conns
	c, err := client.New(e.ctx, cfg)
	if err != nil {
		return nil, &batch.APIError{Kind: batch.KindFatal, Msg: "credentials: " + err.Error()}
	}
	if cfg.Emulator != "" {
		fmt.Fprintf(e.stderr, "*** EMULATOR: requests go to %s, not to Google ***\n", endpointName(cfg))
	}
	return c, nil
}

// openLedgerReadOnly opens the ledger of the customer on the backend (or
// path) without locking it, so that it can be read while a run writes it.
// A missing ledger reads as empty; another backend's or customer's is
// refused.
func (a *apiFlags) openLedgerReadOnly(e env, cmd, path string) (*reports.Ledger, string, error) {
	return a.owner().openLedger(cmd, path, reports.LedgerOptions{ReadOnly: true}, e.stderr)
}

// stopContext returns a context cancelled on the first signal too: a
// read-only command has nothing to finish.
func stopContext(e env) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(e.ctx)
	if e.stop != nil {
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// caller makes the read-only requests of status and export through one
// pacer, with the pipeline's retry rules (batch.Caller).
type caller struct {
	api batch.API
	batch.Caller
	forbidden batch.ForbiddenCheck // a 403 for one address, or for the customer?
}

func newCaller(api batch.API, qps float64) *caller {
	return &caller{api: api, Caller: batch.Caller{Pacer: batch.NewPacer(qps, max(1, int(qps)), true), Backoff: batch.DefaultBackoff}}
}

// get returns the invitation of email; StateNone when none is visible.
func (c *caller) get(ctx context.Context, email string) (batch.Invitation, error) {
	var inv batch.Invitation
	err := c.Do(ctx, batch.MethodGet, func(ctx context.Context) error {
		var err error
		inv, err = c.api.Get(ctx, email)
		return err
	}, nil)
	if batch.KindOf(err) == batch.KindNotFound {
		return batch.Invitation{Email: email, State: batch.StateNone}, nil
	}
	var ae *batch.APIError
	if errors.As(err, &ae) && ae.Kind == batch.KindForbidden {
		err = c.forbidden.Resolve(ctx, &c.Caller, c.api, ae, nil)
	}
	return inv, err
}

// list calls fn with every invitation in states (all when empty), each
// address once. Every page is one paced request, retried on its own from
// its page token (batch.Caller.List). onPage, if not nil, is called after
// each page with the number of pages so far; an error from it (or fn)
// stops the list and is returned.
func (c *caller) list(ctx context.Context, states []batch.State, fn func(batch.Invitation) error, onPage func(pages int, full bool) error) error {
	seed := maphash.MakeSeed()
	seen := make(map[uint64]struct{})
	pages := 0
	return c.List(ctx, c.api, states, func(page []batch.Invitation) error {
		pages++
		for _, inv := range page {
			h := maphash.String(seed, inv.Email)
			if _, ok := seen[h]; ok {
				continue
			}
			seen[h] = struct{}{}
			if err := fn(inv); err != nil {
				return err
			}
		}
		if onPage != nil {
			return onPage(pages, len(page) >= listPageSize)
		}
		return nil
	})
}

// listPageSize is the page size the client asks for and the API's maximum.
const listPageSize = 200

// parseStates parses a --state list such as "invited,accepted"
// (case-insensitive; "all" or empty means every state).
func parseStates(words []string) ([]batch.State, error) {
	var out []batch.State
	for _, w := range words {
		switch s := batch.State(strings.ToUpper(strings.TrimSpace(w))); s {
		case batch.StateNotYetSent, batch.StateInvited, batch.StateAccepted, batch.StateDeclined:
			out = append(out, s)
		case "ALL":
			return nil, nil
		default:
			return nil, usagef("--state %q: want not_yet_sent, invited, accepted, declined or all", w)
		}
	}
	return out, nil
}

// stdoutTerminal reports whether stdout is a terminal.
func stdoutTerminal(e env) bool {
	f, ok := e.stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// printable makes a cell safe to show on a terminal: control characters
// (escape sequences in a crafted input cell) are shown escaped.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' }) < 0 {
		return s
	}
	q := fmt.Sprintf("%+q", s)
	return q[1 : len(q)-1]
}

// formatTime formats t for output: RFC 3339 in UTC, "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
