package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
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
	return newAuthWorldVia(t, nil)
}

// newAuthWorldVia is newAuthWorld with the API served through wrap (if not
// nil) around the recorder and the emulator.
func newAuthWorldVia(t *testing.T, wrap func(http.Handler) http.Handler) *authWorld {
	t.Helper()
	emu := emulator.New(emulator.Options{Customer: testCustomer})
	oauth := newFakeOAuth(t)
	emu.RequireToken(oauth.valid)
	api := &apiRecorder{emu: emu}
	var h http.Handler = api
	if wrap != nil {
		h = wrap(api)
	}
	srv := httptest.NewServer(h)
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
	return runCmd(w.t, w.authCmd(env, args...))
}

// authCmd is the command runAuth runs.
func (w *authWorld) authCmd(env []string, args ...string) *exec.Cmd {
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
	return cmd
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
