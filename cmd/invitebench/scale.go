package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// callsPerRow: API requests per row by outcome, on a fresh migration and
// on a rerun that the ledger and the list settle.
func callsPerRow(o *options) error {
	n := 20_000
	if o.quick {
		n = 2_000
	}
	e, err := startEmulator(o.bin)
	if err != nil {
		return err
	}
	defer e.stop()
	if err := e.seed(seedCSV("c", n)); err != nil {
		return err
	}
	dir, err := subdir(o, "calls")
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "in.csv")
	if err := writeCSV(in, "c", n); err != nil {
		return err
	}
	args := []string{"--qps", "2000", "--ledger", filepath.Join(dir, "ledger"), in}
	for i := range 2 { // a fresh migration, then a rerun
		t, err := runTool(o.bin, e, dir, nil, args...)
		if err != nil {
			return err
		}
		list := 0
		for _, c := range t.sum.APICalls["list"] {
			list += c
		}
		callsOf := func(outcomes ...string) (calls float64, rows int) {
			for _, oc := range outcomes {
				calls += t.sum.CallsPerRow[oc] * float64(t.sum.Outcomes[oc])
				rows += t.sum.Outcomes[oc]
			}
			return calls, rows
		}
		if i == 0 {
			calls, sent := callsOf("sent")
			perRow := (calls + float64(list)) / float64(max(sent, 1))
			report("calls-fresh", perRow <= 2.05 && sent > 0, fmt.Sprintf("rows=%d", n), fmt.Sprintf("sent=%d", sent),
				fmt.Sprintf("calls/sent-row=%.3f", t.sum.CallsPerRow["sent"]), fmt.Sprintf("with-list=%.3f", perRow),
				fmt.Sprintf("list-pages=%d", list), "target<=2.05")
			continue
		}
		calls, settled := callsOf("already_invited", "already_accepted", "declined")
		perRow := (calls + float64(list)) / float64(max(settled, 1))
		report("calls-rerun", perRow <= 0.05 && settled > 0, fmt.Sprintf("rows=%d", n), fmt.Sprintf("settled=%d", settled),
			fmt.Sprintf("calls/settled-row=%.4f", perRow), fmt.Sprintf("not-invitable-rechecked=%d", t.sum.Outcomes["not_invitable"]),
			fmt.Sprintf("total-calls=%d", t.sum.APICallsTotal), "target<=0.05")
	}
	return nil
}

// scaleRun is one run of the scale scenario.
type scaleRun struct {
	rows  int
	t     *toolRun
	dir   string
	args  []string
	fsync bool
}

