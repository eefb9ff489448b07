package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"google.golang.org/api/impersonate"
	"google.golang.org/api/option"
)

// clientOptions returns the options for the generated NewService and the
// description of the principal.
func clientOptions(ctx context.Context, cfg Config) ([]option.ClientOption, string, error) {
	if cfg.Emulator != "" {
		if cfg.Endpoint != "" || cfg.CredentialsFile != "" || cfg.ImpersonateUser != "" ||
			cfg.ImpersonateServiceAccount != "" || cfg.QuotaProject != "" {
			return nil, "", errors.New("client: an emulator takes no endpoint, credentials, impersonation or quota project")
		}
		host := strings.TrimSuffix(strings.TrimPrefix(cfg.Emulator, "http://"), "/")
		opts := []option.ClientOption{option.WithEndpoint("http://" + host + "/")}
		if cfg.HTTPClient != nil {
			opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
		} else {
			opts = append(opts, option.WithoutAuthentication())
		}
		return opts, "emulator (no credentials)", nil
	}

	// Token sources keep the context they are made with for every refresh.
	ctx = context.WithoutCancel(ctx)
	if cfg.HTTPClient != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, cfg.HTTPClient)
	}
	creds, principal, err := credentials(ctx, cfg)
	if err != nil {
		return nil, "", err
	}
	// Mark token failures so that Classify can tell them from API errors.
	creds = &google.Credentials{
		ProjectID:              creds.ProjectID,
		TokenSource:            tokenSource{creds.TokenSource},
		JSON:                   creds.JSON,
		UniverseDomainProvider: creds.UniverseDomainProvider,
	}

	opts := []option.ClientOption{option.WithScopes(Scope)}
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint))
	}
	if cfg.HTTPClient == nil {
		opts = append(opts, option.WithCredentials(creds))
		if cfg.QuotaProject != "" {
			opts = append(opts, option.WithQuotaProject(cfg.QuotaProject))
		}
		return opts, principal, nil
	}
	// option.WithHTTPClient overrides all authentication: add it here.
	hc := *cfg.HTTPClient
	hc.Transport = &oauth2.Transport{
		Source: creds.TokenSource,
		Base:   quotaTransport{project: cfg.QuotaProject, base: cfg.HTTPClient.Transport},
	}
	return append(opts, option.WithHTTPClient(&hc)), principal, nil
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

// tokenSource marks the errors of its source as *tokenError.
type tokenSource struct{ src oauth2.TokenSource }

func (ts tokenSource) Token() (*oauth2.Token, error) {
	t, err := ts.src.Token()
	if err != nil {
		return nil, &tokenError{err}
	}
	return t, nil
}

// tokenError is a failure to get an access token: no API request was made.
type tokenError struct{ err error }

// Error holds no raw token response, which classifyToken also keeps out.
func (e *tokenError) Error() string { return "access token: " + classifyToken(e.err, "token").Msg }
func (e *tokenError) Unwrap() error { return e.err }

// quotaTransport sets the quota project header, which option.WithQuotaProject
// cannot do together with option.WithHTTPClient.
type quotaTransport struct {
	project string
	base    http.RoundTripper
}

func (t quotaTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.project == "" {
		return base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.Header.Set("X-Goog-User-Project", t.project)
	return base.RoundTrip(req)
}
