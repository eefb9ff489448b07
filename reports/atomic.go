package reports

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
// the complete temporary file's name before the rename.
func writeFileAtomic(path string, write func(io.Writer) error, perm os.FileMode, beforeRename func(tmp string) error) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	dir := filepath.Dir(path)

	// The temporary file must live in the same directory as the target:
	// rename is only atomic within one file system. The leading dot keeps it
	// out of casual listings; CreateTemp opens it with O_EXCL and mode 0600,
	// so no other user can read it even for a moment.
	f, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
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
		if err := beforeRename(tmp); err != nil {
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

// removeStaleTemps removes the temporary files that a crash in the middle of
// WriteFileAtomic(path) left behind (a ledger being rewritten by forget
// holds every address). Only safe under path's lock: nobody else can be
// writing one.
func removeStaleTemps(path string) error {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	if err != nil {
		return err
	}
	for _, t := range stale {
		if err := os.Remove(t); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("remove stale temporary file: %w", err)
		}
	}
	return nil
}
