package reports

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// A journal is an append-only file of records, one per line:
//
//	<crc32 (IEEE) of payload, 8 lower-case hex digits> <payload>\n
//
// Payloads never contain '\n'; callers quote what might. A final line without
// '\n' whose checksum is valid is a complete record that lost only its
// newline (a crash between the two, or an editor): it is kept, and the
// newline is added before anything is appended. Any other final line without
// '\n' is a record torn by a crash in the middle of a write: it is dropped on
// load (and cut off the file before anything is appended), because its writer
// was never told it was durable. Any other damage is an error: silently
// skipping a ledger line could mean emailing someone twice.

// fsync flushes f to stable storage. Every fsync of the package goes
// through it, so that a test can count the real calls (a Sync dropped by
// mistake would otherwise be invisible: nothing else can tell).
var fsync = func(f *os.File) error { return f.Sync() }

// MaxPayload is the largest payload a journal record may carry.
const MaxPayload = 64 << 10

// maxPending bounds the bytes appended but not yet written; Append blocks
// while the background flusher catches up.
const maxPending = 4 << 20

// ErrJournalClosed is returned by Wait for a record appended after Close.
var ErrJournalClosed = errors.New("journal closed")

// ErrReadOnly is returned when writing through something opened read-only.
var ErrReadOnly = errors.New("opened read-only")

