package reports

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

var noSync = CheckpointOptions{NoSync: true}

// testIdentity is a run identity over the input with hex SHA-256 sha.
func testIdentity(sha string) RunIdentity {
	return RunIdentity{InputSHA256: sha, Command: "run", Customer: "C0test", Backend: "test:127.0.0.1:8086", EmailColumn: 1}
}

func record(t *testing.T, c *Checkpoint, results ...batch.Result) {
	t.Helper()
	for _, r := range results {
		if err := c.Record(r); err != nil {
			t.Fatalf("Record(%v): %v", r, err)
		}
	}
}

func mustLoad(t *testing.T, path string) *CheckpointState {
	t.Helper()
	s, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		t.Fatal("no checkpoint")
	}
	return s
}

func TestCheckpointRunAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.checkpoint")
	if s, err := LoadCheckpoint(path); s != nil || err != nil {
		t.Fatalf("LoadCheckpoint of a missing file = %v, %v, want nil, nil", s, err)
	}
	sha := strings.Repeat("ab", 32)
	c, err := CreateCheckpoint(path, testIdentity(sha), "run-1", noSync)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateCheckpoint(path, testIdentity(sha), "run-2", noSync); !IsLocked(err) {
		t.Fatalf("second CreateCheckpoint: %v, want a lock error", err)
	}
	odd := "line one\nline \"two\"\t\x00 ünï \xff"
	record(t, c,
		batch.Result{Row: 2, Email: "b@x.y", Outcome: batch.Failed, Reason: "HTTP 500"},
		batch.Result{Row: 1, Email: "a@x.y", Outcome: batch.Sent},
		batch.Result{Row: 3, Outcome: batch.Invalid, Reason: odd},
		batch.Result{Row: 5, Outcome: batch.Duplicate, Reason: "same as row 1"},
	)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("@x.y")) {
		t.Errorf("the checkpoint holds addresses:\n%s", b)
	}

	s := mustLoad(t, path)
	if s.InputSHA256 != sha || s.RunID != "run-1" || s.Finished || s.FinishedBefore || time.Since(s.Started) > time.Minute {
		t.Errorf("header: %+v", s)
	}
	wants := []struct {
		row    int
		o      batch.Outcome
		reason string
	}{
		{0, batch.OutcomeNone, ""},
		{1, batch.Sent, ""},
		{2, batch.Failed, "HTTP 500"},
		{3, batch.Invalid, odd},
		{4, batch.OutcomeNone, ""},
		{5, batch.Duplicate, "same as row 1"},
		{6, batch.OutcomeNone, ""},
	}
	for _, w := range wants {
		if o, r := s.Outcome(w.row); o != w.o || r != w.reason {
			t.Errorf("Outcome(%d) = %v, %q, want %v, %q", w.row, o, r, w.o, w.reason)
		}
	}
	if s.Rows() != 5 || s.Count(batch.Sent) != 1 || s.Count(batch.OutcomeNone) != 1 || !s.HasFailed() {
		t.Errorf("Rows %d, Count(sent) %d, Count(none) %d, HasFailed %v", s.Rows(), s.Count(batch.Sent), s.Count(batch.OutcomeNone), s.HasFailed())
	}

	// A resumed run re-records row 2 and finishes.
	c, err = ResumeCheckpoint(path, s, noSync)
	if err != nil {
		t.Fatal(err)
	}
	record(t, c, batch.Result{Row: 2, Outcome: batch.Sent}, batch.Result{Row: 4, Outcome: batch.Sent})
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := c.Record(batch.Result{Row: 9, Outcome: batch.Sent}); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("Record after Close: %v, want ErrJournalClosed", err)
	}
	s = mustLoad(t, path)
	if o, r := s.Outcome(2); o != batch.Sent || r != "" {
		t.Errorf("Outcome(2) after resume = %v, %q, want sent", o, r)
	}
	if !s.Finished || s.HasFailed() || s.Count(batch.Sent) != 3 || s.Count(batch.Failed) != 0 || s.Count(batch.OutcomeNone) != 0 {
		t.Errorf("after resume: Finished %v, HasFailed %v, Count(sent) %d", s.Finished, s.HasFailed(), s.Count(batch.Sent))
	}

	// Resuming a finished run makes it unfinished until it finishes again.
	c, err = ResumeCheckpoint(path, s, noSync)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if s := mustLoad(t, path); s.Finished || !s.FinishedBefore {
		t.Errorf("a resumed, unfinished run loads with Finished %v, FinishedBefore %v; want false, true", s.Finished, s.FinishedBefore)
	}
}

