// Package dashboard turns a customer's invitations, the ledger, the input
// files and their reports into the figures of a migration dashboard, and
// renders them as JSON, Prometheus gauges or one self-contained HTML page.
//
// A Builder takes the sources one item at a time and keeps one small
// record per address; Figures aggregates them. Every figure is an
// aggregate except the attention list, which is capped (MaxAttention).
package dashboard

import "time"

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
	Pending       int    `json:"pending"` // INVITED, and sent but not listed yet
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
