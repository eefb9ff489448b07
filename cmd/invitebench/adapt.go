package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// accepted is requests the emulator answered with anything but 429.
func accepted(s emulator.Stats) int { return totalRequests(s) - s.Throttled }

// adapt: the emulator enforces S < --qps (the tool gets --qps 2S). A fixed
// rate run, the adaptive run and the GAM model side by side at the same S,
// each measured by the emulator over the same window (see measure) on
// listed unmanaged accounts, where both tools need one request per
// invitation; then S rises mid-run and the adaptive rate must follow it up.
func adapt(o *options) error {
	s := o.adaptS
	d := o.duration
	rows := int(3 * s * d.Seconds()) // more than either side can send in d

	type side struct {
		name   string
		w      window
		failed int
	}
	var sides []side
	contenders := []string{"fixed", "adaptive", "gam-model"}
	for i, name := range contenders {
		e, err := startEmulator(o.bin, "--latency", o.adaptLat.String(), "--quota", fmt.Sprint(s))
		if err != nil {
			return err
		}
		prefix := fmt.Sprintf("a%d-", i)
		dir, err := subdir(o, "adapt-"+name)
		if err == nil {
			err = e.seed(seedKinds(prefix, rows, func(int) string { return "unmanaged" }))
		}
		if err == nil {
			err = writeCSV(filepath.Join(dir, "in.csv"), prefix, rows)
		}
		if err != nil {
			e.stop()
			return err
		}
		var w window
		failed := 0
		if name == "gam-model" {
			var g gamResult
			w, _, err = measure(e, d, func(ctx context.Context) error {
				g = gamModel{Workers: 5, Tries: 10}.run(ctx, e, addresses(prefix, rows))
				return nil
			})
			failed = g.failed
		} else {
			var t *toolRun
			w, _, err = measure(e, d, func(ctx context.Context) error {
				var err error
				t, err = runToolCtx(ctx, o.bin, e, dir, nil, "--qps", fmt.Sprint(2*s), "--adaptive="+fmt.Sprint(name == "adaptive"),
					"--max-duration", (d + 30*time.Second).String(), "--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
				return err
			})
			if t != nil {
				failed = t.sum.Outcomes["failed"] + t.sum.Outcomes["unconfirmed"]
			}
		}
		e.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		sides = append(sides, side{name: name, w: w, failed: failed})
	}
	gam := sides[2].w
	for _, sd := range sides {
		share429 := float64(sd.w.throttled) / float64(max(1, sd.w.requests))
		acc := float64(sd.w.accepted) / sd.w.secs
		rate := float64(sd.w.sends) / sd.w.secs
		fields := []string{"mode=" + sd.name, fmt.Sprintf("S=%g", s), fmt.Sprintf("window=%.1fs", sd.w.secs),
			fmt.Sprintf("sent/s=%.1f", rate), fmt.Sprintf("accepted=%.2fxS", acc/s), fmt.Sprintf("429=%.1f%%", 100*share429),
			fmt.Sprintf("failed=%d", sd.failed), fmt.Sprintf("sent=%d", sd.w.sends)}
		if sd.name == "gam-model" {
			info("adapt", fields...)
			continue
		}
		fields = append(fields, fmt.Sprintf("vs-gam=%.2fx", rate/max(1e-9, float64(gam.sends)/gam.secs)))
		if sd.name == "adaptive" {
			report("adapt", sd.failed == 0 && share429 < 0.05 && acc >= 0.9*s,
				append(fields, "target:failed=0,429<5%,accepted>=0.9xS")...)
		} else {
			info("adapt", append(fields[:1:1], append([]string{"qps=" + fmt.Sprint(2*s)}, fields[1:]...)...)...)
		}
	}
	return adaptRise(o)
}

// adaptRise starts the quota at S/2 and raises it to S halfway through.
// The accepted rate is measured over the last third of each half, once the
// pacer has had time to react. Each half lasts 12 s at least: the pacer
// raises its rate by 2% per second plus 3% per second since the last 429,
// so it takes about 4 s to double (an 8 s half left it 2.7 s, and a
// loaded machine measured 0.86 S).
func adaptRise(o *options) error {
	s := o.adaptS
	d := max(2*o.duration, 24*time.Second)
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
