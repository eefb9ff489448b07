package dashboard

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

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
		case batch.LedgerCancelIntent, batch.LedgerResendIntent:
			if p.state == batch.StateInvited || p.state == "" {
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
		case batch.LedgerResendIntent:
			it.Status, it.Reason = "interrupted", "a re-send (--resend-after) was about to leave when a run stopped; the next run of its input settles it"
		}
		items = append(items, it)
	}
	f.Attention.Total = len(items)
	f.Attention.Rows = items[:min(len(items), MaxAttention)]
}
