package main

// Regression test of review stop 11, finding 9: dry runs and runs over
// stdin never removed the temporary file a torn report rewrite leaves
// (.users.dryrun.report.csv.tmp-*, 0600, personal data); only a run under
// its checkpoint's lock did. Another run's rewrite in progress (its
// temporary file flocked) must be left alone.

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

func TestE2EDryRunAndStdinRemoveTornReportTemps(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 3)
	torn := w.write(".users.dryrun.report.csv.tmp-1234", "row,email\n1,"+emails[0]+"\n")
	// Another dry run's rewrite in progress: its temporary file is locked.
	live := w.write(".users.dryrun.report.csv.tmp-5678", "row,email\n")
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if res := w.runR("run", "--dry-run", "users.csv"); res.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(torn); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dry run left the torn report's temporary file (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the dry run removed a temporary file another run is writing: %v", err)
	}

	// A run over stdin, with --report out.csv and no checkpoint.
	torn = w.write(".out.csv.tmp-42", "row,email\n1,"+emails[1]+"\n")
	cmd := exec.Command(binary, "run", "--report", "out.csv", "-")
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer, "XDG_STATE_HOME="+w.path("state"), goraceEnv)
	cmd.Stdin = strings.NewReader("email\n" + strings.Join(emails, "\n") + "\n")
	res := runCmd(t, cmd)
	checkRaces(t, res.stderr)
	if res.code != 0 {
		t.Fatalf("stdin run: exit %d\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(torn); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stdin run left the torn report's temporary file (%v)", err)
	}
	if got := outcomeByEmail(w.report("out.csv")); len(got) != 3 {
		t.Errorf("stdin run's report: %v", got)
	}
}
