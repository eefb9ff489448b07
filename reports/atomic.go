package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic replaces the file at path with what write produces, so that
// after a crash the path holds either the old content or the complete new
// content, never a mixture. The file gets mode perm (use 0600: everything this
// tool writes holds personal data). On failure the temporary file is removed
// and the old file, if any, is left untouched.
//
// A path that is a symlink keeps being one: its target is replaced.
func WriteFileAtomic(path string, write func(io.Writer) error, perm os.FileMode) error {
	return writeFileAtomic(path, write, perm, nil)
}

// beforeRenameHook, if set, is called with the temporary file's name just
// before it is renamed into place (tests: a crash at that moment).
var beforeRenameHook func(tmp string)

// writeFileAtomic is WriteFileAtomic; beforeRename, if set, is called with
// the complete temporary file's name before the rename, and lk, a
// descriptor of it that holds its flock (closed when writeFileAtomic
// returns: dupFile keeps the lock beyond).
func writeFileAtomic(path string, write func(io.Writer) error, perm os.FileMode, beforeRename func(tmp string, lk *os.File) error) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)

	// The temporary file must live in the same directory as the target:
	// rename is only atomic within one file system. The leading dot keeps it
	// out of casual listings; CreateTemp opens it with O_EXCL and mode 0600,
	// so no other user can read it even for a moment.
	f, lk, err := createLockedTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	// Locked until it is renamed into place (or removed): removeStaleTemps
	// leaves it alone meanwhile.
	defer lk.Close()
	tmp := f.Name()
	defer func() {
		if err != nil {
			// Best effort: the error that matters is the one already set.
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()

	// Chmod, not the umask-dependent mode of OpenFile, so the final mode is
	// exactly perm.
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}

	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}

	// Flush the data to stable storage before the rename makes it visible:
	// otherwise a crash could leave the new name pointing at a file whose
	// blocks were never written (the ext4 "zero-length file" problem).
	if err := fsync(f); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}

	// Close reports write errors that some file systems (NFS) delay until
	// close.
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}

	if beforeRename != nil {
		if err := beforeRename(tmp, lk); err != nil {
			return err
		}
	}
	if beforeRenameHook != nil {
		beforeRenameHook(tmp)
	}

	// Rename atomically replaces any old file: readers see the old or the new
	// content, never a partial file.
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}

	// The rename itself is a change to the directory; it is only durable once
	// the directory is synced. Until then a crash may bring back the old file.
	if err := syncDir(dir); err != nil {
		// The new file is in place; only its durability is in doubt.
		return err
	}
	return nil
}

// syncDir fsyncs the directory dir so that entries created, renamed or removed
// in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	if err := fsync(d); err != nil {
		_ = d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("close directory %s: %w", dir, err)
	}
	return nil
}

// tempPattern is the os.CreateTemp pattern of WriteFileAtomic's temporary
// files for path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// createLockedTemp creates a temporary file in dir and flocks it through a
// second descriptor, lk, which the caller keeps open until the file is
// renamed into place or removed (f is closed before the rename): a file
// being written is never taken for a crash's leftover (removeStaleTemps).
// A temporary file removed between its creation and its lock (a cleaner
// found it unlocked) is made again.
func createLockedTemp(dir, pattern string) (f, lk *os.File, err error) {
	for range 10 {
		f, err = os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, nil, err
		}
		lk, err = os.Open(f.Name())
		if err == nil {
			err = flock(lk)
			if noLocks(err) {
				// A file system without flock: written unprotected, as
				// before (a cleaner there cannot lock it either, and
				// leaves it).
				return f, lk, nil
			}
			if err == nil {
				var fi os.FileInfo
				if fi, err = lk.Stat(); err == nil && linkCount(fi) > 0 {
					return f, lk, nil
				}
			}
			_ = lk.Close()
		}
		_ = f.Close()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(f.Name())
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("temporary files in %s keep being removed", dir)
}

// dupFile returns a new descriptor of f's open file, close-on-exec: it
// shares f's flock, which lasts until both are closed.
func dupFile(f *os.File) (*os.File, error) {
	fd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), errno)
	}
	return os.NewFile(fd, f.Name()), nil
}

// noLocks reports whether err says the file system has no flock.
func noLocks(err error) bool {
	return errors.Is(err, syscall.ENOLCK) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}

// flock takes an exclusive flock on f, waiting for it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// linkCount is the number of names fi's file has (0: removed); 1 where the
// system does not say.
func linkCount(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// removeStaleTemps removes the temporary files that a crash in the middle of
// WriteFileAtomic(path) left behind (a ledger being rewritten by forget
// holds every address; a report, its rows). A temporary file that another
// writer still holds locked (createLockedTemp) is left alone, so this is
// safe whoever else may be writing path: a dry run, two runs over stdin.
// Only regular files are touched (a planted symlink is left).
func removeStaleTemps(path string) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	if err != nil {
		return err
	}
	for _, t := range stale {
		if err := removeUnlocked(t); err != nil {
			return fmt.Errorf("remove stale temporary file: %w", err)
		}
	}
	return nil
}

// removeUnlocked removes the regular file t unless a writer holds its
// flock, holding the lock while it removes it.
func removeUnlocked(t string) error {
	fi, err := os.Lstat(t)
	if err != nil || !fi.Mode().IsRegular() {
		return nil // gone meanwhile, or not one of ours
	}
	g, err := os.OpenFile(t, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer g.Close()
	ok, err := tryFlock(g)
	if noLocks(err) {
		return nil // cannot tell: left alone
	}
	if err != nil || !ok {
		return err // !ok: being written
	}
	if err := os.Remove(t); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
