package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemo: `invitebatch demo` runs the whole job in a temporary directory
// and writes nothing into the working directory (the checkout), the home
// directory or the state directory.
func TestDemo(t *testing.T) {
	cwd, home, state, tmp := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	cmd := exec.Command(binary, "demo")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_STATE_HOME="+state, "TMPDIR="+tmp,
		"CLOUDIDENTITY_EMULATOR_HOST=", "INVITEBATCH_CUSTOMER=")
	res := runCmd(t, cmd)
	if res.code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{"alice@example.com", "already_accepted", "invalid", "department"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("demo output lacks the report's %q:\n%s", want, res.stdout)
		}
	}
	m := regexp.MustCompile(`The dashboard: (\S+)`).FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("demo did not print the dashboard's path:\n%s", res.stdout)
	}
	if rel, err := filepath.Rel(tmp, m[1]); err != nil || strings.HasPrefix(rel, "..") {
		t.Errorf("dashboard %s is not in the temporary directory %s", m[1], tmp)
	}
	page, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EMULATOR", "Sales", "<svg"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, dir := range []string{cwd, home, state} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("demo wrote into %s: %v", dir, ents)
		}
	}
}
