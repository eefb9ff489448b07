package reports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// LedgerRecord is one line of the ledger, as Each reports it.
type LedgerRecord struct {
	Email  string // normalised
	Status batch.LedgerStatus
	Time   time.Time
}

// LedgerOptions configure OpenLedger.
type LedgerOptions struct {
	// ReadOnly neither locks nor writes (for --dry-run and inspection); a
	// missing ledger reads as empty.
	ReadOnly bool
	// NoSync skips fsync; for tests only.
	NoSync bool
	// Now is the clock stamped on new lines; nil means time.Now.
	Now func() time.Time
	// Reserve is room for this many new addresses in the index, sized once
	// when loading (12 bytes each): growing the index's slices later would
	// hold the old and the new copy at once.
	Reserve int
	// Identity, unless zero, is the backend and customer the ledger must
	// belong to: a ledger whose header names others is refused with a
	// *LedgerMismatchError, and a writable ledger without a header gets
	// this one (see Adopted).
	Identity LedgerIdentity
}

// Ledger is the file-backed batch.Ledger. It is safe for concurrent use and
// must be closed; Lookup answers from memory.
type Ledger struct {
	path string
	opts LedgerOptions
	lock *FileLock // nil when read-only

	mu      sync.RWMutex
	j       *Journal // nil when read-only with no file, and after Close
	f       *os.File // j's file, for reading lines back; nil with j
	end     int64    // the file's size once every appended line is written
	index   ledgerIndex
	header  LedgerIdentity // zero when the file has none
	lines   int            // lines in the file when loaded, header included
	adopted bool
}

var _ batch.Ledger = (*Ledger)(nil)

// OpenLedger opens (creating if needed) and loads the ledger at path. Unless
// opts.ReadOnly, it first takes the ledger's lock and returns a *LockedError
// if another run holds it.
func OpenLedger(path string, opts LedgerOptions) (*Ledger, error) {
	l := &Ledger{path: path, opts: opts}
	if !opts.ReadOnly {
		lock, err := Lock(path)
		if err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
		l.lock = lock
	}
	err := l.load()
	if err == nil {
		err = l.checkIdentity()
	}
	if err != nil {
		if l.j != nil {
			_ = l.j.Close()
		}
		_ = l.lock.Unlock()
		return nil, err
	}
	return l, nil
}

// load (re)reads the file into a new index and journal. The caller holds l.mu
// or owns l exclusively.
func (l *Ledger) load() error {
	size := fileSize(l.path)
	reserve := max(l.opts.Reserve, 0)
	// Some 120 bytes per address (two lines of about 60): rather more room
	// than the usual ledger needs, so that the slices rarely grow; finish
	// trims them if the guess was far too big.
	var f *os.File
	b := newIndexBuilder(int(min(size/120, 1<<28))+reserve, int(min(size/60/16, 1<<19)),
		func(off int64, dst []byte) ([]byte, error) { return readLedgerAddr(f, off, dst) })
	var header LedgerIdentity
	lines := 0
	var off int64 // of the line
	opts := l.journalOptions()
	opts.onOpen = func(jf *os.File) { f = jf }
	j, err := OpenJournal(l.path, opts, ledgerLineFunc(func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error {
		lines++
		if hdr != nil {
			header = *hdr
			off += int64(len(hdr.payload())) + 10
			return nil
		}
		b.add(email, packEntry(st, nanos), off)
		off += int64(len(email)) + int64(len(ledgerWords[st])) + int64(digits(nanos)) + 12
		return nil
	}))
	if l.opts.ReadOnly && errors.Is(err, fs.ErrNotExist) {
		j, err = nil, nil
	}
	if err != nil {
		return fmt.Errorf("load ledger: %w", err)
	}
	index, err := b.finish(reserve)
	if err != nil {
		_ = j.Close()
		return fmt.Errorf("load ledger: %w", err)
	}
	if j == nil {
		f = nil
	} else {
		off = j.written()
	}
	l.j, l.f, l.end, l.index, l.header, l.lines = j, f, off, index, header, lines
	return nil
}

// fileSize is the size of the file at path, 0 if it cannot be read.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func (l *Ledger) journalOptions() JournalOptions {
	return JournalOptions{ReadOnly: l.opts.ReadOnly, NoSync: l.opts.NoSync, keepOpen: true}
}

// readAddr reads back the address of the line at off; the caller holds l.mu.
// A line appended but not yet written (rare: the same address recorded
// again at once, or a hash shared with it) is first waited for.
func (l *Ledger) readAddr(off int64, dst []byte) ([]byte, error) {
	if l.j != nil && !l.opts.ReadOnly && off >= l.j.written() {
		if err := l.j.Flush(); err != nil {
			return nil, err
		}
	}
	return readLedgerAddr(l.f, off, dst)
}

// Lookup returns the last entry recorded for email. Its Time has a resolution
// of one second.
func (l *Ledger) Lookup(email string) (batch.LedgerEntry, bool) {
	e := normaliseEmail(email)
	h := hashEmail(e)
	l.mu.RLock()
	v, ok := l.index.get(h, e, l.readAddr)
	l.mu.RUnlock()
	if !ok {
		return batch.LedgerEntry{}, false
	}
	return unpackEntry(v), true
}

