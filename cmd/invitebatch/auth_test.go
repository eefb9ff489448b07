package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/client/emulator"
)

// The credentials tests run the binary against the emulator with real
// OAuth: a fake token endpoint issues the access tokens, and the emulator
// accepts only those (RequireToken), unexpired and not refused. Nothing
// reaches Google.

const (
	saEmail       = "invitebatch@p.iam.gserviceaccount.com"
	adminEmail    = "admin@example.com"
	keyID         = "e2e0key0id0123456789abcdef"
	refreshSecret = "1//e2e-refresh-token-secret"
	clientSecret  = "e2e-client-secret-GOCSPX"
	clientID      = "123456789-e2e.apps.googleusercontent.com"
	jwtBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// grant is one request the token endpoint got.
type grant struct {
	grantType    string
	assertion    string         // jwt-bearer
	claims       map[string]any // the assertion's payload
	refreshToken string         // refresh_token
	clientID     string
	clientSecret string
}

// fakeOAuth is a token endpoint for service-account JWT-bearer grants and
// user refresh-token grants.
type fakeOAuth struct {
	t         *testing.T
	srv       *httptest.Server
	key       *rsa.PublicKey // checks assertion signatures
	expiresIn int            // seconds, as in the reply

	mu      sync.Mutex
	grants  []grant
	issued  map[string]time.Time // token -> expiry
	refused map[string]bool      // tokens the API refuses although unexpired
	revoked bool                 // every grant gets invalid_grant
}

func newFakeOAuth(t *testing.T) *fakeOAuth {
	f := &fakeOAuth{t: t, expiresIn: 3600, issued: map[string]time.Time{}, refused: map[string]bool{}}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOAuth) tokenURL() string { return f.srv.URL + "/token" }

func (f *fakeOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/token" || r.ParseForm() != nil {
		f.t.Errorf("token endpoint: got %s %s", r.Method, r.URL)
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_request"}`)
		return
	}
	g := grant{
		grantType:    r.PostForm.Get("grant_type"),
		assertion:    r.PostForm.Get("assertion"),
		refreshToken: r.PostForm.Get("refresh_token"),
		clientID:     r.PostForm.Get("client_id"),
		clientSecret: r.PostForm.Get("client_secret"),
	}
	ok := false
	switch g.grantType {
	case jwtBearer:
		g.claims, ok = f.checkAssertion(g.assertion)
	case "refresh_token":
		ok = g.refreshToken == refreshSecret && g.clientID == clientID && g.clientSecret == clientSecret
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.grants = append(f.grants, g)
	if !ok || f.revoked {
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "ya29.e2e-" + hex.EncodeToString(b[:])
	f.issued[tok] = time.Now().Add(time.Duration(f.expiresIn) * time.Second)
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, f.expiresIn)
}

// checkAssertion verifies a JWT-bearer assertion and returns its payload.
func (f *fakeOAuth) checkAssertion(jwt string) (map[string]any, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || f.key == nil {
		return nil, false
	}
	sig, err1 := base64.RawURLEncoding.DecodeString(parts[2])
	payload, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err1 != nil || err2 != nil || json.Unmarshal(payload, &claims) != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(f.key, crypto.SHA256, sum[:], sig); err != nil {
		f.t.Errorf("assertion signature: %v", err)
		return claims, false
	}
	return claims, true
}

// valid is the emulator's RequireToken check: issued here, unexpired, not
// refused, not revoked.
func (f *fakeOAuth) valid(tok string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	exp, ok := f.issued[tok]
	return ok && !f.revoked && !f.refused[tok] && time.Now().Before(exp)
}

// refuseAll makes the API refuse every token issued so far, unexpired as
// they are (as after a password change or a key rotation).
func (f *fakeOAuth) refuseAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tok := range f.issued {
		f.refused[tok] = true
	}
}

// revoke refuses every grant and every token issued so far; unrevoke lets
// grants succeed again (the tokens issued before stay refused).
func (f *fakeOAuth) revoke() {
	f.refuseAll()
	f.mu.Lock()
	f.revoked = true
	f.mu.Unlock()
}

func (f *fakeOAuth) unrevoke() {
	f.mu.Lock()
	f.revoked = false
	f.mu.Unlock()
}

