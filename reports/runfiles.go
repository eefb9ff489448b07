package reports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// RunFile is one file a run uses, by its role.
type RunFile struct {
	Role    string // how a message names it: "the report (--report)", "the ledger"
	Path    string // "" or "-": none (stdout, stdin)
	Written bool   // the run replaces or appends to it
}

// RunFileError is a file a run would write that is another file of the
// run, or not a regular file: refused before the run touches anything.
type RunFileError struct{ Msg string }

func (e *RunFileError) Error() string { return e.Msg }

// CheckRunFiles refuses a set of run files in which a file the run writes
// (its report, checkpoint, summary, metrics file, ledger) is the same file
// as another of them, or exists and is not a regular file (a device, a
// fifo, a directory): the run would replace the ledger with a report, or a
// device with a file of personal data. Two paths are the same file when
// they name one existing file (a symlink, a hard link, another spelling),
// or, where the file does not exist yet, resolve to the same path (through
// any symlinks, dangling ones included). It only looks; nothing is
// created.
func CheckRunFiles(files []RunFile) error {
	type resolved struct {
		RunFile
		canon string
		fi    os.FileInfo // nil: does not exist (or unreadable)
	}
	var rs []resolved
	for _, f := range files {
		if f.Path == "" || f.Path == "-" {
			continue
		}
		r := resolved{RunFile: f, canon: canonicalPath(f.Path)}
		if fi, err := os.Stat(f.Path); err == nil {
			r.fi = fi
		}
		rs = append(rs, r)
	}
	for i, a := range rs {
		if !a.Written {
			continue
		}
		if a.fi != nil && !a.fi.Mode().IsRegular() {
			return &RunFileError{Msg: fmt.Sprintf("%s %s is not a regular file but %s: the run would write personal data into it or replace it; name a regular file",
				a.Role, a.Path, fileKind(a.fi.Mode()))}
		}
		for j, b := range rs {
			if i == j {
				continue
			}
			if a.canon == b.canon || (a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi)) {
				return &RunFileError{Msg: fmt.Sprintf("%s %s is the same file as %s (%s): the run would overwrite one with the other; name another file",
					a.Role, a.Path, b.Role, b.Path)}
			}
		}
	}
	return nil
}

// canonicalPath returns path absolute, with every symlink resolved, also
// a dangling one (the file it would create) and those in its directories.
func canonicalPath(path string) string {
	p, err := filepath.Abs(path)
	if err != nil {
		p = filepath.Clean(path)
	}
	for range 40 { // the kernel's own limit on links followed
		if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(dir, filepath.Base(p))
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		target, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		p = target
	}
	return p
}

// fileKind names a non-regular file's type for a message.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a fifo"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file"
}

// SetAside copies each existing file of paths (a run's checkpoint and
// report) to path + suffix, mode 0600, before a new run replaces them; a
// missing one is skipped. suffix is ".old", or where a file of that name
// exists already (an earlier set-aside, kept), ".old.1", ".old.2" and so on:
// the first suffix free for every path, so that the files set aside
// together share it. It returns the copies made.
func SetAside(paths []string) ([]string, error) {
	suffix := ""
	for n := 0; suffix == ""; n++ {
		s := ".old"
		if n > 0 {
			s = fmt.Sprintf(".old.%d", n)
		}
		free := true
		for _, p := range paths {
			if _, err := os.Lstat(p + s); err == nil {
				free = false
			}
		}
		if free {
			suffix = s
		}
	}
	var made []string
	for _, p := range paths {
		err := copyFile(p, p+suffix)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return made, fmt.Errorf("set %s aside: %w", p, err)
		}
		made = append(made, p+suffix)
	}
	return made, nil
}

// copyFile copies from to to (replaced atomically), mode 0600: the files
// set aside hold personal data.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	return WriteFileAtomic(to, func(w io.Writer) error { _, err := io.Copy(w, in); return err }, 0o600)
}
