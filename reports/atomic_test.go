package reports

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	tests := []struct {
		name     string
		existing string // "" for no file
		writeErr error
		want     string
	}{
		{name: "new file", want: "new"},
		{name: "replaces", existing: "old", want: "new"},
		{name: "write fails on a new file", writeErr: errors.New("boom")},
		{name: "write fails, old file kept", existing: "old", writeErr: errors.New("boom"), want: "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteFileAtomic(path, func(w io.Writer) error {
				if _, err := io.WriteString(w, "new"); err != nil {
					return err
				}
				return tt.writeErr
			}, 0o600)
			if !errors.Is(err, tt.writeErr) || (err == nil) != (tt.writeErr == nil) {
				t.Fatalf("error %v, want %v", err, tt.writeErr)
			}
			b, rerr := os.ReadFile(path)
			switch {
			case tt.want == "" && !errors.Is(rerr, os.ErrNotExist):
				t.Errorf("file exists after a failed write: %q, %v", b, rerr)
			case tt.want != "" && string(b) != tt.want:
				t.Errorf("content %q, want %q (%v)", b, tt.want, rerr)
			}
			if err == nil {
				checkMode(t, path, 0o600)
			}
			entries, _ := os.ReadDir(dir)
			want := 0
			if tt.want != "" {
				want = 1
			}
			if len(entries) != want {
				t.Errorf("directory holds %d entries, want %d (temporary file left?)", len(entries), want)
			}
		})
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "f")
	if err := WriteFileAtomic(path, func(io.Writer) error { return nil }, 0o600); err == nil {
		t.Error("WriteFileAtomic into a missing directory succeeded")
	}
}

// removeStaleTemps removes a crash's temporary file, but not one a
// rewrite is writing, even without any other lock (review stop 11, 9: dry
// runs and runs over stdin, which hold no checkpoint lock, never removed
// the temporary file of a torn report rewrite). A rewrite whose temporary
// file a cleaner saw still completes.
func TestRemoveStaleTempsLeavesRewriteInProgress(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.dryrun.report.csv")
	stale := filepath.Join(dir, ".users.dryrun.report.csv.tmp-1")
	if err := os.WriteFile(stale, []byte("a crash's rows\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := writeFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }, 0o600,
		func(tmp string, _ *os.File) error {
			if err := RemoveReportTemps(path); err != nil {
				t.Errorf("RemoveReportTemps: %v", err)
			}
			if _, err := os.Stat(tmp); err != nil {
				t.Errorf("the rewrite's own temporary file was removed while written: %v", err)
			}
			if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the crash's temporary file is still there (%v)", err)
			}
			return nil
		})
	if err != nil {
		t.Fatalf("the rewrite: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("report %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("left: %v", left)
	}
}
