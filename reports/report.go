package reports

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
)

// ReportColumns are the report's own columns, in order; the input's other
// columns follow them.
var ReportColumns = []string{"row", "email", "outcome", "error", "run_id"}

// OutcomeFunc returns the final outcome of a row (OutcomeNone for a row
// without one yet) and its reason.
type OutcomeFunc func(row int) (batch.Outcome, string)

// WriteReport writes the report of a run to path, atomically and with mode
// 0600: one line per input record that has an outcome, in input order, with
// the input's columns carried through. It re-reads the input from in (the
// same file the run read, with the same options) rather than holding rows
// in memory, so a report of a million rows costs no memory and a resumed
// run's report covers the earlier runs' rows too. It returns the number of
// rows written and the number of input records.
func WriteReport(path string, in io.Reader, opts input.Options, runID string, outcome OutcomeFunc) (written, records int, err error) {
	return writeReport(context.Background(), path, in, opts, runID, outcome, -1)
}

// writeReport is WriteReport, given up (the old report left in place) when
// ctx ends; with upTo >= 0 it stops reading the input after record upTo
// (no later record has an outcome), and records counts only those read.
func writeReport(ctx context.Context, path string, in io.Reader, opts input.Options, runID string, outcome OutcomeFunc, upTo int) (written, records int, err error) {
	rd, err := input.Open(in, opts)
	if err != nil {
		return 0, 0, fmt.Errorf("report: %w", err)
	}
	err = WriteFileAtomic(path, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 64<<10)
		cw := csv.NewWriter(bw)
		keep, header := reportHeader(rd.Header(), rd.EmailIndex())
		if err := cw.Write(header); err != nil {
			return err
		}
		line := make([]string, len(header))
		for upTo < 0 || records < upTo {
			if records%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			records++
			o, reason := outcome(rec.Row)
			if o == batch.OutcomeNone {
				continue
			}
			fields := rd.Fields()
			line = line[:0]
			line = append(line, strconv.Itoa(rec.Row), cell(rec.Email), o.String(), cell(reason), runID)
			for _, i := range keep {
				v := ""
				if i < len(fields) {
					v = fields[i]
				}
				line = append(line, cell(v))
			}
			if err := cw.Write(line); err != nil {
				return err
			}
			written++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		return bw.Flush()
	}, 0o600)
	if err != nil {
		return 0, 0, fmt.Errorf("report %s: %w", path, err)
	}
	return written, records, nil
}

// reportHeader returns the indexes of the input columns to carry (all but
// the email column, which the report's own email column replaces) and the
// report's header. An input column named like a report column becomes
// input_<name>.
func reportHeader(in []string, emailIdx int) (keep []int, header []string) {
	header = append(header, ReportColumns...)
	taken := make(map[string]bool)
	for _, c := range ReportColumns {
		taken[c] = true
	}
	for i, name := range in {
		if i == emailIdx {
			continue
		}
		name = strings.ToValidUTF8(name, "\uFFFD")
		for taken[strings.ToLower(name)] {
			name = "input_" + name
		}
		taken[strings.ToLower(name)] = true
		keep = append(keep, i)
		header = append(header, cell(name))
	}
	return keep, header
}

// cell makes a value safe to open in a spreadsheet: invalid UTF-8 is
// replaced, and a value that a spreadsheet would run as a formula (one
// starting with =, +, -, @, tab or CR) is prefixed with a quote, which
// spreadsheets show as text.
func cell(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Cell is cell for the other writers of CSV (status, export): every CSV the
// tool writes neutralises formulas the same way.
func Cell(s string) string { return cell(s) }

// NewOutcomeTable returns an empty CheckpointState, to track the outcomes
// of a run that has no checkpoint (a dry run).
func NewOutcomeTable() *CheckpointState {
	return &CheckpointState{outcomes: make([]batch.Outcome, 1)}
}

// Record sets r's outcome in memory: a CheckpointState is also the
// in-memory sink from which the report is written.
func (s *CheckpointState) Record(r batch.Result) error {
	if badResult(r) {
		return fmt.Errorf("outcome table: bad result for row %d", r.Row)
	}
	s.set(r.Row, r.Outcome, r.Reason)
	return nil
}

// Outcomes returns a copy of the outcome of every row (index 0 unused), to
// read while the state itself is being written, e.g. to decide which rows
// a resumed run skips.
func (s *CheckpointState) Outcomes() []batch.Outcome {
	return append([]batch.Outcome(nil), s.outcomes...)
}

// Tee returns a sink that records to each of sinks in turn, stopping at the
// first error.
func Tee(sinks ...batch.Sink) batch.Sink { return tee(sinks) }

type tee []batch.Sink

func (t tee) Record(r batch.Result) error {
	for _, s := range t {
		if err := s.Record(r); err != nil {
			return err
		}
	}
	return nil
}
