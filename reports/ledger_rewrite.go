package reports

import (
	"fmt"
	"io"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

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
