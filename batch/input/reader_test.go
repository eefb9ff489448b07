package input

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// result is what a test reads from a file.
type result struct {
	Header     []string
	EmailIndex int
	Delimiter  rune
	Records    []Record
	Fields     [][]string
}

func readAll(t *testing.T, in string, opts Options) (result, error) {
	t.Helper()
	r, err := Open(strings.NewReader(in), opts)
	if err != nil {
		return result{}, err
	}
	res := result{Header: r.Header(), EmailIndex: r.EmailIndex(), Delimiter: r.Delimiter()}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() after %d records: %v", len(res.Records), err)
		}
		res.Records = append(res.Records, rec)
		res.Fields = append(res.Fields, append([]string(nil), r.Fields()...))
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next() after io.EOF = %v, want io.EOF", err)
	}
	return res, nil
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		opts Options
		want result
	}{
		{
			name: "simple",
			in:   "name,email\nAlice,a@x.com\nBob,b@x.com\n",
			want: result{
				Header: []string{"name", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}, {Row: 2, Email: "b@x.com"}},
				Fields:  [][]string{{"Alice", "a@x.com"}, {"Bob", "b@x.com"}},
			},
		},
		{
			name: "BOM, CRLF, no final newline",
			in:   "\xef\xbb\xbfEmail,name\r\na@x.com,Alice\r\nb@x.com,Bob",
			want: result{
				Header: []string{"Email", "name"}, EmailIndex: 0, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}, {Row: 2, Email: "b@x.com"}},
				Fields:  [][]string{{"a@x.com", "Alice"}, {"b@x.com", "Bob"}},
			},
		},
		{
			name: "semicolon",
			in:   "Name;E-Mail;Dept\n\"Smith, A\";a@x.com;Sales\n",
			want: result{
				Header: []string{"Name", "E-Mail", "Dept"}, EmailIndex: 1, Delimiter: ';',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"Smith, A", "a@x.com", "Sales"}},
			},
		},
		{
			name: "tab",
			in:   "id\temail_address\n1\ta@x.com\n",
			want: result{
				Header: []string{"id", "email_address"}, EmailIndex: 1, Delimiter: '\t',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"1", "a@x.com"}},
			},
		},
		{
			name: "delimiter inside quoted header is not counted",
			in:   "\"a;b;c\",email\n1,a@x.com\n",
			want: result{
				Header: []string{"a;b;c", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"1", "a@x.com"}},
			},
		},
		{
			name: "quoted fields with newlines and commas",
			in:   "note,email\n\"line 1\nline 2, more\",a@x.com\n\"x\r\n\"\"y\"\"\",\" b@x.com \"\n",
			want: result{
				Header: []string{"note", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}, {Row: 2, Email: " b@x.com "}},
				Fields:  [][]string{{"line 1\nline 2, more", "a@x.com"}, {"x\n\"y\"", " b@x.com "}},
			},
		},
		{
			name: "lazy quotes",
			in:   "name,email\nO\"Brien,o@x.com\n",
			want: result{
				Header: []string{"name", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "o@x.com"}},
				Fields:  [][]string{{"O\"Brien", "o@x.com"}},
			},
		},
		{
			name: "blank lines are not records",
			in:   "\n\nemail\n\na@x.com\n\r\n\nb@x.com\n\n",
			want: result{
				Header: []string{"email"}, EmailIndex: 0, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}, {Row: 2, Email: "b@x.com"}},
				Fields:  [][]string{{"a@x.com"}, {"b@x.com"}},
			},
		},
		{
			name: "ragged rows",
			in:   "name,email\nA,a@x.com\nB,b@x.com,extra\nC\n,\nD,d@x.com\n",
			want: result{
				Header: []string{"name", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{
					{Row: 1, Email: "a@x.com"},
					{Row: 2, Email: "b@x.com", Problem: "row has 3 fields, header has 2"},
					{Row: 3, Problem: "row has 1 fields, header has 2"},
					{Row: 4},
					{Row: 5, Email: "d@x.com"},
				},
				Fields: [][]string{{"A", "a@x.com"}, {"B", "b@x.com", "extra"}, {"C"}, {"", ""}, {"D", "d@x.com"}},
			},
		},
		{
			name: "invalid UTF-8 in the email column",
			in:   "name,email\nA,a\xff@x.com\nB\xff,b@x.com\n",
			want: result{
				Header: []string{"name", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{
					{Row: 1, Email: "a\xff@x.com", Problem: "invalid UTF-8 in the email column"},
					{Row: 2, Email: "b@x.com"},
				},
				Fields: [][]string{{"A", "a\xff@x.com"}, {"B\xff", "b@x.com"}},
			},
		},
		{
			name: "Excel sep= line",
			in:   "\xef\xbb\xbfsep=;\r\nName;Email\r\n\"Smith, A\";a@x.com\r\n",
			want: result{
				Header: []string{"Name", "Email"}, EmailIndex: 1, Delimiter: ';',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"Smith, A", "a@x.com"}},
			},
		},
		{
			name: "sep=<letter> is a header",
			in:   "sep=x,email\n1,a@x.com\n",
			want: result{
				Header: []string{"sep=x", "email"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"1", "a@x.com"}},
			},
		},
		{
			name: "header only",
			in:   "name,email\n",
			want: result{Header: []string{"name", "email"}, EmailIndex: 1, Delimiter: ','},
		},
		{
			name: "header only, CR at the end",
			in:   "email\r",
			want: result{Header: []string{"email"}, EmailIndex: 0, Delimiter: ','},
		},
		{
			name: "header only, no newline",
			in:   "email",
			want: result{Header: []string{"email"}, EmailIndex: 0, Delimiter: ','},
		},
		{
			name: "explicit column",
			in:   "Email,Login Address\nold@x.com,a@x.com\n",
			opts: Options{EmailColumn: " login address "},
			want: result{
				Header: []string{"Email", "Login Address"}, EmailIndex: 1, Delimiter: ',',
				Records: []Record{{Row: 1, Email: "a@x.com"}},
				Fields:  [][]string{{"old@x.com", "a@x.com"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(t, tt.in, tt.opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("read mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeaderVariants(t *testing.T) {
	tests := []struct {
		header string
		want   int
	}{
		{"Email", 0},
		{"id, E-mail ", 1},
		{"id,email_address", 1},
		{"id,Primary Email", 1},
		{"id,EMAIL.ADDRESS", 1},
		{"id,mail", 1},
		{"id,User Email", 1},
		{"id,Work E-Mail Address", 1},
		{"Email Address,Email", 1},           // exact "email" wins
		{"id,\u00a0Email\u00a0", 1},          // NBSP around the name
		{"\"Email\",\"Secondary Email\"", 0}, // not an alias
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r, err := Open(strings.NewReader(tt.header+"\n"), Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := r.EmailIndex(); got != tt.want {
				t.Errorf("EmailIndex() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("email\na@x.com\n"))
	zw.Close()
	utf16le := func(s string, bom bool) string {
		var b []byte
		if bom {
			b = append(b, 0xff, 0xfe)
		}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return string(b)
	}
	utf16be := func(s string) string {
		b := []byte{0xfe, 0xff}
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u>>8), byte(u))
		}
		return string(b)
	}
	tests := []struct {
		name string
		in   string
		opts Options
		want string
	}{
		{"empty", "", Options{}, "empty file: no header"},
		{"blank lines only", "\n\r\n\n", Options{}, "empty file: no header"},
		{"BOM only", "\xef\xbb\xbf", Options{}, "empty file: no header"},
		{"gzip", gz.String(), Options{}, "gzip-compressed; decompress it first"},
		{"zip", "PK\x03\x04\x14\x00\x00\x00users.csv", Options{}, "zip archive; extract the CSV first"},
		{"xlsx", "PK\x03\x04\x14\x00\x00\x00[Content_Types].xml...xl/workbook.xml", Options{}, "Excel workbook (.xlsx), not CSV; save it as \"CSV UTF-8\""},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", Options{}, "Excel 97-2003 workbook (.xls), not CSV; save it as \"CSV UTF-8\""},
		{"UTF-16LE with BOM", utf16le("email\r\na@x.com\r\n", true), Options{}, "UTF-16 text; save it as UTF-8 CSV"},
		{"UTF-16BE with BOM", utf16be("email\r\na@x.com\r\n"), Options{}, "UTF-16 text; save it as UTF-8 CSV"},
		{"UTF-16LE without BOM", utf16le("email\r\na@x.com\r\n", false), Options{}, "UTF-16 text; save it as UTF-8 CSV"},
		{"UTF-32LE", "\xff\xfe\x00\x00e\x00\x00\x00", Options{}, "UTF-32 text; save it as UTF-8 CSV"},
		{"NUL byte", "email\na@x.com\x00\n", Options{}, "binary content, not CSV (NUL byte at offset 13)"},
		{"invalid UTF-8 header", "id,e\xe9mail\n1,a@x.com\n", Options{}, "invalid UTF-8 in the header line (column 2); save the file as UTF-8 CSV"},
		{"sep= line only", "sep=,\n", Options{}, "empty file: no header"},
		{"unsupported sep=", "sep=|\nemail\n", Options{}, "unsupported delimiter '|' in the sep= line; use ',', ';' or tab"},
		{"CR line endings", "email\ra@x.com\rb@x.com\r", Options{}, "lines end with CR only (old Mac format); save it as \"CSV UTF-8\""},
		{"no email column", "name,dept,phone\nA,B,C\n", Options{}, "no email column; header has: name, dept, phone; use --email-column"},
		{"two candidates", "E-mail,Email Address\n", Options{}, `several possible email columns: "E-mail", "Email Address"; choose one with --email-column`},
		{"two exact", "email,EMAIL\n", Options{}, `several possible email columns: "email", "EMAIL"; choose one with --email-column`},
		{"explicit column missing", "name,email\n", Options{EmailColumn: "login"}, `no column named "login"; header has: name, email`},
		{"explicit column twice", "login,Login\n", Options{EmailColumn: "LOGIN"}, `columns 1 and 2 are both named "LOGIN"; rename one`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(strings.NewReader(tt.in), tt.opts)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Open() = %v, %v; want *FileError %q", r, err, tt.want)
			}
			if fe.Reason != tt.want {
				t.Errorf("Open() reason %q, want %q", fe.Reason, tt.want)
			}
		})
	}
}

func TestHugeField(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	in := "note,email\n\"" + big + "\",a@x.com\nsmall," + big + "\nlast,c@x.com\n"
	got, err := readAll(t, in, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want := []Record{{Row: 1, Email: "a@x.com"}, {Row: 2, Email: big}, {Row: 3, Email: "c@x.com"}}
	if !cmp.Equal(got.Records, want) {
		t.Errorf("records differ (not printed: 10 MB); got %d records, want %d", len(got.Records), len(want))
	}
	if len(got.Fields[0][0]) != len(big) {
		t.Errorf("first field has %d bytes, want %d", len(got.Fields[0][0]), len(big))
	}
	if _, err := Address(got.Records[1].Email); err == nil {
		t.Errorf("Address(10 MB) accepted")
	}
}

// A huge header line: the delimiter is sniffed from its first 64 KiB.
func TestHugeHeader(t *testing.T) {
	in := strings.Repeat("c,", 100000) + "email\n" + strings.Repeat(",", 100000) + "a@x.com\n"
	got, err := readAll(t, in, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got.EmailIndex != 100000 || len(got.Records) != 1 || got.Records[0].Email != "a@x.com" {
		t.Errorf("got email index %d, records %v; want 100000, one record a@x.com", got.EmailIndex, got.Records)
	}
}

type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestIOError(t *testing.T) {
	boom := errors.New("boom")
	t.Run("at open", func(t *testing.T) {
		_, err := Open(&failingReader{err: boom}, Options{})
		var fe *FileError
		if !errors.Is(err, boom) || errors.As(err, &fe) {
			t.Errorf("Open() error %v, want one wrapping boom and not a *FileError", err)
		}
	})
	t.Run("while reading", func(t *testing.T) {
		head := "email\n" + strings.Repeat("a@x.com\n", 20000) // more than the sniffed prefix
		r, err := Open(&failingReader{data: head, err: boom}, Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		n := 0
		for {
			_, err = r.Next()
			if err != nil {
				break
			}
			n++
		}
		if !errors.Is(err, boom) {
			t.Errorf("Next() error %v after %d records, want boom", err, n)
		}
		if n != 20000 {
			t.Errorf("read %d records before the error, want 20000", n)
		}
		if _, again := r.Next(); !errors.Is(again, boom) {
			t.Errorf("Next() after a fatal error = %v, want it again", again)
		}
	})
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"email\na@x.com\n",
		"\xef\xbb\xbfname;email\r\nA;a@x.com\r\n",
		"name,email\n\"x\ny\",a@x.com\nB,b@x.com,extra\nC\n\n",
		"email\n\"unterminated\na@x.com\n",
		"e-mail\ta\n\"\"\"\"\tb\n",
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte("a,b\n1,2\n"), "b")
	f.Fuzz(func(t *testing.T, in []byte, col string) {
		r, err := Open(bytes.NewReader(in), Options{EmailColumn: col})
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("Open() error %v is not a *FileError", err)
			}
			return
		}
		if i := r.EmailIndex(); i < 0 || i >= len(r.Header()) {
			t.Fatalf("EmailIndex() = %d with %d columns", i, len(r.Header()))
		}
		last := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next(): %v", err)
			}
			if rec.Row != last+1 {
				t.Fatalf("row %d after row %d", rec.Row, last)
			}
			last = rec.Row
			if len(r.Fields()) == len(r.Header()) && rec.Problem != "" && utf8Valid(rec.Email) {
				t.Fatalf("row %d: problem %q with a well-formed record", rec.Row, rec.Problem)
			}
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }
