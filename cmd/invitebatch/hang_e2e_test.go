package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// hangWorld is a world of n unmanaged addresses in users.csv.
func hangWorld(t *testing.T, n int) (*world, []string) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email\n")
	emails := make([]string, n)
	for i := range n {
		emails[i] = fmt.Sprintf("h%04d@example.com", i)
		b.WriteString(emails[i] + "\n")
	}
	w.write("users.csv", b.String())
	return w, emails
}

// checkEachSentOnce checks the report (one outcome per row, each sent) and
// that the emulator delivered exactly one email to each address.
func checkEachSentOnce(t *testing.T, w *world, emails []string) {
	t.Helper()
	got := checkReport(t, w.report("users.report.csv"), len(emails))
	for _, e := range emails {
		if got[e] != "sent" {
			t.Errorf("%s: %q, want sent", e, got[e])
		}
		if n := w.emu.Sends(e); n != 1 {
			t.Errorf("%s: %d emails, want 1", e, n)
		}
	}
	if d := w.emu.Stats().DuplicateSends; d != 0 {
		t.Errorf("duplicate sends = %d, want 0", d)
	}
}

// A run in which 1% of the requests are accepted and never answered (a
// half-open connection) finishes: each hung request ends at its own
// timeout, every row has one outcome, and nobody gets a second email (half
// of the hung sends went out before hanging).
func TestE2EHungRequestsFinish(t *testing.T) {
	w, emails := hangWorld(t, 300)
	w.emu.SetHangRate(0.01)
	p := w.start("run", "--qps", "1000", "--workers", "16", "--request-timeout", "1s", "--summary", "sum.json", "users.csv")
	res := p.wait(4 * time.Minute)
	checkRaces(t, res.stderr)
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	hung := 0
	for _, codes := range w.emu.Stats().Requests {
		hung += codes[emulator.CodeHung]
	}
	if hung == 0 {
		t.Errorf("no request hung: the test proves nothing")
	}
	t.Logf("%d requests hung", hung)
	checkEachSentOnce(t, w, emails)
}

// A first Ctrl-C, or --max-duration, ends a run whose requests all hang
// within about the request timeout (the waits between attempts wake at
// once), exit 3; the rerun completes it without a second email.
func TestE2EFirstStopIsBounded(t *testing.T) {
	for _, how := range []string{"signal", "max-duration"} {
		t.Run(how, func(t *testing.T) { testFirstStopIsBounded(t, how) })
	}
}

func testFirstStopIsBounded(t *testing.T, how string) {
	w, emails := hangWorld(t, 40)
	w.emu.SetHangRate(1)
	args := []string{"run", "--lookup", "get", "--qps", "1000", "--workers", "8", "--request-timeout", "2s", "users.csv"}
	if how == "max-duration" {
		args = append(args, "--max-duration", "3s")
	}
	p := w.start(args...)
	waitArrivals(t, w, p, 8)
	if how == "signal" {
		time.Sleep(3 * time.Second) // some requests have timed out and wait to retry
		p.signal(os.Interrupt)
	}
	res := p.wait(60 * time.Second)
	checkRaces(t, res.stderr)
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3\n%s", res.code, res.stderr)
	}
	w.emu.SetHangRate(0)
	if res := w.runR("run", "--qps", "1000", "users.csv"); res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	checkEachSentOnce(t, w, emails)
}

// A second Ctrl-C exits at once even with every request hanging for an
// hour, leaving intents that the rerun settles.
func TestE2ESecondStopExitsAtOnce(t *testing.T) {
	w, emails := hangWorld(t, 40)
	w.emu.SetHangRate(1)
	p := w.start("run", "--lookup", "get", "--qps", "1000", "--workers", "8", "--request-timeout", "1h", "users.csv")
	waitArrivals(t, w, p, 8)
	p.signal(os.Interrupt)
	time.Sleep(200 * time.Millisecond)
	p.signal(os.Interrupt)
	res := p.wait(20 * time.Second)
	checkRaces(t, res.stderr)
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3\n%s", res.code, res.stderr)
	}
	w.emu.SetHangRate(0)
	if res := w.runR("run", "--qps", "1000", "users.csv"); res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	checkEachSentOnce(t, w, emails)
}

// waitArrivals waits until the emulator has received n requests.
func waitArrivals(t *testing.T, w *world, p *proc, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for arrivals(w.emu) < n {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("the run made %d requests, want %d; stderr:\n%s", arrivals(w.emu), n, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
