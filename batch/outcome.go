package batch

import (
	"context"
	"time"
)

// Outcome is what happened to one input row: the `outcome` column of the
// report. The words are part of the user-facing contract.
type Outcome uint8

// The outcomes of the contract. OutcomeNone means "no final outcome yet".
const (
	OutcomeNone Outcome = iota
	Sent
	Resent
	WouldSend
	NotInvitable
	AlreadyInvited
	AlreadyAccepted
	Declined
	Unconfirmed
	Invalid
	Duplicate
	Failed
	Cancelled
	WouldCancel
	NotInvited
	numOutcomes
)

var outcomeWords = [numOutcomes]string{
	OutcomeNone:     "",
	Sent:            "sent",
	Resent:          "resent",
	WouldSend:       "would_send",
	NotInvitable:    "not_invitable",
	AlreadyInvited:  "already_invited",
	AlreadyAccepted: "already_accepted",
	Declined:        "declined",
	Unconfirmed:     "unconfirmed",
	Invalid:         "invalid",
	Duplicate:       "duplicate",
	Failed:          "failed",
	Cancelled:       "cancelled",
	WouldCancel:     "would_cancel",
	NotInvited:      "not_invited",
}

// Outcomes lists every outcome except OutcomeNone, in a stable order.
func Outcomes() []Outcome {
	out := make([]Outcome, 0, numOutcomes-1)
	for o := OutcomeNone + 1; o < numOutcomes; o++ {
		out = append(out, o)
	}
	return out
}

// String returns the contract's word for o ("" for OutcomeNone).
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeWords[o]
	}
	return "unknown"
}

// ParseOutcome is the inverse of String; ok is false for an unknown word.
func ParseOutcome(s string) (o Outcome, ok bool) {
	for i := OutcomeNone + 1; i < numOutcomes; i++ {
		if outcomeWords[i] == s {
			return i, true
		}
	}
	return OutcomeNone, false
}

// NeedsAttention reports whether o makes a finished run exit 1.
func (o Outcome) NeedsAttention() bool {
	return o == Failed || o == Invalid || o == Unconfirmed
}

// Result is the final outcome of one input row.
type Result struct {
	Row     int    // 1-based index of the data record
	Email   string // the address as it appeared in the input
	Outcome Outcome
	Reason  string // why, for outcomes that need one (the report's error column)
}

// Sink receives each row's final outcome. The pipeline calls Record from a
// single goroutine.
type Sink interface {
	Record(Result) error
}

// LedgerStatus is what the ledger knows of this tool's last action on an
// address.
type LedgerStatus uint8

// The ledger statuses. An intent without a later result means the process
// stopped while the request may have been in flight.
const (
	LedgerNone         LedgerStatus = iota
	LedgerSendIntent                // a send is about to leave (or left, unanswered)
	LedgerSent                      // this tool's send went out
	LedgerNotSent                   // the send was refused: no email went out
	LedgerUnconfirmed               // a send may have gone out; it could not be confirmed
	LedgerCancelIntent              // a cancel is about to leave
	LedgerCancelled                 // this tool cancelled the invitation
	LedgerResendIntent              // a re-send (--resend-after) of an INVITED invitation is about to leave
)

// Intent reports whether s records an action about to leave (or left,
// unanswered) rather than its result.
func (s LedgerStatus) Intent() bool {
	return s == LedgerSendIntent || s == LedgerCancelIntent || s == LedgerResendIntent
}

// LedgerEntry is the last thing the ledger recorded for an address.
type LedgerEntry struct {
	Status LedgerStatus
	Time   time.Time
}

// Ledger is the lasting record of every send this tool made or attempted,
// across runs and input files: the authority for "did we already email this
// person?". Addresses are normalised (trimmed, lower-case).
type Ledger interface {
	// Lookup returns the last entry recorded for email. Its Time may be
	// rounded down to a whole second.
	Lookup(email string) (LedgerEntry, bool)
	// Intend records that a send or cancel (status LedgerSendIntent or
	// LedgerCancelIntent) is about to leave. It returns only once the record
	// is on stable storage.
	Intend(ctx context.Context, email string, status LedgerStatus) error
	// Settle records the result of an action; wait returns once the record
	// is on stable storage. The row's outcome goes to the checkpoint only
	// after wait, so the checkpoint is never ahead of the ledger, but the
	// worker that settles goes on to its next row without waiting.
	Settle(email string, status LedgerStatus) (wait func(context.Context) error, err error)
	// Restore records e as the entry of email again, its time included:
	// what the ledger said before an intent whose action certainly had no
	// effect (a refused send or cancel). A refused re-send must leave the
	// earlier email's time as it was: a record stamped with the time of
	// the refusal would read as a send made then (a resumed run reports
	// the row sent) and postpone --resend-after. wait is as for Settle.
	Restore(email string, e LedgerEntry) (wait func(context.Context) error, err error)
}
