package reports

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
)

// formulaStarts are the first characters a spreadsheet runs as a formula.
var formulaStarts = []string{"=", "+", "-", "@", "\t", "\r"}

func TestCellNeutralisesEveryFormulaStart(t *testing.T) {
	for _, c := range formulaStarts {
		v := c + "HYPERLINK(\"http://evil\")"
		if got := cell(v); got != "'"+v {
			t.Errorf("cell(%q) = %q, want it prefixed with a quote", v, got)
		}
	}
	for _, v := range []string{"", "a@x.io", "1+1", "x=y", "'quoted", "日本"} {
		if got := cell(v); got != v {
			t.Errorf("cell(%q) = %q, want it unchanged", v, got)
		}
	}
	if got := cell("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("cell(invalid UTF-8) = %q", got)
	}
}

// TestReportNeutralisesCarriedColumns: the input's other columns are carried
// into the report, header names included, and each value that starts like a
// formula is neutralised, like the report's own cells.
func TestReportNeutralisesCarriedColumns(t *testing.T) {
	var in strings.Builder
	in.WriteString("email,note,=cmd\n")
	var rows []string
	for i, c := range formulaStarts {
		note := c + "SUM(A1)"
		rows = append(rows, note)
		w := csv.NewWriter(&in)
		w.Write([]string{"u" + string(rune('a'+i)) + "@x.io", note, "@" + note})
		w.Flush()
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "users.report.csv")
	written, records, err := WriteReport(path, strings.NewReader(in.String()), input.Options{}, "run1",
		func(row int) (batch.Outcome, string) { return batch.Failed, "-1 quota" })
	if err != nil {
		t.Fatal(err)
	}
	if written != len(formulaStarts) || records != len(formulaStarts) {
		t.Fatalf("written %d of %d records, want %d", written, records, len(formulaStarts))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(recs[0], ","); got != "row,email,outcome,error,run_id,note,'=cmd" {
		t.Errorf("header %q, want the carried names neutralised", got)
	}
	for i, rec := range recs[1:] {
		if rec[3] != "'-1 quota" {
			t.Errorf("row %d: error %q, want it neutralised", i+1, rec[3])
		}
		if want := "'" + rows[i]; rec[5] != want {
			t.Errorf("row %d: carried note %q, want %q", i+1, rec[5], want)
		}
		if want := "'@" + rows[i]; rec[6] != want {
			t.Errorf("row %d: carried column %q, want %q", i+1, rec[6], want)
		}
	}
}
