package reports

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// openOrCreate opens path for reading and appending, creating it (and its
// directory) if missing.
func openOrCreate(path string) (f *os.File, created bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("open journal: %w", err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, os.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
		created = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("open journal: %w", err)
	}
	return f, created, nil
}

// tightenMode makes a journal that others may read (a file of an earlier
// version, or copied with a loose umask) mode 0600: it holds personal data.
func tightenMode(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := f.Chmod(fi.Mode().Perm() & 0o700); err != nil {
		return fmt.Errorf("open journal: make %s private: %w", f.Name(), err)
	}
	return nil
}

// cutTornTail truncates f to good bytes if it is longer, so that the next
// append starts on a fresh line instead of gluing onto a torn one; if the
// last good line lacks its newline, it adds it. It returns the file's size.
func cutTornTail(f *os.File, good int64, noNewline, noSync bool) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("open journal: %w", err)
	}
	switch {
	case noNewline:
		if _, err := f.Write([]byte{'\n'}); err != nil {
			return 0, fmt.Errorf("end the last line of %s: %w", f.Name(), err)
		}
		good++
	case st.Size() == good:
		return good, nil
	default:
		if err := f.Truncate(good); err != nil {
			return 0, fmt.Errorf("cut torn tail of %s: %w", f.Name(), err)
		}
	}
	if noSync {
		return good, nil
	}
	if err := fsync(f); err != nil {
		return 0, fmt.Errorf("cut torn tail of %s: %w", f.Name(), err)
	}
	return good, nil
}

// scanJournal calls fn for each complete, valid line of r and returns the
// offset just past the last one. A final line without '\n' is a valid line
// (noNewline) if its checksum is; otherwise it is ignored.
func scanJournal(path string, r io.Reader, fn func(int, []byte) error) (good int64, noNewline bool, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	var long []byte // a line longer than the reader's buffer, assembled
	lineNo := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= MaxPayload+10 {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			for errors.Is(err, bufio.ErrBufferFull) { // too long: skip to its end
				_, err = br.ReadSlice('\n')
			}
			line = long
		}
		if err == io.EOF {
			if len(line) == 0 || len(line) > MaxPayload+9 {
				return good, false, nil
			}
			if _, perr := parseLine(append(line[:len(line):len(line)], '\n')); perr != nil {
				return good, false, nil // a torn tail
			}
			line, noNewline = append(line[:len(line):len(line)], '\n'), true
		} else if err != nil {
			return good, false, fmt.Errorf("read journal %s: %w", path, err)
		}
		lineNo++
		payload, perr := parseLine(line)
		if perr == nil && fn != nil {
			perr = fn(lineNo, payload)
		}
		if perr != nil {
			return good, false, &CorruptError{Path: path, Line: lineNo, Offset: good, Err: perr}
		}
		if noNewline {
			return good + int64(len(line)) - 1, true, nil
		}
		good += int64(len(line))
	}
}

// parseLine checks one line, '\n' included, and returns its payload.
func parseLine(line []byte) ([]byte, error) {
	if len(line) > MaxPayload+10 {
		return nil, errors.New("line too long")
	}
	if len(line) < 10 || line[8] != ' ' || line[len(line)-1] != '\n' {
		return nil, errors.New("malformed line")
	}
	var sum uint32
	for _, c := range line[:8] {
		switch {
		case '0' <= c && c <= '9':
			sum = sum<<4 | uint32(c-'0')
		case 'a' <= c && c <= 'f':
			sum = sum<<4 | uint32(c-'a'+10)
		default:
			return nil, errors.New("malformed checksum")
		}
	}
	payload := line[9 : len(line)-1]
	if crc32.ChecksumIEEE(payload) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// appendLine appends the journal line for payload to b.
func appendLine(b, payload []byte) []byte {
	const hex = "0123456789abcdef"
	sum := crc32.ChecksumIEEE(payload)
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hex[sum>>uint(shift)&0xf])
	}
	b = append(b, ' ')
	b = append(b, payload...)
	return append(b, '\n')
}
