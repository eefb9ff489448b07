package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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
