package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// FileLock is an exclusive lock on a file this tool uses (the checkpoint or
// the ledger), held through an advisory flock(2) on a companion file named
// path + ".lock". The kernel drops the lock when the holding process exits,
// however it exits, so a crashed or killed run never leaves a stale lock.
type FileLock struct {
	path string // the protected file
	fl   *flock.Flock
}

// LockedError is returned by Lock when another process (or another FileLock in
// this process) holds the lock.
type LockedError struct {
	Path   string // the protected file, not the .lock file
	Holder string // e.g. "pid 123 on host since 2026-11-22T03:01:20Z"; "unknown" if unreadable
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is in use by another run (%s)", e.Path, e.Holder)
}

// IsLocked reports whether err is, or wraps, a *LockedError.
func IsLocked(err error) bool {
	var le *LockedError
	return errors.As(err, &le)
}

// Lock takes the lock on path without blocking. When another holder has it,
// Lock returns a *LockedError naming that holder. The lock file records the
// holder's pid, host name and start time for that message; it is never
// removed (see Unlock).
func Lock(path string) (*FileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	lockPath := path + ".lock"
	// Read-write so that the holder can record itself in the file.
	fl := flock.New(lockPath, flock.SetFlag(os.O_CREATE|os.O_RDWR), flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		return nil, &LockedError{Path: path, Holder: readHolder(lockPath)}
	}
	if err := writeHolder(lockPath); err != nil {
		_ = fl.Unlock()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &FileLock{path: path, fl: fl}, nil
}

// Unlock releases the lock. It is safe to call more than once.
//
// The lock file is emptied but not removed: removing it would let a waiting
// process lock the old, unlinked inode while a third one creates and locks a
// new file of the same name, and both would believe they hold the lock.
func (l *FileLock) Unlock() error {
	if l == nil || !l.fl.Locked() {
		return nil
	}
	// Forget the holder while still holding the lock; best effort, an old
	// holder line is only informative.
	_ = os.Truncate(l.fl.Path(), 0)
	if err := l.fl.Unlock(); err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

// writeHolder records this process as the holder of the lock file.
func writeHolder(lockPath string) error {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	line := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().Format(time.RFC3339))
	f, err := os.OpenFile(lockPath, os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.WriteAt([]byte(line), 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// readHolder returns the holder line of lockPath, sanitised for a terminal.
// It may be empty for a moment right after the holder took the lock.
func readHolder(lockPath string) string {
	f, err := os.Open(lockPath)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 256))
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(string(b)))
	if s == "" {
		return "unknown"
	}
	return s
}
