package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
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
	// Token requests from number hangFrom on (counted from 1; 0: none)
	// are accepted and never answered, like a half-open connection, until
	// the client gives up or the test ends; hung counts them.
	hangFrom, requests, hung int
	release                  chan struct{}
	releaseOnce              sync.Once
}

// releaseHung ends the hung token requests.
func (f *fakeOAuth) releaseHung() { f.releaseOnce.Do(func() { close(f.release) }) }

func newFakeOAuth(t *testing.T) *fakeOAuth {
	f := &fakeOAuth{t: t, expiresIn: 3600, issued: map[string]time.Time{}, refused: map[string]bool{},
		release: make(chan struct{})}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	t.Cleanup(f.releaseHung) // first: Close waits for the hung requests
	return f
}

// hangFromRequest makes token requests hang from the nth from now on (n =
// 1: the next one); 0 answers them all again.
func (f *fakeOAuth) hangFromRequest(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangFrom = 0
	if n > 0 {
		f.hangFrom = f.requests + n
	}
}

// hungRequests is how many token requests were held unanswered.
func (f *fakeOAuth) hungRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hung
}

// hold holds a token request unanswered if it is to hang, and reports so.
func (f *fakeOAuth) hold(r *http.Request) bool {
	f.mu.Lock()
	f.requests++
	hang := f.hangFrom > 0 && f.requests >= f.hangFrom
	if hang {
		f.hung++
	}
	f.mu.Unlock()
	if hang {
		select {
		case <-r.Context().Done():
		case <-f.release:
		}
	}
	return hang
}

func (f *fakeOAuth) tokenURL() string { return f.srv.URL + "/token" }

func (f *fakeOAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.hold(r) {
		return
	}
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
	f.issue(w)
}

// issue writes a token reply with a new token; the caller holds f.mu.
func (f *fakeOAuth) issue(w http.ResponseWriter) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := "ya29.e2e-" + hex.EncodeToString(b[:])
	f.issued[tok] = time.Now().Add(time.Duration(f.expiresIn) * time.Second)
	fmt.Fprintf(w, `{"access_token":%q,"token_type":"Bearer","expires_in":%d}`, tok, f.expiresIn)
}

// serveMetadata serves the GCE metadata server's token endpoint (for
// GCE_METADATA_HOST) with the tokens of f, and its project ID; anything
// else is not defined (404). Its token requests hang as f's do.
func (f *fakeOAuth) serveMetadata() *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Metadata-Flavor") != "Google":
			w.WriteHeader(403)
		case r.URL.Path == "/computeMetadata/v1/project/project-id":
			fmt.Fprint(w, "p")
		case r.URL.Path == "/computeMetadata/v1/instance/service-accounts/default/token":
			if f.hold(r) {
				return
			}
			w.Header().Set("Content-Type", "application/json")
			f.mu.Lock()
			defer f.mu.Unlock()
			f.issue(w)
		default:
			w.WriteHeader(404)
		}
	}))
	f.t.Cleanup(srv.Close)
	f.t.Cleanup(f.releaseHung) // first: Close waits for the hung requests
	return srv
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
