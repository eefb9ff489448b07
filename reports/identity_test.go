package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckpointIdentity: a checkpoint records every field of its run's
// identity, and Differences names exactly the fields that differ. Each
// field has a case, so that a field the header forgets fails here.
func TestCheckpointIdentity(t *testing.T) {
	base := RunIdentity{
		InputSHA256: strings.Repeat("ab", 32), Command: "run", Customer: "C0test", Backend: "google",
		EmailColumn: 2, Domains: []string{"b.example", "A.example"}, ResendAfter: 336 * time.Hour, MaxMails: 3,
	}
	path := filepath.Join(t.TempDir(), "c")
	c, err := CreateCheckpoint(path, base, "r", noSync)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s := mustLoad(t, path)
	if d := s.Differences(base); d != nil {
		t.Fatalf("Differences(same) = %q", d)
	}
	for _, tt := range []struct {
		name   string
		change func(*RunIdentity)
		want   string // "" for no difference
	}{
		{"customer case", func(id *RunIdentity) { id.Customer = "c0TEST" }, ""},
		{"domain order and case", func(id *RunIdentity) { id.Domains = []string{"a.example", "B.EXAMPLE", "a.example"} }, ""},
		{"input", func(id *RunIdentity) { id.InputSHA256 = strings.Repeat("cd", 32) }, "the input's content"},
		{"command", func(id *RunIdentity) { id.Command = "cancel" }, "the command (was run, now cancel)"},
		{"customer", func(id *RunIdentity) { id.Customer = "C0other" }, "--customer (was c0test, now c0other)"},
		{"backend", func(id *RunIdentity) { id.Backend = "test:127.0.0.1:8086" }, "(was google, now test:127.0.0.1:8086)"},
		{"email column", func(id *RunIdentity) { id.EmailColumn = 1 }, "the email column (was 2, now 1)"},
		{"domain", func(id *RunIdentity) { id.Domains = []string{"a.example"} }, "--domain (was a.example,b.example, now a.example)"},
		{"no domain", func(id *RunIdentity) { id.Domains = nil }, "--domain (was a.example,b.example, now none)"},
		{"resend after", func(id *RunIdentity) { id.ResendAfter = 0 }, "--resend-after (was 336h0m0s, now 0s)"},
		{"max mails", func(id *RunIdentity) { id.MaxMails = 4 }, "--max-mails (was 3, now 4)"},
		{"check each", func(id *RunIdentity) { id.CheckEach = true }, "--check-each (was false, now true)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := base
			tt.change(&id)
			d := s.Differences(id)
			if tt.want == "" {
				if d != nil {
					t.Errorf("Differences = %q, want none", d)
				}
				return
			}
			if len(d) != 1 || !strings.Contains(d[0], tt.want) {
				t.Errorf("Differences = %q, want one naming %q", d, tt.want)
			}
		})
	}
	// Every field has a case above.
	if n := len(identityFields); n != 9 {
		t.Errorf("%d identity fields; add a case for the new one", n)
	}
}

// TestCheckpointIdentityOldAndUnknown: a version 1 header (an earlier
// version, input only) differs from every identity; an unknown field of a
// later version is a difference too.
func TestCheckpointIdentityOldAndUnknown(t *testing.T) {
	line := func(payload string) string { return string(appendLine(nil, []byte(payload))) }
	id := testIdentity("abc")
	for _, tt := range []struct{ name, header, want string }{
		{"version 1", "invitebatch-checkpoint 1 sha256=abc run=r started=2026-11-22T03:00:00Z", "an earlier version"},
		{"unknown field", "invitebatch-checkpoint 2 run=r started=2026-11-22T03:00:00Z sha256=abc command=run customer=c0test " +
			"backend=test:127.0.0.1:8086 email_column=1 domain= resend_after=0s max_mails=0 check_each=false lunar_phase=full", "lunar_phase"},
		{"missing field", "invitebatch-checkpoint 2 run=r started=2026-11-22T03:00:00Z sha256=abc command=run customer=c0test " +
			"backend=test:127.0.0.1:8086 email_column=1 domain= resend_after=0s max_mails=0", "--check-each (not recorded)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			os.WriteFile(path, []byte(line(tt.header)), 0o600)
			d := mustLoad(t, path).Differences(id)
			if len(d) != 1 || !strings.Contains(d[0], tt.want) {
				t.Errorf("Differences = %q, want one naming %q", d, tt.want)
			}
		})
	}
}

func TestCheckpointIdentityRejects(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []RunIdentity{
		{Command: "run", Customer: "c", Backend: "google"},
		{InputSHA256: "abc", Customer: "c", Backend: "google"},
		{InputSHA256: "abc", Command: "run", Backend: "google"},
		{InputSHA256: "abc", Command: "run", Customer: "c"},
		{InputSHA256: "abc", Command: "run", Customer: "c d", Backend: "google"},
		{InputSHA256: "abc", Command: "run", Customer: "c", Backend: "google", Domains: []string{"a b"}},
	} {
		if c, err := CreateCheckpoint(filepath.Join(dir, "c"), id, "r", noSync); err == nil {
			c.Close()
			t.Errorf("CreateCheckpoint(%+v) succeeded", id)
		}
	}
}
