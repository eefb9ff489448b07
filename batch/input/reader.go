package input

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Options configure Open.
type Options struct {
	// EmailColumn names the column holding the addresses, matched
	// case-insensitively after trimming white space (--email-column).
	// Empty means: detect it from the header.
	EmailColumn string
}

// Record is one data record of the input.
type Record struct {
	// Row is the 1-based index of the data record: the header is not
	// counted, blank lines are not records, every other record is
	// (ragged ones included).
	Row int
	// Email is the email column's cell exactly as it appeared (untrimmed,
	// possibly invalid UTF-8 when Problem says so), or "" when the record
	// is too short to have one. It does not share memory with the rest of
	// the record, so keeping it keeps nothing else alive.
	Email string
	// Problem is non-empty when the record itself is unusable, whatever
	// its address: "row has 3 fields, header has 2", "invalid UTF-8 in the
	// email column", or a CSV parse error.
	Problem string
}

// Reader reads data records one at a time. It holds one record at a time,
// whatever the size of the input. A Reader is not safe for concurrent use.
type Reader struct {
	csv      *csv.Reader
	header   []string
	emailIdx int
	delim    rune
	row      int
	fields   []string
	err      error // sticky fatal error
}

// Open reads and checks the start of r (encoding, header, email column)
// and returns a Reader positioned at the first data record. The problems
// a user must fix in the file are reported as a *FileError; any other
// error comes from reading r.
func Open(r io.Reader, opts Options) (*Reader, error) {
	br := bufio.NewReaderSize(r, sniffLen)
	head, err := br.Peek(sniffLen)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read input: %w", err)
	}
	if len(head) == 0 {
		return nil, fileErr("empty file: no header")
	}
	if err := sniff(head); err != nil {
		return nil, err
	}
	if len(head) >= 3 && head[0] == 0xef && head[1] == 0xbb && head[2] == 0xbf {
		if _, err := br.Discard(3); err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
		head = head[3:]
	}
	delim, sepLine, err := sepDirective(head)
	if err != nil {
		return nil, err
	}
	if sepLine > 0 {
		if _, err := br.Discard(sepLine); err != nil {
			return nil, fmt.Errorf("read input: %w", err)
		}
	} else {
		delim = sniffDelimiter(head)
	}

	cr := csv.NewReader(br)
	cr.Comma = delim
	cr.LazyQuotes = true // exports contain O"Brien
	cr.ReuseRecord = true
	hdr, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, fileErr("empty file: no header")
	case err != nil && !errors.As(err, new(*csv.ParseError)):
		return nil, fmt.Errorf("read input: %w", err)
	case err != nil:
		return nil, fileErr("cannot parse the header line: %v", err)
	}
	hdr = append([]string(nil), hdr...)
	for i, h := range hdr {
		if !utf8.ValidString(h) {
			return nil, fileErr("invalid UTF-8 in the header line (column %d); save the file as UTF-8 CSV", i+1)
		}
	}
	idx, err := emailColumn(hdr, opts.EmailColumn)
	if err != nil {
		return nil, err
	}
	// Every record must have the header's number of fields; encoding/csv
	// returns the fields of a ragged record along with ErrFieldCount.
	cr.FieldsPerRecord = len(hdr)
	return &Reader{csv: cr, header: hdr, emailIdx: idx, delim: delim}, nil
}

// Header returns the header's column names as they appear in the file
// (without a UTF-8 byte order mark, not trimmed). The caller must not
// modify it.
func (r *Reader) Header() []string { return r.header }

// EmailIndex returns the 0-based index of the email column in Header.
func (r *Reader) EmailIndex() int { return r.emailIdx }

// Delimiter returns the field delimiter found in the header line: ',', ';'
// or '\t'.
func (r *Reader) Delimiter() rune { return r.delim }

// Fields returns every field of the record last returned by Next, ragged
// records included (so it may be shorter or longer than Header). The slice
// is reused by the next call to Next; copy it to keep it.
func (r *Reader) Fields() []string { return r.fields }

// Next returns the next data record, or io.EOF after the last one. A
// record's own problems are reported in Record.Problem and reading goes on;
// any other error is fatal and returned again by later calls.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	fields, err := r.csv.Read()
	var problem string
	if err != nil {
		var pe *csv.ParseError
		switch {
		case err == io.EOF:
			r.fields = nil
			r.err = io.EOF
			return Record{}, io.EOF
		case !errors.As(err, &pe):
			r.fields = nil
			r.err = fmt.Errorf("read input: %w", err)
			return Record{}, r.err
		case errors.Is(pe.Err, csv.ErrFieldCount):
			problem = fmt.Sprintf("row has %d fields, header has %d", len(fields), len(r.header))
		default:
			problem = "cannot parse the row: " + pe.Err.Error()
		}
	}
	// This is the one place rows are numbered.
	r.row++
	r.fields = fields
	rec := Record{Row: r.row, Problem: problem}
	if r.emailIdx < len(fields) {
		// Cloned: the fields of a record share one backing string.
		rec.Email = strings.Clone(fields[r.emailIdx])
		if rec.Problem == "" && !utf8.ValidString(rec.Email) {
			rec.Problem = "invalid UTF-8 in the email column"
		}
	}
	return rec, nil
}

// emailAliases are the normalized header names (see normHeader) taken for
// the email column when none is named.
var emailAliases = map[string]bool{
	"email":               true,
	"emailaddress":        true,
	"mail":                true,
	"mailaddress":         true,
	"primaryemail":        true,
	"primaryemailaddress": true,
	"useremail":           true,
	"useremailaddress":    true,
	"workemail":           true,
	"workemailaddress":    true,
}

// normHeader lower-cases h and drops white space, '-', '_' and '.'.
func normHeader(h string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' || r == '_' || r == '.' || r == '\u200b' || r == '\ufeff' {
			return -1
		}
		return unicode.ToLower(r)
	}, h)
}

// emailColumn finds the email column: the one named by want, else the one
// detected from the header.
func emailColumn(hdr []string, want string) (int, error) {
	if want = strings.TrimSpace(want); want != "" {
		found := -1
		for i, h := range hdr {
			if strings.EqualFold(strings.TrimFunc(h, isTrimmable), want) {
				if found >= 0 {
					return 0, fileErr("columns %d and %d are both named %q; rename one", found+1, i+1, want)
				}
				found = i
			}
		}
		if found < 0 {
			return 0, fileErr("no column named %q; header has: %s", want, listHeader(hdr))
		}
		return found, nil
	}
	var exact, other []int
	for i, h := range hdr {
		switch {
		case strings.EqualFold(strings.TrimFunc(h, isTrimmable), "email"):
			exact = append(exact, i)
		case emailAliases[normHeader(h)]:
			other = append(other, i)
		}
	}
	cands := exact
	if len(cands) == 0 {
		cands = other
	}
	switch len(cands) {
	case 0:
		return 0, fileErr("no email column; header has: %s; use --email-column", listHeader(hdr))
	case 1:
		return cands[0], nil
	}
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = fmt.Sprintf("%q", hdr[c])
	}
	return 0, fileErr("several possible email columns: %s; choose one with --email-column", strings.Join(names, ", "))
}

// listHeader renders a header for an error message, shortened if long.
func listHeader(hdr []string) string {
	const max = 20
	var b strings.Builder
	for i, h := range hdr {
		if i == max {
			fmt.Fprintf(&b, ", ... (%d columns)", len(hdr))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if utf8.RuneCountInString(h) > 40 {
			h = string([]rune(h)[:40]) + "..."
		}
		b.WriteString(h)
	}
	return b.String()
}
