package reports

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
