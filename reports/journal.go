package reports

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
