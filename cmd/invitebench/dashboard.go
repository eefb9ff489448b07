package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// The dashboard's targets (issue 14): the page of a 100,000-invitation
// customer builds in under 10 s against an unthrottled emulator, and
// weighs under 5 MB.
const (
	dashboardTarget     = 10 * time.Second
	dashboardSizeTarget = 5 << 20
)

// dashboard measures `invitebatch dashboard` on an emulator seeded with a
// history of 100,000 invitations (-quick: 10,000) plus a fifth as many
// accounts not invited yet, and the ledger that agrees with it: the list
// of every invitation, the ledger, the figures, the charts and the page.
func dashboard(o *options) error {
	n := 100_000
	if o.quick {
		n = 10_000
	}
	dir, err := subdir(o, "dashboard")
	if err != nil {
		return err
	}
	ledger := filepath.Join(dir, "history.ledger")
	e, err := startEmulator(o.bin, "--history", fmt.Sprint(n), "--history-ledger", ledger)
	if err != nil {
		return err
	}
	defer e.stop()
	for _, format := range []string{"html", "json"} {
		out := filepath.Join(dir, "migration."+format)
		cmd := exec.Command(o.bin, "dashboard", "--customer", customer, "--ledger", ledger,
			"--qps", "1000000", "--format", format, "--output", out)
		cmd.Env = append(os.Environ(), "CLOUDIDENTITY_EMULATOR_HOST="+e.addr)
		tail := &tailWriter{max: 4096}
		cmd.Stderr = tail
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("dashboard exited %d: %s", ee.ExitCode(), tail.String())
		} else if err != nil {
			return err
		}
		var cpu time.Duration
		var rss int64
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			rss = ru.Maxrss * 1024
		}
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fields := []string{fmt.Sprintf("invitations=%d", n), "format=" + format,
			fmt.Sprintf("wall=%.2fs", wall.Seconds()), fmt.Sprintf("cpu=%.2fs", cpu.Seconds()),
			fmt.Sprintf("maxrss=%.1fMiB", mib(rss)), fmt.Sprintf("size=%.0fKiB", float64(st.Size())/1024)}
		if format == "json" {
			info("dashboard", fields...)
			continue
		}
		report("dashboard", wall < dashboardTarget && st.Size() < dashboardSizeTarget,
			append(fields, fmt.Sprintf("target<%s,size<5MiB", dashboardTarget))...)
	}
	return nil
}
