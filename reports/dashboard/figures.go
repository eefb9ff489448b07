// Package dashboard turns a customer's invitations, the ledger, the input
// files and their reports into the figures of a migration dashboard, and
// renders them as JSON, Prometheus gauges or one self-contained HTML page.
//
// A Builder takes the sources one item at a time and keeps one small
// record per address; Figures aggregates them. Every figure is an
// aggregate except the attention list, which is capped (MaxAttention).
package dashboard

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

// Schema names the version of the JSON document. A change that renames or
// removes a field gets a new version; new fields may be added within one.
const Schema = "invitebatch.dashboard/v1"

// MaxAttention caps the attention list of the figures (Attention.Total
// keeps the full count): the page stays small whatever goes wrong.
const MaxAttention = 500

// maxGroups is how many domains or groups get a row of their own; the rest
// are summed in one "other" row.
const maxGroups = 20

// Figures is everything the dashboard shows, in the JSON document's shape.
type Figures struct {
	Schema       string       `json:"schema"`
	Source       Source       `json:"source"`
	Funnel       Funnel       `json:"funnel"`
	Daily        []Day        `json:"daily"`
	TimeToAccept TimeToAccept `json:"time_to_accept"`
	Pending      Pending      `json:"pending"`
	ByDomain     []Group      `json:"by_domain"`
	// GroupBy is the --group-by column, ByGroup its groups (only with
	// input files and a column).
	GroupBy   string    `json:"group_by,omitempty"`
	ByGroup   []Group   `json:"by_group,omitempty"`
	Attention Attention `json:"attention"`
}

// Source says where the numbers come from.
type Source struct {
	Customer string `json:"customer"`
	// Backend is where the invitations were read: "Google" or a
	// description of the emulator or endpoint.
	Backend  string    `json:"backend"`
	Emulator bool      `json:"emulator"`
	Snapshot time.Time `json:"snapshot"`
	// ListPages is the number of pages the list of invitations took.
	ListPages   int      `json:"list_pages"`
	Listed      int      `json:"listed"`
	Ledger      string   `json:"ledger"`
	LedgerLines int      `json:"ledger_lines"`
	Files       []string `json:"files,omitempty"`
	Reports     []string `json:"reports,omitempty"`
	// Notes are caveats, such as the API's 48-hour lag for new accounts.
	Notes []string `json:"notes"`
}

// The funnel's stages, in order.
const (
	StageFound         = "found"
	StageInvited       = "invited"
	StageAccepted      = "accepted"
	StageDeclined      = "declined"
	StagePending       = "pending"
	StageNotYetInvited = "not_yet_invited"
	StageCancelled     = "cancelled"
	// StageUnconfirmed: the ledger shows a send (confirmed or not) to an
	// address the API does not list: too new to be listed, or unconfirmed.
	StageUnconfirmed = "unconfirmed"
)

// Funnel is the migration's progress: unmanaged accounts found, invited,
// accepted, and the rest. Shares are of Found.
type Funnel struct {
	Stages []Stage `json:"stages"`
	// States counts the listed invitations by API state (NOT_YET_SENT,
	// INVITED, ACCEPTED, DECLINED).
	States map[string]int `json:"states"`
	// SentByTool is the number of addresses the ledger shows this tool
	// emailed.
	SentByTool int `json:"sent_by_tool"`
	// InvalidRows counts input rows that were never invitable (not a usable
	// address).
	InvalidRows int `json:"invalid_rows"`
}

// Stage is one step of the funnel.
type Stage struct {
	Name  string  `json:"name"`
	Label string  `json:"label"`
	Count int     `json:"count"`
	Share float64 `json:"share"` // of found; 0 when nothing was found
}

// Count returns the count of the stage name (0 if absent).
func (f Funnel) Count(name string) int {
	for _, s := range f.Stages {
		if s.Name == name {
			return s.Count
		}
	}
	return 0
}

