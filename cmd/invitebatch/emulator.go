package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// emulatorCommand serves the built-in emulator until interrupted.
func emulatorCommand(e env, args []string) error {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8086", "`host:port` to listen on (keep it on loopback: the admin endpoints are unauthenticated)")
	customer := fs.String("customer", "C0emulator", "the customer `ID` the emulator answers for (my_customer is also accepted)")
	seed := fs.String("seed", "", "seed CSV `file` (email,kind; kinds: unmanaged, invited, accepted, declined, managed, none, new, ineligible)")
	var domains listFlag
	fs.Var(&domains, "domain", "a verified `domain` of the customer (repeatable; default: any)")
	latency := fs.Duration("latency", 0, "added latency per request")
	jitter := fs.Duration("jitter", 0, "random extra latency per request, up to this")
	quota := fs.Float64("quota", 0, "enforced requests per second (0: unlimited); over it: 429 RESOURCE_EXHAUSTED with RetryInfo")
	failRate := fs.Float64("fail-rate", 0, "fraction of requests answered 503")
	windowQuota := fs.Int("window-quota", 0, "a fixed-window quota: this many requests per --window (0: none); over it: 429 without RetryInfo until the window ends")
	window := fs.Duration("window", time.Minute, "length of the --window-quota windows")
	windowOffset := fs.Duration("window-offset", 0, "windows start this far past each multiple of --window (0: aligned to the clock)")
	retryInfo := fs.String("retry-info", "", "RetryInfo of quota 429s: exact (time until free), none, or a fixed `delay` such as 1s (default: exact for --quota, none for --window-quota)")
	throttleAs := fs.String("throttle-as", "429", "how --quota and --window-quota refuse: 429 (RESOURCE_EXHAUSTED), 403 (PERMISSION_DENIED with ErrorInfo reason RATE_LIMIT_EXCEEDED) or 403-legacy (only a legacy errors[] reason rateLimitExceeded, no RetryInfo)")
	dailyQuota := fs.Int("daily-quota", 0, "requests per day (Pacific time) before every request gets a daily-quota 429 (0: none)")
	var hist historyFlags
	hist.register(fs)
	refusal := fs.String("refusal", "failed_precondition", "how send refuses an ineligible account: failed_precondition (400), not_found (404) or permission_denied (403 naming the address)")
	profile := fs.String("profile", "default", "how single addresses are refused: default, or google-strict (404 from isInvitableUser for no account, 403 for other domains, 404 from send and cancel for no invitation)")
	readOnly := fs.Bool("read-only", false, "answer as to a credential that can read but not write: send and cancel get 403 PERMISSION_DENIED")
	hangRate := fs.Float64("hang-rate", 0, "fraction of requests accepted and never answered (a half-open connection)")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: invitebatch emulator [flags]\n\n%s", flagUsage(fs))
		return err
	}
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("emulator: unexpected arguments %q", pos)
	}
	if err := hist.check("emulator"); err != nil {
		return err
	}
	// A window quota over no window would be silently off (SetWindowQuota):
	// a benchmark or test against it would measure something else.
	switch {
	case *windowQuota < 0 || *dailyQuota < 0 || *quota < 0:
		return usagef("emulator: --quota, --window-quota and --daily-quota must be >= 0")
	case *windowQuota > 0 && *window <= 0:
		return usagef("emulator: --window-quota %d needs a --window longer than 0 (got %v)", *windowQuota, *window)
	}
	ref, err := emulator.ParseRefusal(*refusal)
	if err != nil {
		return usagef("emulator: --refusal: %v", err)
	}
	throttle, err := emulator.ParseThrottle(*throttleAs)
	if err != nil {
		return usagef("emulator: --throttle-as: %v", err)
	}
	prof, err := emulator.ParseProfile(*profile)
	if err != nil {
		return usagef("emulator: --profile: %v", err)
	}
	if *hangRate < 0 || *hangRate > 1 || *failRate < 0 || *failRate > 1 {
		return usagef("emulator: --hang-rate and --fail-rate must be between 0 and 1")
	}
	emu := emulator.New(emulator.Options{Customer: *customer, Domains: domains})
	emu.SetRefusal(ref)
	emu.SetProfile(prof)
	emu.SetReadOnly(*readOnly)
	emu.SetHangRate(*hangRate)
	emu.SetThrottleAs(throttle)
	if *seed != "" {
		f, err := os.Open(*seed)
		if err != nil {
			return usagef("emulator: --seed: %v", err)
		}
		err = emu.LoadSeed(f)
		f.Close()
		if err != nil {
			return usagef("emulator: --seed %s: %v", *seed, err)
		}
	}
	emu.SetLatency(*latency, *jitter)
	emu.SetQuota(*quota, max(1, int(*quota)))
	emu.SetFailRate(*failRate)
	emu.SetWindowQuota(*windowQuota, *window, *windowOffset)
	emu.SetDailyQuota(*dailyQuota)
	if err := emu.SetRetryInfo(*retryInfo); err != nil {
		return usagef("emulator: --retry-info: %v", err)
	}
	bound, stop, err := serveEmulator(emu, *addr)
	if err != nil {
		return err
	}
	defer stop()
	// The history's ledger names this emulator's address as its backend,
	// so it is known once the address is: the address is printed only
	// after the history is in place.
	if err := hist.load(emu, time.Now(), bound, *customer); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "invitebatch emulator: serving customer %s on http://%s/ (stats: /emulator/stats)\n", *customer, bound)
	fmt.Fprintf(e.stderr, "  use it with: CLOUDIDENTITY_EMULATOR_HOST=%s invitebatch run --customer %s FILE.csv\n", bound, *customer)
	select {
	case <-e.stop:
	case <-e.ctx.Done():
	}
	return nil
}
