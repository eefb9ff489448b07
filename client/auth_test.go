package client

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
)

const (
	saEmail     = "sa@p.iam.gserviceaccount.com"
	admin       = "admin@example.com"
	accessToken = "ya29.fake-access-token"
)

// fakeTokenEndpoint checks the JWT-bearer assertions it gets against key
// and answers with reply.
type fakeTokenEndpoint struct {
	t     *testing.T
	key   *rsa.PublicKey
	reply func() (int, string)

	mu     sync.Mutex
	claims []map[string]any
}

func (f *fakeTokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.t.Errorf("token request: %v", err)
	}
	if got, want := r.PostForm.Get("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer"; got != want {
		f.t.Errorf("got grant_type %q, want %q", got, want)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		f.t.Fatalf("got assertion with %d parts, want a JWT", len(parts))
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.key, crypto.SHA256, sum[:], sig); err != nil {
		f.t.Errorf("assertion signature: %v", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		f.t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.claims = append(f.claims, claims)
	f.mu.Unlock()
	code, body := f.reply()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write([]byte(body))
}

// serviceAccountKey writes a fresh service-account key file whose token_uri
// is tokenURL and returns its path and PEM private key.
func serviceAccountKey(t *testing.T, tokenURL string) (path, pemKey string, pub *rsa.PublicKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	data, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "p",
		"private_key_id": "keyid0123456789",
		"private_key":    pemKey,
		"client_email":   saEmail,
		"client_id":      "123456789",
		"token_uri":      tokenURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key.json", data), pemKey, &key.PublicKey
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// countingTransport counts the requests it carries.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestServiceAccountKeyDelegation(t *testing.T) {
	for _, viaHTTPClient := range []bool{false, true} {
		name := "library transport"
		if viaHTTPClient {
			name = "Config.HTTPClient"
		}
		t.Run(name, func(t *testing.T) {
			tokens := &fakeTokenEndpoint{t: t, reply: func() (int, string) {
				return 200, `{"access_token":"` + accessToken + `","token_type":"Bearer","expires_in":3600}`
			}}
			tokenSrv := httptest.NewServer(tokens)
			defer tokenSrv.Close()
			keyFile, pemKey, pub := serviceAccountKey(t, tokenSrv.URL+"/token")
			tokens.key = pub

			var mu sync.Mutex
			var auths, quotas []string
			apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				auths = append(auths, r.Header.Get("Authorization"))
				quotas = append(quotas, r.Header.Get("X-Goog-User-Project"))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(`{"name":"customers/C0test/userinvitations/a@x.com","state":"INVITED"}`))
			}))
			defer apiSrv.Close()

			cfg := Config{
				Customer:        customer,
				Endpoint:        apiSrv.URL + "/",
				CredentialsFile: keyFile,
				ImpersonateUser: admin,
				QuotaProject:    "quota-proj",
			}
			counter := &countingTransport{}
			if viaHTTPClient {
				cfg.HTTPClient = &http.Client{Transport: counter}
			}
			c, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := c.Get(context.Background(), "a@x.com"); err != nil {
					t.Fatal(err)
				}
			}

			if len(tokens.claims) != 1 {
				t.Fatalf("got %d token requests, want 1 (the token is reused)", len(tokens.claims))
			}
			claims := tokens.claims[0]
			for k, want := range map[string]string{"sub": admin, "iss": saEmail, "aud": tokenSrv.URL + "/token"} {
				if got, _ := claims[k].(string); got != want {
					t.Errorf("got claim %s = %q, want %q", k, got, want)
				}
			}
			if scope, _ := claims["scope"].(string); !strings.Contains(" "+scope+" ", " "+Scope+" ") {
				t.Errorf("got claim scope = %q, want it to hold %s", scope, Scope)
			}
			for i := range auths {
				if got, want := auths[i], "Bearer "+accessToken; got != want {
					t.Errorf("got Authorization %q, want %q", got, want)
				}
				if got, want := quotas[i], "quota-proj"; got != want {
					t.Errorf("got X-Goog-User-Project %q, want %q", got, want)
				}
			}
			if viaHTTPClient {
				if got := counter.n.Load(); got != 3 {
					t.Errorf("Config.HTTPClient carried %d requests, want 3 (1 token, 2 API)", got)
				}
			}

			p := c.Principal()
			if want := "service account " + saEmail + " as " + admin; p != want {
				t.Errorf("got principal %q, want %q", p, want)
			}
			for _, secret := range []string{accessToken, "keyid0123456789", "PRIVATE", pemKey[40:80]} {
				if strings.Contains(p, secret) {
					t.Errorf("principal %q holds %q", p, secret)
				}
			}
		})
	}
}

