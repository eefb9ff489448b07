package reports

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CheckRunFiles: a written file that is another file of the run, by any
// spelling (a hard link, a symlink, a dangling symlink, a symlinked
// directory), or a non-regular file, is refused; distinct files and files
// only read are not.
func TestCheckRunFiles(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	if err := os.WriteFile(p("ledger"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Link(p("ledger"), p("hard")))
	must(os.Symlink("ledger", p("soft")))
	must(os.Symlink("cp-to-be", p("dangling")))
	must(os.Mkdir(p("sub"), 0o700))
	must(os.Symlink("sub", p("subl")))
	must(os.Symlink("../cp-to-be", p("sub/dangling2")))
	files := func(report, checkpoint string) []RunFile {
		return []RunFile{
			{Role: "the report", Path: report, Written: true},
			{Role: "the checkpoint", Path: checkpoint, Written: true},
			{Role: "the ledger", Path: p("ledger"), Written: true},
			{Role: "the input", Path: p("input.csv")},
			{Role: "the summary", Path: "-", Written: true},
		}
	}
	for _, c := range []struct{ report, checkpoint, want string }{
		{p("report.csv"), p("cp"), ""},
		{p("hard"), p("cp"), "same file as the ledger"},
		{p("soft"), p("cp"), "same file as the ledger"},
		{p("dangling"), p("cp-to-be"), "same file as the checkpoint"},
		{p("subl/dangling2"), p("cp-to-be"), "same file as the checkpoint"},
		{p("subl/../report.csv"), p("report.csv"), "same file as the checkpoint"},
		{p("input.csv"), p("cp"), "same file as the input"},
		{p("sub"), p("cp"), "not a regular file but a directory"},
	} {
		err := CheckRunFiles(files(c.report, c.checkpoint))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("report %s, checkpoint %s: %v, want no error", c.report, c.checkpoint, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("report %s, checkpoint %s: %v, want %q", c.report, c.checkpoint, err, c.want)
		}
	}
	// Files only read may coincide (the seed and the input), and a
	// non-regular input (a fifo: <(...)) is allowed.
	err := CheckRunFiles([]RunFile{{Role: "the input", Path: "/dev/null"}, {Role: "the seed", Path: "/dev/null"}})
	if err != nil {
		t.Errorf("read-only files: %v", err)
	}
}