// Day is one UTC day of the migration: what happened that day and the
// totals up to its end.
type Day struct {
	Date               string `json:"date"` // YYYY-MM-DD
	Sent               int    `json:"sent"` // first emails this tool sent
	Reminders          int    `json:"reminders"`
	Accepted           int    `json:"accepted"`
	Declined           int    `json:"declined"`
	CumulativeSent     int    `json:"cumulative_sent"`
	CumulativeAccepted int    `json:"cumulative_accepted"`
	CumulativeDeclined int    `json:"cumulative_declined"`
}

// TimeToAccept is how long after the first email people accepted.
type TimeToAccept struct {
	// Measured is the number of ACCEPTED invitations with a first email in
	// the ledger; Unknown those without (sent by someone else, or the
	// ledger was pruned).
	Measured int      `json:"measured"`
	Unknown  int      `json:"unknown"`
	Buckets  []Bucket `json:"buckets"`
	// Hours to accept at these percentiles (0 when none measured).
	P50Hours float64 `json:"p50_hours"`
	P75Hours float64 `json:"p75_hours"`
	P90Hours float64 `json:"p90_hours"`
	// ByEmails counts acceptances by the emails received before
	// accepting: "1", "2", "3+".
	ByEmails []Bucket `json:"by_emails"`
	// Reminded is the number of people who got at least one reminder;
	// AcceptedAfterReminder how many of them accepted after one.
	Reminded              int `json:"reminded"`
	AcceptedAfterReminder int `json:"accepted_after_reminder"`
	// FirstEmailOnly is the number of people whose first email is older
	// than a week (time for a reminder), AcceptedFirstWeek how many of
	// them accepted within a week of it, before any reminder.
	FirstEmailOnly    int `json:"first_email_week_old"`
	AcceptedFirstWeek int `json:"accepted_first_week"`
}

// Bucket is a labelled count.
type Bucket struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

// Pending is the INVITED invitations by the age of their last email and
// the number of emails sent.
type Pending struct {
	Total int `json:"total"`
	// Ages are the row labels, Mails the column labels of Counts.
	Ages   []string `json:"ages"`
	Mails  []string `json:"mails"`
	Counts [][]int  `json:"counts"` // [age][mails]
	// CSV is the file beside the page with every pending address, as
	// `run --resend-after` takes it ("" when not written).
	CSV string `json:"csv,omitempty"`
}

// Group is the funnel of one domain or one value of the --group-by column.
type Group struct {
	Name          string `json:"name"`
	Found         int    `json:"found"`
	Invited       int    `json:"invited"`
	Accepted      int    `json:"accepted"`
	Declined      int    `json:"declined"`
	Pending       int    `json:"pending"`
	NotYetInvited int    `json:"not_yet_invited"`
	// InvalidRows counts input rows of the group that were never invitable.
	InvalidRows int `json:"invalid_rows,omitempty"`
	// Members is how many groups an "other" row sums (0 otherwise).
	Members int `json:"members,omitempty"`
}

// Attention is the people who need a look, with the reason.
type Attention struct {
	Total int             `json:"total"`
	Rows  []AttentionItem `json:"rows"` // at most MaxAttention
}

// AttentionItem is one address (or input row) that needs a look.
type AttentionItem struct {
	Email  string    `json:"email"`
	Status string    `json:"status"` // unconfirmed, failed, refused, invalid, interrupted
	Reason string    `json:"reason"`
	Where  string    `json:"where"` // "ledger" or a report's or input's path (and row)
	Time   time.Time `json:"time,omitzero"`
}

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
	if r.Status == batch.LedgerSent {
		p.sends = append(p.sends, r.Time.Unix())
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
	case batch.LedgerUnconfirmed, batch.LedgerSendIntent, batch.LedgerSent:
		// Emailed (or maybe), but not listed: too new to be listed yet
		// (the API's 48-hour lag), or the send could not be confirmed.
		return StageUnconfirmed
	}
	return ""
}

