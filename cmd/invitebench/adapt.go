package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// accepted is requests the emulator answered with anything but 429.
func accepted(s emulator.Stats) int { return totalRequests(s) - s.Throttled }

// adapt: the emulator enforces S < --qps (the tool gets --qps 2S). A fixed
// rate run, the adaptive run and the GAM model side by side at the same S;
// then S rises mid-run and the adaptive rate must follow it up.
func adapt(o *options) error {
	s := o.adaptS
	d := o.duration
	rowsFor := int(2 * s * d.Seconds())

	type side struct {
		name                string
		rowsPerSec, accRate float64
		share429            float64
		failed, rows, reqs  int
	}
	var sides []side
	for i, adaptive := range []bool{false, true} {
		e, err := startEmulator(o.bin, "--latency", o.adaptLat.String(), "--quota", fmt.Sprint(s))
		if err != nil {
			return err
		}
		dir, err := subdir(o, fmt.Sprintf("adapt-%v", adaptive))
		prefix := fmt.Sprintf("a%d-", i)
		if err == nil {
			err = writeCSV(filepath.Join(dir, "in.csv"), prefix, rowsFor)
		}
		var t *toolRun
		if err == nil {
			t, err = runTool(o.bin, e, dir, nil, "--qps", fmt.Sprint(2*s), fmt.Sprintf("--adaptive=%v", adaptive),
				"--max-duration", d.String(), "--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
		}
		var st emulator.Stats
		if err == nil {
			st, err = e.stats()
		}
		e.stop()
		if err != nil {
			return err
		}
		name := "fixed"
		if adaptive {
			name = "adaptive"
		}
		secs := t.sum.DurationSeconds
		sides = append(sides, side{name: name, rowsPerSec: float64(t.sum.RowsThisRun) / secs,
			accRate: float64(accepted(st)) / secs, share429: float64(st.Throttled) / float64(max(1, totalRequests(st))),
			failed: t.sum.Outcomes["failed"] + t.sum.Outcomes["unconfirmed"], rows: t.sum.RowsThisRun, reqs: totalRequests(st)})
	}

	// The GAM model at the same S.
	e, err := startEmulator(o.bin, "--latency", o.adaptLat.String(), "--quota", fmt.Sprint(s))
	if err != nil {
		return err
	}
	g := gamModel{Workers: 5, Tries: 10}.run(e, "g-", d)
	st, err := e.stats()
	e.stop()
	if err != nil {
		return err
	}
	secs := g.elapsed.Seconds()
	sides = append(sides, side{name: "gam-model", rowsPerSec: float64(g.rows) / secs, accRate: float64(accepted(st)) / secs,
		share429: float64(st.Throttled) / float64(max(1, totalRequests(st))), failed: g.failed, rows: g.rows, reqs: totalRequests(st)})

	for _, sd := range sides {
		fields := []string{fmt.Sprintf("S=%g", s), fmt.Sprintf("qps=%g", 2*s), fmt.Sprintf("rows/s=%.1f", sd.rowsPerSec),
			fmt.Sprintf("accepted=%.2fxS", sd.accRate/s), fmt.Sprintf("429=%.1f%%", 100*sd.share429),
			fmt.Sprintf("failed=%d", sd.failed), fmt.Sprintf("rows=%d", sd.rows)}
		if sd.name == "adaptive" {
			report("adapt", sd.failed == 0 && sd.share429 < 0.05 && sd.accRate >= 0.9*s,
				append([]string{"mode=adaptive"}, append(fields, "target:failed=0,429<5%,accepted>=0.9xS")...)...)
		} else {
			info("adapt", append([]string{"mode=" + sd.name}, fields...)...)
		}
	}
	return adaptRise(o)
}

// adaptRise starts the quota at S/2 and raises it to S halfway through.
// The accepted rate is measured over the last third of each half, once the
// pacer has had time to react.
func adaptRise(o *options) error {
	s := o.adaptS
	d := max(2*o.duration, 16*time.Second)
	e, err := startEmulator(o.bin, "--latency", o.adaptLat.String(), "--quota", fmt.Sprint(s/2))
	if err != nil {
		return err
	}
	defer e.stop()
	dir, err := subdir(o, "adapt-rise")
	if err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, "in.csv"), "r-", int(2*s*d.Seconds())); err != nil {
		return err
	}
	type snap struct {
		at  time.Time
		acc int
	}
	take := func() snap {
		st, _ := e.stats()
		return snap{time.Now(), accepted(st)}
	}
	snaps := make(chan [4]snap, 1)
	go func() {
		var sn [4]snap
		half := d / 2
		time.Sleep(half / 3)
		sn[0] = take()
		time.Sleep(half/3*2 - 300*time.Millisecond)
		sn[1] = take()
		time.Sleep(300 * time.Millisecond)
		_ = e.setQuota(s)
		time.Sleep(half / 3)
		sn[2] = take()
		time.Sleep(half/3*2 - 500*time.Millisecond)
		sn[3] = take()
		snaps <- sn
	}()
	t, err := runTool(o.bin, e, dir, nil, "--qps", fmt.Sprint(2*s), "--max-duration", d.String(),
		"--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
	if err != nil {
		return err
	}
	sn := <-snaps
	rate := func(a, b snap) float64 { return float64(b.acc-a.acc) / b.at.Sub(a.at).Seconds() }
	low, high := rate(sn[0], sn[1]), rate(sn[2], sn[3])
	st, err := e.stats()
	if err != nil {
		return err
	}
	report("adapt-rise", high >= 0.9*s && low >= 0.9*s/2 && t.sum.Outcomes["failed"] == 0,
		fmt.Sprintf("S=%g->%g", s/2, s), fmt.Sprintf("before=%.2fxS/2", low/(s/2)), fmt.Sprintf("after=%.2fxS", high/s),
		fmt.Sprintf("429=%.1f%%", 100*float64(st.Throttled)/float64(max(1, totalRequests(st)))),
		fmt.Sprintf("failed=%d", t.sum.Outcomes["failed"]), "target:after>=0.9xS")
	return nil
}
