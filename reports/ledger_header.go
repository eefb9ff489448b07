package reports

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/invitebatch/invitebatch/batch"
)

// A ledger's first record names the backend and the customer it belongs to
// (like the metadata record that starts an etcd WAL):
//
//	invitebatch-ledger 1 backend=<backend> customer=<customer>
//
// A ledger opened for another backend or customer is refused, so that a test
// backend's pretend sends never land in the production ledger (and the other
// way round). Ledgers of earlier versions have no header; they are adopted:
// the header is written, once, in front of their records. Binaries of an
// earlier version refuse a ledger with a header (to them it is a damaged
// line): the safe direction.
const ledgerMagic = "invitebatch-ledger"

// LedgerIdentity is what a ledger belongs to.
type LedgerIdentity struct {
	// Backend is an opaque key for the API the sends went to (e.g.
	// "google", or a test backend's normalised address); compared exactly.
	Backend string
	// Customer is the Google Workspace customer ID; compared
	// case-insensitively.
	Customer string
}

// IsZero reports whether id names nothing (no identity check wanted).
func (id LedgerIdentity) IsZero() bool { return id.Backend == "" && id.Customer == "" }

// Matches reports whether a ledger of identity id may be used for other:
// the same backend, and the same customer ignoring case.
func (id LedgerIdentity) Matches(other LedgerIdentity) bool {
	return id.Backend == other.Backend && strings.EqualFold(id.Customer, other.Customer)
}

func (id LedgerIdentity) String() string {
	return fmt.Sprintf("customer %s on backend %s", id.Customer, id.Backend)
}

func (id LedgerIdentity) validate() error {
	for _, f := range []struct{ name, v string }{{"backend", id.Backend}, {"customer", id.Customer}} {
		if f.v == "" || len(f.v) > 512 || strings.ContainsFunc(f.v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return fmt.Errorf("ledger identity: bad %s %q", f.name, f.v)
		}
	}
	return nil
}

func (id LedgerIdentity) payload() []byte {
	return []byte(ledgerMagic + " 1 backend=" + id.Backend + " customer=" + id.Customer)
}

// isLedgerHeader reports whether p is a header record (valid or not).
func isLedgerHeader(p []byte) bool {
	return bytes.HasPrefix(p, []byte(ledgerMagic+" "))
}

func parseLedgerHeader(p []byte) (LedgerIdentity, error) {
	f := strings.Split(string(p), " ")
	if len(f) != 4 || f[0] != ledgerMagic {
		return LedgerIdentity{}, errors.New("malformed ledger header")
	}
	if f[1] != "1" {
		return LedgerIdentity{}, fmt.Errorf("ledger header of unknown version %q (written by a newer invitebatch?)", f[1])
	}
	backend, ok1 := strings.CutPrefix(f[2], "backend=")
	customer, ok2 := strings.CutPrefix(f[3], "customer=")
	id := LedgerIdentity{Backend: backend, Customer: customer}
	if !ok1 || !ok2 || id.validate() != nil {
		return LedgerIdentity{}, errors.New("malformed ledger header")
	}
	return id, nil
}

// LedgerMismatchError is returned (wrapped) when a ledger's header names
// another backend or customer than the one it is opened for.
type LedgerMismatchError struct {
	Path string
	File LedgerIdentity // what the ledger's header says
	Want LedgerIdentity // what it was opened for
}

func (e *LedgerMismatchError) Error() string {
	return fmt.Sprintf("ledger %s belongs to %s, not %s", e.Path, e.File, e.Want)
}

// IsLedgerMismatch reports whether err is, or wraps, a *LedgerMismatchError.
func IsLedgerMismatch(err error) bool {
	var me *LedgerMismatchError
	return errors.As(err, &me)
}

// Identity returns the identity recorded in the ledger's header; zero for a
// ledger without one.
func (l *Ledger) Identity() LedgerIdentity {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.header
}

// Adopted reports whether opening the ledger wrote the header into a ledger
// of an earlier version that had records but no header. The caller says so,
// once.
func (l *Ledger) Adopted() bool { return l.adopted }

// checkIdentity compares the loaded header with opts.Identity and, when
// writable, writes the header into a ledger that lacks one. The caller owns
// l exclusively.
func (l *Ledger) checkIdentity() error {
	want := l.opts.Identity
	if want.IsZero() {
		return nil
	}
	if err := want.validate(); err != nil {
		return err
	}
	if !l.header.IsZero() {
		if !l.header.Matches(want) {
			return &LedgerMismatchError{Path: l.path, File: l.header, Want: want}
		}
		return nil
	}
	if l.opts.ReadOnly {
		return nil // a header-less ledger is read as it is
	}
	if l.lines == 0 {
		l.header = want
		l.j.Append(want.payload())
		l.end += int64(len(want.payload())) + 10
		if err := l.j.Flush(); err != nil {
			return fmt.Errorf("write ledger header: %w", err)
		}
		l.lines = 1
		return nil
	}
	l.header = want
	if err := l.rewriteLocked(nil); err != nil {
		l.header = LedgerIdentity{}
		return fmt.Errorf("adopt ledger %s: %w", l.path, err)
	}
	l.adopted = true
	return nil
}

// mergeRecord is a record of a ledger being merged.
type mergeRecord struct {
	nanos int64
	st    batch.LedgerStatus
	email string
}

