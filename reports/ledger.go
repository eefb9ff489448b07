package reports

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// The ledger is a journal of lines
//
//	<unix nanos> <status word> <normalised email>
//
// in the order they were recorded; the last line for an address is what the
// ledger knows of it. In memory the Ledger keeps only an index from a 64-bit
// hash of each address to the status and time (in seconds) of its last line:
// two sorted parallel slices of 12 bytes per address, plus a small map of the
// entries recorded since they were last merged (see ledgerIndex). A million
// addresses load in well under a second into some 12 MB.
//
// Two addresses whose hashes collide share one index entry: the tool may
// believe it already acted on an address it never emailed (and report it
// already_invited), and, if the second address's later line overrides the
// first's "sent" with a result such as not_sent, it could forget that the
// first was emailed. With 64-bit FNV-1a the odds of any collision among a
// million addresses are about 1 in 37 million: accepted, for an index of
// 12 bytes per address instead of the addresses themselves.

var ledgerWords = [...]string{
	batch.LedgerNone:         "",
	batch.LedgerSendIntent:   "send_intent",
	batch.LedgerSent:         "sent",
	batch.LedgerNotSent:      "not_sent",
	batch.LedgerUnconfirmed:  "unconfirmed",
	batch.LedgerCancelIntent: "cancel_intent",
	batch.LedgerCancelled:    "cancelled",
	batch.LedgerResendIntent: "resend_intent",
}

// LedgerStatusWord returns the ledger file's word for s, e.g. "send_intent",
// for `invitebatch ledger show`; "" for LedgerNone or an unknown status.
func LedgerStatusWord(s batch.LedgerStatus) string {
	if int(s) < len(ledgerWords) {
		return ledgerWords[s]
	}
	return ""
}

func parseLedgerStatus(b []byte) (batch.LedgerStatus, bool) {
	switch string(b) { // no allocation: the compiler compares in place
	case "send_intent":
		return batch.LedgerSendIntent, true
	case "sent":
		return batch.LedgerSent, true
	case "not_sent":
		return batch.LedgerNotSent, true
	case "unconfirmed":
		return batch.LedgerUnconfirmed, true
	case "cancel_intent":
		return batch.LedgerCancelIntent, true
	case "cancelled":
		return batch.LedgerCancelled, true
	case "resend_intent":
		return batch.LedgerResendIntent, true
	}
	return batch.LedgerNone, false
}

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

// digits is the number of decimal digits of n >= 0.
func digits(n int64) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// addrBufs are readLedgerAddr's buffers: a run that finds a million
// addresses in the ledger reads a million lines back.
var addrBufs = sync.Pool{New: func() any { b := make([]byte, 128); return &b }}