func (f *fakeOAuth) grantsSeen() []grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]grant(nil), f.grants...)
}

func (f *fakeOAuth) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var toks []string
	for tok := range f.issued {
		toks = append(toks, tok)
	}
	return toks
}

// apiRecorder serves the emulator and records the credential headers of
// every API request. hook, if set, is called with the request's number
// (from 1) before the emulator sees it.
type apiRecorder struct {
	emu http.Handler

	mu     sync.Mutex
	auths  []string
	quotas []string
	hook   func(n int)
}

func (a *apiRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/v1") {
		a.mu.Lock()
		a.auths = append(a.auths, r.Header.Get("Authorization"))
		a.quotas = append(a.quotas, r.Header.Get("X-Goog-User-Project"))
		n, hook := len(a.auths), a.hook
		a.mu.Unlock()
		if hook != nil {
			hook(n)
		}
	}
	a.emu.ServeHTTP(w, r)
}

// onRequest calls fn once, at API request n from now.
func (a *apiRecorder) onRequest(n int, fn func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := len(a.auths) + n
	var once sync.Once
	a.hook = func(i int) {
		if i >= at {
			once.Do(fn)
		}
	}
}

func (a *apiRecorder) headers() (auths, quotas []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.auths...), append([]string(nil), a.quotas...)
}

// authWorld is a world whose emulator requires the fake's tokens and is
// reached through --endpoint, with credentials.
type authWorld struct {
	*world
	oauth  *fakeOAuth
	api    *apiRecorder
	pemKey string // the private key of key.json
}

func newAuthWorld(t *testing.T) *authWorld {
	t.Helper()
	emu := emulator.New(emulator.Options{Customer: testCustomer})
	oauth := newFakeOAuth(t)
	emu.RequireToken(oauth.valid)
	api := &apiRecorder{emu: emu}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	w := &authWorld{world: &world{t: t, emu: emu, srv: srv, dir: t.TempDir()}, oauth: oauth, api: api}
	w.writeKeys()
	return w
}

// writeKeys writes key.json, a fresh service-account key, and user.json,
// user credentials, both pointing at the fake token endpoint.
func (w *authWorld) writeKeys() {
	w.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		w.t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		w.t.Fatal(err)
	}
	w.pemKey = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	w.oauth.key = &key.PublicKey
	sa, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "p",
		"private_key_id": keyID,
		"private_key":    w.pemKey,
		"client_email":   saEmail,
		"client_id":      "1234567890",
		"token_uri":      w.oauth.tokenURL(),
	})
	w.write("key.json", string(sa))
	// oauth2/google honours token_uri in authorized_user files (gcloud
	// writes none, and Google's token URL is used).
	user, _ := json.Marshal(map[string]string{
		"type":             "authorized_user",
		"client_id":        clientID,
		"client_secret":    clientSecret,
		"refresh_token":    refreshSecret,
		"quota_project_id": "qp-file",
		"token_uri":        w.oauth.tokenURL(),
	})
	w.write("user.json", string(user))
}

// writeRows writes users.csv with n addresses and returns them.
func (w *authWorld) writeRows(n int) []string {
	var b strings.Builder
	b.WriteString("email\n")
	var emails []string
	for i := range n {
		e := fmt.Sprintf("u%03d@example.com", i)
		emails = append(emails, e)
		b.WriteString(e + "\n")
	}
	w.write("users.csv", b.String())
	return emails
}

// runAuth runs `invitebatch run --customer C0test --endpoint EMULATOR args...`
// with an environment free of the host's Google credentials, plus env.
func (w *authWorld) runAuth(env []string, args ...string) result {
	w.t.Helper()
	cmd := exec.Command(binary, append([]string{"run", "--customer", testCustomer, "--endpoint", w.srv.URL + "/"}, args...)...)
	cmd.Dir = w.dir
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GOOGLE_") && !strings.HasPrefix(name, "CLOUDSDK_") &&
			!strings.HasPrefix(name, "CLOUDIDENTITY_") && !strings.HasPrefix(name, "INVITEBATCH_") &&
			name != "HOME" && name != "XDG_STATE_HOME" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+w.path("home"), "CLOUDSDK_CONFIG="+w.path("gcloud"),
		"XDG_STATE_HOME="+w.path("state"), "GCE_METADATA_HOST=127.0.0.1:1")
	cmd.Env = append(cmd.Env, env...)
	return runCmd(w.t, cmd)
}

