package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// realisticKind is the world of the quota-cost scenario, a realistic
// customer (#13): 70% listed unmanaged accounts, 10% INVITED, 5% ACCEPTED,
// 5% DECLINED, 5% managed or no account, 5% too new to be listed.
func realisticKind(i int) string {
	switch j := i % 20; {
	case j < 14:
		return "unmanaged"
	case j < 16:
		return "invited"
	case j == 16:
		return "accepted"
	case j == 17:
		return "declined"
	case j == 18 && (i/20)%2 == 0:
		return "managed"
	case j == 18:
		return "none"
	}
	return "new"
}

// quotaRegime is a server-side quota the contenders meet.
type quotaRegime struct {
	name    string
	emuArgs []string // `invitebatch emulator` flags
	d       time.Duration
	align   time.Duration // fixed windows: contenders start at a window's start
}

// quotaCost: invitebatch, then the GAM model (then, for the trade-off of
// --check-each, invitebatch --check-each), on the same input against the
// same world and the same quota, each on a fresh emulator, measured by the
// emulator over the same window. Per contender: new invitations (to
// people not already invited) per second and per 1,000 requests the quota
// accepted, emails to people already invited, duplicate sends.
func quotaCost(o *options) error {
	s := o.adaptS
	d := o.duration
	regimes := []quotaRegime{{name: fmt.Sprintf("bucket(S=%g/s)", s), emuArgs: []string{"--quota", fmt.Sprint(s)}, d: d}}
	if out, _ := exec.Command(o.bin, "emulator", "-h").CombinedOutput(); bytes.Contains(out, []byte("-window-quota")) {
		regimes = append(regimes, fixedWindowRegime(o, s))
	} else {
		// A binary from before the emulator's fixed windows (-bin).
		fmt.Printf("%-12s  quota=fixed-windows  skipped: this emulator has no --window-quota  (info)\n", "quota-cost")
	}
	for _, q := range regimes {
		rows := int(2.5 * s * q.d.Seconds()) // more than either side can settle in the window
		type result struct {
			w   window
			end emulator.Stats
		}
		contenders := []string{"invitebatch", "gam-model", "invitebatch--check-each"}
		if o.quick || q.align > 0 {
			// CI runs -quick: the comparison only; and three 60 s windows
			// per contender are long enough for two.
			contenders = contenders[:2]
		}
		res := make([]result, len(contenders))
		for i, name := range contenders {
			e, err := startEmulator(o.bin, append([]string{"--latency", o.adaptLat.String()}, q.emuArgs...)...)
			if err != nil {
				return err
			}
			dir, err := subdir(o, "quota-cost-"+name)
			if err == nil {
				err = e.seed(seedKinds("w", rows, realisticKind))
			}
			if err == nil {
				err = writeCSV(filepath.Join(dir, "in.csv"), "w", rows)
			}
			if err != nil {
				e.stop()
				return err
			}
			var w window
			var end emulator.Stats
			if name == "gam-model" {
				w, end, err = measureAligned(e, q.d, q.align, func(ctx context.Context) error {
					gamModel{Workers: 5, Tries: 10}.run(ctx, e, addresses("w", rows))
					return nil
				})
			} else {
				args := []string{"--qps", fmt.Sprint(2 * s), "--max-duration", (q.d + time.Minute).String(),
					"--ledger", filepath.Join(dir, "ledger"), filepath.Join(dir, "in.csv")}
				if name == "invitebatch--check-each" {
					args = append([]string{"--check-each"}, args...)
				}
				w, end, err = measureAligned(e, q.d, q.align, func(ctx context.Context) error {
					_, err := runToolCtx(ctx, o.bin, e, dir, nil, args...)
					return err
				})
			}
			e.stop()
			if err != nil {
				return fmt.Errorf("%s %s: %w", q.name, name, err)
			}
			res[i] = result{w, end}
			info("quota-cost", "quota="+q.name, "tool="+name, fmt.Sprintf("window=%.1fs", w.secs),
				fmt.Sprintf("new-invitations/s=%.1f", float64(w.newInvitations())/w.secs),
				fmt.Sprintf("per-1k-requests=%.0f", 1000*float64(w.newInvitations())/float64(max(1, w.accepted))),
				fmt.Sprintf("requests=%d", w.accepted), fmt.Sprintf("429=%d", w.throttled),
				fmt.Sprintf("emails-to-already-invited=%d", end.Resends), fmt.Sprintf("duplicate-sends=%d", end.DuplicateSends))
		}
		ib, gam := res[0], res[1]
		ratio := (float64(ib.w.newInvitations()) / ib.w.secs) / max(1e-9, float64(gam.w.newInvitations())/gam.w.secs)
		fields := []string{"quota=" + q.name, fmt.Sprintf("rows=%d", rows), fmt.Sprintf("new-invitation-rate=%.2fx-gam", ratio),
			fmt.Sprintf("emails-to-already-invited=%d(gam:%d)", ib.end.Resends, gam.end.Resends),
			fmt.Sprintf("duplicate-sends=%d(gam:%d)", ib.end.DuplicateSends, gam.end.DuplicateSends)}
		if len(res) > 2 {
			each := res[2]
			fields = append(fields, fmt.Sprintf("check-each=%.2fx-gam",
				(float64(each.w.newInvitations())/each.w.secs)/max(1e-9, float64(gam.w.newInvitations())/gam.w.secs)))
		}
		report("quota-cost", ratio >= 1.0 && ib.end.Resends == 0 && ib.end.DuplicateSends == 0,
			append(fields, "target:>=1.0x-gam,already-invited=0,duplicates=0")...)
	}
	return nil
}

// fixedWindowRegime is a quota of fixed windows of the same mean rate S:
// S*60 requests per 60 s window, 429 without RetryInfo past it until the
// window ends (the emulator's --window-quota). The span measured is three
// whole windows, less a second, from a window's start: no contender gets a
// fourth window's fresh quota into its figure. -quick: 3 s windows.
func fixedWindowRegime(o *options, s float64) quotaRegime {
	w := time.Minute
	if o.quick {
		w = 3 * time.Second
	}
	return quotaRegime{
		name:    fmt.Sprintf("windows(%d/%s)", int(s*w.Seconds()), w),
		emuArgs: []string{"--window-quota", fmt.Sprint(int(s * w.Seconds())), "--window", w.String()},
		d:       3*w - w/60,
		align:   w,
	}
}
