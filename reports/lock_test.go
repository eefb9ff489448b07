package reports

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "users.checkpoint")
	l, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, path+".lock", 0o600)
	checkMode(t, filepath.Dir(path), 0o700)

	// flock locks belong to open files, so a second Lock in the same process
	// conflicts too.
	_, err = Lock(path)
	var le *LockedError
	if !errors.As(err, &le) || !IsLocked(err) || !IsLocked(fmt.Errorf("wrapped: %w", err)) {
		t.Fatalf("second Lock: %v, want a *LockedError", err)
	}
	host, _ := os.Hostname()
	if want := fmt.Sprintf("pid %d on %s since ", os.Getpid(), host); le.Path != path || !strings.HasPrefix(le.Holder, want) {
		t.Errorf("LockedError{%q, %q}, want path %q, holder starting %q", le.Path, le.Holder, path, want)
	}
	since := le.Holder[strings.LastIndex(le.Holder, " ")+1:]
	if _, err := time.Parse(time.RFC3339, since); err != nil {
		t.Errorf("holder time %q: %v", since, err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}

	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	l2, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

func TestIsLocked(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), os.ErrNotExist} {
		if IsLocked(err) {
			t.Errorf("IsLocked(%v) = true", err)
		}
	}
}

const lockHelperEnv = "INVITEBATCH_TEST_LOCK_HELPER"

// TestLockHelperProcess is not a test: the test below runs it in a child
// process that takes the lock and waits to be killed.
func TestLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	if _, err := Lock(path); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestLockDeadHolder kills a lock holder with SIGKILL: the kernel releases
// its lock, so the next Lock succeeds without any stale-lock cleanup.
func TestLockDeadHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err = Lock(path)
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Lock while the helper holds it: %v, want a *LockedError", err)
	}
	if want := fmt.Sprintf("pid %d on ", cmd.Process.Pid); !strings.HasPrefix(le.Holder, want) {
		t.Errorf("holder %q, want it to start %q", le.Holder, want)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after the holder died: %v", err)
	}
	l.Unlock()
}

// TestLockByIdentity: the lock belongs to the file, not to the path. A ledger
// reached through a symlink or a hard link got a second lock file, so two
// runs wrote one ledger, each with its own index, and both sent.
func TestLockByIdentity(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "C0x.ledger")
	if err := os.WriteFile(real, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sym := filepath.Join(dir, "sym.ledger")
	hard := filepath.Join(t.TempDir(), "hard.ledger") // another directory
	if err := os.Symlink(real, sym); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(real, hard); err != nil {
		t.Fatal(err)
	}
	for _, first := range []string{real, sym, hard} {
		l, err := Lock(first)
		if err != nil {
			t.Fatal(err)
		}
		for _, second := range []string{real, sym, hard} {
			if _, err := Lock(second); !IsLocked(err) {
				t.Errorf("Lock(%s) while %s is locked: %v, want a *LockedError", filepath.Base(second), filepath.Base(first), err)
			}
		}
		if err := l.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockAfterReplace: a rewrite (forget, prune, a new checkpoint) replaces
// the file by rename; the lock moves to the new file, so that a second run
// still finds it locked, and a lock on the replaced file is not taken for
// one on the path.
func TestLockAfterReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "C0x.ledger")
	l, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := l.Replace(func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !IsLocked(err) {
		t.Errorf("Lock after Replace: %v, want a *LockedError", err)
	}
	// A hard link has its own .lock file: only the lock on the new file
	// itself keeps it out.
	hard := filepath.Join(t.TempDir(), "hard.ledger")
	if err := os.Link(path, hard); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(hard); !IsLocked(err) {
		t.Errorf("Lock through a hard link after Replace: %v, want a *LockedError", err)
	}
	// The replaced file is free to flock, but it is not the file at path.
	if ok, err := tryFlock(old); err != nil || !ok {
		t.Fatalf("flock of the replaced file: %v, %v", ok, err)
	}
	if same, _ := isFileAt(old, path); same {
		t.Error("the replaced file is still at the path")
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after Unlock: %v", err)
	}
	l2.Unlock()
}

// TestLockFileSymlinkRefused: a planted users.checkpoint.lock symlink made
// Lock truncate (and write its holder line into) the file it pointed to.
func TestLockFileSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(victim, []byte("do not truncate me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "users.checkpoint")
	if err := os.Symlink(victim, path+".lock"); err != nil {
		t.Fatal(err)
	}
	l, err := Lock(path)
	if err == nil {
		l.Unlock()
		t.Error("Lock with a planted .lock symlink succeeded")
	} else if !strings.Contains(err.Error(), "symlink") || !IsLockFileError(err) {
		t.Errorf("error %q does not say symlink", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "do not truncate me\n" {
		t.Errorf("the symlink's target now holds %q", b)
	}
	// A directory, or a file of another user, is refused too.
	if err := os.Remove(path + ".lock"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path+".lock", 0o700); err != nil {
		t.Fatal(err)
	}
	if l, err := Lock(path); !IsLockFileError(err) {
		if err == nil {
			l.Unlock()
		}
		t.Errorf("Lock with a directory as .lock: %v, want a *LockFileError", err)
	}
	if os.Getuid() == 0 {
		os.Remove(path + ".lock")
		if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path+".lock", 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if l, err := Lock(path); err == nil || !strings.Contains(err.Error(), "belongs to user 4242") {
			if err == nil {
				l.Unlock()
			}
			t.Errorf("Lock with another user's .lock: %v", err)
		}
	}
}

// TestLockFileModeTightened: a loose lock file is made 0600.
func TestLockFileModeTightened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.checkpoint")
	if err := os.WriteFile(path+".lock", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path+".lock", 0o644)
	l, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	checkMode(t, path+".lock", 0o600)
}