// checkAllSent checks that every address was emailed exactly once and
// reported sent.
func (w *authWorld) checkAllSent(emails []string) {
	w.t.Helper()
	got := outcomeByEmail(w.report("users.report.csv"))
	for _, e := range emails {
		if got[e] != "sent" || w.emu.Sends(e) != 1 {
			w.t.Errorf("%s: got outcome %q and %d emails, want sent and 1", e, got[e], w.emu.Sends(e))
		}
	}
	if d := w.emu.Stats().DuplicateSends; d != 0 {
		w.t.Errorf("got %d duplicate sends, want 0", d)
	}
}

// checkBearer checks that every API request carried a token the fake
// issued, and returns how many requests there were.
func (w *authWorld) checkBearer() int {
	w.t.Helper()
	issued := map[string]bool{}
	for _, tok := range w.oauth.tokens() {
		issued["Bearer "+tok] = true
	}
	auths, _ := w.api.headers()
	for i, a := range auths {
		if !issued[a] {
			w.t.Errorf("API request %d: got Authorization %q, want a bearer token the fake issued", i+1, a)
		}
	}
	if len(auths) == 0 {
		w.t.Error("no API request was made")
	}
	return len(auths)
}

// checkJWTGrants checks that every token request was a JWT-bearer grant
// for the delegation subject and the invitations scope.
func (w *authWorld) checkJWTGrants() {
	w.t.Helper()
	grants := w.oauth.grantsSeen()
	if len(grants) == 0 {
		w.t.Fatal("the token endpoint got no request")
	}
	for i, g := range grants {
		if g.grantType != jwtBearer {
			w.t.Errorf("grant %d: got grant_type %q, want %q", i, g.grantType, jwtBearer)
		}
		for k, want := range map[string]string{"sub": adminEmail, "iss": saEmail, "aud": w.oauth.tokenURL()} {
			if got, _ := g.claims[k].(string); got != want {
				w.t.Errorf("grant %d: got claim %s = %q, want %q", i, k, got, want)
			}
		}
		if scope, _ := g.claims["scope"].(string); !strings.Contains(" "+scope+" ", " "+client.Scope+" ") {
			w.t.Errorf("grant %d: got scope %q, want it to hold %s", i, scope, client.Scope)
		}
	}
}

func (w *authWorld) apiRequests(code int) int {
	n := 0
	for _, byCode := range w.emu.Stats().Requests {
		for c, k := range byCode {
			if code == 0 || c == code {
				n += k
			}
		}
	}
	return n
}

func TestAuthServiceAccountKeyDelegation(t *testing.T) {
	w := newAuthWorld(t)
	emails := w.writeRows(5)
	res := w.runAuth(nil, "--credentials", "key.json", "--impersonate-user", adminEmail, "users.csv")
	if res.code != 0 {
		t.Fatalf("got exit %d, want 0\n%s", res.code, res.stderr)
	}
	w.checkAllSent(emails)
	w.checkJWTGrants()
	w.checkBearer()
	if n := len(w.oauth.grantsSeen()); n != 1 {
		t.Errorf("got %d token requests, want 1 (the token is reused)", n)
	}

	// The emulator really checks: no token, or one the fake did not issue,
	// gets 401; one it issued gets through.
	url := w.srv.URL + "/v1/customers/" + testCustomer + "/userinvitations/u000@example.com"
	for _, tt := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Bearer ya29.not-issued", 401},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), 401},
		{"Bearer " + w.oauth.tokens()[0], 200},
	} {
		req, _ := http.NewRequest("GET", url, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET with Authorization %.20q: got %d, want %d", tt.auth, resp.StatusCode, tt.want)
		}
	}
}

