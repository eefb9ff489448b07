package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/reports"
)

// runOptions are the flags of `invitebatch run`.
type runOptions struct {
	file string

	apiFlags
	emulator            bool
	emulatorSeed        string
	burst, workers      int
	adaptive            bool
	lookup              string
	checkEach           bool
	report, checkpoint  string
	ledger, summary     string
	metricsFile         string
	metricsEvery        time.Duration
	emailColumn         string
	domains             listFlag
	dryRun, fresh       bool
	maxDuration         time.Duration
	logFormat, logLevel string
	noSync              bool
	resendAfter         time.Duration
	maxMails, maxSends  int
	settleWindow        time.Duration
	yes                 bool
	confirmAbove        int
	progress            string
	cancel              bool // the cancel command
}

// Defaults. No Cloud Identity quota is published; 10 requests/s (600 a
// minute) stays well inside what Google APIs grant a project by default,
// and the pacer slows down by itself on 429. 64 workers keep 10 requests/s
// flowing even at 1 s of latency per request with room to spare, and let the
// ledger's group commit share one fsync among many send intents: against a
// fast server, 64 workers paid 0.08 fsyncs per sent row where 16 paid 0.25,
// and 133 instead of 170 µs of CPU per row (README, "Performance").
const (
	defaultQPS     = 10
	defaultWorkers = 64
)

func newRunFlags(name string, o *runOptions, getenv func(string) string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	o.registerClient(fs, getenv)
	fs.BoolVar(&o.emulator, "emulator", false, "run against the built-in emulator (nothing reaches Google)")
	fs.StringVar(&o.emulatorSeed, "emulator-seed", "", "seed CSV `file` (email,kind) for --emulator")
	fs.Float64Var(&o.qps, "qps", defaultQPS, "API requests per second for the whole run, all methods and workers together")
	fs.IntVar(&o.burst, "burst", 0, "requests allowed at once above the rate (default: max(1, qps))")
	fs.IntVar(&o.workers, "workers", defaultWorkers, "rows processed concurrently")
	fs.BoolVar(&o.adaptive, "adaptive", true, "lower the rate when the server answers 429, and raise it back")
	fs.StringVar(&o.lookup, "lookup", "auto", "how invitation states are read: auto, list or get")
	// A cancel run's files are FILE.cancel.*: see parseRunFlags.
	files := "FILE"
	if o.cancel {
		files = "FILE.cancel"
	}
	fs.StringVar(&o.report, "report", "", "report `file` (default: "+files+".report.csv beside FILE.csv; "+files+".dryrun.report.csv for --dry-run)")
	fs.StringVar(&o.checkpoint, "checkpoint", "", "checkpoint `file` (default: "+files+".checkpoint beside FILE.csv)")
	fs.StringVar(&o.ledger, "ledger", "", "ledger `file` (default: per customer in $XDG_STATE_HOME/invitebatch/)")
	fs.StringVar(&o.summary, "summary", "", "write the summary as JSON to `file` (- for stdout)")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "write Prometheus metrics for node_exporter's textfile collector to `file` (*.prom)")
	fs.DurationVar(&o.metricsEvery, "metrics-interval", 15*time.Second, "how often --metrics-file is rewritten during a run")
	fs.StringVar(&o.emailColumn, "email-column", "", "`name` of the email column (default: detected)")
	fs.Var(&o.domains, "domain", "only invite addresses in this `domain` (repeatable)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check eligibility and state only; never send")
	fs.BoolVar(&o.fresh, "fresh", false, "start a new run even if a checkpoint could be resumed")
	fs.DurationVar(&o.maxDuration, "max-duration", 0, "stop taking rows after this long and exit 3 (resumable)")
	fs.StringVar(&o.logFormat, "log-format", "auto", "auto, console or json (auto: console on a terminal, JSON otherwise)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if name == "run" {
		fs.DurationVar(&o.resendAfter, "resend-after", 0, "re-send INVITED invitations whose last email is older than this (e.g. 336h); default never")
		fs.IntVar(&o.maxMails, "max-mails", 0, "with --resend-after: never past this many emails to one address (0: no cap)")
		fs.DurationVar(&o.settleWindow, "settle-window", 0, "after a send failed ambiguously, wait this long before reading it back (default 60s against Google, 1s against an emulator or loopback endpoint)")
		fs.IntVar(&o.maxSends, "max-sends", 0, "stop after this many emails in this run, exit 3 (a guard against the wrong file; 0: no limit)")
		fs.BoolVar(&o.checkEach, "check-each", false, "ask isInvitableUser before every send, also for rows the invitation list shows NOT_YET_SENT (one more request per invitation)")
		fs.IntVar(&o.confirmAbove, "confirm-above", 500, "on a terminal, ask before a run that may send more than this many emails")
		fs.BoolVar(&o.yes, "yes", false, "do not ask for confirmation")
	}
	fs.StringVar(&o.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal with console logs), always or never")
	fs.BoolVar(&o.noSync, "unsafe-no-fsync", false, "skip fsync of checkpoint and ledger (benchmarks only: a crash may then lose the record of a send)")
	return fs
}

