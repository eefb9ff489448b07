package main

// The tabular output of status and export: CSV (every cell through
// reports.Cell), JSON, or an aligned table for a terminal.

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

// stateRow is one line of status or export output.
type stateRow struct {
	Email        string            `json:"email"`
	State        string            `json:"state"`
	MailsSent    *int64            `json:"mails_sent"` // null when no invitation is visible
	Updated      string            `json:"updated"`
	LedgerStatus string            `json:"ledger_status"`
	LedgerTime   string            `json:"ledger_time"`
	Row          int               `json:"row,omitempty"`
	Error        string            `json:"error,omitempty"`
	Input        map[string]string `json:"input,omitempty"`
	inputCells   []string          // Input in column order, for CSV and the table
}

// The state words of status beyond the API's: rows whose address is not
// usable, and rows whose state could not be read.
const (
	stateInvalid = "INVALID"
	stateError   = "ERROR"
)

// stateOrder is the order of the totals.
var stateOrder = []string{string(batch.StateNotYetSent), string(batch.StateInvited), string(batch.StateAccepted),
	string(batch.StateDeclined), string(batch.StateNone), stateInvalid, stateError}

func rowOf(inv batch.Invitation) stateRow {
	r := stateRow{Email: inv.Email, State: string(inv.State), Updated: formatTime(inv.Updated)}
	if inv.State != batch.StateNone {
		n := inv.MailsSent
		r.MailsSent = &n
	}
	return r
}

// columns says which columns a writer shows.
type columns struct {
	ledger bool     // ledger_status, ledger_time
	file   bool     // row, error
	input  []string // the input's other columns, renamed input_<name> on a clash
}

func (c columns) header() []string {
	h := []string{"email", "state", "mails_sent", "updated"}
	if c.ledger {
		h = append(h, "ledger_status", "ledger_time")
	}
	if c.file {
		h = append(h, "row", "error")
	}
	return append(h, c.input...)
}

func (c columns) cells(r stateRow) []string {
	mails := ""
	if r.MailsSent != nil {
		mails = strconv.FormatInt(*r.MailsSent, 10)
	}
	v := []string{r.Email, r.State, mails, r.Updated}
	if c.ledger {
		v = append(v, r.LedgerStatus, r.LedgerTime)
	}
	if c.file {
		v = append(v, strconv.Itoa(r.Row), r.Error)
	}
	return append(v, r.inputCells...)
}

// inputColumns returns the names of the input's columns other than the
// email column, renamed input_<name> when they clash with ours.
func inputColumns(header []string, emailIdx int, ours []string) (names []string, keep []int) {
	taken := make(map[string]bool)
	for _, h := range ours {
		taken[h] = true
	}
	for i, h := range header {
		if i == emailIdx {
			continue
		}
		name := strings.ToValidUTF8(h, "\uFFFD")
		for taken[strings.ToLower(name)] {
			name = "input_" + name
		}
		taken[strings.ToLower(name)] = true
		names = append(names, name)
		keep = append(keep, i)
	}
	return names, keep
}

// rowWriter writes rows, then the totals.
type rowWriter interface {
	write(stateRow) error
	close(totals map[string]int) error
}

func newRowWriter(format string, w, status io.Writer, cols columns) (rowWriter, error) {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		h := cols.header()
		for i := range h {
			h[i] = reports.Cell(h[i])
		}
		return &csvRows{w: cw, cols: cols, status: status}, cw.Write(h)
	case "json":
		_, err := io.WriteString(w, "{\"invitations\": [")
		return &jsonRows{w: w, first: true}, err
	case "table":
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		h := cols.header()
		_, err := fmt.Fprintln(tw, strings.Join(h, "\t"))
		return &tableRows{w: tw, out: w, cols: cols}, err
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

type csvRows struct {
	w      *csv.Writer
	cols   columns
	status io.Writer
}

func (c *csvRows) write(r stateRow) error {
	v := c.cols.cells(r)
	for i := range v {
		v[i] = reports.Cell(v[i])
	}
	return c.w.Write(v)
}

// close flushes the CSV; the totals go to stderr, keeping stdout data.
func (c *csvRows) close(totals map[string]int) error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	if c.status != nil {
		_, err := fmt.Fprintln(c.status, totalsLine(totals))
		return err
	}
	return nil
}

type jsonRows struct {
	w     io.Writer
	first bool
}

func (j *jsonRows) write(r stateRow) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sep := ",\n  "
	if j.first {
		sep, j.first = "\n  ", false
	}
	_, err = io.WriteString(j.w, sep+string(b))
	return err
}

func (j *jsonRows) close(totals map[string]int) error {
	if totals == nil {
		totals = map[string]int{}
	}
	b, err := json.Marshal(totals)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(j.w, "\n],\n\"totals\": %s}\n", b)
	return err
}

type tableRows struct {
	w    *tabwriter.Writer
	out  io.Writer
	cols columns
	n    int
}

func (t *tableRows) write(r stateRow) error {
	v := t.cols.cells(r)
	for i := range v {
		v[i] = printable(v[i])
	}
	if _, err := fmt.Fprintln(t.w, strings.Join(v, "\t")); err != nil {
		return err
	}
	// Flush now and then: a long table is aligned in blocks, not held whole.
	if t.n++; t.n%1000 == 0 {
		return t.w.Flush()
	}
	return nil
}

func (t *tableRows) close(totals map[string]int) error {
	if err := t.w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(t.out, "\n%s\n", totalsLine(totals))
	return err
}

// totalsLine is e.g. "totals: 12 rows: INVITED 10, NONE 2".
func totalsLine(totals map[string]int) string {
	var parts []string
	sum := 0
	seen := make(map[string]bool)
	for _, s := range stateOrder {
		seen[s] = true
		if n := totals[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
			sum += n
		}
	}
	for s, n := range totals { // e.g. STATE_UNSPECIFIED
		if !seen[s] && n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", printable(s), n))
			sum += n
		}
	}
	if len(parts) == 0 {
		return "totals: 0"
	}
	return fmt.Sprintf("totals: %d: %s", sum, strings.Join(parts, ", "))
}