func (b *Builder) funnel(f *Figures) {
	c := map[string]int{}
	f.Funnel.States = map[string]int{string(batch.StateNotYetSent): 0, string(batch.StateInvited): 0, string(batch.StateAccepted): 0, string(batch.StateDeclined): 0}
	for _, p := range b.people {
		if p.state != "" && p.state != batch.StateNone {
			f.Funnel.States[string(p.state)]++
		}
		if len(p.sends) > 0 {
			f.Funnel.SentByTool++
		}
		c[stageOf(p)]++
	}
	found := c[StageAccepted] + c[StageDeclined] + c[StagePending] + c[StageNotYetInvited] + c[StageCancelled] + c[StageUnconfirmed]
	invited := c[StageAccepted] + c[StageDeclined] + c[StagePending] + c[StageUnconfirmed]
	for _, g := range b.invalid {
		f.Funnel.InvalidRows += g
	}
	stage := func(name, label string, n int) Stage {
		s := Stage{Name: name, Label: label, Count: n}
		if found > 0 {
			s.Share = float64(n) / float64(found)
		}
		return s
	}
	f.Funnel.Stages = []Stage{
		stage(StageFound, "Unmanaged accounts found", found),
		stage(StageInvited, "Invited", invited),
		stage(StageAccepted, "Accepted", c[StageAccepted]),
		stage(StageDeclined, "Declined", c[StageDeclined]),
		stage(StagePending, "Pending (invited, no answer yet)", c[StagePending]),
		stage(StageUnconfirmed, "Sent, not listed yet or unconfirmed", c[StageUnconfirmed]),
		stage(StageCancelled, "Cancelled by this tool", c[StageCancelled]),
		stage(StageNotYetInvited, "Not invited yet", c[StageNotYetInvited]),
	}
}

const day = 24 * 60 * 60

// maxDays bounds the timeline: events older than this before the snapshot
// are counted on its first day.
const maxDays = 3660

func (b *Builder) daily(f *Figures) {
	end := b.now.Unix() / day
	start := end
	for _, p := range b.people {
		if len(p.sends) > 0 {
			start = min(start, p.sends[0]/day)
		}
		if (p.state == batch.StateAccepted || p.state == batch.StateDeclined) && p.updated > 0 {
			start = min(start, p.updated/day)
		}
	}
	start = max(start, end-maxDays)
	days := make([]Day, end-start+1)
	at := func(t int64) *Day {
		i := min(max(t/day-start, 0), end-start)
		return &days[i]
	}
	for _, p := range b.people {
		for i, t := range p.sends {
			if i == 0 {
				at(t).Sent++
			} else {
				at(t).Reminders++
			}
		}
		switch {
		case p.updated == 0:
		case p.state == batch.StateAccepted:
			at(p.updated).Accepted++
		case p.state == batch.StateDeclined:
			at(p.updated).Declined++
		}
	}
	var s, a, d int
	for i := range days {
		days[i].Date = time.Unix((start+int64(i))*day, 0).UTC().Format(time.DateOnly)
		s, a, d = s+days[i].Sent, a+days[i].Accepted, d+days[i].Declined
		days[i].CumulativeSent, days[i].CumulativeAccepted, days[i].CumulativeDeclined = s, a, d
	}
	f.Daily = days
}

// acceptBuckets are the time-to-accept histogram's bounds, in days.
var acceptBuckets = []struct {
	label string
	upTo  float64
}{
	{"< 1 day", 1}, {"1-2 days", 2}, {"2-3 days", 3}, {"3-5 days", 5}, {"5-7 days", 7},
	{"1-2 weeks", 14}, {"2-4 weeks", 28}, {"4+ weeks", 1e18},
}

