package input

import (
	"bytes"
	"fmt"
)

// sniffLen is how much of the input is examined before parsing.
const sniffLen = 64 << 10

// FileError says why the input cannot be read as a CSV of addresses at all:
// not CSV, wrong encoding, no usable header. The command exits 2 with it,
// before any API call. Reason is a lower-case phrase naming the problem and
// what to do about it; Error returns it unchanged.
type FileError struct {
	Reason string
}

func (e *FileError) Error() string { return e.Reason }

func fileErr(format string, args ...any) error {
	return &FileError{Reason: fmt.Sprintf(format, args...)}
}

// sniff rejects inputs that are clearly not a UTF-8 text file, judging from
// their first bytes. An empty b is the caller's business.
func sniff(b []byte) error {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return fileErr("gzip-compressed; decompress it first")
	case bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06")):
		if bytes.Contains(b, []byte("xl/")) {
			return fileErr("Excel workbook (.xlsx), not CSV; save it as \"CSV UTF-8\"")
		}
		return fileErr("zip archive; extract the CSV first")
	case bytes.HasPrefix(b, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1}):
		return fileErr("Excel 97-2003 workbook (.xls), not CSV; save it as \"CSV UTF-8\"")
	case bytes.HasPrefix(b, []byte{0xff, 0xfe, 0, 0}), bytes.HasPrefix(b, []byte{0, 0, 0xfe, 0xff}):
		return fileErr("UTF-32 text; save it as UTF-8 CSV")
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}), bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return fileErr("UTF-16 text; save it as UTF-8 CSV")
	}
	nul := bytes.IndexByte(b, 0)
	if nul < 0 {
		if crOnly(b) {
			return fileErr("lines end with CR only (old Mac format); save it as \"CSV UTF-8\"")
		}
		return nil
	}
	if looksUTF16(b) {
		return fileErr("UTF-16 text; save it as UTF-8 CSV")
	}
	return fileErr("binary content, not CSV (NUL byte at offset %d)", nul)
}

// looksUTF16 reports whether b looks like BOM-less UTF-16 of mostly ASCII
// text: NULs in at least a third of the even or of the odd positions, and
// almost none in the other.
func looksUTF16(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	var nul [2]int
	for i, c := range b {
		if c == 0 {
			nul[i%2]++
		}
	}
	half := len(b) / 2
	for p := range 2 {
		if nul[p]*3 >= half && nul[1-p]*20 <= half {
			return true
		}
	}
	return false
}

// sniffDelimiter picks ',', ';' or '\t', whichever is most frequent outside
// double quotes in the first line of b (ties in that order; ',' when none
// occurs). A header line longer than b is judged on its first part.
func sniffDelimiter(b []byte) rune {
	var comma, semi, tab int
	quoted := false
scan:
	for _, c := range b {
		switch c {
		case '"':
			quoted = !quoted
		case '\n':
			if !quoted {
				break scan
			}
		case ',':
			if !quoted {
				comma++
			}
		case ';':
			if !quoted {
				semi++
			}
		case '\t':
			if !quoted {
				tab++
			}
		}
	}
	switch {
	case semi > comma && semi >= tab:
		return ';'
	case tab > comma && tab > semi:
		return '\t'
	}
	return ','
}

// sepDirective recognizes the "sep=;" first line with which Excel states
// the delimiter, returning the delimiter and the length of the line to
// skip, or 0 when b does not start with one.
func sepDirective(b []byte) (delim rune, n int, err error) {
	const prefix = "sep="
	if len(b) < len(prefix)+1 || !bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return 0, 0, nil
	}
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		eol = len(b)
	}
	arg := bytes.TrimSuffix(b[len(prefix):eol], []byte("\r"))
	if len(arg) != 1 || isAlnum(arg[0]) {
		return 0, 0, nil // a header starting with "sep=", however odd
	}
	switch c := rune(arg[0]); c {
	case ',', ';', '\t':
		return c, min(eol+1, len(b)), nil
	default:
		return 0, 0, fileErr("unsupported delimiter %q in the sep= line; use ',', ';' or tab", c)
	}
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// crOnly reports whether b separates lines with a lone CR, which
// encoding/csv would take for data: a CR followed by more text and no LF
// anywhere in b.
func crOnly(b []byte) bool {
	i := bytes.IndexByte(b, '\r')
	return i >= 0 && i < len(b)-1 && bytes.IndexByte(b, '\n') < 0
}
