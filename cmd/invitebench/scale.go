package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// callsPerRow: the request targets of #13. A fresh migration of listed
// unmanaged accounts (<= 1.01 requests per sent row, list pages included)
// and its rerun (<= 0.01 per row); the realistic world of quota-cost; and
// a small CSV against a customer with far more listed accounts (auto
// within 1.1x the requests of the per-row path).
func callsPerRow(o *options) error {
	n := 20_000
	if o.quick {
		n = 2_000
	}
	if err := callsFresh(o, n); err != nil {
		return err
	}
	if err := callsRealistic(o, n); err != nil {
		return err
	}
	return callsSparse(o)
}

func callsFresh(o *options, n int) error {
	e, err := startEmulator(o.bin)
	if err != nil {
		return err
	}
	defer e.stop()
	if err := e.seed(seedKinds("c", n, func(int) string { return "unmanaged" })); err != nil {
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
	t, w, err := runCounted(o, e, dir, args...)
	if err != nil {
		return err
	}
	sent := t.sum.Outcomes["sent"]
	perRow := float64(w.requests) / float64(max(sent, 1))
	report("calls-fresh", perRow <= 1.01 && sent == n, fmt.Sprintf("rows=%d", n), "world=listed-unmanaged",
		fmt.Sprintf("sent=%d", sent), fmt.Sprintf("requests/sent-row=%.4f", perRow),
		fmt.Sprintf("list-pages=%d", w.list), fmt.Sprintf("lookup=%s", t.sum.Lookup), "target<=1.01")

	// The same command again: a new run (the checkpoint finished) that the
	// ledger settles.
	t, w, err = runCounted(o, e, dir, args...)
	if err != nil {
		return err
	}
	perRow = float64(w.requests) / float64(max(t.sum.RowsThisRun, 1))
	report("calls-rerun", perRow <= 0.01 && t.sum.Outcomes["already_invited"] == n, fmt.Sprintf("rows=%d", n),
		fmt.Sprintf("already_invited=%d", t.sum.Outcomes["already_invited"]), fmt.Sprintf("requests/row=%.4f", perRow),
		fmt.Sprintf("requests=%d", w.requests), fmt.Sprintf("list-pages=%d", w.list), "target<=0.01")
	return nil
}

// counted is what the emulator received during one run of the tool.
type counted struct {
	requests, list int
	sends, resends int
	duplicateSends int
}

// runCounted runs the tool and counts, on the emulator's side, the
// requests it made (every list page is one).
func runCounted(o *options, e *emu, dir string, args ...string) (*toolRun, counted, error) {
	before, err := e.stats()
	if err != nil {
		return nil, counted{}, err
	}
	t, err := runTool(o.bin, e, dir, nil, args...)
	if err != nil {
		return nil, counted{}, err
	}
	after, err := e.stats()
	return t, counted{
		requests:       totalRequests(after) - totalRequests(before),
		list:           after.Total(emulator.MethodList) - before.Total(emulator.MethodList),
		sends:          after.Sends - before.Sends,
		resends:        after.Resends - before.Resends,
		duplicateSends: after.DuplicateSends - before.DuplicateSends,
	}, err
}

// callsRealistic: the quota-cost world without a quota: requests per row
// by outcome.
func callsRealistic(o *options, n int) error {
	e, err := startEmulator(o.bin)
	if err != nil {
		return err
	}
	defer e.stop()
	if err := e.seed(seedKinds("r", n, realisticKind)); err != nil {
		return err
	}
	dir, err := subdir(o, "calls-realistic")
	if err != nil {
		return err
	}
	in := filepath.Join(dir, "in.csv")
	if err := writeCSV(in, "r", n); err != nil {
		return err
	}
	t, w, err := runCounted(o, e, dir, "--qps", "2000", "--ledger", filepath.Join(dir, "ledger"), in)
	if err != nil {
		return err
	}
	sent := t.sum.Outcomes["sent"]
	info("calls-world", fmt.Sprintf("rows=%d", n), "world=realistic", fmt.Sprintf("sent=%d", sent),
		fmt.Sprintf("requests/row=%.3f", float64(w.requests)/float64(n)),
		fmt.Sprintf("requests/sent-row=%.3f", float64(w.requests)/float64(max(sent, 1))),
		fmt.Sprintf("calls/row:sent=%.2f,not_invitable=%.2f,already_invited=%.2f", t.sum.CallsPerRow["sent"],
			t.sum.CallsPerRow["not_invitable"], t.sum.CallsPerRow["already_invited"]),
		fmt.Sprintf("list-pages=%d", w.list), fmt.Sprintf("emails-to-already-invited=%d", w.resends),
		fmt.Sprintf("duplicate-sends=%d", w.duplicateSends))
	return nil
}

// callsSparse: a 500-row CSV against a customer with 1,000,000 listed
// accounts (-quick: 50 rows, 100,000 accounts): --lookup auto must cost at
// most 1.1x the per-row path (--lookup get: a get and a send per row). Two
// disjoint CSVs spread over the same list, one per path.
func callsSparse(o *options) error {
	listed, rows := 1_000_000, 500
	if o.quick {
		listed, rows = 100_000, 50
	}
	e, err := startEmulator(o.bin)
	if err != nil {
		return err
	}
	defer e.stop()
	if err := e.seed(seedKinds("l", listed, func(int) string { return "unmanaged" })); err != nil {
		return err
	}
	step := listed / rows
	var reqs [2]int
	var lookup, why string
	for i, mode := range []string{"get", "auto"} {
		dir, err := subdir(o, "calls-sparse-"+mode)
		if err != nil {
			return err
		}
		in := filepath.Join(dir, "in.csv")
		b := []byte("email\n")
		for r := range rows {
			b = append(b, address("l", r*step+i*step/2)+"\n"...)
		}
		if err := os.WriteFile(in, b, 0o600); err != nil {
			return err
		}
		t, w, err := runCounted(o, e, dir, "--qps", "2000", "--lookup", mode, "--ledger", filepath.Join(dir, "ledger"), in)
		if err != nil {
			return err
		}
		if t.sum.Outcomes["sent"] != rows {
			return fmt.Errorf("sparse %s run sent %d of %d rows (exit %d): %s", mode, t.sum.Outcomes["sent"], rows, t.exit, t.stderr)
		}
		reqs[i] = w.requests
		lookup, why = t.sum.Lookup, t.sum.LookupReason
	}
	ratio := float64(reqs[1]) / float64(reqs[0])
	report("calls-sparse", ratio <= 1.1, fmt.Sprintf("rows=%d", rows), fmt.Sprintf("listed=%d", listed),
		fmt.Sprintf("per-row-path=%d", reqs[0]), fmt.Sprintf("auto=%d", reqs[1]), fmt.Sprintf("auto/per-row=%.3f", ratio),
		"auto-chose="+lookup, "target<=1.1")
	fmt.Printf("# calls-sparse: auto's reason: %s\n", why)
	return nil
}

// scaleRun is one run of the scale scenario.
type scaleRun struct {
	rows  int
	t     *toolRun
	dir   string
	args  []string
	fsync bool
	addr  string // the emulator's address: a test backend's ledger belongs to it
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
		runs = append(runs, scaleRun{rows: p.rows, t: t, dir: dir, args: args, fsync: p.fsync, addr: e.addr})
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
	judge := fullSize(o)
	judge("scale-growth", growth <= 64, fmt.Sprintf("rows=%d->%d", small.rows, full.rows),
		fmt.Sprintf("growth=%.1fB/row", growth), "target<=64B/row")
	rate := float64(full.rows) / full.t.wall.Seconds()
	rateOff := float64(nosync.rows) / nosync.t.wall.Seconds()
	judge("scale-rate", rate >= 5000, fmt.Sprintf("rows=%d", full.rows), "fsync=on", fmt.Sprintf("rows/s=%.0f", rate),
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
	judge("scale-cpu", cpu <= 150, append(fields, "target<=150µs/row")...)
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
	// At the big run's address: the ledger (and the checkpoint) belong to
	// that test backend, and one on another port is another backend.
	e, err := startEmulator(o.bin, "--addr", r.addr)
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