func TestAuthCredentialDiscovery(t *testing.T) {
	tests := []struct {
		name      string
		env       []string
		args      []string
		grantType string
		quota     string // X-Goog-User-Project of every request
	}{
		{
			name:      "service-account key through GOOGLE_APPLICATION_CREDENTIALS",
			env:       []string{"GOOGLE_APPLICATION_CREDENTIALS=key.json"},
			args:      []string{"--impersonate-user", adminEmail},
			grantType: jwtBearer,
		},
		{
			name:      "service-account key with --quota-project",
			args:      []string{"--credentials", "key.json", "--impersonate-user", adminEmail, "--quota-project", "qp-flag"},
			grantType: jwtBearer,
			quota:     "qp-flag",
		},
		{
			name:      "user credentials through GOOGLE_APPLICATION_CREDENTIALS: quota project of the file",
			env:       []string{"GOOGLE_APPLICATION_CREDENTIALS=user.json"},
			grantType: "refresh_token",
			quota:     "qp-file",
		},
		{
			name:      "user credentials file with --quota-project",
			args:      []string{"--credentials", "user.json", "--quota-project", "qp-flag"},
			grantType: "refresh_token",
			quota:     "qp-flag",
		},
		{
			name:      "GOOGLE_CLOUD_QUOTA_PROJECT over the file's",
			env:       []string{"GOOGLE_CLOUD_QUOTA_PROJECT=qp-env"},
			args:      []string{"--credentials", "user.json"},
			grantType: "refresh_token",
			quota:     "qp-env",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newAuthWorld(t)
			// Relative paths in the variable resolve against the run's
			// directory; make them absolute as a cron job would.
			for i, kv := range tt.env {
				if v, ok := strings.CutPrefix(kv, "GOOGLE_APPLICATION_CREDENTIALS="); ok {
					tt.env[i] = "GOOGLE_APPLICATION_CREDENTIALS=" + w.path(v)
				}
			}
			emails := w.writeRows(3)
			res := w.runAuth(tt.env, append(tt.args, "users.csv")...)
			if res.code != 0 {
				t.Fatalf("got exit %d, want 0\n%s", res.code, res.stderr)
			}
			w.checkAllSent(emails)
			w.checkBearer()
			if tt.grantType == jwtBearer {
				w.checkJWTGrants()
			}
			for i, g := range w.oauth.grantsSeen() {
				if g.grantType != tt.grantType {
					t.Errorf("grant %d: got grant_type %q, want %q", i, g.grantType, tt.grantType)
				}
				if tt.grantType == "refresh_token" && (g.refreshToken != refreshSecret || g.clientID != clientID || g.clientSecret != clientSecret) {
					t.Errorf("grant %d: got refresh_token %q client_id %q, want the file's", i, g.refreshToken, g.clientID)
				}
			}
			_, quotas := w.api.headers()
			for i, q := range quotas {
				if q != tt.quota {
					t.Errorf("API request %d: got X-Goog-User-Project %q, want %q", i+1, q, tt.quota)
				}
			}
		})
	}

	t.Run("user credentials cannot act as another user", func(t *testing.T) {
		w := newAuthWorld(t)
		w.writeRows(1)
		res := w.runAuth(nil, "--credentials", "user.json", "--impersonate-user", adminEmail, "users.csv")
		if res.code != 5 || !strings.Contains(res.stderr, "domain-wide delegation") {
			t.Errorf("got exit %d, want 5 with a message on domain-wide delegation\n%s", res.code, res.stderr)
		}
		if n := w.apiRequests(0) + len(w.oauth.grantsSeen()); n != 0 {
			t.Errorf("got %d requests, want none", n)
		}
	})
}

func TestAuthTokenExpiresMidRun(t *testing.T) {
	w := newAuthWorld(t)
	// x/oauth2 renews a token 10 s before it expires: 11 s tokens are
	// renewed after about 1 s; the emulator refuses them after 11 s.
	w.oauth.expiresIn = 11
	w.emu.SetLatency(100*time.Millisecond, 0)
	emails := w.writeRows(8)
	start := time.Now()
	res := w.runAuth(nil, "--credentials", "key.json", "--impersonate-user", adminEmail, "--qps", "5", "--workers", "2", "users.csv")
	if res.code != 0 {
		t.Fatalf("got exit %d, want 0\n%s", res.code, res.stderr)
	}
	w.checkAllSent(emails)
	w.checkBearer()
	if n := len(w.oauth.grantsSeen()); n < 2 {
		t.Errorf("got %d token requests in a %v run, want more than 1", n, time.Since(start).Round(time.Millisecond))
	}
	if n := w.apiRequests(401); n != 0 {
		t.Errorf("got %d requests refused with 401, want 0 (tokens are renewed before they expire)", n)
	}
}

