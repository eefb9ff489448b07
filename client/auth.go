package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
)

// clientOptions returns the options for the generated NewService, the
// description of the principal and the token source the requests use (nil
// for an emulator). bounds are newTimeouts(cfg).
func clientOptions(ctx context.Context, cfg Config, bounds timeouts) ([]option.ClientOption, string, *renewingSource, error) {
	if cfg.Emulator != "" {
		if cfg.Endpoint != "" || cfg.CredentialsFile != "" || cfg.ImpersonateUser != "" ||
			cfg.ImpersonateServiceAccount != "" || cfg.QuotaProject != "" {
			return nil, "", nil, errors.New("client: an emulator takes no endpoint, credentials, impersonation or quota project")
		}
		host := strings.TrimSuffix(strings.TrimPrefix(cfg.Emulator, "http://"), "/")
		// A plain client: no credentials, and none of the generated
		// client's default transport layers (auth headers, OpenTelemetry),
		// which cost a fifth of the tool's CPU per request against a local
		// emulator.
		hc := &http.Client{Transport: boundTransport(apiTransport(cfg.Conns), bounds)}
		if cfg.HTTPClient != nil {
			c := *cfg.HTTPClient
			hc = &c
		}
		hc.Transport = outbound{base: hc.Transport}
		opts := []option.ClientOption{option.WithEndpoint("http://" + host + "/"), option.WithHTTPClient(hc)}
		return opts, "emulator (no credentials)", nil, nil
	}

	if err := checkEndpoint(cfg.Endpoint); err != nil {
		return nil, "", nil, err
	}
	// Token sources keep the context they are made with for every refresh.
	ctx = context.WithoutCancel(ctx)
	if cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient)
	} else {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, tokenClient(bounds))
	}
	creds, principal, err := credentials(ctx, cfg)
	if err != nil {
		return nil, "", nil, err
	}
	tokens := &renewingSource{src: creds.TokenSource, timeout: bounds.token(), renew: func() (oauth2.TokenSource, error) {
		c, _, err := credentials(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return c.TokenSource, nil
	}}

	// The transport is built here rather than by the generated client
	// (option.WithCredentials): since google.golang.org/api v0.2xx that
	// goes through cloud.google.com/go/auth, which caches every token in a
	// cache of its own that nothing can invalidate, so a token the API
	// refuses with 401 would be sent again until it expires. The generated
	// client still sets the User-Agent and x-goog-api-client headers.
	var hc http.Client
	base := http.RoundTripper(boundTransport(apiTransport(cfg.Conns), bounds))
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
		base = cfg.HTTPClient.Transport
	}
	hc.Transport = &oauth2.Transport{
		Source: tokens,
		Base:   outbound{project: quotaProject(cfg.QuotaProject, creds.JSON), base: base},
	}
	opts := []option.ClientOption{option.WithHTTPClient(&hc)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	return opts, principal, tokens, nil
}

// checkEndpoint refuses an endpoint that would carry the bearer token in
// the clear: only https://, or http:// to a loopback host (tests).
func checkEndpoint(endpoint string) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("client: endpoint %q is not an http(s) URL", endpoint)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("client: endpoint %s: credentials only travel over https (plain http only to a loopback host)", endpoint)
	}
	return nil
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiTransport is http.DefaultTransport keeping an idle connection for each
// of conns requests in flight (default 100, as the google.golang.org/api
// transport does). With fewer, connections beyond them are closed after each
// request and dialled again for the next.
func apiTransport(conns int) *http.Transport {
	if conns <= 0 {
		conns = 100
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	t.MaxIdleConns = max(t.MaxIdleConns, conns)
	return t
}

// quotaProject is the project billed for the requests, chosen as the Google
// client libraries do: the flag, else $GOOGLE_CLOUD_QUOTA_PROJECT, else the
// quota_project_id of the credentials JSON (gcloud auth application-default
// set-quota-project writes it).
func quotaProject(flag string, credsJSON []byte) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv("GOOGLE_CLOUD_QUOTA_PROJECT"); env != "" {
		return env
	}
	var f struct {
		QuotaProject string `json:"quota_project_id"`
	}
	if json.Unmarshal(credsJSON, &f) != nil {
		return ""
	}
	return f.QuotaProject
}

// credentials finds the credentials cfg asks for and describes them.
func credentials(ctx context.Context, cfg Config) (*google.Credentials, string, error) {
	params := google.CredentialsParams{Scopes: []string{Scope}, Subject: cfg.ImpersonateUser}
	if sa := cfg.ImpersonateServiceAccount; sa != "" {
		var base []option.ClientOption
		if cfg.CredentialsFile != "" {
			creds, _, err := credentialsFile(ctx, cfg.CredentialsFile, google.CredentialsParams{
				Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"},
			})
			if err != nil {
				return nil, "", err
			}
			base = append(base, option.WithCredentials(creds))
		}
		ts, err := impersonate.CredentialsTokenSource(ctx, impersonate.CredentialsConfig{
			TargetPrincipal: sa,
			Scopes:          params.Scopes,
			Subject:         params.Subject,
		}, base...)
		if err != nil {
			return nil, "", fmt.Errorf("client: impersonating %s: %w", sa, err)
		}
		return &google.Credentials{TokenSource: ts}, withSubject("service account "+sa+" (impersonated)", params.Subject), nil
	}

	var creds *google.Credentials
	var err error
	if cfg.CredentialsFile != "" {
		creds, _, err = credentialsFile(ctx, cfg.CredentialsFile, params)
	} else {
		creds, err = google.FindDefaultCredentialsWithParams(ctx, params)
		if err != nil {
			err = fmt.Errorf("client: application default credentials: %w", err)
		}
	}
	if err != nil {
		return nil, "", err
	}
	principal, delegates := describe(creds.JSON)
	if params.Subject != "" && !delegates {
		// The library would ignore the subject and act as the principal
		// itself: refuse rather than act as someone else than asked.
		return nil, "", fmt.Errorf("client: %s cannot act as %s: domain-wide delegation needs a service-account key or an impersonated service account", principal, params.Subject)
	}
	return creds, withSubject(principal, params.Subject), nil
}

