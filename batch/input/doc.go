// Package input reads the admin's CSV of e-mail addresses as a stream and
// validates each address before it can reach the API.
//
// # The file
//
// Open sniffs the first 64 KiB and refuses, with a *FileError naming the
// problem, an empty file, gzip, zip (and .xlsx/.xls workbooks), UTF-16 and
// UTF-32 text, other binary content (a NUL byte), CR-only line endings
// (old Mac format) and a header line that is not valid UTF-8. A UTF-8 byte order mark is dropped. The delimiter is the
// most frequent of ',', ';' and tab outside quotes in the header line
// (',' if none occurs), unless the file starts with Excel's "sep=;" line,
// which then names it and is skipped (neither header nor record). Quotes are parsed lazily, as Excel and HR exports
// need (O"Brien); the price is that a field opening a quote that is never
// closed runs to the end of the file, which shows up as one ragged last
// record. CRLF and quoted fields spanning lines work. Only the email
// column must be UTF-8: other columns are carried as they are.
//
// # The email column
//
// Options.EmailColumn names it (case-insensitive, trimmed). Otherwise a
// header named "email" (case-insensitive, trimmed) is taken; failing that,
// the one column whose name, lower-cased and without white space, '-', '_'
// and '.', is one of
//
//	email  emailaddress  mail  mailaddress
//	primaryemail  primaryemailaddress  useremail  useremailaddress
//	workemail  workemailaddress
//
// so "E-mail", " E-Mail Address ", "email_address" and "Primary Email"
// are found. Several candidates, or none, are a *FileError asking for
// --email-column.
//
// # Rows
//
// Record.Row is the 1-based index of the data record: the header is not
// counted and blank lines are not records, but every other record is,
// including ragged ones (too many or too few fields), which are returned
// with a Problem and their Fields so that the report can still carry them.
// Rows are numbered in one place, Reader.Next; the report writer re-reads
// the input with the same Reader and Fields, so its numbering cannot
// drift.
//
// # Why encoding/csv and not gocsv here
//
// gocsv is the project's CSV library, and its pull reader
// (NewUnmarshaller(csvReader, Row{}).Read) was the first candidate for the
// per-record mapping. It does not fit this package: when a record has the
// wrong number of fields it returns (nil, err) and drops the record, so
// neither the Problem "row has 3 fields, header has 2" nor the ragged
// row's fields for the report could be produced, and a second reader for
// the report would number rows in a second place. Its struct mapping would
// also only replace fields[EmailIndex()]. So this package reads records
// with encoding/csv directly (gocsv does the same underneath), with
// FieldsPerRecord fixed to the header's length, ReuseRecord and
// LazyQuotes.
package input