// parseRunFlags parses and checks the command line; every problem is a
// usage error (exit 2).
func parseRunFlags(e env, name string, args []string) (*runOptions, error) {
	o := &runOptions{cancel: name == "cancel"}
	fs := newRunFlags(name, o, e.getenv)
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: invitebatch %s --customer C0xxxxxxx [flags] FILE.csv\n\n%s", name, flagUsage(fs))
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) != 1:
		return nil, usagef("run: want exactly one input FILE.csv (or - for stdin), got %d arguments", len(pos))
	case o.workers < 1 || o.workers > 1024:
		return nil, usagef("run: --workers must be between 1 and 1024")
	case o.burst < 0:
		return nil, usagef("run: --burst must be >= 0")
	case o.lookup != "auto" && o.lookup != "list" && o.lookup != "get":
		return nil, usagef("run: --lookup %q: want auto, list or get", o.lookup)
	case o.maxDuration < 0:
		return nil, usagef("run: --max-duration must be >= 0")
	case o.emulatorSeed != "" && !o.emulator:
		return nil, usagef("run: --emulator-seed needs --emulator")
	case o.metricsFile != "" && filepath.Ext(o.metricsFile) != ".prom":
		return nil, usagef("run: --metrics-file %q: name it *.prom (node_exporter's textfile collector reads only those)", o.metricsFile)
	case o.resendAfter < 0 || o.maxMails < 0 || o.maxSends < 0 || o.settleWindow < 0:
		return nil, usagef("run: --resend-after, --max-mails, --max-sends and --settle-window must be >= 0")
	case o.maxMails > 0 && o.resendAfter == 0:
		return nil, usagef("run: --max-mails only applies with --resend-after")
	case o.progress != "auto" && o.progress != "always" && o.progress != "never":
		return nil, usagef("run: --progress %q: want auto, always or never", o.progress)
	}
	o.file = pos[0]
	if o.burst == 0 {
		o.burst = max(1, int(o.qps))
	}
	for _, d := range o.domains {
		if _, err := input.Address("x@" + d); err != nil {
			return nil, usagef("run: --domain %q is not a domain", d)
		}
	}
	if err := o.checkWith(name, e, o.emulator); err != nil {
		return nil, err
	}
	if isMyCustomer(o.customer) && !o.dryRun {
		return nil, errMyCustomer(name)
	}
	if o.file == "-" && o.report == "" {
		return nil, usagef("run: reading stdin needs --report PATH")
	}
	// A cancel run has files of its own: it must not resume, or be
	// mistaken for, the invite run over the same input. A dry run writes
	// no checkpoint, and a report of its own.
	// A dry run never overwrites the real run's report either: checkFiles.
	prefix := ""
	if o.cancel {
		prefix = ".cancel"
	}
	switch {
	case o.report == "" && o.dryRun:
		o.report = inputSibling(o.file, prefix+".dryrun.report.csv")
	case o.report == "":
		o.report = inputSibling(o.file, prefix+".report.csv")
	}
	if o.checkpoint == "" && o.file != "-" && !o.dryRun {
		o.checkpoint = inputSibling(o.file, prefix+".checkpoint")
	}
	return o, nil
}

// sibling returns file's name without its extension, then suffix, in its
// directory: migration.pending.csv for migration.html.
func sibling(file, suffix string) string {
	return strings.TrimSuffix(file, filepath.Ext(file)) + suffix
}

// inputSibling returns the name of a file that belongs to the input file,
// in its directory: users<suffix> for users.csv (users.checkpoint,
// users.report.csv), and the whole name then suffix for any other name
// (users.tsv.checkpoint), so that users.csv and users.tsv never share a
// checkpoint or a report.
func inputSibling(file, suffix string) string {
	if base, ok := strings.CutSuffix(file, ".csv"); ok {
		return base + suffix
	}
	return file + suffix
}