func TestAuthRefusedTokenIsRenewed(t *testing.T) {
	w := newAuthWorld(t)
	emails := w.writeRows(12)
	// After a few requests the API refuses the (unexpired) token: every
	// request refused must drop it, and its one retry carry a new one.
	w.api.onRequest(6, w.oauth.refuseAll)
	res := w.runAuth(nil, "--credentials", "key.json", "--impersonate-user", adminEmail, "--workers", "4", "--qps", "50", "users.csv")
	if res.code != 0 {
		t.Fatalf("got exit %d, want 0 (one renewal cures a refused token)\n%s", res.code, res.stderr)
	}
	w.checkAllSent(emails)
	w.checkBearer()
	if n := w.apiRequests(401); n < 1 {
		t.Errorf("got %d requests refused with 401, want at least 1", n)
	}
	if n := len(w.oauth.grantsSeen()); n != 2 {
		t.Errorf("got %d token requests, want 2 (one renewal, however many requests were refused)", n)
	}
}

func TestAuthRevokedCredentialsExit5AndResume(t *testing.T) {
	for _, creds := range []string{"key.json", "user.json"} {
		t.Run(creds, func(t *testing.T) {
			w := newAuthWorld(t)
			emails := w.writeRows(20)
			args := []string{"--credentials", creds, "--workers", "2", "--qps", "40", "users.csv"}
			if creds == "key.json" {
				args = append([]string{"--impersonate-user", adminEmail}, args...)
			}
			w.api.onRequest(10, w.oauth.revoke)
			res := w.runAuth(nil, args...)
			if res.code != 5 {
				t.Fatalf("got exit %d, want 5\n%s", res.code, res.stderr)
			}
			for _, want := range []string{"invalid_grant", "revoked"} {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
			for _, r := range w.report("users.report.csv") {
				if r["outcome"] == "failed" {
					t.Errorf("row %s: failed; a refused credential must leave it to the resumed run", r["row"])
				}
			}
			sentBefore := w.emu.Stats().Sends
			if sentBefore == 0 || sentBefore == len(emails) {
				t.Errorf("got %d sends before the revocation stopped the run, want some", sentBefore)
			}

			// Credentials fixed: the same command resumes, nobody is
			// emailed twice.
			w.oauth.unrevoke()
			res = w.runAuth(nil, args...)
			if res.code != 0 {
				t.Fatalf("resumed run: got exit %d, want 0\n%s", res.code, res.stderr)
			}
			w.checkAllSent(emails)
		})
	}
}

func TestAuthFatalConfigurationErrors(t *testing.T) {
	tests := []struct {
		fatal emulator.Fatal
		want  []string
	}{
		{emulator.FatalPermissionDenied, []string{"PERMISSION_DENIED", "super administrator", "domain-wide delegation"}},
		{emulator.FatalServiceDisabled, []string{"enable the Cloud Identity API", "gcloud services enable"}},
		{emulator.FatalQuotaProject, []string{"quota project", "--quota-project"}},
	}
	for _, tt := range tests {
		t.Run(tt.fatal.String(), func(t *testing.T) {
			w := newAuthWorld(t)
			w.writeRows(40)
			w.emu.SetFatal(tt.fatal)
			const workers = 4
			res := w.runAuth(nil, "--credentials", "key.json", "--impersonate-user", adminEmail,
				"--workers", fmt.Sprint(workers), "--qps", "100", "users.csv")
			if res.code != 5 {
				t.Fatalf("got exit %d, want 5\n%s", res.code, res.stderr)
			}
			for _, want := range tt.want {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, res.stderr)
				}
			}
			// Stopped at the first occurrence: at most one request per
			// worker (and the list), not one per row.
			if n := w.apiRequests(0); n < 1 || n > workers+1 {
				t.Errorf("got %d API requests, want 1 to %d", n, workers+1)
			}
			for _, r := range w.report("users.report.csv") {
				if r["outcome"] == "failed" {
					t.Errorf("row %s: failed; a fatal error must leave it to the resumed run", r["row"])
				}
			}
		})
	}
}

