package main

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// killMidRun starts a slow run of users.csv and SIGKILLs it once its
// checkpoint has at least rows rows.
func killMidRun(t *testing.T, w *world, rows int, args ...string) {
	t.Helper()
	w.emu.SetLatency(30*time.Millisecond, 0)
	p := w.start(append([]string{"run", "--qps", "50", "--workers", "4"}, append(args, "users.csv")...)...)
	w.waitCheckpoint(p, "users.checkpoint", rows, 30*time.Second)
	res := p.kill9()
	checkRaces(t, res.stderr)
	if res.signaled != syscall.SIGKILL {
		t.Fatalf("the run ended by itself (exit %d) before it was killed", res.code)
	}
	w.emu.SetLatency(0, 0)
}

func TestCrashTornCheckpointTail(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 40)
	killMidRun(t, w, 8)

	// Tear the last line in its middle, as a crash inside write(2) would.
	cp := w.path("users.checkpoint")
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.TrimSuffix(b, []byte("\n"))
	last := bytes.LastIndexByte(body, '\n') + 1
	cut := last + (len(body)-last)/2
	t.Logf("cutting %q to %q", body[last:], body[last:cut])
	if err := os.Truncate(cp, int64(cut)); err != nil {
		t.Fatal(err)
	}

	res := w.runR("run", "--qps", "500", "users.csv")
	if res.code != 0 {
		t.Fatalf("rerun after a torn checkpoint: exit %d\n%s", res.code, res.stderr)
	}
	// The torn row is processed again; the ledger makes it sent, not a
	// second email.
	checkAllSentOnce(t, w, emails, "")
	if s := w.checkpoint("users.checkpoint"); !s.Finished || recorded(s) != len(emails) {
		t.Errorf("checkpoint: finished %v, %d rows; want finished, %d", s.Finished, recorded(s), len(emails))
	}
}

func TestCrashCorruptCheckpointMiddle(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 40)
	killMidRun(t, w, 8)

	// Flip a byte inside line 3 (a row record): not a torn tail, damage.
	cp := w.path("users.checkpoint")
	b, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	off := len(lines[0]) + len(lines[1]) + len(lines[2])/2
	b[off] ^= 0x01
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}

	calls := arrivals(w.emu)
	res := w.runR("run", "--qps", "500", "users.csv")
	if res.code != 2 {
		t.Fatalf("rerun with a damaged checkpoint: exit %d, want 2\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "line 3") || !strings.Contains(res.stderr, "--fresh") {
		t.Errorf("stderr does not name the damaged line (3) and the way out (--fresh):\n%s", res.stderr)
	}
	if n := arrivals(w.emu) - calls; n != 0 {
		t.Errorf("%d API calls before exit 2, want none", n)
	}
	if got, _ := os.ReadFile(cp); !bytes.Equal(got, b) {
		t.Errorf("the damaged checkpoint was changed; it must be left for inspection")
	}

	res = w.runR("run", "--qps", "500", "--fresh", "users.csv")
	if res.code != 0 {
		t.Fatalf("--fresh past a damaged checkpoint: exit %d\n%s", res.code, res.stderr)
	}
	// A new run: what the killed run sent is already_invited by the ledger
	// (or sent, when the kill left only its intent).
	checkAllSentOnce(t, w, emails, "already_invited")
}