func TestCheckpointRejects(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][2]string{{"", "r"}, {"abc", ""}, {"abc", "run 1"}, {"a\nb", "r"}} {
		if _, err := CreateCheckpoint(filepath.Join(dir, "c"), testIdentity(args[0]), args[1], noSync); err == nil {
			t.Errorf("CreateCheckpoint(%q, %q) succeeded", args[0], args[1])
		}
	}
	c, err := CreateCheckpoint(filepath.Join(dir, "c"), testIdentity("abc"), "r", noSync)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, r := range []batch.Result{{Row: 0, Outcome: batch.Sent}, {Row: 1}, {Row: 1, Outcome: 200}} {
		if err := c.Record(r); err == nil {
			t.Errorf("Record(%+v) succeeded", r)
		}
	}
	// A long reason is cut, on a rune boundary.
	record(t, c, batch.Result{Row: 1, Outcome: batch.Failed, Reason: strings.Repeat("é", maxReason)})
	c.Close()
	s := mustLoad(t, filepath.Join(dir, "c"))
	if _, r := s.Outcome(1); len(r) > maxReason+len("…") || !strings.HasSuffix(r, "é…") {
		t.Errorf("long reason kept as %d bytes ending %q", len(r), r[len(r)-8:])
	}
}

func TestCheckpointResumeChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c, err := CreateCheckpoint(path, testIdentity("abc"), "r", noSync)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	s := mustLoad(t, path)
	c, err = ResumeCheckpoint(path, s, noSync)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ResumeCheckpoint(path, s, noSync); !IsLocked(err) {
		t.Errorf("second ResumeCheckpoint: %v, want a lock error", err)
	}
	record(t, c, batch.Result{Row: 1, Outcome: batch.Sent})
	c.Close()
	if _, err := ResumeCheckpoint(path, s, noSync); err == nil || !strings.Contains(err.Error(), "changed since it was loaded") {
		t.Errorf("ResumeCheckpoint with a stale state: %v", err)
	}
	if _, err := ResumeCheckpoint(path, nil, noSync); err == nil {
		t.Error("ResumeCheckpoint with a nil state succeeded")
	}
}

// TestCheckpointTornTail cuts the file at every byte offset inside its last
// two records: each copy must load without the torn record, and a resumed run
// must then append valid records.
func TestCheckpointTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	c, err := CreateCheckpoint(src, testIdentity("abc"), "r", noSync)
	if err != nil {
		t.Fatal(err)
	}
	for row := 1; row <= 4; row++ {
		record(t, c, batch.Result{Row: row, Outcome: batch.Failed, Reason: fmt.Sprintf("error %d", row)})
	}
	if err := c.Finish(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	full, _ := os.ReadFile(src)
	starts := lineStarts(full)
	for cut := starts[len(starts)-2]; cut < len(full); cut++ {
		complete := bytes.Count(full[:cut], []byte("\n")) // header + complete rows [+ finished]
		if full[cut] == '\n' {
			complete++ // a complete record without its newline is kept
		}
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadCheckpoint(path)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if wantRows := min(complete-1, 4); s.Rows() != wantRows || s.Finished != (complete == 6) {
			t.Errorf("cut at %d: Rows %d, Finished %v, want %d rows, finished %v", cut, s.Rows(), s.Finished, wantRows, complete == 6)
		}
		c, err := ResumeCheckpoint(path, s, noSync)
		if err != nil {
			t.Fatalf("cut at %d: resume: %v", cut, err)
		}
		record(t, c, batch.Result{Row: 9, Outcome: batch.Sent, Reason: "late"})
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = LoadCheckpoint(path)
		if err != nil {
			t.Fatalf("cut at %d, then append: %v", cut, err)
		}
		if o, r := s.Outcome(9); o != batch.Sent || r != "late" || s.Finished {
			t.Errorf("cut at %d, then append: row 9 = %v, %q; Finished %v", cut, o, r, s.Finished)
		}
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	line := func(payload string) string { return string(appendLine(nil, []byte(payload))) }
	header := line("invitebatch-checkpoint 1 sha256=abc run=r started=2026-11-22T03:00:00Z")
	row := line(`row 1 sent ""`)
	tests := []struct {
		name, content, wantErr string
	}{
		{"torn header only", header[:20], "no header"},
		{"flipped byte", header + strings.Replace(row, "sent", "sena", 1), "line 2 (byte offset 80): checksum mismatch"},
		{"not a checkpoint", line("hello"), "line 1 (byte offset 0): not a checkpoint file"},
		{"version 3", line("invitebatch-checkpoint 3 sha256=abc run=r started=2026-11-22T03:00:00Z"), `unsupported checkpoint version "3"`},
		{"field twice", line("invitebatch-checkpoint 2 sha256=abc run=r started=2026-11-22T03:00:00Z customer=a customer=b"), `bad checkpoint header field "customer"`},
		{"no run id", line("invitebatch-checkpoint 1 sha256=abc started=2026-11-22T03:00:00Z"), "incomplete checkpoint header"},
		{"bad start", line("invitebatch-checkpoint 1 sha256=abc run=r started=yesterday"), "bad checkpoint start time"},
		{"header twice", header + header, "line 2 (byte offset 80): unknown checkpoint record"},
		{"row 0", header + line(`row 0 sent ""`), `bad row number "0"`},
		{"huge row", header + line(`row 99999999999 sent ""`), `bad row number "99999999999"`},
		{"unknown outcome", header + line(`row 1 emailed ""`), `unknown outcome "emailed"`},
		{"none outcome", header + line(`row 1  ""`), `unknown outcome ""`},
		{"unquoted reason", header + line(`row 1 sent oops`), "malformed row reason"},
		{"backquoted reason", header + line("row 1 sent `oops`"), "malformed row reason"},
		{"no reason", header + line(`row 1 sent`), "malformed row record"},
		{"row after bad row", header + line(`row x sent ""`) + row, "line 2 (byte offset 80)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c")
			os.WriteFile(path, []byte(tt.content), 0o600)
			s, err := LoadCheckpoint(path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadCheckpoint = %v, %v, want an error naming %s and %q", s, err, path, tt.wantErr)
			}
		})
	}
}

