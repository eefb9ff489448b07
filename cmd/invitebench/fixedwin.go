package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// windows: Google's rate quotas are fixed windows (N requests per window,
// 429s without RetryInfo once used up, back at the next window). The
// emulator enforces N = S x W per window of W, starting at an offset that
// is no multiple of anything the tool could know; invitebatch at --qps 2S
// (twice the window's average) and the GAM model each get a fresh
// emulator. Over 3 whole windows after the first request (the partial
// first and last ones left out): the accepted requests per window against
// N, and the share of requests answered 429.
func windows(o *options) error {
	s := o.adaptS
	lengths := []time.Duration{30 * time.Second, 60 * time.Second}
	if o.quick {
		lengths = []time.Duration{4 * time.Second}
	}
	for _, w := range lengths {
		n := int(s * w.Seconds())
		type side struct {
			name string
			wins []emulator.WindowCount
		}
		var sides []side
		for i, name := range []string{"invitebatch", "gam-model"} {
			prefix := fmt.Sprintf("fw%d-", i)
			rows := 6 * n // more than 3 windows and the partial ones can take
			e, err := startEmulator(o.bin, "--latency", o.adaptLat.String(), "--window-quota", fmt.Sprint(n),
				"--window", w.String(), "--window-offset", (w * 37 / 100).String())
			if err != nil {
				return err
			}
			dir, err := subdir(o, fmt.Sprintf("windows-%s-%s", w, name))
			if err == nil {
				err = e.seed(seedKinds(prefix, rows, func(int) string { return "unmanaged" }))
			}
			if err == nil {
				err = writeCSV(filepath.Join(dir, "in.csv"), prefix, rows)
			}
			var wins []emulator.WindowCount
			if err == nil {
				wins, err = wholeWindows(e, 3, func(ctx context.Context) error {
					if name == "gam-model" {
						gamModel{Workers: 5, Tries: 10}.run(ctx, e, addresses(prefix, rows))
						return nil
					}
					_, err := runToolCtx(ctx, o.bin, e, dir, nil, "--qps", fmt.Sprint(2*s),
						"--max-duration", (6 * w).String(), "--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
					return err
				})
			}
			e.stop()
			if err != nil {
				return fmt.Errorf("%s windows, %s: %w", w, name, err)
			}
			sides = append(sides, side{name, wins})
		}
		for _, sd := range sides {
			acc, thr, minAcc := 0, 0, n
			for _, win := range sd.wins {
				acc += win.Accepted
				thr += win.Throttled
				minAcc = min(minAcc, win.Accepted)
			}
			used := float64(acc) / float64(n*len(sd.wins))
			share := float64(thr) / float64(max(1, acc+thr))
			fields := []string{"tool=" + sd.name, fmt.Sprintf("window=%s", w), fmt.Sprintf("N=%d", n), fmt.Sprintf("qps=%g", 2*s),
				fmt.Sprintf("accepted=%.3fxN", used), fmt.Sprintf("worst-window=%.3fxN", float64(minAcc)/float64(n)),
				fmt.Sprintf("429=%.1f%%", 100*share), fmt.Sprintf("windows=%d", len(sd.wins))}
			if sd.name == "gam-model" {
				info("windows", fields...)
				continue
			}
			report("windows", used >= 0.95 && share < 0.05, append(fields, "target:accepted>=0.95xN,429<5%")...)
		}
	}
	return nil
}

// wholeWindows runs contender until the emulator has counted k whole
// windows of the window quota after the one of the first request, and
// returns those k.
func wholeWindows(e *emu, k int, contender func(ctx context.Context) error) ([]emulator.WindowCount, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- contender(ctx) }()
	for {
		select {
		case err := <-done:
			return nil, fmt.Errorf("contender ended before %d whole windows: %v", k, err)
		case <-time.After(200 * time.Millisecond):
		}
		st, err := e.stats()
		if err != nil {
			cancel()
			<-done
			return nil, err
		}
		// The first window is partial, the last one still running.
		if len(st.Windows) >= k+2 {
			cancel()
			<-done
			return st.Windows[1 : k+1], nil
		}
	}
}

// sharpRun is how long the sharp-bucket run lasts, and sharpQuick its
// target in the shorter -quick run, where the three 429s that measure S
// cost 6% of the run: a tool that ignores the server's delay, or does not
// slow down on a 429, is refused far more than 2% of the time, and one
// that halves and stays there accepts 0.5 S.
const (
	sharpRun, sharpRunQuick = 2 * time.Minute, 20 * time.Second
	sharpQuick              = 0.8
)

// sharpBucket: a token bucket of S = 50/s with a bucket of only 10, whose
// 429s carry RetryInfo 1s, and the tool at --qps 4S. Accepted requests per
// second against S, and the share answered 429, over the run's window.
//
// Every 429 pauses the whole run for the second it says (the contract's
// rule), and in that second the server saves only its bucket: each costs
// S - 10 = 40 accepted requests, 2.7% of a 30 s run. The tool knows only
// that S < 4S when it starts, so it needs a few 429s to measure S (three,
// then one more that measures it to 1%). The target is judged over
// sharpRun; the figure over the first -duration is printed beside it.
func sharpBucket(o *options) error {
	const s, burst = 50.0, 10
	d := max(o.duration, sharpRun)
	if o.quick {
		d = max(o.duration, sharpRunQuick)
	}
	rows := int(3 * s * d.Seconds())
	e, err := startEmulator(o.bin, "--latency", o.adaptLat.String())
	if err != nil {
		return err
	}
	defer e.stop()
	b, _ := json.Marshal(map[string]any{"quota_qps": s, "quota_burst": burst, "retry_info": "1s",
		"latency_ms": float64(o.adaptLat) / float64(time.Millisecond)})
	if err := e.post("/emulator/config", bytes.NewReader(b), nil); err != nil {
		return err
	}
	dir, err := subdir(o, "sharp-bucket")
	if err == nil {
		err = e.seed(seedKinds("sb-", rows, func(int) string { return "unmanaged" }))
	}
	if err == nil {
		err = writeCSV(filepath.Join(dir, "in.csv"), "sb-", rows)
	}
	if err != nil {
		return err
	}
	var marks []time.Duration
	if o.duration < d {
		marks = []time.Duration{o.duration}
	}
	w, early, _, err := measureMarks(e, d, 0, marks, func(ctx context.Context) error {
		_, err := runToolCtx(ctx, o.bin, e, dir, nil, "--qps", fmt.Sprint(4*s), "--max-duration", (d + 30*time.Second).String(),
			"--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv"))
		return err
	})
	if err != nil {
		return err
	}
	figures := func(w window) (acc, share float64) {
		return float64(w.accepted) / w.secs, float64(w.throttled) / float64(max(1, w.requests))
	}
	for _, w := range early {
		acc, share := figures(w)
		fmt.Printf("%-13s window=%.1fs  accepted=%.3fxS  429=%.2f%%  (info: the first %s of the run below)\n",
			"sharp-bucket", w.secs, acc/s, 100*share, o.duration)
	}
	acc, share := figures(w)
	target := 0.95
	if o.quick {
		target = sharpQuick
	}
	report("sharp-bucket", acc >= target*s && share < 0.02, fmt.Sprintf("S=%g", s), fmt.Sprintf("bucket=%d", burst), "retry-info=1s",
		fmt.Sprintf("qps=%g", 4*s), fmt.Sprintf("window=%.1fs", w.secs), fmt.Sprintf("accepted=%.3fxS", acc/s),
		fmt.Sprintf("429=%.2f%%", 100*share), fmt.Sprintf("target:accepted>=%gxS,429<2%%", target))
	return nil
}