// readLedgerAddr reads back the address of the ledger line at off in f and
// appends it to dst.
func readLedgerAddr(f *os.File, off int64, dst []byte) ([]byte, error) {
	if f == nil {
		return nil, ErrJournalClosed
	}
	bp := addrBufs.Get().(*[]byte)
	defer addrBufs.Put(bp)
	buf := *bp
	for {
		n, err := f.ReadAt(buf, off)
		i := bytes.IndexByte(buf[:n], '\n')
		if i < 0 && err == io.EOF && n > 0 { // a last line without its newline
			buf, i = append(buf[:n], '\n'), n
		}
		if i >= 0 {
			p, err := parseLine(buf[:i+1])
			if err != nil {
				return nil, fmt.Errorf("ledger: read back line at offset %d: %w", off, err)
			}
			_, _, email, err := parseLedgerPayload(p)
			if err != nil {
				return nil, fmt.Errorf("ledger: read back line at offset %d: %w", off, err)
			}
			return append(dst, email...), nil
		}
		if err != nil || n < len(buf) || len(buf) > MaxPayload+10 {
			return nil, fmt.Errorf("ledger: read back line at offset %d: %v", off, cmp.Or(err, io.ErrUnexpectedEOF))
		}
		buf = make([]byte, 2*len(buf))
	}
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

// maxEmail is far above the 254 bytes an address can have, and far below
// MaxPayload.
const maxEmail = 1024

// parseLedgerPayload splits "<unix nanos> <status word> <email>".
func parseLedgerPayload(p []byte) (nanos int64, st batch.LedgerStatus, email []byte, err error) {
	i := indexByte(p, ' ')
	if i < 0 {
		return 0, 0, nil, errors.New("malformed ledger record")
	}
	nanos, ok := parseNonNegative(p[:i])
	if !ok {
		return 0, 0, nil, errors.New("malformed ledger time")
	}
	rest := p[i+1:]
	i = indexByte(rest, ' ')
	if i < 0 {
		return 0, 0, nil, errors.New("malformed ledger record")
	}
	if st, ok = parseLedgerStatus(rest[:i]); !ok {
		return 0, 0, nil, fmt.Errorf("unknown ledger status %q", rest[:i])
	}
	email = rest[i+1:]
	if !validEmailBytes(email) {
		return 0, 0, nil, errors.New("malformed ledger address")
	}
	return nanos, st, email, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// parseNonNegative parses a decimal int64 without allocating.
func parseNonNegative(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n < 0 {
			return 0, false
		}
	}
	return n, true
}

// validEmailBytes reports whether a stored address is plausible: not empty, no
// spaces or control characters (which would break the line format).
func validEmailBytes[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// normaliseEmail is the ledger's form of an address: trimmed, lower-case.
func normaliseEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
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
	return func(ctx context.Context) error {
		if err := j.WaitShared(ctx, seq, settleGrace); err != nil {
			return fmt.Errorf("ledger settle: %w", err)
		}
		return nil
	}, nil
}

// record appends a line and updates the index.
func (l *Ledger) record(email string, st batch.LedgerStatus) (*Journal, uint64, error) {
	e := normaliseEmail(email)
	if len(e) > maxEmail || !validEmailBytes(e) {
		return nil, 0, fmt.Errorf("ledger: unusable address %q", email)
	}
	if l.opts.ReadOnly {
		return nil, 0, fmt.Errorf("ledger %s: %w", l.path, ErrReadOnly)
	}
	nanos := max(l.now().UnixNano(), 0)
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

// Forget deletes every line about the given addresses from the file (the
// file is rewritten, so the data is really gone) and returns how many of them
// the ledger held.
func (l *Ledger) Forget(addresses ...string) (removed int, err error) {
	drop := make(map[string]bool, len(addresses))
	for _, a := range addresses {
		drop[normaliseEmail(a)] = false
	}
	err = l.rewrite(func(email []byte) bool {
		seen, ok := drop[string(email)]
		if ok && !seen {
			drop[string(email)] = true
			removed++
		}
		return ok
	})
	if err != nil {
		return 0, fmt.Errorf("ledger forget: %w", err)
	}
	return removed, nil
}

// MinPruneAge is how old an address's last record must at least be for
// Prune to delete it: the ledger is what keeps a send that the API does not
// show yet (a new account is hidden for days) from being repeated.
const MinPruneAge = 30 * 24 * time.Hour

// Prune deletes every line about the addresses whose last line is older than
// olderThan, rewriting the file, and returns how many addresses it removed.
// An address with a line at or after olderThan keeps all its lines, and so
// does one whose last line is an unresolved intent (send_intent,
// cancel_intent), a cancel (cancelled: it keeps a cancelled invitation from
// being sent again) or unconfirmed (a send that may have gone out): only
// sent and not_sent are pruned. olderThan must be at least MinPruneAge ago.
func (l *Ledger) Prune(olderThan time.Time) (removed int, err error) {
	if limit := l.now().Add(-MinPruneAge); olderThan.After(limit) {
		return 0, fmt.Errorf("ledger prune: %w (asked to prune what is newer than %s)", ErrPruneTooRecent, limit.UTC().Format(time.RFC3339))
	}
	cutoff := olderThan.Unix() // index times are whole seconds, rounded down
	dropped := make(map[string]bool)
	err = l.rewrite(func(email []byte) bool {
		e := string(email)
		v, _ := l.index.get(hashEmail(e), e, l.readAddr)
		if st := batch.LedgerStatus(v >> 56); int64(v&secondsMask) >= cutoff || (st != batch.LedgerSent && st != batch.LedgerNotSent) {
			return false
		}
		if !dropped[e] {
			dropped[e] = true
			removed++
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("ledger prune: %w", err)
	}
	return removed, nil
}

// ErrPruneTooRecent is returned by Prune for a cutoff less than MinPruneAge
// ago.
var ErrPruneTooRecent = fmt.Errorf("records younger than %d days are never pruned", int(MinPruneAge.Hours()/24))

func (l *Ledger) now() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now()
	}
	return time.Now()
}

// rewrite replaces the file with a copy without the lines drop selects, then
// reloads. On error the file and the Ledger are unchanged, unless reloading
// the new file failed, after which the Ledger is closed.
func (l *Ledger) rewrite(drop func(email []byte) bool) error {
	if l.opts.ReadOnly {
		return fmt.Errorf("ledger %s: %w", l.path, ErrReadOnly)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rewriteLocked(drop)
}

// rewriteLocked is rewrite for a caller that holds l.mu; a nil drop keeps
// every line.
func (l *Ledger) rewriteLocked(drop func(email []byte) bool) error {
	return l.rewriteWith(func(w io.Writer) error {
		var line, p []byte
		return scanLedger(l.path, func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error {
			if hdr != nil || (drop != nil && drop(email)) {
				return nil
			}
			p = appendLedgerPayload(p[:0], nanos, st, string(email))
			line = appendLine(line[:0], p)
			_, err := w.Write(line)
			return err
		})
	})
}

// rewriteWith replaces the file with l's header (if any) followed by what
// body writes, then reloads. The caller holds l.mu.
func (l *Ledger) rewriteWith(body func(w io.Writer) error) error {
	if l.opts.ReadOnly {
		return fmt.Errorf("ledger %s: %w", l.path, ErrReadOnly)
	}
	if l.j == nil {
		return fmt.Errorf("ledger %s: %w", l.path, ErrJournalClosed)
	}
	if err := l.j.Flush(); err != nil {
		return err
	}
	header := l.header
	err := l.lock.Replace(func(w io.Writer) error {
		if !header.IsZero() {
			if _, err := w.Write(appendLine(nil, header.payload())); err != nil {
				return err
			}
		}
		return body(w)
	})
	if err != nil {
		return err
	}
	// The journal's file descriptor still points at the replaced file.
	cerr := l.j.Close()
	l.j = nil
	if err := l.load(); err != nil {
		return err
	}
	return cerr
}

// DefaultLedgerPath returns where the ledger for customer lives:
// $XDG_STATE_HOME/invitebatch/ (if set to an absolute path), else
// ~/.local/state/invitebatch/, file <customer>.ledger for the production API
// (endpointKey ""), <customer>.<endpointKey>.ledger for any other endpoint
// (an emulator's host:port, say), so that they never share the production
// ledger. Both names are reduced to [A-Za-z0-9._-], others becoming '_'.
func DefaultLedgerPath(customer, endpointKey string) (string, error) {
	if strings.TrimSpace(customer) == "" {
		return "", errors.New("ledger path: no customer")
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("ledger path: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	name := sanitiseName(customer)
	if endpointKey != "" {
		name += "." + sanitiseName(endpointKey)
	}
	return filepath.Join(dir, "invitebatch", name+".ledger"), nil
}

func sanitiseName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