func (b *Builder) timeToAccept(f *Figures) {
	t := &f.TimeToAccept
	t.Buckets = make([]Bucket, len(acceptBuckets))
	for i, ab := range acceptBuckets {
		t.Buckets[i].Label = ab.label
	}
	t.ByEmails = []Bucket{{Label: "1 email"}, {Label: "2 emails"}, {Label: "3+ emails"}}
	var hours []float64
	now := b.now.Unix()
	for _, p := range b.people {
		if len(p.sends) > 1 {
			t.Reminded++
		}
		if len(p.sends) > 0 && now-p.sends[0] >= 7*day {
			t.FirstEmailOnly++
			if p.state == batch.StateAccepted && p.updated >= p.sends[0] && p.updated-p.sends[0] < 7*day &&
				(len(p.sends) == 1 || p.updated < p.sends[1]) {
				t.AcceptedFirstWeek++
			}
		}
		if p.state != batch.StateAccepted {
			continue
		}
		if len(p.sends) == 0 || p.updated < p.sends[0] {
			t.Unknown++
			continue
		}
		t.Measured++
		h := float64(p.updated-p.sends[0]) / 3600
		hours = append(hours, h)
		for i, ab := range acceptBuckets {
			if h/24 < ab.upTo {
				t.Buckets[i].Count++
				break
			}
		}
		emails := 0
		for _, s := range p.sends {
			if s <= p.updated {
				emails++
			}
		}
		t.ByEmails[min(emails, 3)-1].Count++
		if emails > 1 {
			t.AcceptedAfterReminder++
		}
	}
	if len(hours) > 0 {
		slices.Sort(hours)
		pct := func(q float64) float64 {
			return hours[min(len(hours)-1, int(q*float64(len(hours))))]
		}
		t.P50Hours, t.P75Hours, t.P90Hours = pct(0.50), pct(0.75), pct(0.90)
	}
}

// pendingAges are the pending table's rows: the age of the last email.
var pendingAges = []struct {
	label string
	upTo  int64 // seconds
}{
	{"< 2 days", 2 * day}, {"2-7 days", 7 * day}, {"1-2 weeks", 14 * day}, {"2-4 weeks", 28 * day}, {"4+ weeks", 1 << 62},
}

// pendingAge returns the row of the pending table for an invitation whose
// last email was at updated.
func (b *Builder) pendingAge(updated int64) int {
	age := b.now.Unix() - updated
	for i, a := range pendingAges {
		if age < a.upTo {
			return i
		}
	}
	return len(pendingAges) - 1
}

func (b *Builder) pending(f *Figures) {
	pd := &f.Pending
	pd.Mails = []string{"1 email", "2 emails", "3+ emails"}
	pd.Counts = make([][]int, len(pendingAges))
	for i, a := range pendingAges {
		pd.Ages = append(pd.Ages, a.label)
		pd.Counts[i] = make([]int, len(pd.Mails))
	}
	for _, p := range b.people {
		if p.state != batch.StateInvited {
			continue
		}
		pd.Total++
		pd.Counts[b.pendingAge(p.updated)][min(max(p.mails, 1), 3)-1]++
	}
}

// PendingRow is one pending invitation, for the CSV beside the page.
type PendingRow struct {
	Email     string
	MailsSent int64
	Updated   time.Time // the last email
	FirstSent time.Time // this tool's first email (zero: not in the ledger)
	Group     string
}

