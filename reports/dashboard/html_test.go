package dashboard

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// historyBuilder is a builder fed with a seeded emulator history, as a
// dashboard of it would be.
func historyBuilder(t testing.TB, n int) (*Builder, []emulator.Past) {
	t.Helper()
	past := emulator.History{Count: n, Weeks: 6, Uninvited: n / 5, Seed: 5, Domains: []string{"example.com", "corp.example", "sub.corp.example"}}.Generate(now)
	b := NewBuilder(now)
	for _, a := range emulator.Actions(past) {
		st := batch.LedgerSent
		switch a.Kind {
		case emulator.ActionUnconfirmed:
			st = batch.LedgerUnconfirmed
		case emulator.ActionCancel:
			st = batch.LedgerCancelled
		}
		b.AddLedger(reports.LedgerRecord{Email: a.Email, Status: st, Time: a.Time})
	}
	for _, p := range past {
		if p.Unconfirmed {
			continue
		}
		b.AddInvitation(batch.Invitation{Email: p.Email, State: batch.State(p.State), MailsSent: int64(len(p.Sends)), Updated: p.Updated})
	}
	return b, past
}

func TestWriteHTML(t *testing.T) {
	b, _ := historyBuilder(t, 2000)
	b.AddInvalidRow("users.csv:3", `<script>alert(1)</script>`, "not an address", "")
	b.SetSource(Source{Customer: "C0demo", Backend: "http://127.0.0.1:1/", Emulator: true, ListPages: 12, Ledger: "/tmp/l"})
	f := b.Figures("")
	f.Pending.CSV = "migration.pending.csv"
	var out bytes.Buffer
	if err := WriteHTML(&out, f); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	if p := os.Getenv("DASHBOARD_HTML"); p != "" { // to look at it
		if err := os.WriteFile(p, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"EMULATOR", "migration.pending.csv", `data-stage="accepted"`, "cap-funnel", "cap-timeline", "cap-tta", "cap-reminders", "cap-pending", "cap-domain", "&lt;script&gt;"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: no script, no external reference of any kind.
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`),
		regexp.MustCompile(`(?i)@import|url\(`),
		regexp.MustCompile(`(?i)<(link|iframe|object|embed|img)\b`),
	} {
		if m := bad.FindString(html); m != "" {
			t.Errorf("page has %q: it must open offline with no request", m)
		}
	}
	if n := strings.Count(html, "<svg"); n != 6 {
		t.Errorf("%d charts, want 6 (funnel, timeline, time to accept, reminders, pending, domains)", n)
	}
	// Every chart is labelled by a caption that exists.
	for _, m := range regexp.MustCompile(`<svg role="img" aria-labelledby="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		if !strings.Contains(html, `id="`+m[1]+`"`) {
			t.Errorf("chart labelled by %q, which is not on the page", m[1])
		}
	}
}

// BenchmarkDashboard100k: the figures and the page of 100,000 invitations
// (the target, measured end to end by cmd/invitebench).
func BenchmarkDashboard100k(b *testing.B) {
	bl, _ := historyBuilder(b, 100_000)
	b.ResetTimer()
	for b.Loop() {
		var out bytes.Buffer
		if err := WriteHTML(&out, bl.Figures("")); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(out.Len()), "html-bytes")
	}
}

func TestCountTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		want   string
	}{
		{0, 2500, "0 500 1000 1500 2000 2500"},
		{0, 3, "0 1 2 3"},
		{0, 0, "0"},
		{0, 135, "0 50 100"},
	} {
		var got []string
		for _, tk := range (countTicks{}).Ticks(c.lo, c.hi) {
			got = append(got, tk.Label)
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("Ticks(%v, %v) = %v, want %s", c.lo, c.hi, got, c.want)
		}
	}
}
