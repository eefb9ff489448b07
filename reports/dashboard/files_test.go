package dashboard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/invitebatch/invitebatch/batch/input"
)

func TestInputAndReportFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "users.csv")
	rep := filepath.Join(dir, "users.report.csv")
	if err := os.WriteFile(in, []byte("Email,Office\na@x.com,Paris\nbad,Paris\n B@X.com ,\nc@x.com,Oslo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rep, []byte("row,email,outcome,error,run_id,Office\n"+
		"1,a@x.com,sent,,r1,Paris\n"+
		"2,bad,invalid,no @,r1,Paris\n"+
		"3,B@X.com,failed,'=503 boom,r1,\n"+
		"4,c@x.com,not_invitable,send refused: managed,r1,Oslo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(now)
	if err := b.AddInputFile(in, input.Options{}, "office"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddReportFile(rep); err != nil {
		t.Fatal(err)
	}
	if err := b.AddReportFile(filepath.Join(dir, "never-run.report.csv")); err != nil {
		t.Errorf("a missing report: %v, want none (the file was never run)", err)
	}
	if err := b.AddInputFile(in, input.Options{}, "floor"); err == nil {
		t.Errorf("--group-by floor: no error, want one naming the missing column")
	}
	f := b.Figures("office")
	var att []string
	for _, a := range f.Attention.Rows {
		att = append(att, a.Status+"|"+a.Email+"|"+a.Reason)
	}
	want := []string{"invalid|bad|" + mustAddrErr("bad"), "failed|B@X.com|=503 boom", "refused|c@x.com|send refused: managed"}
	if d := cmp.Diff(want, att); d != "" {
		t.Errorf("attention (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{in}, f.Source.Files); d != "" {
		t.Errorf("files: %s", d)
	}
	if len(f.Source.Reports) != 1 {
		t.Errorf("reports read: %v, want the one that exists", f.Source.Reports)
	}
	groups := map[string]int{}
	for _, g := range f.ByGroup {
		groups[g.Name] = g.InvalidRows
	}
	if groups["Paris"] != 1 {
		t.Errorf("groups %v: want Paris with its invalid row", f.ByGroup)
	}
}

func mustAddrErr(s string) string {
	_, err := input.Address(s)
	return err.Error()
}
