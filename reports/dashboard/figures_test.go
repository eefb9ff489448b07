package dashboard

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

const h = time.Hour

func TestFigures(t *testing.T) {
	b := NewBuilder(now)
	sent := func(email string, at ...time.Time) {
		for _, t := range at {
			b.AddLedger(reports.LedgerRecord{Email: email, Status: batch.LedgerSendIntent, Time: t})
			b.AddLedger(reports.LedgerRecord{Email: email, Status: batch.LedgerSent, Time: t})
		}
	}
	inv := func(email string, st batch.State, mails int64, upd time.Time) {
		b.AddInvitation(batch.Invitation{Email: email, State: st, MailsSent: mails, Updated: upd})
	}
	// a: accepted 12 h after the first email.
	sent("a@x.com", ago(10*24*h))
	inv("a@x.com", batch.StateAccepted, 1, ago(10*24*h-12*h))
	// b: accepted 2 days after a reminder sent a week after the first.
	sent("b@x.com", ago(20*24*h), ago(13*24*h))
	inv("b@x.com", batch.StateAccepted, 2, ago(11*24*h))
	// c: declined; d: pending, 3 weeks, 2 emails; e: pending, 1 day.
	sent("c@y.org", ago(5*24*h))
	inv("c@y.org", batch.StateDeclined, 1, ago(4*24*h))
	sent("d@y.org", ago(30*24*h), ago(21*24*h))
	inv("d@y.org", batch.StateInvited, 2, ago(21*24*h))
	sent("e@y.org", ago(24*h))
	inv("e@y.org", batch.StateInvited, 1, ago(24*h))
	// f: cancelled; g: never invited; h: unconfirmed, not listed;
	// i: accepted, invited by someone else (no ledger).
	sent("f@x.com", ago(40*24*h))
	b.AddLedger(reports.LedgerRecord{Email: "f@x.com", Status: batch.LedgerCancelled, Time: ago(20 * 24 * h)})
	inv("f@x.com", batch.StateNotYetSent, 1, ago(20*24*h))
	inv("g@x.com", batch.StateNotYetSent, 0, ago(50*24*h))
	b.AddLedger(reports.LedgerRecord{Email: "h@x.com", Status: batch.LedgerSendIntent, Time: ago(h)})
	b.AddLedger(reports.LedgerRecord{Email: "h@x.com", Status: batch.LedgerUnconfirmed, Time: ago(h)})
	inv("i@x.com", batch.StateAccepted, 1, ago(3*24*h))
	// m: sent an hour ago, too new to be listed; n: a re-send interrupted.
	sent("m@x.com", ago(h))
	sent("n@y.org", ago(9*24*h))
	b.AddLedger(reports.LedgerRecord{Email: "n@y.org", Status: batch.LedgerResendIntent, Time: ago(h)})
	inv("n@y.org", batch.StateInvited, 1, ago(9*24*h))
	b.AddReportRow("users.report.csv:7", "J@x.com", batch.Failed, "500 backend error")
	b.AddReportRow("users.report.csv:8", "k@x.com", batch.Sent, "")
	b.AddInvalidRow("users.csv:9", "not-an-address", "no @", "")

	f := b.Figures("")
	counts := map[string]int{}
	for _, s := range f.Funnel.Stages {
		counts[s.Name] = s.Count
	}
	want := map[string]int{StageFound: 11, StageInvited: 9, StageAccepted: 3, StageDeclined: 1, StagePending: 3,
		StageUnconfirmed: 2, StageCancelled: 1, StageNotYetInvited: 1}
	if d := cmp.Diff(want, counts); d != "" {
		t.Errorf("funnel (-want +got):\n%s", d)
	}
	if f.Funnel.Stages[0].Share != 1 || f.Funnel.SentByTool != 8 || f.Funnel.InvalidRows != 1 {
		t.Errorf("funnel = %+v", f.Funnel)
	}
	tta := f.TimeToAccept
	if tta.Measured != 2 || tta.Unknown != 1 || tta.Buckets[0].Count != 1 || tta.Buckets[5].Count != 1 {
		t.Errorf("time to accept = %+v: want a in < 1 day, b in 1-2 weeks (9 days), i unknown", tta)
	}
	if tta.ByEmails[0].Count != 1 || tta.ByEmails[1].Count != 1 || tta.Reminded != 2 || tta.AcceptedAfterReminder != 1 {
		t.Errorf("reminders = %+v", tta)
	}
	if tta.FirstEmailOnly != 5 || tta.AcceptedFirstWeek != 1 {
		t.Errorf("first week: %d of %d, want 1 of 5 (a; not b, d, f, n)", tta.AcceptedFirstWeek, tta.FirstEmailOnly)
	}
	if tta.P50Hours != 12 && tta.P50Hours != 9*24 {
		t.Errorf("p50 = %v", tta.P50Hours)
	}
	if f.Pending.Total != 3 || f.Pending.Counts[0][0] != 1 || f.Pending.Counts[3][1] != 1 || f.Pending.Counts[2][0] != 1 {
		t.Errorf("pending = %+v: want e (< 2 days, 1 email) and d (2-4 weeks, 2 emails)", f.Pending)
	}
	lastDay := f.Daily[len(f.Daily)-1]
	if len(f.Daily) != 41 || lastDay.Date != "2026-11-30" || lastDay.CumulativeSent != 8 || lastDay.CumulativeAccepted != 3 || lastDay.CumulativeDeclined != 1 {
		t.Errorf("daily: %d days, last %+v", len(f.Daily), lastDay)
	}
	reminders := 0
	for _, d := range f.Daily {
		reminders += d.Reminders
	}
	if reminders != 2 {
		t.Errorf("reminders in the timeline = %d, want 2", reminders)
	}
	var att []string
	for _, a := range f.Attention.Rows {
		att = append(att, a.Status+" "+a.Email)
	}
	if d := cmp.Diff([]string{"failed J@x.com", "invalid not-an-address", "unconfirmed h@x.com", "interrupted n@y.org"}, att); d != "" {
		t.Errorf("attention (-want +got):\n%s", d)
	}
	if len(f.ByDomain) != 2 || f.ByDomain[0].Name != "x.com" || f.ByDomain[0].Found != 7 || f.ByDomain[0].Accepted != 3 {
		t.Errorf("by domain = %+v", f.ByDomain)
	}
	var rows []string
	if err := b.EachPending(func(r PendingRow) error { rows = append(rows, r.Email); return nil }); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"d@y.org", "n@y.org", "e@y.org"}, rows); d != "" {
		t.Errorf("pending rows, oldest first (-want +got):\n%s", d)
	}
}

func TestFiguresCapped(t *testing.T) {
	b := NewBuilder(now)
	for i := range 3 * MaxAttention {
		b.AddReportRow("r.csv", fmt.Sprintf("u%d@x.com", i), batch.Failed, "boom")
		b.AddInvitation(batch.Invitation{Email: fmt.Sprintf("u%d@d%d.com", i, i), State: batch.StateNotYetSent})
	}
	f := b.Figures("")
	if f.Attention.Total != 3*MaxAttention || len(f.Attention.Rows) != MaxAttention {
		t.Errorf("attention: %d rows of %d, want %d of %d", len(f.Attention.Rows), f.Attention.Total, MaxAttention, 3*MaxAttention)
	}
	if len(f.ByDomain) != maxGroups || f.ByDomain[maxGroups-1].Name != "other" || f.ByDomain[maxGroups-1].Members != 3*MaxAttention-maxGroups+1 {
		t.Errorf("by domain: %d groups, last %+v", len(f.ByDomain), f.ByDomain[len(f.ByDomain)-1])
	}
}