// credentialsFile reads a service-account key or authorized_user file.
// Other types (external accounts, whose configuration names URLs to call)
// are refused.
func credentialsFile(ctx context.Context, path string, params google.CredentialsParams) (*google.Credentials, google.CredentialsType, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("client: %w", err)
	}
	var f struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		// Not err itself: a syntax error may quote the key.
		return nil, "", fmt.Errorf("client: credentials file %s is not JSON", path)
	}
	typ := google.CredentialsType(f.Type)
	if typ != google.ServiceAccount && typ != google.AuthorizedUser {
		return nil, "", fmt.Errorf("client: credentials file %s has type %q, want %q or %q", path, f.Type, google.ServiceAccount, google.AuthorizedUser)
	}
	creds, err := google.CredentialsFromJSONWithTypeAndParams(ctx, data, typ, params)
	if err != nil {
		return nil, "", fmt.Errorf("client: credentials file %s: %w", path, err)
	}
	return creds, typ, nil
}

// describe names the principal of a credentials JSON (nil for the metadata
// server) and says whether it can act as a subject through domain-wide
// delegation.
func describe(credsJSON []byte) (principal string, delegates bool) {
	if credsJSON == nil {
		return "metadata server service account", false
	}
	var f struct {
		Type        string `json:"type"`
		ClientEmail string `json:"client_email"`
		ImpURL      string `json:"service_account_impersonation_url"`
	}
	_ = json.Unmarshal(credsJSON, &f)
	switch f.Type {
	case string(google.ServiceAccount):
		return "service account " + f.ClientEmail, true
	case string(google.AuthorizedUser):
		return "user credentials", false
	case "impersonated_service_account":
		// .../serviceAccounts/EMAIL:generateAccessToken
		sa := f.ImpURL[strings.LastIndexByte(f.ImpURL, '/')+1:]
		sa, _, _ = strings.Cut(sa, ":")
		return "service account " + sa + " (impersonated)", false
	}
	return f.Type + " credentials", false
}

func withSubject(principal, subject string) string {
	if subject == "" {
		return principal
	}
	return principal + " as " + subject
}

// renewingSource is the token source of every request of a Client. Tokens
// come from src, which caches each token until shortly before it expires.
// When the API answers 401 to a token, the Client calls invalidate, which
// replaces src by a fresh one from renew, so the next request fetches a new
// token instead of the cached one the API just refused: CONTRACT.md retries
// a 401 once "after one credential refresh", and without the renewal that
// retry would carry the same token again. (The sources of x/oauth2 have no
// way to drop their cached token, hence the rebuild.)
//
// Token is called for every request (oauth2.Transport) and before every
// send or cancel (Client.Ready). A call to src is bounded by timeout
// (boundedToken: a goroutine and a timer), so the last token src gave is
// kept and returned while it is valid, without calling src: only a call
// that may fetch a token pays for the bound. Callers do not wait for one
// another: each that finds no valid token calls src, as before.
//
// Errors of Token are marked as *tokenError, so that Classify can tell them
// from API errors.
type renewingSource struct {
	renew   func() (oauth2.TokenSource, error)
	timeout time.Duration // bounds each call of src (0: tokenTimeout)

	mu  sync.Mutex
	src oauth2.TokenSource
	tok *oauth2.Token // the last token of src, nil if none
	gen uint64        // how many times src was replaced
}

func (s *renewingSource) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	src, tok, gen := s.src, s.tok, s.gen
	s.mu.Unlock()
	if tok.Valid() {
		return tok, nil
	}
	d := s.timeout
	if d <= 0 {
		d = tokenTimeout
	}
	t, err := boundedToken(src, d)
	if err != nil {
		return nil, &tokenError{err}
	}
	s.mu.Lock()
	if s.gen == gen {
		s.tok = t
	}
	s.mu.Unlock()
	return t, nil
}

// generation identifies the current source. A request started after
// reading it carries a token of that source or of a later one.
func (s *renewingSource) generation() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// invalidate drops the cached token of the source of generation gen, the
// one current when a request that got 401 started. When several requests
// are refused together, the first renews the source and the others find it
// renewed already: their retries use the new token without fetching
// another one each. A renewal that fails leaves the source as it was: the
// retry then fails again and the run stops as on any refused credential.
func (s *renewingSource) invalidate(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	src, err := s.renew()
	if err != nil {
		return
	}
	s.src, s.tok = src, nil
	s.gen++
}

// tokenError is a failure to get an access token: no API request was made.
type tokenError struct{ err error }

// Error holds no raw token response, which classifyToken also keeps out.
func (e *tokenError) Error() string { return "access token: " + classifyToken(e.err, "token").Msg }
func (e *tokenError) Unwrap() error { return e.err }