// CorruptError reports a damaged journal line, or a line whose payload its
// reader rejected.
type CorruptError struct {
	Path   string
	Line   int   // 1-based
	Offset int64 // byte offset of the start of the line
	Err    error // what is wrong with it
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s: line %d (byte offset %d): %v", e.Path, e.Line, e.Offset, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// JournalOptions configure OpenJournal. The zero value opens the journal for
// appending, creating it if missing, with every Wait backed by an fsync.
type JournalOptions struct {
	// ReadOnly only reads the journal: it is neither created nor repaired,
	// and appends fail with ErrReadOnly. A missing file is an error wrapping
	// fs.ErrNotExist.
	ReadOnly bool
	// NoSync skips fsync: records are durable against a crash of this
	// process but not of the machine. For tests and benchmarks.
	NoSync bool
	// LazySync bounds how long a record that nobody waits for stays
	// written but not fsynced (default 1 s). Such records are written at
	// once, so they survive a crash of this process; only a crash of the
	// machine within LazySync can lose them.
	LazySync time.Duration

	// onOpen, if set, is called with the journal's file once it is open,
	// before the records are read (the ledger reads lines back by offset).
	onOpen func(*os.File)
	// keepOpen keeps a read-only journal's file open until Close.
	keepOpen bool
}

// Journal appends records to a journal file with group commit: Append buffers
// a record and returns its sequence number at once, and a single background
// goroutine writes whatever has accumulated, so many goroutines waiting for
// durability at the same time share one write and one fsync. The fsync is
// only paid when somebody waits (Wait, Flush, Close), or LazySync after
// records nobody waited for were written.
//
// A Journal is made by OpenJournal (the zero value is not usable), is safe for
// concurrent use, and must be closed.
type Journal struct {
	path     string
	f        *os.File // nil when read-only
	rf       *os.File // a read-only journal's file, if kept open
	noSync   bool
	lazySync time.Duration

	kick chan struct{} // capacity 1: wakes the flusher
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the flusher has exited

	mu      sync.Mutex
	buf     []byte        // records appended but not yet handed to the flusher
	spare   []byte        // the flusher's previous buffer, for reuse
	next    uint64        // sequence number of the last record appended
	want    uint64        // the last record somebody waits to be durable
	durable uint64        // all records up to this one are written and synced
	flushed chan struct{} // closed and replaced after every write or fsync, and on error
	err     error         // sticky: the first write or sync error
	closed  bool
	size    int64 // bytes in the file: complete lines only
	flushes int   // write calls, for tests
	syncs   int   // fsync calls, for tests
}

// OpenJournal opens the journal at path and calls fn (if not nil) with each
// record in order; lineNo is 1-based and payload is only valid during the
// call. Loading streams: no more than one line is held at a time. An error
// from fn stops the load and is returned inside a *CorruptError that locates
// the line; so is any damaged line.
//
// Unless opts.ReadOnly, a missing file is created with mode 0600 (and its
// directory with 0700), a torn final line is cut off, and the Journal is
// ready for Append.
func OpenJournal(path string, opts JournalOptions, fn func(lineNo int, payload []byte) error) (*Journal, error) {
	j := &Journal{path: path, noSync: opts.NoSync, lazySync: opts.LazySync, flushed: make(chan struct{})}
	if j.lazySync <= 0 {
		j.lazySync = time.Second
	}
	if opts.ReadOnly {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open journal: %w", err)
		}
		if opts.onOpen != nil {
			opts.onOpen(f)
		}
		good, _, err := scanJournal(path, f, fn)
		if err != nil || !opts.keepOpen {
			_ = f.Close()
		}
		if err != nil {
			return nil, err
		}
		if opts.keepOpen {
			j.rf = f
		}
		j.err = ErrReadOnly
		j.closed = true
		j.size = good
		return j, nil
	}

	f, created, err := openOrCreate(path)
	if err != nil {
		return nil, err
	}
	if opts.onOpen != nil {
		opts.onOpen(f)
	}
	if err := tightenMode(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	good, noNewline, err := scanJournal(path, f, fn)
	if err == nil {
		good, err = cutTornTail(f, good, noNewline, opts.NoSync)
	}
	if err == nil && good > 0 && !opts.NoSync {
		// A process killed before its lazy fsync may have left records
		// written but not on disk. Sync them before anything acts on them
		// (a resumed run may call a row final because of one).
		err = fsync(f)
	}
	if err == nil && created && !opts.NoSync {
		// Make the new file's directory entry durable too.
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	j.f = f
	j.size = good
	j.kick = make(chan struct{}, 1)
	j.stop = make(chan struct{})
	j.done = make(chan struct{})
	go j.flusher()
	return j, nil
}

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

// Append adds a record and returns its sequence number for Wait. It does not
// wait for the record to be written; it blocks only while several megabytes
// are already pending. Append panics if payload contains '\n' or is longer
// than MaxPayload: quoting is the caller's job. After Close, or on a
// read-only journal, the record is dropped and Wait reports why.
func (j *Journal) Append(payload []byte) uint64 {
	if len(payload) > MaxPayload || bytes.IndexByte(payload, '\n') >= 0 {
		panic("reports: journal payload too long or contains a newline")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.buf) >= maxPending && j.err == nil && !j.closed {
		ch := j.flushed
		j.wake()
		j.mu.Unlock()
		<-ch
		j.mu.Lock()
	}
	if j.closed || j.err != nil {
		return j.next + 1 // never becomes durable
	}
	j.buf = appendLine(j.buf, payload)
	j.next++
	j.wake()
	return j.next
}

// wake tells the flusher there is work, without blocking.
func (j *Journal) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// Wait returns once the record with sequence number seq, and every record
// before it, is written and fsynced. It returns early with ctx's error, or
// with the journal's write error, which is sticky: after a failed write or
// fsync nothing more is written (a failed fsync may have dropped dirty pages,
// and retrying it would lie).
func (j *Journal) Wait(ctx context.Context, seq uint64) error { return j.wait(ctx, seq, 0) }

// WaitShared is Wait for a record that need not be durable at once: for up
// to grace it only waits for an fsync that somebody else asks for, and then
// asks for one itself. While other records are waited for steadily (the
// ledger's intents), it adds no fsync of its own.
func (j *Journal) WaitShared(ctx context.Context, seq uint64, grace time.Duration) error {
	return j.wait(ctx, seq, grace)
}

func (j *Journal) wait(ctx context.Context, seq uint64, grace time.Duration) error {
	var graceOver <-chan time.Time // runs while the grace does
	for {
		j.mu.Lock()
		switch {
		case j.durable >= seq:
			j.mu.Unlock()
			return nil
		case j.err != nil:
			err := j.err
			j.mu.Unlock()
			return err
		case j.closed && seq > j.next:
			// Appended after Close. A record appended before it is made
			// durable by Close's last flush, which a Wait meanwhile
			// awaits below.
			j.mu.Unlock()
			return fmt.Errorf("%s: %w", j.path, ErrJournalClosed)
		case seq > j.next:
			j.mu.Unlock()
			return fmt.Errorf("%s: wait for unknown record %d", j.path, seq)
		}
		switch {
		case grace <= 0 && seq > j.want:
			j.want = seq
			j.wake()
		case grace > 0 && graceOver == nil:
			t := time.NewTimer(grace)
			defer t.Stop()
			graceOver = t.C
		}
		ch := j.flushed
		j.mu.Unlock()
		select {
		case <-ch:
		case <-graceOver:
			grace, graceOver = 0, nil // ask for the fsync on the next turn
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Flush waits until every record appended so far is durable.
func (j *Journal) Flush() error {
	j.mu.Lock()
	seq := j.next
	j.mu.Unlock()
	return j.Wait(context.Background(), seq)
}

// written returns how many bytes of complete lines the file holds: records
// appended since are not yet readable from it.
func (j *Journal) written() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.size
}

// Err returns the sticky write error, if any: a cheap check for callers that
// append without waiting.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if errors.Is(j.err, ErrReadOnly) {
		return fmt.Errorf("%s: %w", j.path, ErrReadOnly)
	}
	return j.err
}

// Close makes every appended record durable, stops the flusher and closes the
// file. It returns the first write error, if any. Close may be called more
// than once.
func (j *Journal) Close() error {
	if j.f == nil { // read-only
		if j.rf != nil {
			return j.rf.Close()
		}
		return nil
	}
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		<-j.done
		return j.closeErr()
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	err := j.closeErr()
	if cerr := j.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close journal: %w", cerr)
	}
	return err
}

func (j *Journal) closeErr() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// flusher is the single goroutine that writes to the file.
func (j *Journal) flusher() {
	defer close(j.done)
	lazy := time.NewTimer(j.lazySync)
	lazy.Stop()
	var lazyC <-chan time.Time // lazy's channel while it runs
	for {
		force := false
		select {
		case <-j.kick:
			// Let the waiters just woken by the previous flush append their
			// next records first, so that they share this flush instead of
			// splitting into a small batch and a large one.
			runtime.Gosched()
		case <-lazyC:
			lazyC, force = nil, true
		case <-j.stop:
			j.flushPending(true)
			return
		}
		if j.flushPending(force) && lazyC == nil {
			lazy.Reset(j.lazySync)
			lazyC = lazy.C
		}
	}
}

// flushPending writes everything appended so far and fsyncs it if somebody
// waits for a record not yet durable, or if force; then it wakes the
// waiters. It reports whether written records remain unsynced.
func (j *Journal) flushPending(force bool) (unsynced bool) {
	j.mu.Lock()
	if j.err != nil {
		j.mu.Unlock()
		return false
	}
	buf, upto := j.buf, j.next
	sync := !j.noSync && upto > j.durable && (force || j.want > j.durable)
	if len(buf) == 0 && !sync {
		j.mu.Unlock()
		return false
	}
	j.buf, j.spare = j.spare[:0], nil
	j.mu.Unlock()

	var err error
	wrote := false
	if len(buf) > 0 {
		_, err = j.f.Write(buf)
		wrote = err == nil
	}
	if err == nil && sync {
		err = fsync(j.f)
	}

	j.mu.Lock()
	defer j.mu.Unlock()
	if cap(buf) <= maxPending*2 {
		j.spare = buf[:0]
	}
	if len(buf) > 0 {
		j.flushes++
		if wrote {
			j.size += int64(len(buf))
		}
	}
	if sync {
		j.syncs++
	}
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		if sync || j.noSync {
			j.durable = upto
		}
	}
	close(j.flushed)
	j.flushed = make(chan struct{})
	return j.err == nil && upto > j.durable
}