// scale: a big input with a ledger of as many earlier sends (to other
// addresses, so every row is sent: the dearest case), against an
// unthrottled zero-latency emulator. A run of a tenth of the rows gives
// the RSS baseline for the growth per row.
func scale(o *options) error {
	small := max(1, o.scaleRows/10)
	plans := []struct {
		rows    int
		fsync   bool
		profile bool
	}{{small, true, false}, {o.scaleRows, true, o.profileDir != ""}, {o.scaleRows, false, false}}
	var runs []scaleRun
	for i, p := range plans {
		if !o.scenarios["scale"] && i != 1 {
			continue // resume alone needs only the full run
		}
		dir, err := subdir(o, fmt.Sprintf("scale-%d-fsync-%v", p.rows, p.fsync))
		if err != nil {
			return err
		}
		in := filepath.Join(dir, "in.csv")
		if err := writeCSV(in, fmt.Sprintf("s%d-", i), p.rows); err != nil {
			return err
		}
		if err := writeLedger(filepath.Join(dir, "ledger"), "old-", o.ledgerRows); err != nil {
			return err
		}
		args := []string{"--qps", "1000000", "--ledger", filepath.Join(dir, "ledger"), in}
		if !p.fsync {
			args = append([]string{"--unsafe-no-fsync"}, args...)
		}
		var env []string
		if p.profile {
			if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
				return err
			}
			env = []string{"INVITEBATCH_CPUPROFILE=" + filepath.Join(o.profileDir, "cpu.pprof"),
				"INVITEBATCH_MEMPROFILE=" + filepath.Join(o.profileDir, "heap.pprof")}
		}
		e, err := startEmulator(o.bin)
		if err != nil {
			return err
		}
		t, err := runTool(o.bin, e, dir, env, args...)
		e.stop()
		if err != nil {
			return err
		}
		if t.sum.Outcomes["sent"] != p.rows {
			return fmt.Errorf("scale run of %d rows sent %d (exit %d): %s", p.rows, t.sum.Outcomes["sent"], t.exit, t.stderr)
		}
		runs = append(runs, scaleRun{rows: p.rows, t: t, dir: dir, args: args, fsync: p.fsync})
	}
	if o.scenarios["scale"] {
		reportScale(o, runs[0], runs[1], runs[2])
	}
	if o.scenarios["resume"] {
		full := runs[0]
		if len(runs) > 1 {
			full = runs[1]
		}
		return resume(o, full)
	}
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func reportScale(o *options, small, full, nosync scaleRun) {
	ledger := fmt.Sprintf("ledger=%d", o.ledgerRows)
	for _, r := range []scaleRun{small, full, nosync} {
		info("scale-run", fmt.Sprintf("rows=%d", r.rows), ledger, fmt.Sprintf("fsync=%v", r.fsync),
			fmt.Sprintf("wall=%.1fs", r.t.wall.Seconds()), fmt.Sprintf("rows/s=%.0f", float64(r.rows)/r.t.wall.Seconds()),
			fmt.Sprintf("cpu=%.1fµs/row", float64(r.t.cpu().Microseconds())/float64(r.rows)),
			fmt.Sprintf("user=%.1fs", r.t.user.Seconds()), fmt.Sprintf("sys=%.1fs", r.t.sys.Seconds()),
			fmt.Sprintf("maxrss=%.1fMiB", mib(r.t.maxRSS)), fmt.Sprintf("calls=%d", r.t.sum.APICallsTotal))
	}
	report("scale-rss", full.t.maxRSS <= 100<<20, fmt.Sprintf("rows=%d", full.rows), ledger,
		fmt.Sprintf("peak=%.1fMiB", mib(full.t.maxRSS)), "target<=100MiB")
	growth := float64(full.t.maxRSS-small.t.maxRSS) / float64(full.rows-small.rows)
	report("scale-growth", growth <= 64, fmt.Sprintf("rows=%d->%d", small.rows, full.rows),
		fmt.Sprintf("growth=%.1fB/row", growth), "target<=64B/row")
	rate := float64(full.rows) / full.t.wall.Seconds()
	rateOff := float64(nosync.rows) / nosync.t.wall.Seconds()
	report("scale-rate", rate >= 5000, fmt.Sprintf("rows=%d", full.rows), "fsync=on", fmt.Sprintf("rows/s=%.0f", rate),
		fmt.Sprintf("fsync-off=%.0f", rateOff), fmt.Sprintf("on/off=%.2f", rate/rateOff), "target>=5000")
	cpu := float64(full.t.cpu().Microseconds()) / float64(full.rows)
	cpuOff := float64(nosync.t.cpu().Microseconds()) / float64(nosync.rows)
	fields := []string{fmt.Sprintf("rows=%d", full.rows), "fsync=on", fmt.Sprintf("cpu=%.1fµs/row", cpu),
		fmt.Sprintf("fsync-off=%.1fµs/row", cpuOff)}
	if ref, err := httpReference(); err == nil && ref > 0 {
		// The same CPU in units of a bare loopback request measured now
		// (client and server): steadier across the day than microseconds.
		fields = append(fields, fmt.Sprintf("=%.2fx-bare-request(%.1fµs)", cpu/(float64(ref.Nanoseconds())/1e3),
			float64(ref.Nanoseconds())/1e3))
	}
	report("scale-cpu", cpu <= 150, append(fields, "target<=150µs/row")...)
}

// resume: the same command again after the big run. First with every row
// final but the checkpoint not marked finished (a crash after the last
// row): the run resumes with nothing to do. Then after it finished: a new
// run in which the ledger settles every row.
func resume(o *options, r scaleRun) error {
	cp := filepath.Join(r.dir, "in.checkpoint")
	b, err := os.ReadFile(cp)
	if err != nil {
		return err
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	last := bytes.LastIndexByte(b, '\n')
	if last < 0 || !bytes.HasSuffix(b, []byte(" finished")) {
		return fmt.Errorf("%s does not end with a finished line", cp)
	}
	if err := os.WriteFile(cp, b[:last+1], 0o600); err != nil {
		return err
	}
	e, err := startEmulator(o.bin)
	if err != nil {
		return err
	}
	defer e.stop()
	t, err := runTool(o.bin, e, r.dir, nil, r.args...)
	if err != nil {
		return err
	}
	report("resume", t.wall <= 5*time.Second && t.sum.Resumed,
		fmt.Sprintf("rows=%d", r.rows), "all-final=true", fmt.Sprintf("wall=%.2fs", t.wall.Seconds()),
		fmt.Sprintf("cpu=%.2fs", t.cpu().Seconds()), fmt.Sprintf("maxrss=%.1fMiB", mib(t.maxRSS)),
		fmt.Sprintf("calls=%d", t.sum.APICallsTotal), "target<=5s")
	t, err = runTool(o.bin, e, r.dir, nil, r.args...)
	if err != nil {
		return err
	}
	info("rerun", fmt.Sprintf("rows=%d", r.rows), "settled-by=ledger", fmt.Sprintf("wall=%.2fs", t.wall.Seconds()),
		fmt.Sprintf("cpu=%.2fs", t.cpu().Seconds()), fmt.Sprintf("maxrss=%.1fMiB", mib(t.maxRSS)),
		fmt.Sprintf("calls=%d", t.sum.APICallsTotal), fmt.Sprintf("already_invited=%d", t.sum.Outcomes["already_invited"]))
	return nil
}
