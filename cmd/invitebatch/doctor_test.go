package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
)

// verdicts parses doctor's output into "name: VERDICT[: detail]" by name.
func verdicts(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name == "doctor" {
			continue
		}
		m[name] = strings.TrimSpace(rest)
	}
	return m
}

// checkReadOnly fails if doctor made any request but list and
// isInvitableUser, or sent anything.
func checkReadOnly(t *testing.T, emu *emulator.Emulator) {
	t.Helper()
	st := emu.Stats()
	if st.Sends != 0 {
		t.Errorf("doctor sent %d invitations", st.Sends)
	}
	for m := range st.Requests {
		if m != emulator.MethodList && m != emulator.MethodIsInvitable {
			t.Errorf("doctor made %s requests: %v", m, st.Requests)
		}
	}
	if n := st.Total(emulator.MethodList); n > 1 {
		t.Errorf("doctor made %d list requests, want at most 1", n)
	}
}

func TestDoctorEmulator(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*emulator.Emulator)
		args  []string
		code  int
		// want maps a check to the start of its verdict; a check left out
		// may have any.
		want map[string]string
		// mention is text the output must contain.
		mention string
	}{
		{
			name: "all OK", code: 0,
			want: map[string]string{
				"credentials": "OK: emulator", "token": "OK", "quota project": "OK", "api": "OK",
				"customer": "OK: " + testCustomer, "address": "SKIPPED",
			},
			mention: "doctor: all OK",
		},
		{
			name: "address invitable", args: []string{"--address", " Alice@Example.com "}, code: 0,
			want:    map[string]string{"customer": "OK", "address": "OK: alice@example.com is invitable"},
			mention: "doctor: all OK",
		},
		{
			name:  "address managed",
			setup: func(e *emulator.Emulator) { e.Seed("bob@example.com", emulator.KindManaged) },
			args:  []string{"--address", "bob@example.com"}, code: 0,
			want: map[string]string{"address": "OK: bob@example.com is not invitable"},
		},
		{
			name:  "permission denied",
			setup: func(e *emulator.Emulator) { e.SetFatal(emulator.FatalPermissionDenied) }, code: 1,
			want: map[string]string{
				"credentials": "OK", "token": "OK", "api": "OK",
				"customer": "PROBLEM: list: 403 PERMISSION_DENIED", "address": "SKIPPED",
			},
			mention: "super administrator",
		},
		{
			name: "wrong customer", args: []string{"--customer", "C0wrong"}, code: 1,
			want:    map[string]string{"api": "OK", "customer": "PROBLEM: list: 403 PERMISSION_DENIED"},
			mention: `customer ID "C0wrong"`,
		},
		{
			name:  "service disabled",
			setup: func(e *emulator.Emulator) { e.SetFatal(emulator.FatalServiceDisabled) }, code: 1,
			want:    map[string]string{"token": "OK", "api": "PROBLEM", "customer": "SKIPPED"},
			mention: "gcloud services enable cloudidentity.googleapis.com",
		},
		{
			name:  "no quota project",
			setup: func(e *emulator.Emulator) { e.SetFatal(emulator.FatalQuotaProject) }, code: 1,
			want:    map[string]string{"token": "OK", "quota project": "PROBLEM", "api": "SKIPPED", "customer": "SKIPPED"},
			mention: "set-quota-project",
		},
		{
			name:  "token revoked",
			setup: func(e *emulator.Emulator) { e.SetFatal(emulator.FatalUnauthenticated) }, code: 1,
			want:    map[string]string{"credentials": "OK", "token": "PROBLEM: list: 401 UNAUTHENTICATED", "customer": "SKIPPED"},
			mention: "bearer token",
		},
		{
			name:  "token required, none sent",
			setup: func(e *emulator.Emulator) { e.RequireToken(func(string) bool { return true }) }, code: 1,
			want:    map[string]string{"token": "PROBLEM: list: 401 UNAUTHENTICATED", "api": "SKIPPED"},
			mention: "CLOUDIDENTITY_EMULATOR_HOST sends none",
		},
		{
			name:  "server failing",
			setup: func(e *emulator.Emulator) { e.FailNext(emulator.MethodList, 1, 503) }, code: 0,
			want: map[string]string{"api": "OK", "customer": "OK"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w.emu)
			}
			res := w.run(append([]string{"doctor"}, tt.args...)...)
			if res.code != tt.code {
				t.Errorf("exit = %d, want %d\n%s%s", res.code, tt.code, res.stdout, res.stderr)
			}
			got := verdicts(res.stdout)
			for name, want := range tt.want {
				if !strings.HasPrefix(got[name], want) {
					t.Errorf("%s: got %q, want it to start with %q", name, got[name], want)
				}
			}
			if !strings.Contains(res.stdout, tt.mention) {
				t.Errorf("output does not mention %q:\n%s", tt.mention, res.stdout)
			}
			if !strings.Contains(res.stderr, "EMULATOR") {
				t.Errorf("stderr does not say this is an emulator:\n%s", res.stderr)
			}
			if tt.name != "server failing" {
				checkReadOnly(t, w.emu)
			}
			if st := w.emu.Stats(); st.Sends != 0 {
				t.Errorf("doctor sent %d invitations", st.Sends)
			}
		})
	}
}