// Intend records that a send or cancel is about to leave and returns once the
// record is on stable storage. Concurrent callers share one fsync. If it
// returns an error the action must not be taken; Lookup may nevertheless
// already report the intent (the safe direction).
func (l *Ledger) Intend(ctx context.Context, email string, status batch.LedgerStatus) error {
	if !status.Intent() {
		return fmt.Errorf("ledger intend: status %d is not an intent", status)
	}
	j, seq, err := l.record(email, status)
	if err != nil {
		return err
	}
	if err := j.Wait(ctx, seq); err != nil {
		return fmt.Errorf("ledger intend: %w", err)
	}
	return nil
}

// settleGrace is how long a settle's wait leaves its fsync to the intents
// that other workers wait for before it asks for one itself: a few of their
// group commits, so that results almost never cost an fsync of their own.
const settleGrace = 2 * time.Millisecond

// Settle records the result of an action without waiting for it to reach
// stable storage; wait returns once it has (waits share an fsync with each
// other and with the intents). The caller records the row's outcome in the
// checkpoint only after wait, so that a crash can never leave the checkpoint
// calling a row final while the ledger still shows the send in flight, and
// can meanwhile go on with its next row.
func (l *Ledger) Settle(email string, status batch.LedgerStatus) (wait func(context.Context) error, err error) {
	switch status {
	case batch.LedgerSent, batch.LedgerNotSent, batch.LedgerUnconfirmed, batch.LedgerCancelled:
	default:
		return nil, fmt.Errorf("ledger settle: status %d is not a result", status)
	}
	j, seq, err := l.record(email, status)
	if err != nil {
		return nil, err
	}
	return sharedWait(j, seq, "ledger settle"), nil
}

// Restore records e as the entry of email again, with e's time rather than
// now (batch.Ledger.Restore): the line is an ordinary record, so a reader
// of any version takes it, as the address's last line, for what the
// ledger said before the refused attempt. Lines are in the order they were
// recorded, not in time order: a restored line's time can precede the
// intent's before it. wait is as for Settle.
func (l *Ledger) Restore(email string, e batch.LedgerEntry) (wait func(context.Context) error, err error) {
	if e.Status == batch.LedgerNone || int(e.Status) >= len(ledgerWords) {
		return nil, fmt.Errorf("ledger restore: status %d is not a ledger entry", e.Status)
	}
	if e.Time.IsZero() {
		return nil, errors.New("ledger restore: the entry has no time")
	}
	j, seq, err := l.recordAt(email, e.Status, e.Time.UnixNano())
	if err != nil {
		return nil, err
	}
	return sharedWait(j, seq, "ledger restore"), nil
}

// sharedWait returns the wait for record seq of j to be durable, in a
// group commit (settleGrace), its error prefixed with what.
func sharedWait(j *Journal, seq uint64, what string) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := j.WaitShared(ctx, seq, settleGrace); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

// record appends a line stamped now and updates the index.
func (l *Ledger) record(email string, st batch.LedgerStatus) (*Journal, uint64, error) {
	return l.recordAt(email, st, l.now().UnixNano())
}

// recordAt appends a line stamped nanos and updates the index.
func (l *Ledger) recordAt(email string, st batch.LedgerStatus, nanos int64) (*Journal, uint64, error) {
	e := normaliseEmail(email)
	if len(e) > maxEmail || !validEmailBytes(e) {
		return nil, 0, fmt.Errorf("ledger: unusable address %q", email)
	}
	if l.opts.ReadOnly {
		return nil, 0, fmt.Errorf("ledger %s: %w", l.path, ErrReadOnly)
	}
	nanos = max(nanos, 0)
	var b [128]byte
	p := strconv.AppendInt(b[:0], nanos, 10)
	p = append(p, ' ')
	p = append(p, ledgerWords[st]...)
	p = append(p, ' ')
	p = append(p, e...)

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.j == nil {
		return nil, 0, fmt.Errorf("ledger %s: %w", l.path, ErrJournalClosed)
	}
	// Append and index under one lock, so the file's order is the index's.
	seq := l.j.Append(p)
	off := l.end
	l.end += int64(len(p)) + 10
	l.index.set(hashEmail(e), e, packEntry(st, nanos), off, l.readAddr)
	if len(l.index.recent) >= l.index.limit {
		l.index.fold(l.j.written())
	}
	return l.j, seq, nil
}

// Len returns the number of addresses in the ledger (addresses whose hashes
// collide count once).
func (l *Ledger) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.index.len()
}

// Flush waits until every record so far is durable.
func (l *Ledger) Flush() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.j == nil || l.opts.ReadOnly {
		return nil
	}
	if err := l.j.Flush(); err != nil {
		return fmt.Errorf("ledger flush: %w", err)
	}
	return nil
}

// Close makes every record durable and releases the lock.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if l.j != nil {
		err = l.j.Close()
		l.j = nil
	}
	if uerr := l.lock.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// Each calls fn with every line of the ledger, oldest first, streaming from
// the file. It stops at fn's first error and returns it.
func (l *Ledger) Each(fn func(LedgerRecord) error) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.j != nil && !l.opts.ReadOnly {
		if err := l.j.Flush(); err != nil {
			return err
		}
	}
	var fnErr error
	j, err := OpenJournal(l.path, JournalOptions{ReadOnly: true}, ledgerLineFunc(func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error {
		if hdr != nil {
			return nil
		}
		if fnErr = fn(LedgerRecord{Email: string(email), Status: st, Time: time.Unix(0, nanos)}); fnErr != nil {
			return fnErr
		}
		return nil
	}))
	switch {
	case fnErr != nil:
		return fnErr
	case l.opts.ReadOnly && errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read ledger: %w", err)
	}
	return j.Close()
}
