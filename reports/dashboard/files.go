package dashboard

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
)

// AddInputFile reads an input CSV as run reads it: each usable address,
// with the value of its groupBy column ("" for none), and each row that
// was never invitable. A file that cannot be read, or has no groupBy
// column, is an *input.FileError.
func (b *Builder) AddInputFile(path string, opts input.Options, groupBy string) error {
	f, err := os.Open(path)
	if err != nil {
		return &input.FileError{Reason: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
	}
	defer f.Close()
	rd, err := input.Open(f, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	col := -1
	if groupBy != "" {
		for i, h := range rd.Header() {
			if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(groupBy)) {
				col = i
				break
			}
		}
		if col < 0 {
			return &input.FileError{Reason: fmt.Sprintf("%s: no column %q to group by (columns: %s)", path, groupBy, strings.Join(rd.Header(), ", "))}
		}
	}
	b.src.Files = append(b.src.Files, path)
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		group := ""
		if fields := rd.Fields(); col >= 0 && col < len(fields) {
			group = strings.TrimSpace(fields[col])
		}
		email, aerr := "", error(nil)
		reason := rec.Problem
		if reason == "" {
			email, aerr = input.Address(rec.Email)
			if aerr != nil {
				reason = aerr.Error()
			}
		}
		if reason != "" {
			b.AddInvalidRow(path+":"+strconv.Itoa(rec.Row), rec.Email, reason, group)
			continue
		}
		b.AddInputRow(email, group)
	}
}

// AddReportFile reads a run's report (row,email,outcome,error,...) and adds
// its rows that need attention. A missing report is no error: the file
// may never have been run.
func (b *Builder) AddReportFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read report: %w", err)
	}
	defer f.Close()
	rd, err := input.Open(f, input.Options{EmailColumn: "email"})
	if err != nil {
		return fmt.Errorf("read report %s: %w", path, err)
	}
	idx := map[string]int{}
	for i, h := range rd.Header() {
		idx[h] = i
	}
	oc, ec, rc := idx["outcome"], idx["error"], idx["row"]
	if _, ok := idx["outcome"]; !ok {
		return fmt.Errorf("read report %s: no outcome column: not a report", path)
	}
	b.src.Reports = append(b.src.Reports, path)
	for {
		_, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read report %s: %w", path, err)
		}
		fields := rd.Fields()
		cell := func(i int) string {
			if i < len(fields) {
				return unneutralise(fields[i])
			}
			return ""
		}
		o, ok := batch.ParseOutcome(cell(oc))
		if !ok {
			continue
		}
		b.AddReportRow(path+":"+cell(rc), cell(rd.EmailIndex()), o, cell(ec))
	}
}

// unneutralise drops the ' that the report puts before a cell a
// spreadsheet would run as a formula.
func unneutralise(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte("=+-@\t\r", s[1]) >= 0 {
		return s[1:]
	}
	return s
}