// mayHaveSent reports whether st says an email may have gone out.
func mayHaveSent(st batch.LedgerStatus) bool {
	return st == batch.LedgerSendIntent || st == batch.LedgerResendIntent || st == batch.LedgerSent || st == batch.LedgerUnconfirmed
}

// Merge adds the records of the ledger file at path (another spelling of this
// ledger's backend or customer, from an earlier version) to this one,
// rewriting this ledger's file, and returns how many records it added. The
// two files' records are merged in time order, each file's own order kept;
// where that would leave an address's last record saying not_sent while the
// other file's last record for it says the address may have been emailed,
// that record is repeated at the end: a merge never forgets a send.
//
// The other file must not carry a header for another backend or customer
// (a *LedgerMismatchError). Merge holds its lock while reading it (a
// *LockedError if a run holds it) and leaves it unchanged: the caller moves
// it aside afterwards, so that the merge happens once.
func (l *Ledger) Merge(path string) (added int, err error) {
	if l.opts.ReadOnly {
		return 0, fmt.Errorf("ledger %s: %w", l.path, ErrReadOnly)
	}
	if _, err := os.Stat(path); err != nil { // Lock would create it
		return 0, fmt.Errorf("ledger merge: %w", err)
	}
	lock, err := Lock(path)
	if err != nil {
		return 0, fmt.Errorf("ledger merge: %w", err)
	}
	defer func() {
		if uerr := lock.Unlock(); err == nil && uerr != nil {
			err = uerr
		}
	}()
	var other []mergeRecord
	var otherID LedgerIdentity
	otherLast := make(map[string]int)
	err = scanLedger(path, func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error {
		if hdr != nil {
			otherID = *hdr
			return nil
		}
		e := string(email)
		otherLast[e] = len(other)
		other = append(other, mergeRecord{nanos, st, e})
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger merge: read %s: %w", path, err)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if !otherID.IsZero() && !l.header.IsZero() && !otherID.Matches(l.header) {
		return 0, &LedgerMismatchError{Path: path, File: otherID, Want: l.header}
	}
	if len(other) == 0 {
		return 0, nil
	}
	err = l.rewriteWith(func(w io.Writer) error {
		var line []byte
		write := func(r mergeRecord) error {
			line = appendLine(line[:0], appendLedgerPayload(nil, r.nanos, r.st, r.email))
			_, err := w.Write(line)
			return err
		}
		thisLast := make(map[string]mergeRecord)   // for addresses in other
		mergedLast := make(map[string]mergeRecord) // likewise
		next := 0
		emitOther := func(upto int64) error {
			for ; next < len(other) && other[next].nanos <= upto; next++ {
				if err := write(other[next]); err != nil {
					return err
				}
				mergedLast[other[next].email] = other[next]
				added++
			}
			return nil
		}
		err := scanLedger(l.path, func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error {
			if hdr != nil {
				return nil // rewriteWith wrote it
			}
			if err := emitOther(nanos); err != nil {
				return err
			}
			if _, ok := otherLast[string(email)]; ok {
				r := mergeRecord{nanos, st, string(email)}
				thisLast[r.email], mergedLast[r.email] = r, r
			}
			line = appendLine(line[:0], appendLedgerPayload(nil, nanos, st, string(email)))
			_, err := w.Write(line)
			return err
		})
		if err == nil {
			err = emitOther(1<<63 - 1)
		}
		if err != nil {
			return err
		}
		for e, i := range otherLast {
			last := mergedLast[e]
			if last.st != batch.LedgerNotSent {
				continue
			}
			for _, r := range []mergeRecord{other[i], thisLast[e]} {
				if mayHaveSent(r.st) {
					if err := write(r); err != nil {
						return err
					}
					added++
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ledger merge: %w", err)
	}
	return added, nil
}

// appendLedgerPayload appends "<unix nanos> <status word> <email>" to b.
func appendLedgerPayload(b []byte, nanos int64, st batch.LedgerStatus, email string) []byte {
	b = strconv.AppendInt(b, nanos, 10)
	b = append(b, ' ')
	b = append(b, ledgerWords[st]...)
	b = append(b, ' ')
	return append(b, email...)
}

// scanLedger streams the records of the ledger file at path: fn gets the
// header (hdr not nil, first line only) or a record.
func scanLedger(path string, fn func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error) error {
	j, err := OpenJournal(path, JournalOptions{ReadOnly: true}, ledgerLineFunc(fn))
	if err != nil {
		return err
	}
	return j.Close()
}

// ledgerLineFunc adapts fn to OpenJournal's callback: it parses the header
// (only allowed as the first line) and the records.
func ledgerLineFunc(fn func(hdr *LedgerIdentity, nanos int64, st batch.LedgerStatus, email []byte) error) func(int, []byte) error {
	return func(lineNo int, p []byte) error {
		if isLedgerHeader(p) {
			if lineNo != 1 {
				return errors.New("ledger header not on the first line")
			}
			id, err := parseLedgerHeader(p)
			if err != nil {
				return err
			}
			return fn(&id, 0, 0, nil)
		}
		nanos, st, email, err := parseLedgerPayload(p)
		if err != nil {
			return err
		}
		return fn(nil, nanos, st, email)
	}
}
