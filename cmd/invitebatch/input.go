package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/invitebatch/invitebatch/batch/input"
)

// runInput is a run's input, read once. Reading the file by its path more
// than once (to hash it, to run, to write the report) let an export cron
// that replaced or rewrote it mid-run make the report pair outcomes with
// other people (issue 11, item 8). So the input is opened once and copied,
// as it is checked and hashed, into a private temporary file with no name
// (created 0600 beside the report and unlinked at once, so that nothing
// outlives the run, even a crash). The run and the report read that copy:
// they see exactly the content the checkpoint's hash names, whatever
// happens to the file meanwhile.
type runInput struct {
	f *os.File // the private copy
}

// openInput reads the input (the file, or stdin for "-") once, checking it
// whole: its header, its records, its SHA-256. A problem with it is an
// input error (exit 2).
func (o *runOptions) openInput(e env, opts input.Options) (*runInput, inputScan, error) {
	name := o.file
	var src io.Reader = e.stdin
	if o.file == "-" {
		name = "stdin"
	} else {
		f, err := os.Open(o.file)
		if err != nil {
			return nil, inputScan{}, &input.FileError{Reason: fmt.Sprintf("cannot read %s: %v", o.file, errors.Unwrap(err))}
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, inputScan{}, &input.FileError{Reason: o.file + " is a directory"}
		}
		src = f
	}
	cp, err := os.CreateTemp(filepath.Dir(o.report), ".invitebatch-input-*.csv")
	if err != nil {
		return nil, inputScan{}, fmt.Errorf("a private copy of the input: %w", err)
	}
	// Unlinked at once: the descriptor is all the run needs.
	if err := os.Remove(cp.Name()); err != nil {
		cp.Close()
		return nil, inputScan{}, fmt.Errorf("a private copy of the input: %w", err)
	}
	in := &runInput{f: cp}
	scan, err := scanInput(name, src, cp, opts)
	if err != nil {
		cp.Close()
		return nil, inputScan{}, err
	}
	return in, scan, nil
}

// inputScan is what the one read of the input found.
type inputScan struct {
	sha      string // hex SHA-256 of the content
	records  int    // data records
	emailCol int    // 1-based column of the addresses
}

// scanInput reads src to its end, copying it to dst, and checks it: the
// header, the records, the SHA-256 that identifies it for the checkpoint.
func scanInput(name string, src io.Reader, dst io.Writer, opts input.Options) (inputScan, error) {
	h := newHasher()
	tee := io.TeeReader(src, io.MultiWriter(h, dst))
	rd, err := input.Open(tee, opts)
	if err != nil {
		return inputScan{}, withPath(name, err)
	}
	scan := inputScan{emailCol: rd.EmailIndex() + 1}
	for {
		_, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return inputScan{}, withPath(name, err)
		}
		scan.records++
	}
	// The reader may stop short of the end (a trailing blank line): read
	// whatever is left so the copy and the digest cover the whole input.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return inputScan{}, fmt.Errorf("read %s: %w", name, err)
	}
	scan.sha = hex.EncodeToString(h.Sum(nil))
	return scan, nil
}

func withPath(path string, err error) error {
	var fe *input.FileError
	if errors.As(err, &fe) {
		return &input.FileError{Reason: path + ": " + fe.Reason}
	}
	return fmt.Errorf("%s: %w", path, err)
}

// records returns a reader of the input's records, from the start.
func (in *runInput) records(opts input.Options) (*input.Reader, error) {
	if _, err := in.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return input.Open(in.f, opts)
}

// reader returns a new reader of the input's copy from its start, which
// reads without moving the file's offset: the run's reader uses it
// meanwhile.
func (in *runInput) reader() io.Reader { return io.NewSectionReader(in.f, 0, math.MaxInt64) }

// Close drops the copy.
func (in *runInput) Close() error { return in.f.Close() }
