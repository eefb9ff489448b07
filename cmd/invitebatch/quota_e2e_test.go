package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// A list lookup of three pages whose first request fails once: the summary
// counts every page as a request, as the emulator saw them.
func TestE2EListPagesCountAsRequests(t *testing.T) {
	w := newWorld(t)
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 450 {
		e := fmt.Sprintf("u%03d@example.com", i)
		w.emu.Seed(e, emulator.KindInvited)
		csv.WriteString(e + "\n")
	}
	w.write("users.csv", csv.String())
	w.emu.FailNext(emulator.MethodList, 1, 503)
	res := w.run("run", "--lookup", "list", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	sum := w.summary("sum.json")
	lists := 0
	for _, n := range sum.APICalls["list"] {
		lists += n
	}
	if got, want := lists, w.emu.Stats().Total(emulator.MethodList); got != want || want != 4 {
		t.Errorf("summary counts %d list requests, the emulator saw %d; want 4 (3 pages and a retry)", got, want)
	}
	if sum.Outcomes["already_invited"] != 450 {
		t.Errorf("outcomes = %v, want 450 already_invited", sum.Outcomes)
	}
}

// seedUnmanaged seeds n unmanaged accounts and writes them as users.csv.
func seedUnmanaged(w *world, prefix string, n int) {
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range n {
		e := fmt.Sprintf("%s%03d@example.com", prefix, i)
		w.emu.Seed(e, emulator.KindUnmanaged)
		csv.WriteString(e + "\n")
	}
	w.write("users.csv", csv.String())
}

// Google's per-minute quotas are fixed windows whose 429s carry no
// RetryInfo, and --qps is set far above the quota. The run must use every
// window to its quota (the pacer used to set its rate from the zero
// requests a used-up window accepts and fall to its floor, 0.2/s), and
// must not keep hammering a window that refuses everything (a 429 not
// reported to the pacer does). Windows aligned to the clock and at an
// arbitrary offset alike.
func TestE2EFixedWindowsWithoutRetryInfo(t *testing.T) {
	const (
		perWindow = 10
		window    = 2 * time.Second
		rows      = 60
	)
	// At --adaptive=false too: the rate stays, but a used-up window is
	// probed, not hammered (before: some 30 refused per accepted request
	// here, and against 60 s windows rows failed after 100 refusals).
	for _, c := range []struct {
		offset time.Duration
		fixed  bool
	}{{0, false}, {1300 * time.Millisecond, false}, {0, true}} {
		t.Run(fmt.Sprintf("offset=%v,adaptive=%v", c.offset, !c.fixed), func(t *testing.T) {
			w := newWorld(t)
			seedUnmanaged(w, "win", rows)
			w.emu.SetWindowQuota(perWindow, window, c.offset)
			// --max-duration only bounds a broken tool's run.
			res := w.run("run", "--qps", "100", "--summary", "sum.json", "--max-duration", "2m",
				fmt.Sprintf("--adaptive=%v", !c.fixed), "users.csv")
			if res.code != 0 {
				t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
			}
			sum := w.summary("sum.json")
			if sum.Outcomes["sent"] != rows || sum.Outcomes["failed"] != 0 {
				t.Errorf("outcomes = %v, want %d sent", sum.Outcomes, rows)
			}
			st := w.emu.Stats()
			if len(st.Windows) < 3 {
				t.Fatalf("windows = %+v, want the run to span at least 3", st.Windows)
			}
			accepted, refused := windowsUsed(t, st, perWindow)
			// A used-up window is probed, not hammered: a few 429s each.
			if refused > 2*accepted {
				t.Errorf("%d requests refused for %d accepted, want at most 2 per accepted request: the tool keeps sending into a used-up window (windows %+v)",
					refused, accepted, st.Windows)
			}
			t.Logf("windows %+v; %d accepted, %d refused", st.Windows, accepted, refused)
		})
	}
}

// A 429 whose RetryInfo says how long to wait holds every worker, not only
// the one told: no request reaches the server while it runs (apart from
// those already in flight). Over the cap of 5 minutes, the run stops
// resumably (exit 3) instead.
func TestE2EServerDelayHoldsEveryWorker(t *testing.T) {
	w := newWorld(t)
	// More rows than workers, so that some are free to go early.
	seedUnmanaged(w, "delay", 100)
	w.emu.SetWindowQuota(30, 4*time.Second, 0)
	if err := w.emu.SetRetryInfo(emulator.RetryInfoExact); err != nil {
		t.Fatal(err)
	}
	res := w.run("run", "--qps", "100", "--summary", "sum.json", "--max-duration", "2m", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	st := w.emu.Stats()
	if st.EarlyRequests > 0 || st.Throttled == 0 {
		t.Errorf("%d requests came while a RetryInfo still ran (%d 429s), want none: the server delay must hold every worker",
			st.EarlyRequests, st.Throttled)
	}
	if sum := w.summary("sum.json"); sum.Outcomes["sent"] != 100 {
		t.Errorf("outcomes = %v, want 100 sent", sum.Outcomes)
	}

	// Over the cap.
	w = newWorld(t)
	seedUnmanaged(w, "cap", 20)
	w.emu.SetWindowQuota(5, time.Hour, 0)
	if err := w.emu.SetRetryInfo("2h"); err != nil {
		t.Fatal(err)
	}
	res = w.run("run", "--qps", "100", "--summary", "sum.json", "users.csv")
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3 (a server delay over the cap)\n%s", res.code, res.stderr)
	}
	sum := w.summary("sum.json")
	if sum.Stopped != "quota" || sum.QuotaResets == nil || time.Until(*sum.QuotaResets) < time.Hour || sum.Outcomes["failed"] != 0 {
		t.Errorf("summary stopped=%q resets=%v outcomes=%v; want a quota stop in about 2h, no failed row", sum.Stopped, sum.QuotaResets, sum.Outcomes)
	}
}

// A daily quota used up stops the run at once with exit 3, no row failed;
// the summary and the log say when it comes back (midnight Pacific); the
// same command then finishes the rows.
func TestE2EDailyQuotaStopsResumably(t *testing.T) {
	w := newWorld(t)
	seedUnmanaged(w, "day", 60)
	w.emu.SetDailyQuota(25)
	res := w.run("run", "--qps", "50", "--summary", "sum.json", "users.csv")
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3\n%s", res.code, res.stderr)
	}
	sum := w.summary("sum.json")
	pacific, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(pacific)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, pacific)
	if sum.Stopped != "quota" || sum.QuotaResets == nil || !sum.QuotaResets.Equal(midnight) {
		t.Errorf("summary stopped=%q quota_resets=%v, want quota and %v", sum.Stopped, sum.QuotaResets, midnight)
	}
	if sum.Outcomes["failed"] != 0 || sum.Outcomes["unconfirmed"] != 0 {
		t.Errorf("outcomes = %v, want no row failed for a daily quota", sum.Outcomes)
	}
	if !strings.Contains(res.stderr, "midnight Pacific") || !strings.Contains(res.stderr, "quota_resets") {
		t.Errorf("the log does not say when the quota comes back:\n%s", res.stderr)
	}
	if n := w.emu.Stats().Throttled; n > 10 {
		t.Errorf("%d daily-quota 429s, want the run to stop at the first few", n)
	}

	w.emu.SetDailyQuota(0) // the next day
	res = w.run("run", "--qps", "50", "--summary", "sum2.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("rerun: exit = %d, want 0\n%s", res.code, res.stderr)
	}
	if sum := w.summary("sum2.json"); sum.Outcomes["sent"] != 60 {
		t.Errorf("after the rerun: outcomes = %v, want 60 sent", sum.Outcomes)
	}
	if d := w.emu.Stats().DuplicateSends; d != 0 {
		t.Errorf("%d duplicate sends", d)
	}
}

// windowsUsed checks that a run against fixed quota windows of perWindow
// requests used them: it spans at most twice the windows its accepted
// requests need (a probe pause of up to a whole 2 s window may miss one now
// and then; a collapsed pacer, at 0.2/s, needs 25 times as many, and the run
// hits --max-duration). It returns the requests accepted and refused.
func windowsUsed(t *testing.T, st emulator.Stats, perWindow int) (accepted, refused int) {
	t.Helper()
	for _, win := range st.Windows {
		accepted += win.Accepted
		refused += win.Throttled
	}
	if need := (accepted + perWindow - 1) / perWindow; len(st.Windows) > 2*need {
		t.Errorf("the run spanned %d windows where its %d requests need %d: quota left unused (windows %+v)",
			len(st.Windows), accepted, need, st.Windows)
	}
	return accepted, refused
}
