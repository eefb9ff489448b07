package reports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
)

// liveInput returns an input of n rows and its reader func.
func liveInput(n int) func() io.Reader {
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "u%07d@example.com,User %d\n", i, i)
	}
	s := b.String()
	return func() io.Reader { return strings.NewReader(s) }
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeCheckpoint is a CheckpointSink that counts its flushes and keeps the
// rows it held at the last one. block, if set, is called inside Record.
type fakeCheckpoint struct {
	mu      sync.Mutex
	rows    map[int]bool
	durable map[int]bool // at the last Flush
	flushes int
	err     error // of Flush
	block   func(batch.Result)
}

func (c *fakeCheckpoint) Record(r batch.Result) error {
	if c.block != nil {
		c.block(r)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil {
		c.rows = map[int]bool{}
	}
	c.rows[r.Row] = true
	return nil
}

func (c *fakeCheckpoint) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushes++
	c.durable = maps.Clone(c.rows)
	return c.err
}

func TestLiveReportRefresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.report.csv")
	if err := os.WriteFile(path, []byte("the last run's report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cp := &fakeCheckpoint{}
	l := NewLiveReport(NewOutcomeTable(), LiveReportOptions{Path: path, Input: liveInput(5), RunID: "r1", Checkpoint: cp})
	if _, err := l.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "row,email,outcome,error,run_id,name\n" {
		t.Errorf("a run without outcomes yet: report %q, want the header only", got)
	}
	for _, r := range []batch.Result{{Row: 4, Email: "u0000004@example.com", Outcome: batch.Failed, Reason: "503"}, {Row: 2, Email: "u0000002@example.com", Outcome: batch.Sent}} {
		if err := l.Record(r); err != nil {
			t.Fatal(err)
		}
	}
	n, err := l.Refresh(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("refresh: %d outcomes, %v", n, err)
	}
	want := "row,email,outcome,error,run_id,name\n2,u0000002@example.com,sent,,r1,User 2\n4,u0000004@example.com,failed,503,r1,User 4\n"
	if got := readFile(t, path); got != want {
		t.Errorf("report %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	if cp.flushes != 2 || !cp.rows[2] || !cp.rows[4] {
		t.Errorf("the checkpoint holds rows %v and was made durable %d times, want rows 2 and 4, and before each of the 2 rewrites", cp.rows, cp.flushes)
	}
}

// A rewrite whose checkpoint cannot be made durable, or that is given up,
// leaves the report as it was, and no temporary file.
func TestLiveReportRefreshFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.report.csv")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	table := NewOutcomeTable()
	_ = table.Record(batch.Result{Row: 1, Outcome: batch.Sent})
	broken := errors.New("fsync failed")
	l := NewLiveReport(table, LiveReportOptions{Path: path, Input: liveInput(10000), RunID: "r1", Checkpoint: &fakeCheckpoint{err: broken}})
	if _, err := l.Refresh(context.Background()); !errors.Is(err, broken) {
		t.Errorf("refresh with a broken checkpoint: %v, want %v", err, broken)
	}
	l = NewLiveReport(table, LiveReportOptions{Path: path, Input: liveInput(10000), RunID: "r1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Refresh(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("refresh given up: %v, want context.Canceled", err)
	}
	if got := readFile(t, path); got != "old\n" {
		t.Errorf("report %q, want the old one", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A rewrite never lists an outcome the checkpoint had not been given when
// it was made durable: while the checkpoint records row 2 (it blocks
// there), a rewrite lists row 1 only.
func TestLiveReportNeverAheadOfCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.report.csv")
	inRecord, release := make(chan struct{}), make(chan struct{})
	cp := &fakeCheckpoint{block: func(r batch.Result) {
		if r.Row == 2 {
			close(inRecord)
			<-release
		}
	}}
	l := NewLiveReport(NewOutcomeTable(), LiveReportOptions{Path: path, Input: liveInput(3), RunID: "r1", Checkpoint: cp})
	if err := l.Record(batch.Result{Row: 1, Email: "u0000001@example.com", Outcome: batch.Sent}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- l.Record(batch.Result{Row: 2, Email: "u0000002@example.com", Outcome: batch.Sent}) }()
	<-inRecord
	if _, err := l.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	if strings.Contains(got, "u0000002") || !strings.Contains(got, "u0000001@example.com,sent") {
		t.Errorf("report %q, want row 1 only: row 2 was not in the checkpoint (durable: %v)", got, cp.durable)
	}
}

// Started, a LiveReport rewrites the report as outcomes come in; after
// Stop it writes nothing more.
func TestLiveReportStartStop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.report.csv")
	l := NewLiveReport(NewOutcomeTable(), LiveReportOptions{Path: path, Input: liveInput(3), RunID: "r1"})
	l.Start(time.Millisecond, func(err error) { t.Errorf("warn: %v", err) })
	_ = l.Record(batch.Result{Row: 1, Email: "u0000001@example.com", Outcome: batch.Sent})
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(readFileOrEmpty(path), "u0000001@example.com,sent") {
		if time.Now().After(deadline) {
			t.Fatalf("the report never listed the recorded row: %q", readFileOrEmpty(path))
		}
		time.Sleep(time.Millisecond)
	}
	l.Stop()
	_ = l.Record(batch.Result{Row: 3, Email: "u0000003@example.com", Outcome: batch.Sent})
	time.Sleep(20 * time.Millisecond)
	if got := readFileOrEmpty(path); strings.Contains(got, "u0000003") {
		t.Errorf("the report was rewritten after Stop: %q", got)
	}
	l.Stop() // twice is fine
}

func readFileOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// BenchmarkLiveReportRefresh1M is the cost of one rewrite of a
// million-row report (every row with an outcome): what the refresher's
// pacing (reportCostFactor) is measured against.
func BenchmarkLiveReportRefresh1M(b *testing.B) {
	const n = 1_000_000
	table := NewOutcomeTable()
	for row := 1; row <= n; row++ {
		_ = table.Record(batch.Result{Row: row, Outcome: batch.Sent})
	}
	path := filepath.Join(b.TempDir(), "users.report.csv")
	l := NewLiveReport(table, LiveReportOptions{Path: path, Input: liveInput(n), Opts: input.Options{}, RunID: "20261201T000000Z-abcdef01"})
	b.ResetTimer()
	for range b.N {
		if _, err := l.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// The refresher's pace: every interval for a small report; for a large
// one, no sooner than 20 times the last rewrite took, and no more than
// reportWriteRate of the disk. (Paced by CPU alone, a million-row report
// of 45 MB taking 0.67 s was rewritten every 13 s: 300 GB a day for a
// migration that runs a day against the real quota.)
func TestRefreshWait(t *testing.T) {
	for _, c := range []struct {
		took time.Duration
		size int64
		want time.Duration
	}{
		{10 * time.Millisecond, 100 << 10, 5 * time.Second},
		{670 * time.Millisecond, 1 << 20, 13400 * time.Millisecond},
		{670 * time.Millisecond, 45 << 20, 180 * time.Second},
	} {
		if got := refreshWait(5*time.Second, c.took, c.size); got != c.want {
			t.Errorf("after a rewrite of %d bytes in %v: next in %v, want %v", c.size, c.took, got, c.want)
		}
	}
}

// The final report is written once the checkpoint holds every outcome
// durably (review stop 11, 7: it was written after Stop without a flush,
// so a crash right after it left a report listing rows the checkpoint had
// lost, which the resumed run did again).
func TestLiveReportFinalNeverAheadOfCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.report.csv")
	cp := &fakeCheckpoint{}
	l := NewLiveReport(NewOutcomeTable(), LiveReportOptions{Path: path, Input: liveInput(3), RunID: "r1", Checkpoint: cp})
	for row := 1; row <= 3; row++ {
		if err := l.Record(batch.Result{Row: row, Email: fmt.Sprintf("u%07d@example.com", row), Outcome: batch.Sent}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.WriteFinal(); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	for row := 1; row <= 3; row++ {
		listed := strings.Contains(got, fmt.Sprintf("u%07d@example.com,sent", row))
		if !listed {
			t.Errorf("final report %q does not list row %d", got, row)
		}
		if listed && !cp.durable[row] {
			t.Errorf("the final report lists row %d, which the checkpoint had not made durable (durable: %v)", row, cp.durable)
		}
	}

	// A checkpoint that cannot be made durable: the report is left as it was.
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cp.err = errors.New("fsync failed")
	if err := l.WriteFinal(); !errors.Is(err, cp.err) {
		t.Errorf("WriteFinal with a broken checkpoint: %v, want %v", err, cp.err)
	}
	if got := readFile(t, path); got != "old\n" {
		t.Errorf("report %q after a failed flush, want the old one", got)
	}
}