func TestTokenRefused(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		body    string
		want    batch.Kind
		wantMsg string
	}{
		{
			name:    "invalid_grant",
			code:    400,
			body:    `{"error":"invalid_grant","error_description":"Invalid grant: account not found","access_token":"ya29.leaked-secret"}`,
			want:    batch.KindFatal,
			wantMsg: "credentials refused by the token endpoint: invalid_grant: Invalid grant: account not found; the token may be revoked",
		},
		{
			name:    "unauthorized_client",
			code:    401,
			body:    `{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}`,
			want:    batch.KindFatal,
			wantMsg: "unauthorized_client",
		},
		{
			name:    "not JSON",
			code:    400,
			body:    `ya29.leaked-secret`,
			want:    batch.KindFatal,
			wantMsg: "http 400",
		},
		{
			name:    "token endpoint unavailable",
			code:    503,
			body:    `{"error":"backend_error","access_token":"ya29.leaked-secret"}`,
			want:    batch.KindRetryable,
			wantMsg: "token endpoint: 503",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := &fakeTokenEndpoint{t: t, reply: func() (int, string) { return tt.code, tt.body }}
			tokenSrv := httptest.NewServer(tokens)
			defer tokenSrv.Close()
			keyFile, pemKey, pub := serviceAccountKey(t, tokenSrv.URL+"/token")
			tokens.key = pub
			apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("got API request %s with a refused token", r.URL)
			}))
			defer apiSrv.Close()

			c, err := New(context.Background(), Config{
				Customer:        customer,
				Endpoint:        apiSrv.URL + "/",
				CredentialsFile: keyFile,
				ImpersonateUser: admin,
			})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Send(context.Background(), "a@x.com")
			var got *batch.APIError
			if !errors.As(err, &got) {
				t.Fatalf("got %T %v, want *batch.APIError", err, err)
			}
			t.Logf("message: %s", got.Msg)
			if classified := Classify(err, "send"); classified != err {
				t.Errorf("Classify = %v, want %v", classified, err)
			}
			if got.Kind != tt.want || got.Ambiguous {
				t.Errorf("got kind %v ambiguous %v, want %v, not ambiguous", got.Kind, got.Ambiguous, tt.want)
			}
			if !strings.Contains(got.Msg, tt.wantMsg) {
				t.Errorf("got message %q, want it to contain %q", got.Msg, tt.wantMsg)
			}
			for _, secret := range []string{"leaked-secret", "PRIVATE", pemKey[40:80], "keyid0123456789"} {
				if strings.Contains(got.Msg, secret) {
					t.Errorf("message %q holds %q", got.Msg, secret)
				}
			}
		})
	}
}

func TestTokenEndpointUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	tokenURL := srv.URL + "/token"
	srv.Close()
	keyFile, _, _ := serviceAccountKey(t, tokenURL)
	c, err := New(context.Background(), Config{Customer: customer, Endpoint: "http://127.0.0.1:1/", CredentialsFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Send(context.Background(), "a@x.com")
	var got *batch.APIError
	if errors.As(err, &got) {
		t.Logf("message: %s", got.Msg)
	}
	if got == nil || got.Kind != batch.KindRetryable || got.Ambiguous {
		t.Errorf("got %#v, want a retryable, unambiguous *batch.APIError", err)
	}
}

func TestCredentialFiles(t *testing.T) {
	user := writeFile(t, "user.json", []byte(`{"type":"authorized_user","client_id":"cid.apps.googleusercontent.com","client_secret":"user-secret","refresh_token":"1//refresh-secret","quota_project_id":"qp"}`))
	external := writeFile(t, "ext.json", []byte(`{"type":"external_account","audience":"x","subject_token_type":"y","token_url":"http://127.0.0.1:1/","credential_source":{"file":"/etc/passwd"}}`))
	notJSON := writeFile(t, "bad.json", []byte(`-----BEGIN PRIVATE KEY-----`))

	c, err := New(context.Background(), Config{Customer: customer, CredentialsFile: user})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Principal(), "user credentials"; got != want {
		t.Errorf("got principal %q, want %q", got, want)
	}

	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"user credentials cannot delegate", Config{Customer: customer, CredentialsFile: user, ImpersonateUser: admin}},
		{"external account refused", Config{Customer: customer, CredentialsFile: external}},
		{"not JSON", Config{Customer: customer, CredentialsFile: notJSON}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.cfg)
			if err == nil {
				t.Fatal("New = nil error, want one")
			}
			for _, secret := range []string{"user-secret", "refresh-secret", "BEGIN"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q holds %q", err, secret)
				}
			}
		})
	}
}

// TestUnauthorizedRenewsToken checks that a 401 drops the cached token, so
// that the one retry the pipeline makes carries a new one, and that many
// requests refused together renew it once.
func TestUnauthorizedRenewsToken(t *testing.T) {
	var issued atomic.Int32
	tokens := &fakeTokenEndpoint{t: t, reply: func() (int, string) {
		n := issued.Add(1)
		return 200, `{"access_token":"tok-` + string(rune('0'+n)) + `","token_type":"Bearer","expires_in":3600}`
	}}
	tokenSrv := httptest.NewServer(tokens)
	defer tokenSrv.Close()
	keyFile, _, pub := serviceAccountKey(t, tokenSrv.URL+"/token")
	tokens.key = pub

	// The API refuses tok-1 (still unexpired) and accepts any later token.
	var refused atomic.Int32
	release := make(chan struct{})
	apiSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			refused.Add(1)
			<-release // hold the refusals so that they overlap
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`))
			return
		}
		w.Write([]byte(`{"name":"customers/C0test/userinvitations/a@x.com","state":"INVITED"}`))
	}))
	defer apiSrv.Close()

	c, err := New(context.Background(), Config{Customer: customer, Endpoint: apiSrv.URL + "/", CredentialsFile: keyFile, ImpersonateUser: admin})
	if err != nil {
		t.Fatal(err)
	}
	// Prime the cache with tok-1.
	if tok, err := c.tokens.Token(); err != nil || tok.AccessToken != "tok-1" {
		t.Fatalf("got first token %v, %v; want tok-1", tok, err)
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = c.Get(context.Background(), "a@x.com") })
	}
	for refused.Load() < n {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		var ae *batch.APIError
		if !errors.As(err, &ae) || ae.Kind != batch.KindUnauthenticated {
			t.Fatalf("request %d: got %v, want a KindUnauthenticated *batch.APIError", i, err)
		}
	}
	// The retries: a new token, fetched once for all of them.
	for range n {
		if _, err := c.Get(context.Background(), "a@x.com"); err != nil {
			t.Fatalf("retry after 401: %v", err)
		}
	}
	if got := issued.Load(); got != 2 {
		t.Errorf("got %d token requests, want 2 (one renewal for %d refused requests)", got, n)
	}
}

func TestQuotaProject(t *testing.T) {
	file := []byte(`{"type":"authorized_user","quota_project_id":"from-file"}`)
	tests := []struct {
		name, flag, env string
		json            []byte
		want            string
	}{
		{"flag first", "from-flag", "from-env", file, "from-flag"},
		{"then the environment", "", "from-env", file, "from-env"},
		{"then the file", "", "", file, "from-file"},
		{"none", "", "", []byte(`{"type":"service_account"}`), ""},
		{"metadata server", "", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("GOOGLE_CLOUD_QUOTA_PROJECT", tt.env)
			if got := quotaProject(tt.flag, tt.json); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