// EachPending calls fn with every pending (INVITED) invitation, the oldest
// last email first.
func (b *Builder) EachPending(fn func(PendingRow) error) error {
	var emails []string
	for e, p := range b.people {
		if p.state == batch.StateInvited {
			emails = append(emails, e)
		}
	}
	slices.SortFunc(emails, func(x, y string) int {
		return cmp.Or(cmp.Compare(b.people[x].updated, b.people[y].updated), strings.Compare(x, y))
	})
	for _, e := range emails {
		p := b.people[e]
		r := PendingRow{Email: e, MailsSent: p.mails, Updated: time.Unix(p.updated, 0).UTC(), Group: p.group}
		if len(p.sends) > 0 {
			r.FirstSent = time.Unix(p.sends[0], 0).UTC()
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// groups counts the funnel per key; "" keys are left out. Groups are
// ordered by size, the largest maxGroups get a row each and the rest one
// "other" row.
func (b *Builder) groups(key func(string, *person) string, withInvalid bool) []Group {
	m := map[string]*Group{}
	get := func(k string) *Group {
		g := m[k]
		if g == nil {
			g = &Group{Name: k}
			m[k] = g
		}
		return g
	}
	for email, p := range b.people {
		st := stageOf(p)
		if st == "" {
			continue
		}
		k := key(email, p)
		if k == "" {
			continue
		}
		g := get(k)
		g.Found++
		switch st {
		case StageAccepted:
			g.Accepted++
		case StageDeclined:
			g.Declined++
		case StagePending, StageUnconfirmed:
			g.Pending++
		default:
			g.NotYetInvited++
		}
		if st != StageNotYetInvited && st != StageCancelled {
			g.Invited++
		}
	}
	if withInvalid {
		for k, n := range b.invalid {
			if k == "" {
				k = "(empty)"
			}
			get(k).InvalidRows += n
		}
	}
	out := make([]Group, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, *m[k])
	}
	slices.SortStableFunc(out, func(x, y Group) int { return cmp.Compare(y.Found+y.InvalidRows, x.Found+x.InvalidRows) })
	if len(out) <= maxGroups {
		return out
	}
	other := Group{Name: "other"}
	for _, g := range out[maxGroups-1:] {
		other.Found += g.Found
		other.Invited += g.Invited
		other.Accepted += g.Accepted
		other.Declined += g.Declined
		other.Pending += g.Pending
		other.NotYetInvited += g.NotYetInvited
		other.InvalidRows += g.InvalidRows
		other.Members++
	}
	return append(out[:maxGroups-1], other)
}

func (b *Builder) attentionList(f *Figures) {
	// The ledger's own: sends or cancels left without a result, and sends
	// it calls unconfirmed or not sent, unless the invitation now shows
	// what happened.
	var ledger []string
	for email, p := range b.people {
		if _, ok := b.attention[email]; ok {
			continue
		}
		settled := p.state == batch.StateInvited || p.state == batch.StateAccepted || p.state == batch.StateDeclined
		switch p.ledger {
		case batch.LedgerUnconfirmed, batch.LedgerSendIntent, batch.LedgerNotSent:
			if !settled {
				ledger = append(ledger, email)
			}
		case batch.LedgerCancelIntent:
			if p.state == batch.StateInvited {
				ledger = append(ledger, email)
			}
		}
	}
	slices.Sort(ledger)
	items := make([]AttentionItem, 0, len(b.order)+len(ledger))
	for _, k := range b.order {
		items = append(items, b.attention[k])
	}
	for _, email := range ledger {
		p := b.people[email]
		it := AttentionItem{Email: email, Where: "ledger", Time: time.Unix(p.ledgerT, 0).UTC()}
		switch p.ledger {
		case batch.LedgerUnconfirmed:
			it.Status, it.Reason = "unconfirmed", "a send may have gone out but could not be confirmed (the account may be too new to be listed); not re-sent automatically"
		case batch.LedgerSendIntent:
			it.Status, it.Reason = "interrupted", "a send was about to leave when a run stopped; the next run of its input settles it"
		case batch.LedgerNotSent:
			it.Status, it.Reason = "refused", "the last send was refused or failed: no email went out"
		case batch.LedgerCancelIntent:
			it.Status, it.Reason = "interrupted", "a cancel was about to leave when a run stopped; the invitation is still INVITED"
		}
		items = append(items, it)
	}
	f.Attention.Total = len(items)
	f.Attention.Rows = items[:min(len(items), MaxAttention)]
}
