package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FileLock is an exclusive lock on a file this tool uses (the checkpoint or
// the ledger): an advisory flock(2) on the file itself, so that the lock
// belongs to the file's identity (device and inode), not to a path: a
// symlink or a hard link to a locked ledger reaches the same lock. The kernel
// drops the lock when the holding process exits, however it exits, so a
// crashed or killed run never leaves a stale lock.
//
// A companion file, the real path + ".lock", names the holder (pid, host,
// start time) for the message a second run prints; it is flocked too, which
// keeps out a run of an earlier version (which locked only that file). It is
// opened without following symlinks and must be a regular file of the
// running user: a planted link is refused, never written through.
type FileLock struct {
	path string // the protected file, as given

	mu     sync.Mutex
	f      *os.File // the protected file, flocked; nil once unlocked
	holder *os.File // the companion file, flocked
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

// LockFileError is a .lock file that Lock refuses to use: a symlink, not a
// regular file, or another user's. The user removes it (a usage error, exit
// 2: no run could fix it).
type LockFileError struct {
	Path   string
	Reason string
}

func (e *LockFileError) Error() string {
	return fmt.Sprintf("lock file %s %s: remove it", e.Path, e.Reason)
}

// IsLockFileError reports whether err is, or wraps, a *LockFileError.
func IsLockFileError(err error) bool {
	var le *LockFileError
	return errors.As(err, &le)
}

// IsLocked reports whether err is, or wraps, a *LockedError.
func IsLocked(err error) bool {
	var le *LockedError
	return errors.As(err, &le)
}

// Lock takes the lock on path without blocking, creating the file (empty,
// mode 0600) and its directory if missing. When another holder has it, Lock
// returns a *LockedError naming that holder.
func Lock(path string) (*FileLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	holderPath := holderPathFor(path)
	h, err := openHolder(holderPath)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if ok, err := tryFlock(h); err != nil || !ok {
		_ = h.Close()
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, &LockedError{Path: path, Holder: readHolder(holderPath)}
	}
	if err := writeHolder(h); err != nil {
		_ = h.Close()
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Under the lock nobody else writes a replacement of the file: any
	// temporary file of one is left by a crash.
	if err := removeStaleTemps(path); err != nil {
		_ = h.Close()
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &FileLock{path: path, f: f, holder: h}, nil
}

// lockFile opens (creating) the file at path and flocks it, making sure the
// locked file is still the one at path: a run that rewrote the file (forget,
// prune) moved its lock to the new file before the rename, so a lock taken
// on the replaced one means nothing.
func lockFile(path string) (*os.File, error) {
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		ok, err := tryFlock(f)
		if err != nil || !ok {
			_ = f.Close()
			if err != nil {
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			return nil, &LockedError{Path: path, Holder: readHolder(holderPathFor(path))}
		}
		if same, err := isFileAt(f, path); err != nil || same {
			if err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("lock %s: %w", path, err)
			}
			return f, nil
		}
		_ = f.Close() // replaced meanwhile: lock the new one
	}
	return nil, fmt.Errorf("lock %s: the file keeps being replaced", path)
}

// isFileAt reports whether f is the file now at path.
func isFileAt(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

func tryFlock(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		}
		return false, fmt.Errorf("flock %s: %w", f.Name(), err)
	}
}

// holderPathFor is the companion file of path: next to the file path
// resolves to, so that a symlink and its target share it.
func holderPathFor(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return path + ".lock"
}

// openHolder opens (creating) the companion file, refusing a symlink or
// anything but a regular file of the running user.
func openHolder(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, &LockFileError{Path: path, Reason: "is a symlink"}
	}
	if errors.Is(err, syscall.EISDIR) {
		return nil, &LockFileError{Path: path, Reason: "is not a regular file"}
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.Mode().IsRegular():
		err = &LockFileError{Path: path, Reason: "is not a regular file"}
	case ok && int(st.Uid) != os.Getuid():
		err = &LockFileError{Path: path, Reason: fmt.Sprintf("belongs to user %d, not to this user (%d)", st.Uid, os.Getuid())}
	case fi.Mode().Perm()&0o077 != 0:
		err = f.Chmod(0o600)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Replace replaces the locked file with what write produces, atomically
// (WriteFileAtomic), and moves the lock to the new file before the rename
// makes it visible: no other run can lock the new file in between, and one
// that locks the replaced file sees that it is no longer the file at the
// path.
func (l *FileLock) Replace(write func(io.Writer) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return fmt.Errorf("replace %s: not locked", l.path)
	}
	var next *os.File
	err := writeFileAtomic(l.path, write, 0o600, func(tmp string, lk *os.File) error {
		// The temporary file is flocked since it was created (lk): keep
		// that lock, which becomes the new file's.
		f, err := dupFile(lk)
		if err != nil {
			return fmt.Errorf("lock the new %s: %w", l.path, err)
		}
		next = f
		return nil
	})
	if err != nil {
		if next != nil {
			_ = next.Close()
		}
		return err
	}
	if same, err := isFileAt(next, l.path); err != nil || !same {
		// Cannot happen while the lock is held; hold both rather than none.
		return fmt.Errorf("replace %s: the new file is not at the path (%v)", l.path, err)
	}
	_ = l.f.Close() // releases the replaced file's lock
	l.f = next
	return nil
}

// Unlock releases the lock. It is safe to call more than once.
//
// The companion file is emptied but not removed: removing it would let a
// waiting process lock the old, unlinked inode while a third one creates and
// locks a new file of the same name.
func (l *FileLock) Unlock() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	// Forget the holder while still holding the lock, through the
	// descriptor; best effort, an old holder line is only informative.
	_ = l.holder.Truncate(0)
	err := l.holder.Close()
	if ferr := l.f.Close(); err == nil {
		err = ferr
	}
	l.f, l.holder = nil, nil
	if err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}

// writeHolder records this process as the holder in the companion file.
func writeHolder(f *os.File) error {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown host"
	}
	line := fmt.Sprintf("pid %d on %s since %s\n", os.Getpid(), host, time.Now().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(line), 0)
	return err
}

// readHolder returns the holder line of lockPath, sanitised for a terminal.
// It may be empty for a moment right after the holder took the lock.
func readHolder(lockPath string) string {
	f, err := os.OpenFile(lockPath, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "unknown"
	}
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
