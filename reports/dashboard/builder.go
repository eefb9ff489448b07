package dashboard

import (
	"strings"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

// person is what the builder keeps per address.
type person struct {
	state   batch.State // "" when not listed
	mails   int64
	updated int64   // updateTime, Unix seconds
	sends   []int64 // this tool's sends (ledger "sent"), Unix seconds, oldest first
	ledger  batch.LedgerStatus
	ledgerT int64
	group   string
	inFile  bool
}

// Builder gathers the sources of the figures. Add the invitations, the
// ledger records, the input rows and the report rows in any order, then
// call Figures. A Builder is not safe for concurrent use.
type Builder struct {
	now       time.Time
	people    map[string]*person
	src       Source
	invalid   map[string]int // group -> invalid input rows
	attention map[string]AttentionItem
	order     []string // attention keys, first seen first
}

// NewBuilder returns a Builder for a snapshot taken at now.
func NewBuilder(now time.Time) *Builder {
	return &Builder{now: now, people: make(map[string]*person), invalid: make(map[string]int), attention: make(map[string]AttentionItem)}
}

func (b *Builder) person(email string) *person {
	p := b.people[email]
	if p == nil {
		p = &person{}
		b.people[email] = p
	}
	return p
}

// AddInvitation adds one listed invitation.
func (b *Builder) AddInvitation(inv batch.Invitation) {
	p := b.person(strings.ToLower(inv.Email))
	p.state, p.mails = inv.State, inv.MailsSent
	if !inv.Updated.IsZero() {
		p.updated = inv.Updated.Unix()
	}
	b.src.Listed++
}

// AddLedger adds one ledger line; call it in the ledger's order.
func (b *Builder) AddLedger(r reports.LedgerRecord) {
	p := b.person(r.Email)
	// A `sent` no later than the last one puts back an earlier send after
	// a refused re-send (batch.Ledger.Restore): not another email.
	if t := r.Time.Unix(); r.Status == batch.LedgerSent && (len(p.sends) == 0 || t > p.sends[len(p.sends)-1]) {
		p.sends = append(p.sends, t)
	}
	p.ledger, p.ledgerT = r.Status, r.Time.Unix()
	b.src.LedgerLines++
}

// AddInputRow adds a usable input address and its --group-by value ("" when
// no column is chosen).
func (b *Builder) AddInputRow(email, group string) {
	p := b.person(email)
	p.inFile = true
	if group != "" || p.group == "" {
		p.group = group
	}
}

// AddInvalidRow adds an input row that was never invitable: not a usable
// address, or a broken record.
func (b *Builder) AddInvalidRow(where, cell, reason, group string) {
	b.invalid[group]++
	b.flag(where, AttentionItem{Email: cell, Status: "invalid", Reason: reason, Where: where})
}

// AddReportRow adds a row of a run's report. Rows that need attention
// (failed, unconfirmed, and not_invitable because the send was refused) go
// to the attention list; the others are already counted from the API's
// list, and invalid rows from the input file the report was made of.
func (b *Builder) AddReportRow(where, email string, outcome batch.Outcome, reason string) {
	status := ""
	switch {
	case outcome == batch.Failed:
		status = "failed"
	case outcome == batch.Unconfirmed:
		status = "unconfirmed"
	case outcome == batch.NotInvitable && strings.Contains(reason, "refused"):
		status = "refused"
	default:
		return
	}
	b.flag(strings.ToLower(strings.TrimSpace(email)), AttentionItem{Email: email, Status: status, Reason: reason, Where: where})
}

// flag puts an item on the attention list under key; a later item for
// the same key replaces an earlier one (the latest report wins).
func (b *Builder) flag(key string, it AttentionItem) {
	if _, ok := b.attention[key]; !ok {
		b.order = append(b.order, key)
	}
	b.attention[key] = it
}

// SetSource sets what Figures reports in Source (Listed and LedgerLines
// are counted by the builder).
func (b *Builder) SetSource(s Source) {
	s.Listed, s.LedgerLines = b.src.Listed, b.src.LedgerLines
	b.src = s
}

// Figures aggregates everything added so far. groupBy names the
// --group-by column ("" for none).
func (b *Builder) Figures(groupBy string) *Figures {
	f := &Figures{Schema: Schema, Source: b.src, GroupBy: groupBy}
	f.Source.Snapshot = b.now.UTC()
	f.Source.Notes = append(f.Source.Notes,
		"The API lists a new account only about 48 hours after it was created: invitations sent in the last two days may be missing or show as unconfirmed.",
		"Cancelled is not an API state: it comes from the ledger (this tool's cancels).")
	if f.Source.Emulator {
		f.Source.Notes = append([]string{"EMULATOR: these numbers come from a test emulator, not from Google."}, f.Source.Notes...)
	}
	b.funnel(f)
	b.daily(f)
	b.timeToAccept(f)
	b.pending(f)
	f.ByDomain = b.groups(func(email string, _ *person) string { return email[strings.LastIndexByte(email, '@')+1:] }, false)
	if groupBy != "" {
		f.ByGroup = b.groups(func(_ string, p *person) string {
			if !p.inFile {
				return ""
			}
			if p.group == "" {
				return "(empty)"
			}
			return p.group
		}, true)
	}
	b.attentionList(f)
	return f
}

// stageOf returns the funnel stage of an address, "" when it is no
// unmanaged account (never listed, nothing in the ledger worth showing).
func stageOf(p *person) string {
	switch p.state {
	case batch.StateAccepted:
		return StageAccepted
	case batch.StateDeclined:
		return StageDeclined
	case batch.StateInvited:
		return StagePending
	case batch.StateNotYetSent:
		if p.ledger == batch.LedgerCancelled || p.ledger == batch.LedgerCancelIntent {
			return StageCancelled
		}
		return StageNotYetInvited
	}
	switch p.ledger {
	case batch.LedgerUnconfirmed, batch.LedgerSendIntent, batch.LedgerResendIntent, batch.LedgerSent:
		// Emailed (or maybe), but not listed: too new to be listed yet
		// (the API's 48-hour lag), or the send could not be confirmed.
		return StageUnconfirmed
	}
	return ""
}
