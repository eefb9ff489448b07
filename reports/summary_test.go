package reports

import (
	"strings"
	"testing"
	"time"
)

// TestSummaryTextQuotaStop: the line of a run stopped by a daily quota says
// when the quota comes back, and the run's duration does not read as the
// time until then ("when the quota comes back in 9.1s" did).
func TestSummaryTextQuotaStop(t *testing.T) {
	resets := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	s := &Summary{Command: "run", RunID: "r1", Stopped: "quota", QuotaResets: &resets, DurationSeconds: 9.1, ExitCode: 3}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(b.String(), "\n")
	want := "invitebatch run: run r1 stopped (quota used up until 2026-12-01T08:00:00Z; rerun the same command then) in 9.1s (exit 3)"
	if first != want {
		t.Errorf("got  %q\nwant %q", first, want)
	}
}