func runCommand(e env, name string, args []string) (int, error) {
	o, err := parseRunFlags(e, name, args)
	if err != nil {
		return exitUsage, err
	}
	return o.run(e)
}

// run is the whole job: check the input, plan (new run or resume), lock,
// decide every row, then write the report and the summary.
func (o *runOptions) run(e env) (code int, err error) {
	defer startProfile(e.getenv)() // hidden: INVITEBATCH_CPUPROFILE, INVITEBATCH_MEMPROFILE
	setGCPercent(e.getenv)
	start := time.Now()
	runID := newRunID(start)
	e.logOut = &termOut{w: e.stderr}
	log, err := newLogger(e.logOut, o.logFormat, o.logLevel, e.terminal)
	if err != nil {
		return exitUsage, err
	}
	log = log.With(zap.String("run_id", runID))
	defer func() { _ = log.Sync() }()
	command := "run"
	if o.cancel {
		command = "cancel"
	}
	sum := &reports.Summary{Schema: reports.SummarySchema, RunID: runID, Version: toolVersion(), Command: command,
		Customer: o.customer, API: o.api, DryRun: o.dryRun, Input: o.file, Report: o.report, Started: start}

	// No file of the run may be another, or a device (exit 2).
	if err := o.checkFiles(command); err != nil {
		return exitUsage, err
	}

	// The input, read once: checked whole before anything else happens,
	// into a private copy that the run and the report then read.
	inOpts := input.Options{EmailColumn: o.emailColumn}
	in, scan, err := o.openInput(e, inOpts)
	if err != nil {
		return exitUsage, err
	}
	defer in.Close()
	records := scan.records

	// The ledger and the checkpoint, locked (exit 4 if another run has them).
	ledger, err := o.openLedger(e, command, records)
	if err != nil {
		return exitCode(err), err
	}
	defer func() {
		if cerr := ledger.Close(); cerr != nil && err == nil {
			code, err = exitFatal, cerr
		}
	}()
	sum.Ledger = o.ledger
	table, cp, skip, resumed, err := o.plan(log, o.identity(command, scan), runID)
	if err != nil {
		return exitCode(err), err
	}
	if cp != nil {
		defer func() {
			if cerr := cp.Close(); cerr != nil && err == nil {
				code, err = exitFatal, cerr
			}
		}()
		sum.Checkpoint = o.checkpoint
	}
	sum.Resumed = resumed

	// The API.
	cfg, stopEmu, err := o.clientConfig(log)
	if err != nil {
		return exitCode(err), err
	}
	defer stopEmu()
	api, err := client.New(e.ctx, cfg)
	if err != nil {
		return exitFatal, fmt.Errorf("credentials: %w", err)
	}
	sum.Principal = api.Principal()
	sum.Emulator = cfg.Emulator != ""
	sum.Endpoint = endpointName(cfg)
	if sum.Emulator {
		fmt.Fprintf(e.stderr, "*** EMULATOR: requests go to %s, not to Google; nothing is emailed ***\n", sum.Endpoint)
		log.Warn("emulator run: nothing reaches Google", zap.String("endpoint", sum.Endpoint))
	}
	log.Info("run starting", zap.String("input", o.file), zap.Int("rows", records), zap.Bool("resumed", resumed),
		zap.Bool("dry_run", o.dryRun), zap.String("principal", sum.Principal), zap.Float64("qps", o.qps))

	src, err := in.records(inOpts)
	if err != nil {
		return exitUsage, err
	}
	stop, why := o.stopChannel(e)
	r := &batch.Runner{
		API:          api,
		Pacer:        batch.NewPacer(o.qps, o.burst, o.adaptive),
		Backoff:      batch.DefaultBackoff,
		Workers:      o.workers,
		Log:          log,
		DryRun:       o.dryRun,
		Domains:      o.domains,
		Lookup:       map[string]batch.Lookup{"auto": batch.LookupAuto, "list": batch.LookupList, "get": batch.LookupGet}[o.lookup],
		ExpectedRows: records,
		Skip:         skip,
		Stop:         stop,
		Cancel:       o.cancel,
		ResendAfter:  o.resendAfter,
		MaxMails:     o.maxMails,
		MaxSends:     o.maxSends,
		SettleWindow: settleWindow(o.settleWindow, cfg),
		CheckEach:    o.checkEach,
	}
	if resumed {
		r.SentSince = table.Started
	}
	// A dry run reads the ledger too (it is open read-only), so that it
	// predicts what the real run would do; it writes nothing.
	r.Ledger = ledger
	todo := records
	if skip != nil {
		todo = 0
		last := 0
		for row := 1; row <= records; row++ {
			if !skip(row) {
				todo++
				last = row
			}
		}
		r.SkipFrom = last + 1 // the final tail is not even read
	}
	r.ExpectedRows = todo // the list lookup's budget: the rows that may need a state
	if todo == 0 {
		r.Lookup = batch.LookupGet // nothing to look up: no list request either
	}
	if err := o.confirm(e, todo, sum.Endpoint); err != nil {
		return exitUsage, err
	}
	// The report lists the rows processed so far while the run goes on
	// (reports.LiveReport): rewritten from the outcome table, never ahead
	// of the checkpoint, which it gives each outcome first.
	liveOpts := reports.LiveReportOptions{Path: o.report, Input: in.reader, Opts: inOpts, RunID: runID}
	if cp != nil {
		liveOpts.Checkpoint = cp
	}
	// Also for a dry run and a run over stdin, which hold no checkpoint
	// lock: a rewrite in progress (another run's) keeps its file locked.
	if err := reports.RemoveReportTemps(o.report); err != nil {
		log.Warn("temporary report files of a crashed run not removed", zap.Error(err))
	}
	live := reports.NewLiveReport(table, liveOpts)
	var sink batch.Sink = live
	bar := o.newProgress(e, todo)
	if bar != nil {
		sink = reports.Tee(sink, bar)
	}
	stopMetrics := o.periodicMetrics(r, *sum, table, log)
	live.Start(reports.DefaultReportInterval, func(err error) { log.Warn("report", zap.String("path", o.report), zap.Error(err)) })
	stats, runErr := r.Run(e.ctx, src, sink)
	live.Stop()
	stopMetrics()
	bar.finish()

	// Whatever happened, the files record it: the report first (once the
	// checkpoint holds every outcome durably), then a finished checkpoint,
	// only when every row has its outcome and the report is written (a
	// finished checkpoint makes the next run a new one, so a lost report
	// could not be made again).
	if err := live.WriteFinal(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil && !stats.Stopped && cp != nil {
		if err := cp.Finish(); err != nil {
			runErr = err
		}
	}
	sum.Finished = time.Now()
	total := make(map[batch.Outcome]int)
	for _, oc := range batch.Outcomes() {
		total[oc] = table.Count(oc)
	}
	sum.Fill(stats, total)
	sum.CheckEach = o.checkEach
	code = exitOK
	switch {
	case runErr != nil && errors.Is(runErr, context.Canceled):
		code, sum.Stopped = exitStopped, "signal"
	case isQuotaStop(runErr):
		resets, _ := batch.QuotaStop(runErr)
		code, sum.Stopped, sum.Error, sum.QuotaResets = exitStopped, "quota", runErr.Error(), &resets
		log.Warn("quota used up: run stopped; the same command resumes once the quota is back",
			zap.Time("quota_resets", resets), zap.String("error", runErr.Error()))
	case runErr != nil:
		code, sum.Stopped, sum.Error = exitCode(runErr), "fatal", runErr.Error()
	case stats.MaxSendsReached:
		code, sum.Stopped = exitStopped, "max-sends"
	case stats.Stopped:
		code, sum.Stopped = exitStopped, why()
	case sum.NeedsAttention > 0:
		code = exitAttention
	}
	sum.ExitCode = code
	if err := o.writeSummary(e, sum); err != nil && runErr == nil {
		return exitFatal, err
	}
	if o.metricsFile != "" {
		if err := reports.WriteMetrics(o.metricsFile, sum); err != nil {
			log.Warn("metrics file not written", zap.String("path", o.metricsFile), zap.Error(err))
		}
	}
	log.Info("run ended", zap.Int("exit_code", code), zap.Int("rows", sum.Rows), zap.Int("api_calls", sum.APICallsTotal))
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return code, runErr
	}
	return code, nil
}

// newRunID returns a sortable, unique id: the start time and 4 random bytes.
func newRunID(t time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
