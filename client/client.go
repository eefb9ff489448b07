// Package client adapts the official Cloud Identity clients to batch.API and
// classifies their errors.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	v1 "google.golang.org/api/cloudidentity/v1"
	v1beta1 "google.golang.org/api/cloudidentity/v1beta1"

	"github.com/invitebatch/invitebatch/batch"
)

// Scope is the OAuth scope every request is made with. The generated
// packages do not list it among their defaults, so it is always requested
// explicitly.
const Scope = "https://www.googleapis.com/auth/cloud-identity.userinvitations"

// The API versions New accepts in Config.API.
const (
	APIv1      = "v1"
	APIv1beta1 = "v1beta1"
)

// Config says which API surface to call and as whom. The zero value, with
// Customer set, calls the v1 API at Google with Application Default
// Credentials.
type Config struct {
	// Customer is the Cloud Identity customer ID (C0xxxxxxx). Required.
	Customer string
	// API is APIv1 (the default when empty) or APIv1beta1.
	API string
	// Endpoint overrides the base URL, e.g. "http://127.0.0.1:8086/".
	// Credentials are still used: the bearer token goes to this URL.
	Endpoint string
	// Emulator is the host:port of an emulator (CLOUDIDENTITY_EMULATOR_HOST
	// or the built-in one). Requests go to plain http://host:port/ with no
	// credentials at all. It excludes Endpoint and every credential field.
	Emulator string
	// CredentialsFile is a service-account key or authorized_user JSON file
	// to use instead of Application Default Credentials.
	CredentialsFile string
	// ImpersonateUser is the admin a service account acts as through
	// domain-wide delegation (the JWT subject).
	ImpersonateUser string
	// ImpersonateServiceAccount is the email of a service account to
	// impersonate without a key: the base credentials (ADC, or
	// CredentialsFile) need roles/iam.serviceAccountTokenCreator on it.
	// ImpersonateUser, if set, becomes the subject of its tokens.
	ImpersonateServiceAccount string
	// QuotaProject is the project billed for the requests, overriding the
	// quota_project_id of the credentials (user credentials need one).
	QuotaProject string
	// UserAgent is appended to the client library's User-Agent.
	UserAgent string
	// Conns is how many requests may be in flight at once (the run's
	// workers): that many idle connections are kept open, so that none is
	// closed and dialled again between requests. 0: 100.
	Conns int
	// ReadTimeout is the deadline of each attempt of a read (isInvitableUser,
	// get, a page of list); 0: DefaultReadTimeout. SendTimeout is how long a
	// send or cancel waits for the reply's headers before it counts as
	// ambiguous; 0: twice ReadTimeout.
	ReadTimeout, SendTimeout time.Duration
	// HTTPClient, for tests, carries every request, to the API and to the
	// token endpoint. Credentials are still added unless Emulator is set.
	HTTPClient *http.Client
}

// Client calls customers.userinvitations for one customer. It implements
// batch.API and is safe for concurrent use.
type Client struct {
	svc       service
	customer  string
	principal string
	tokens    *renewingSource // nil for an emulator
	bounds    timeouts
}

var (
	_ batch.API     = (*Client)(nil)
	_ batch.Readier = (*Client)(nil)
)