func TestDoctorUsage(t *testing.T) {
	w := newWorld(t)
	for _, args := range [][]string{
		{"doctor", "extra"},
		{"doctor", "--customer", ""},
		{"doctor", "--customer", "C0/../x"},
		{"doctor", "--api", "v2"},
		{"doctor", "--address", "not an address"},
		{"doctor", "--credentials", "key.json"}, // the emulator takes none
		{"doctor", "--bogus"},
	} {
		if res := w.run(args...); res.code != 2 {
			t.Errorf("%q: exit = %d, want 2\n%s", args, res.code, res.stderr)
		}
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("usage errors made API calls: %v", w.emu.Stats().Requests)
	}
	if res := w.run("doctor", "-h"); res.code != 0 || !strings.Contains(res.stdout, "never sends") {
		t.Errorf("doctor -h: exit %d\n%s", res.code, res.stdout)
	}
}

func TestDoctorNoCredentials(t *testing.T) {
	w := newWorld(t)
	res := w.runEnv([]string{"CLOUDIDENTITY_EMULATOR_HOST=", "GOOGLE_APPLICATION_CREDENTIALS=", "HOME=" + w.path("home"), "CLOUDSDK_CONFIG=" + w.path("gcloud")},
		"doctor", "--endpoint", w.srv.URL+"/")
	if res.code != 1 {
		t.Errorf("exit = %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	got := verdicts(res.stdout)
	if !strings.HasPrefix(got["credentials"], "PROBLEM") || !strings.Contains(got["credentials"], "gcloud auth application-default login") {
		t.Errorf("credentials: got %q, want a PROBLEM that says how to log in", got["credentials"])
	}
	if !strings.HasPrefix(got["token"], "SKIPPED") {
		t.Errorf("token: got %q, want SKIPPED", got["token"])
	}
	if n := len(w.emu.Stats().PerSecond); n != 0 {
		t.Errorf("requests were made without credentials: %v", w.emu.Stats().Requests)
	}
}

// TestDoctorDelegation drives doctor with a service-account key whose
// token endpoint is a fake, against the emulator at --endpoint requiring
// the token that endpoint issues.
func TestDoctorDelegation(t *testing.T) {
	const token = "ya29.doctor-test"
	tests := []struct {
		name       string
		status     int
		reply      string
		code       int
		want       map[string]string
		mention    string
		apiReached bool
	}{
		{
			name: "all OK", status: 200, reply: `{"access_token":"` + token + `","token_type":"Bearer","expires_in":3600}`, code: 0,
			want: map[string]string{
				"credentials": "OK: service account sa@p.iam.gserviceaccount.com as admin@example.com",
				"token":       "OK: obtained with the scope", "quota project": "OK: none needed", "customer": "OK",
			},
			mention: "domain-wide delegation as admin@example.com accepted", apiReached: true,
		},
		{
			name: "scope not allowed", status: 401, code: 1,
			reply:   `{"error":"unauthorized_client","error_description":"Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."}`,
			want:    map[string]string{"credentials": "OK", "token": "PROBLEM", "api": "SKIPPED"},
			mention: "missing from the domain-wide delegation allow-list",
		},
		{
			name: "subject unknown", status: 400, code: 1,
			reply:   `{"error":"invalid_grant","error_description":"Invalid email or User ID"}`,
			want:    map[string]string{"token": "PROBLEM", "customer": "SKIPPED"},
			mention: "not an existing user of the domain",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.emu.RequireToken(func(tok string) bool { return tok == token })
			tokens := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				rw.Header().Set("Content-Type", "application/json")
				rw.WriteHeader(tt.status)
				fmt.Fprint(rw, tt.reply)
			}))
			t.Cleanup(tokens.Close)
			key := w.write("key.json", serviceAccountKeyJSON(t, tokens.URL))
			res := w.runEnv([]string{"CLOUDIDENTITY_EMULATOR_HOST="},
				"doctor", "--endpoint", w.srv.URL+"/", "--credentials", key, "--impersonate-user", "admin@example.com")
			if res.code != tt.code {
				t.Errorf("exit = %d, want %d\n%s%s", res.code, tt.code, res.stdout, res.stderr)
			}
			got := verdicts(res.stdout)
			for name, want := range tt.want {
				if !strings.HasPrefix(got[name], want) {
					t.Errorf("%s: got %q, want it to start with %q", name, got[name], want)
				}
			}
			if !strings.Contains(res.stdout, tt.mention) {
				t.Errorf("output does not mention %q:\n%s", tt.mention, res.stdout)
			}
			if strings.Contains(res.stdout+res.stderr, "PRIVATE KEY") || strings.Contains(res.stdout+res.stderr, token) {
				t.Errorf("output holds a secret:\n%s%s", res.stdout, res.stderr)
			}
			checkReadOnly(t, w.emu)
			if reached := w.emu.Stats().Total(emulator.MethodList) > 0; reached != tt.apiReached {
				t.Errorf("API reached = %v, want %v", reached, tt.apiReached)
			}
		})
	}
}

