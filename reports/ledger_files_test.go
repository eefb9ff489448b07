package reports

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// TestLedgerLooseModeTightened: an existing ledger or checkpoint of mode 0644
// stayed 0644; they hold personal data.
func TestLedgerLooseModeTightened(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "C0x.ledger")
	l := openTestLedger(t, path)
	settle(t, l, "a@x.io", batch.LedgerSent)
	l.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTestLedger(t, path)
	l.Close()
	checkMode(t, path, 0o600)

	cp := filepath.Join(dir, "users.checkpoint")
	c, err := CreateCheckpoint(cp, testIdentity("abc"), "r", CheckpointOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := os.Chmod(cp, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadCheckpoint(cp)
	if err != nil {
		t.Fatal(err)
	}
	c, err = ResumeCheckpoint(cp, s, CheckpointOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	checkMode(t, cp, 0o600)
}

// TestLedgerThroughLinks: a ledger reached through a symlink or a hard link
// is the same ledger: one lock, and a rewrite (forget) through a symlink
// replaces the file it points to, keeping the link.
func TestLedgerThroughLinks(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "C0x.ledger")
	sym := filepath.Join(dir, "link.ledger")
	hard := filepath.Join(dir, "hard.ledger")
	l := openTestLedger(t, real)
	settle(t, l, "a@x.io", batch.LedgerSent)
	settle(t, l, "b@x.io", batch.LedgerSent)
	if err := os.Symlink(real, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(real, hard); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{sym, hard} {
		if _, err := OpenLedger(p, LedgerOptions{NoSync: true}); !IsLocked(err) {
			t.Errorf("OpenLedger(%s) while %s is open: %v, want a lock error", filepath.Base(p), filepath.Base(real), err)
		}
	}
	l.Close()
	os.Remove(hard)

	l = openTestLedger(t, sym)
	if _, err := l.Forget("a@x.io"); err != nil {
		t.Fatal(err)
	}
	// Still one ledger: the lock moved to the rewritten file.
	if _, err := OpenLedger(real, LedgerOptions{NoSync: true}); !IsLocked(err) {
		t.Errorf("OpenLedger(real) after forget through the link: %v, want a lock error", err)
	}
	l.Close()
	if fi, err := os.Lstat(sym); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after forget through the link, %s is no longer a symlink (%v)", sym, err)
	}
	if b, _ := os.ReadFile(real); strings.Contains(string(b), "a@x.io") || !strings.Contains(string(b), "b@x.io") {
		t.Errorf("the real ledger after forget:\n%s", b)
	}
}

const forgetHelperEnv = "INVITEBATCH_TEST_FORGET_HELPER"

// TestLedgerForgetHelperProcess is not a test: TestLedgerForgetCrash runs it
// in a child process that is killed in the middle of a forget.
func TestLedgerForgetHelperProcess(t *testing.T) {
	path := os.Getenv(forgetHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	l, err := OpenLedger(path, LedgerOptions{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	beforeRenameHook = func(string) {
		fmt.Println("renaming")
		time.Sleep(time.Minute)
	}
	_, _ = l.Forget("a@x.io")
	os.Exit(0)
}

// TestLedgerForgetCrash: a crash during `ledger forget` left a temporary
// file holding the whole ledger (the address being forgotten included)
// next to it, for good. The next open of the ledger removes it.
func TestLedgerForgetCrash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "C0x.ledger")
	l := openTestLedger(t, path)
	settle(t, l, "a@x.io", batch.LedgerSent)
	settle(t, l, "b@x.io", batch.LedgerSent)
	l.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLedgerForgetHelperProcess$")
	cmd.Env = append(os.Environ(), forgetHelperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "renaming\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	temps, _ := filepath.Glob(filepath.Join(dir, ".C0x.ledger.tmp-*"))
	if len(temps) != 1 {
		t.Fatalf("temporary files after the crash: %q, want the one the crash left", temps)
	}

	l = openTestLedger(t, path)
	defer l.Close()
	if temps, _ := filepath.Glob(filepath.Join(dir, ".C0x.ledger.tmp-*")); len(temps) != 0 {
		t.Errorf("temporary files after reopening: %q", temps)
	}
	if _, ok := l.Lookup("a@x.io"); !ok {
		t.Error("the crashed forget took effect")
	}
}