// New returns a Client for cfg. It looks up and checks the credentials but
// makes no request to the API. The credentials keep ctx's values, not its
// cancellation: cancelling ctx after New returns does not break the Client.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := checkCustomer(cfg.Customer); err != nil {
		return nil, err
	}
	bounds := newTimeouts(cfg)
	opts, principal, tokens, err := clientOptions(ctx, cfg, bounds)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	c := &Client{customer: cfg.Customer, principal: principal, tokens: tokens, bounds: bounds}
	switch cfg.API {
	case "", APIv1:
		s, err := v1.NewService(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		s.UserAgent = cfg.UserAgent
		c.svc = serviceV1{s.Customers.Userinvitations}
	case APIv1beta1:
		s, err := v1beta1.NewService(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		s.UserAgent = cfg.UserAgent
		c.svc = serviceV1beta1{s.Customers.Userinvitations}
	default:
		return nil, fmt.Errorf("client: unknown API version %q (want %s or %s)", cfg.API, APIv1, APIv1beta1)
	}
	return c, nil
}

// Principal describes whom the requests act as, e.g. "service account
// sa@p.iam.gserviceaccount.com as admin@example.com". It never holds a
// token or a key.
func (c *Client) Principal() string { return c.principal }

// IsInvitable reports whether email can be invited.
func (c *Client) IsInvitable(ctx context.Context, email string) (bool, error) {
	const method = "isInvitable"
	name, err := c.name(method, email)
	if err != nil {
		return false, err
	}
	gen := c.generation()
	actx, cancel := c.bounds.attempt(ctx, method)
	defer cancel()
	ok, err := c.svc.isInvitable(actx, name)
	if err != nil {
		return false, c.classify(ctx, err, method, email, gen)
	}
	return ok, nil
}

// Get returns the invitation of email; a KindNotFound *batch.APIError means
// none is visible.
func (c *Client) Get(ctx context.Context, email string) (batch.Invitation, error) {
	const method = "get"
	name, err := c.name(method, email)
	if err != nil {
		return batch.Invitation{}, err
	}
	gen := c.generation()
	actx, cancel := c.bounds.attempt(ctx, method)
	defer cancel()
	u, err := c.svc.get(actx, name)
	if err != nil {
		return batch.Invitation{}, c.classify(ctx, err, method, email, gen)
	}
	return invitation(u), nil
}

// Send creates the invitation of email if needed and emails it. A 2xx reply
// is success unless it carries an Operation that is done with an error.
func (c *Client) Send(ctx context.Context, email string) error {
	return c.mutate(ctx, "send", email, c.svc.send)
}

// Cancel cancels the invitation of email, like Send for its result.
func (c *Client) Cancel(ctx context.Context, email string) error {
	return c.mutate(ctx, "cancel", email, c.svc.cancel)
}

func (c *Client) mutate(ctx context.Context, method, email string, call func(context.Context, string) (*v1.Operation, error)) error {
	name, err := c.name(method, email)
	if err != nil {
		return err
	}
	gen := c.generation()
	// A request that fails before the transport has a connection for it
	// never reached the server (a dial or TLS error, no access token, the
	// context ending first): it had no effect. After GotConn it may have:
	// the transport writes the request on a goroutine of its own, and even
	// WroteRequest does not prove that no byte left.
	actx, cancel := c.bounds.attempt(ctx, method)
	defer cancel()
	var conn atomic.Bool
	traced := httptrace.WithClientTrace(actx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { conn.Store(true) },
	})
	op, err := call(traced, name)
	if err != nil {
		if !conn.Load() {
			return c.notSent(ctx, err, method, gen)
		}
		return c.classify(ctx, err, method, email, gen)
	}
	if op != nil && op.Done && op.Error != nil {
		return operationError(op.Error, method, c.customer, strings.ToLower(email))
	}
	return nil
}

// List returns one page (up to 200 invitations) of the customer's
// invitations whose state is one of states, all of them when states is
// empty: the page after pageToken ("" for the first), and the next page's
// token ("" after the last). It makes exactly one request.
func (c *Client) List(ctx context.Context, states []batch.State, pageToken string) ([]batch.Invitation, string, error) {
	const method = "list"
	filter, err := stateFilter(states)
	if err != nil {
		return nil, "", err
	}
	gen := c.generation()
	actx, cancel := c.bounds.attempt(ctx, method)
	defer cancel()
	res, err := c.svc.list(actx, "customers/"+c.customer, filter, pageToken)
	if err != nil {
		return nil, "", c.classify(ctx, err, method, "", gen)
	}
	page := make([]batch.Invitation, 0, len(res.UserInvitations))
	for _, u := range res.UserInvitations {
		if u != nil {
			page = append(page, invitation(u))
		}
	}
	return page, res.NextPageToken, nil
}

// notSent classifies the error of a send or cancel that never had a
// connection: it is never Ambiguous, and NotSent says it had no effect. The
// end of ctx itself is a retryable *batch.APIError here, not ctx's error:
// the pipeline settles the intent of such a request as not sent.
func (c *Client) notSent(ctx context.Context, err error, method string, gen uint64) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return &batch.APIError{Kind: batch.KindRetryable, NotSent: true,
			Msg: method + ": stopped before a connection was obtained (" + ctxErr.Error() + "): request not sent"}
	}
	ae, ok := c.classify(ctx, err, method, "", gen).(*batch.APIError)
	if !ok {
		return err
	}
	ae.Ambiguous, ae.NotSent = false, true
	return ae
}

