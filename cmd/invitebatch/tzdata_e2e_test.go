package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// zoneinfoDirs are where Go looks for the system's zone database on Linux
// (time's platformZoneSources).
var zoneinfoDirs = []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}

// noZoneinfoCommand returns a command running the binary with args where
// Go finds no zone database but an embedded one: in a mount namespace
// whose zoneinfo directories are empty, with ZONEINFO empty and GOROOT
// (whose lib/time/zoneinfo.zip Go tries after time/tzdata) an empty
// directory. It skips the test, saying why, where mount namespaces are
// not allowed.
func noZoneinfoCommand(t *testing.T, w *world, args ...string) *exec.Cmd {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("SKIPPED: no unshare(1) to hide the system zoneinfo (%v); TestBinaryEmbedsTzdata still checks the link", err)
	}
	empty := t.TempDir()
	script := "set -e\n"
	for _, d := range zoneinfoDirs {
		script += "if [ -d " + d + " ]; then mount --bind \"$EMPTY\" " + d + "; fi\n"
	}
	// A precondition: the database really is out of reach.
	script += "if [ -e /usr/share/zoneinfo/America/Los_Angeles ]; then echo 'zoneinfo still visible' >&2; exit 99; fi\n"
	script += "exec \"$@\"\n"
	flags := []string{"-m"}
	if os.Geteuid() != 0 {
		flags = []string{"-r", "-m"} // a user namespace, where allowed
	}
	probe := exec.Command(unshare, append(flags, "sh", "-c", script, "sh", "true")...)
	probe.Env = append(os.Environ(), "EMPTY="+empty)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: cannot hide the system zoneinfo in a mount namespace here (%v: %s); TestBinaryEmbedsTzdata still checks the link", err, out)
	}
	cmd := exec.Command(unshare, append(append(flags, "sh", "-c", script, "sh", binary), args...)...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(),
		"CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer,
		"XDG_STATE_HOME="+w.path("state"),
		"EMPTY="+empty,
		"ZONEINFO=",
		"GOROOT="+empty,
	)
	return cmd
}

// The container image has no zoneinfo, and the daily quota comes back at
// midnight Pacific time: the binary must compute it with its embedded
// time/tzdata. Run where no zone database is reachable, a daily-quota stop
// still names the real next midnight in America/Los_Angeles, labelled PST
// or PDT. Without the embedded database the binary falls back to a fixed
// UTC-8: the log then says "UTC-8", and in summer the time is an hour off.
func TestE2EDailyQuotaWithoutZoneinfo(t *testing.T) {
	w := newWorld(t)
	seedUnmanaged(w, "tz", 10)
	w.emu.SetDailyQuota(3)
	res := runCmd(t, noZoneinfoCommand(t, w, "run", "--qps", "50", "--summary", "sum.json", "users.csv"))
	if res.code == 99 {
		t.Fatalf("the system zoneinfo could not be hidden:\n%s", res.stderr)
	}
	if res.code != 3 {
		t.Fatalf("exit = %d, want 3 (a daily quota stop)\n%s", res.code, res.stderr)
	}
	pacific, err := time.LoadLocation("America/Los_Angeles") // the test's own zoneinfo
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(pacific)
	midnight := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, pacific)
	sum := w.summary("sum.json")
	if sum.Stopped != "quota" || sum.QuotaResets == nil || !sum.QuotaResets.Equal(midnight) {
		t.Errorf("summary stopped=%q quota_resets=%v, want quota and %v", sum.Stopped, sum.QuotaResets, midnight)
	}
	if want := midnight.Format("2006-01-02 15:04 MST"); !strings.Contains(res.stderr, want) {
		t.Errorf("the log does not name the reset as %q (Pacific time from the embedded zone data):\n%s", want, res.stderr)
	}
}

// The link itself, checked wherever the test above cannot hide the system
// zoneinfo: cmd/invitebatch depends on time/tzdata.
func TestBinaryEmbedsTzdata(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "time/tzdata" {
			return
		}
	}
	t.Error("cmd/invitebatch does not import time/tzdata: the daily quota's reset (midnight Pacific) is wrong where the system has no zoneinfo, as in the container image")
}