// TestSecretsNeverAppear runs the binary in several modes and looks for
// every secret in everything it wrote: stdout, stderr, the report, the
// summary, the checkpoint and the ledger.
func TestSecretsNeverAppear(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		setup    func(w *authWorld)
		wantCode int
	}{
		{
			name:     "key, success, debug json",
			args:     []string{"--credentials", "key.json", "--impersonate-user", adminEmail, "--log-level", "debug", "--log-format", "json"},
			wantCode: 0,
		},
		{
			name:     "user credentials, success, debug console",
			args:     []string{"--credentials", "user.json", "--quota-project", "qp", "--log-level", "debug", "--log-format", "console"},
			wantCode: 0,
		},
		{
			name:     "key, refused token renewed, debug json",
			args:     []string{"--credentials", "key.json", "--impersonate-user", adminEmail, "--log-level", "debug", "--log-format", "json"},
			setup:    func(w *authWorld) { w.api.onRequest(4, w.oauth.refuseAll) },
			wantCode: 0,
		},
		{
			name:     "key, revoked, debug console",
			args:     []string{"--credentials", "key.json", "--impersonate-user", adminEmail, "--log-level", "debug", "--log-format", "console"},
			setup:    func(w *authWorld) { w.api.onRequest(4, w.oauth.revoke) },
			wantCode: 5,
		},
		{
			name:     "user credentials, revoked, debug json",
			args:     []string{"--credentials", "user.json", "--log-level", "debug", "--log-format", "json"},
			setup:    func(w *authWorld) { w.api.onRequest(4, w.oauth.revoke) },
			wantCode: 5,
		},
		{
			name:     "user credentials, token endpoint refuses at once",
			args:     []string{"--credentials", "user.json", "--log-level", "debug", "--log-format", "json"},
			setup:    func(w *authWorld) { w.oauth.revoke() },
			wantCode: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newAuthWorld(t)
			w.writeRows(10)
			if tt.setup != nil {
				tt.setup(w)
			}
			res := w.runAuth(nil, append(tt.args, "--workers", "2", "--summary", "sum.json", "users.csv")...)
			if res.code != tt.wantCode {
				t.Fatalf("got exit %d, want %d\n%s", res.code, tt.wantCode, res.stderr)
			}

			outputs := map[string]string{"stdout": res.stdout, "stderr": res.stderr}
			err := filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				switch filepath.Base(p) {
				case "key.json", "user.json", "users.csv":
					return nil
				}
				b, err := os.ReadFile(p)
				outputs[strings.TrimPrefix(p, w.dir)] = string(b)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"users.report.csv", "sum.json", "users.checkpoint", ".ledger"} {
				found := false
				for name := range outputs {
					found = found || strings.HasSuffix(name, want)
				}
				if !found {
					t.Errorf("the run wrote no %s to check (wrote %d files)", want, len(outputs)-2)
				}
			}
			// The logs are there to be checked, in the format asked for.
			wantLog := "\tINFO\t"
			if slices.Contains(tt.args, "json") {
				wantLog = `{"level":"info"`
			}
			if !strings.Contains(res.stderr, wantLog) {
				t.Errorf("stderr holds no %q log line:\n%s", wantLog, res.stderr)
			}

			body := strings.Split(w.pemKey, "\n")
			secrets := map[string]string{
				"refresh token":          refreshSecret,
				"client secret":          clientSecret,
				"private key id":         keyID,
				"private key PEM":        body[len(body)/2], // a line of base64 from the middle
				"an Authorization value": "Bearer ",
			}
			for i, tok := range w.oauth.tokens() {
				secrets[fmt.Sprintf("access token %d", i)] = tok
			}
			for i, g := range w.oauth.grantsSeen() {
				if g.assertion != "" {
					secrets[fmt.Sprintf("JWT assertion %d", i)] = g.assertion[strings.LastIndexByte(g.assertion, '.')+1:]
				}
			}
			if len(w.oauth.tokens()) == 0 && tt.wantCode == 0 {
				t.Error("no token was issued")
			}
			for where, text := range outputs {
				for what, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("%s holds the %s", where, what)
					}
				}
			}
		})
	}
}