// Ready implements batch.Readier: it makes sure an access token is at hand
// for the next request, fetching one if the cached one is missing or about
// to expire. An emulator needs none. A failure is classified like a
// request's (a refused credential is fatal, an unreachable token endpoint
// retryable) and is NotSent.
func (c *Client) Ready(ctx context.Context) error {
	if c.tokens == nil {
		return nil
	}
	gen := c.generation()
	if _, err := c.tokens.Token(); err != nil {
		return c.notSent(ctx, err, "token", gen)
	}
	return nil
}

// Probe makes the cheapest customer-wide read, a list of one invitation, and
// returns its classified error: whether this credential can read the
// customer at all (batch.Prober).
func (c *Client) Probe(ctx context.Context) error {
	gen := c.generation()
	actx, cancel := c.bounds.attempt(ctx, "list")
	defer cancel()
	if err := c.svc.probe(actx, "customers/"+c.customer); err != nil {
		return c.classify(ctx, err, "list", "", gen)
	}
	return nil
}

var _ batch.Prober = (*Client)(nil)

// classify is Classify for a call made with ctx: an error caused by ctx
// itself comes back unchanged, while a context error of the transport's own
// (an http.Client timeout) is a timeout like any other. A 401 drops the
// token of generation gen (read before the call), so that the caller's one
// retry fetches a new token. email is the address of the request, "" for a
// list.
func (c *Client) classify(ctx context.Context, err error, method, email string, gen uint64) error {
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return err
	}
	e := classify(err, method, c.customer, strings.ToLower(email))
	if e.Kind == batch.KindUnauthenticated && c.tokens != nil {
		c.tokens.invalidate(gen)
	}
	return e
}

// generation is the generation of the token source, read before a call.
func (c *Client) generation() uint64 {
	if c.tokens == nil {
		return 0
	}
	return c.tokens.generation()
}

// stateFilter builds the list filter, e.g. state=='invited'||state=='accepted'.
func stateFilter(states []batch.State) (string, error) {
	terms := make([]string, 0, len(states))
	for _, s := range states {
		switch s {
		case batch.StateNotYetSent, batch.StateInvited, batch.StateAccepted, batch.StateDeclined:
			terms = append(terms, "state=='"+strings.ToLower(string(s))+"'")
		default:
			return "", fmt.Errorf("list: cannot filter on state %q", s)
		}
	}
	return strings.Join(terms, "||"), nil
}

// name returns the resource name of email's invitation, or a KindPermanent
// *batch.APIError, without any request, for an address that is not one.
// The address goes to the generated client unescaped: it escapes the path
// itself, and pre-escaping would double-escape. It does not escape '/', so
// refusing such addresses keeps them from adding path segments.
func (c *Client) name(method, email string) (string, error) {
	if why := checkEmail(email); why != "" {
		return "", &batch.APIError{
			Kind: batch.KindPermanent,
			Msg:  fmt.Sprintf("%s: invalid address %q: %s", method, email, why),
		}
	}
	return "customers/" + c.customer + "/userinvitations/" + strings.ToLower(email), nil
}

// checkEmail says what is wrong with email, "" if nothing.
func checkEmail(email string) string {
	for _, r := range email {
		switch {
		case strings.ContainsRune(`/?#%\`, r):
			return fmt.Sprintf("contains %q", r)
		case unicode.IsSpace(r), unicode.IsControl(r), r == unicode.ReplacementChar:
			return fmt.Sprintf("contains %q", r)
		}
	}
	local, domain, ok := strings.Cut(email, "@")
	switch {
	case !ok || strings.Contains(domain, "@"):
		return "want exactly one '@'"
	case local == "" || domain == "":
		return "empty local part or domain"
	}
	return ""
}

func checkCustomer(customer string) error {
	if customer == "" {
		return errors.New("client: no customer ID")
	}
	if strings.ContainsAny(customer, `/?#%\@`) || strings.IndexFunc(customer, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return fmt.Errorf("client: invalid customer ID %q", customer)
	}
	return nil
}

// invitation converts a UserInvitation; an unparsable updateTime gives the
// zero time.
func invitation(u *v1.UserInvitation) batch.Invitation {
	state := batch.State(u.State)
	if state == "" {
		state = batch.StateUnspecified
	}
	inv := batch.Invitation{
		Email:     strings.ToLower(u.Name[strings.LastIndexByte(u.Name, '/')+1:]),
		State:     state,
		MailsSent: u.MailsSentCount,
	}
	if t, err := time.Parse(time.RFC3339Nano, u.UpdateTime); err == nil {
		inv.Updated = t
	}
	return inv
}
