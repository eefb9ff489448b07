package reports

import (
	"bufio"
	"errors"
	"fmt"
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