// serviceAccountKeyJSON returns a fresh service-account key whose token_uri
// is tokenURL.
func serviceAccountKeyJSON(t *testing.T, tokenURL string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "p",
		"private_key_id": "keyid0123456789",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "sa@p.iam.gserviceaccount.com",
		"client_id":      "123456789",
		"token_uri":      tokenURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDoctorQuotaProject checks the verdict on the quota project that is
// made before any request.
func TestDoctorQuotaProject(t *testing.T) {
	dir := t.TempDir()
	withQuota := dir + "/with.json"
	without := dir + "/without.json"
	for path, content := range map[string]string{
		withQuota: `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r","quota_project_id":"qp"}`,
		without:   `{"type":"authorized_user","client_id":"c","client_secret":"s","refresh_token":"r"}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		o         doctorOptions
		env       map[string]string
		principal string
		want      string
	}{
		{"service account", doctorOptions{}, nil, "service account sa@p.iam.gserviceaccount.com as a@b.c", "OK: none needed"},
		{"flag", doctorOptions{apiFlags: apiFlags{quotaProj: "p1"}}, nil, "user credentials", "OK: p1 (--quota-project)"},
		{"env", doctorOptions{}, map[string]string{"GOOGLE_CLOUD_QUOTA_PROJECT": "p2"}, "user credentials", "OK: p2"},
		{"credentials file", doctorOptions{apiFlags: apiFlags{credentials: withQuota}}, nil, "user credentials", "OK: qp (quota_project_id of"},
		{"ADC file", doctorOptions{}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": withQuota}, "user credentials", "OK: qp"},
		{"gcloud file", doctorOptions{}, map[string]string{"CLOUDSDK_CONFIG": dir}, "user credentials", "PROBLEM: user credentials need a quota project"},
		{"none", doctorOptions{apiFlags: apiFlags{credentials: without}}, nil, "user credentials", "PROBLEM: user credentials need a quota project"},
		{"emulator", doctorOptions{apiFlags: apiFlags{emulatorHost: "127.0.0.1:1"}}, nil, "emulator (no credentials)", "OK: none needed (emulator)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.o.quotaProject(tt.principal, func(k string) string { return tt.env[k] })
			if got := c.verdict + ": " + c.detail; !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want it to start with %q", got, tt.want)
			}
		})
	}
}

func TestTokenFailure(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{"list: credentials refused by the token endpoint: unauthorized_client; ...", true},
		{"list: token endpoint unreachable: dial tcp: connection refused", true},
		{"list: token endpoint: 503 service unavailable", true},
		{"list: cannot get an access token: impersonate: ...", true},
		{"list: 401 UNAUTHENTICATED: Expected OAuth 2 access token", false},
		{"list: transport error: EOF", false},
	}
	for _, tt := range tests {
		if got := tokenFailure(&batch.APIError{Msg: tt.msg}); got != tt.want {
			t.Errorf("tokenFailure(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}
