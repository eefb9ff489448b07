package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// steadyRate is the mean of the emulator's per-second request counts,
// leaving out the first and the last second (partial, and the first holds
// the initial burst).
func steadyRate(s emulator.Stats) float64 {
	ps := s.PerSecond
	if len(ps) < 3 {
		return 0
	}
	ps = ps[1 : len(ps)-1]
	n := 0
	for _, c := range ps {
		n += c.Requests
	}
	span := ps[len(ps)-1].Unix - ps[0].Unix + 1
	return float64(n) / float64(span)
}

func totalRequests(s emulator.Stats) int {
	n := 0
	for m := range s.Requests {
		n += s.Total(m)
	}
	return n
}

// quotaUse: with --qps Q and an unthrottled emulator, the run uses all of
// Q and never more than Q + burst in any one-second window.
func quotaUse(o *options) error {
	cases := []struct {
		lat time.Duration
		qps float64
	}{{0, 200}, {100 * time.Millisecond, 100}}
	for _, c := range cases {
		if o.quotaQPS > 0 {
			c.qps = o.quotaQPS
		}
		e, err := startEmulator(o.bin, "--latency", c.lat.String())
		if err != nil {
			return err
		}
		dir, err := subdir(o, fmt.Sprintf("quota-%s", c.lat))
		if err == nil {
			err = writeCSV(filepath.Join(dir, "in.csv"), "q", int(c.qps*o.duration.Seconds()))
		}
		var t *toolRun
		if err == nil {
			t, err = runTool(o.bin, e, dir, nil, "--qps", fmt.Sprint(c.qps), "--max-duration", o.duration.String(),
				"--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
		}
		var st emulator.Stats
		if err == nil {
			st, err = e.stats()
		}
		e.stop()
		if err != nil {
			return err
		}
		// The tool runs with its default burst (= qps), so Q+burst (2Q)
		// would pass a tool that spends a whole burst at once: a run
		// starts at its rate and is paced, so any second holds at most
		// Q and what latency jitter bunches up, a fifth of Q at most.
		slack := max(2, int(c.qps)/5)
		got := steadyRate(st) / c.qps
		over := st.MaxPerWindow - int(c.qps)
		report("quota-use", got >= 0.97 && st.MaxPerWindow <= int(c.qps)+slack && t.sum.Outcomes["failed"] == 0,
			fmt.Sprintf("latency=%s", c.lat), fmt.Sprintf("qps=%g", c.qps), fmt.Sprintf("achieved=%.3fxQ", got),
			fmt.Sprintf("max-window=Q%+d", over), fmt.Sprintf("rows=%d", t.sum.RowsThisRun),
			fmt.Sprintf("target>=0.97xQ,max-window<=Q+%d", slack))
	}
	return nil
}