// TestCheckpointEmptyIsNone: Lock creates the file it locks; a run that
// stopped before writing its checkpoint's header leaves it empty, which
// reads as no checkpoint.
func TestCheckpointEmptyIsNone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	os.WriteFile(path, nil, 0o600)
	if s, err := LoadCheckpoint(path); s != nil || err != nil {
		t.Errorf("LoadCheckpoint(empty) = %v, %v, want nil, nil", s, err)
	}
}

func FuzzLoadCheckpoint(f *testing.F) {
	f.Add(appendLine(appendLine(nil, []byte("invitebatch-checkpoint 1 sha256=abc run=r started=2026-11-22T03:00:00Z")), []byte(`row 3 failed "x\n"`)))
	f.Add([]byte("deadbeef row 1 sent \"\"\n"))
	defer func(old int) { maxCheckpointRow = old }(maxCheckpointRow)
	maxCheckpointRow = 1 << 16 // keep each input's memory small
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "c")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadCheckpoint(path)
		if err != nil || s == nil {
			return
		}
		sum := s.Count(batch.OutcomeNone)
		for _, o := range batch.Outcomes() {
			sum += s.Count(o)
		}
		if sum != s.Rows() {
			t.Fatalf("counts add up to %d, want Rows() = %d", sum, s.Rows())
		}
		c, err := ResumeCheckpoint(path, s, noSync)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Record(batch.Result{Row: 1, Outcome: batch.Sent, Reason: string(data)}); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = LoadCheckpoint(path)
		if err != nil {
			t.Fatalf("load after append: %v", err)
		}
		if o, _ := s.Outcome(1); o != batch.Sent {
			t.Fatalf("row 1 after append: %v", o)
		}
	})
}

// BenchmarkCheckpointLoad loads a checkpoint of a million rows, one in twenty
// with a reason.
func BenchmarkCheckpointLoad(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "c")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.Write(appendLine(nil, []byte("invitebatch-checkpoint 1 sha256=abc run=r started=2026-11-22T03:00:00Z")))
	var p, line []byte
	for row := 1; row <= n; row++ {
		p = fmt.Appendf(p[:0], "row %d sent %q", row, "")
		if row%20 == 0 {
			p = fmt.Appendf(p[:0], "row %d failed %q", row, "googleapi: Error 503: The service is currently unavailable.")
		}
		line = appendLine(line[:0], p)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for b.Loop() {
		cpu0 := cpuTime()
		s, err := LoadCheckpoint(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpuTime() - cpu0).Milliseconds()), "cpu-ms/op")
		if s.Rows() != n || s.Count(batch.Failed) != n/20 {
			b.Fatalf("Rows %d, failed %d", s.Rows(), s.Count(batch.Failed))
		}
	}
}
