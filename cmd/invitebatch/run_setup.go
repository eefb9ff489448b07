package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

func newHasher() hash.Hash { return sha256.New() }

// openLedger opens the run's ledger, the customer's on the run's backend
// (or --ledger): locked for a real run, read-only for a dry run (which must
// not write one). A real run first upgrades an earlier version's ledgers
// (see ledgerOwner.openLedger).
func (o *runOptions) openLedger(e env, command string, rows int) (*reports.Ledger, error) {
	l, path, err := o.owner().openLedger(command, o.ledger, reports.LedgerOptions{ReadOnly: o.dryRun, NoSync: o.noSync, Reserve: rows}, e.stderr)
	o.ledger = path
	var ce *reports.CorruptError
	if errors.As(err, &ce) {
		// Never start over silently: the ledger is what prevents second
		// emails. The admin decides, knowing where the damage is.
		return nil, &usageError{msg: fmt.Sprintf("%v\n(the ledger is damaged: it is the record of who was emailed; repair or delete that line by hand, or move the file away only if earlier sends may be forgotten)", err)}
	}
	return l, err
}

// checkFiles refuses (exit 2, before anything is opened) a file the run
// writes that is another file of the run, or not a regular file
// (reports.CheckRunFiles): a dry run with --report naming the ledger
// replaced the ledger with its report, and a report on a device became a
// file of personal data in its place.
func (o *runOptions) checkFiles(command string) error {
	ledger := o.ledger
	if ledger == "" {
		p, err := o.owner().defaultPath()
		if err != nil {
			return err
		}
		ledger = p
	}
	// The input's checkpoints: this command's (a dry run has none, but
	// must not replace the real run's) and the other command's (run,
	// cancel), which no file of this run may replace either; and for a
	// dry run, the real run's report.
	checkpoint, other, otherName, realReport := o.checkpoint, "", "cancel", ""
	if o.file != "-" {
		prefix, otherPrefix := "", ".cancel"
		if o.cancel {
			prefix, otherPrefix, otherName = ".cancel", "", "run"
		}
		if checkpoint == "" {
			checkpoint = inputSibling(o.file, prefix+".checkpoint")
		}
		other = inputSibling(o.file, otherPrefix+".checkpoint")
		if o.dryRun {
			realReport = inputSibling(o.file, prefix+".report.csv")
		}
	}
	files := []reports.RunFile{
		{Role: "the report (--report)", Path: o.report, Written: true},
		{Role: "the checkpoint (--checkpoint)", Path: checkpoint, Written: !o.dryRun},
		{Role: "the ledger (--ledger)", Path: ledger, Written: !o.dryRun},
		{Role: "the summary (--summary)", Path: o.summary, Written: true},
		{Role: "the metrics file (--metrics-file)", Path: o.metricsFile, Written: true},
		{Role: "the input", Path: o.file},
		{Role: "the checkpoint of `" + otherName + "` over this input", Path: other},
		{Role: "the real run's report (a dry run never overwrites it)", Path: realReport},
		{Role: "the emulator seed (--emulator-seed)", Path: o.emulatorSeed},
		{Role: "the credentials (--credentials)", Path: o.credentials},
	}
	if err := reports.CheckRunFiles(files); err != nil {
		return usagef("%s: %v", command, err)
	}
	return nil
}

// identity is everything that decides a row's outcome in this run: a
// checkpoint is resumed only by a run of the same identity (see
// reports.RunIdentity, which says why the list is what it is). A flag that
// changes what happens to a row is added here.
func (o *runOptions) identity(command string, scan inputScan) reports.RunIdentity {
	return reports.RunIdentity{
		InputSHA256: scan.sha,
		Command:     command,
		Customer:    o.customer,
		Backend:     o.backend.ID(),
		EmailColumn: scan.emailCol,
		Domains:     o.domains,
		ResendAfter: o.resendAfter,
		MaxMails:    o.maxMails,
		CheckEach:   o.checkEach,
	}
}

// plan decides between a new run and a resumed one, as the contract's
// rerun table says, and opens the checkpoint accordingly. It returns the
// in-memory outcome table (earlier runs' outcomes included), the open
// checkpoint (nil for a dry run or stdin without --checkpoint), and the
// rows the runner must skip.
func (o *runOptions) plan(log *zap.Logger, id reports.RunIdentity, runID string) (table *reports.CheckpointState, cp *reports.Checkpoint, skip func(int) bool, resumed bool, err error) {
	if o.dryRun || o.checkpoint == "" {
		return reports.NewOutcomeTable(), nil, nil, false, nil
	}
	opts := reports.CheckpointOptions{NoSync: o.noSync}
	state, err := reports.LoadCheckpoint(o.checkpoint)
	if err != nil && !o.fresh {
		return nil, nil, nil, false, &usageError{msg: fmt.Sprintf("%v\n(the checkpoint is damaged: move it away, or rerun with --fresh to start over; the ledger still prevents second emails)", err)}
	}
	var differs []string
	if state != nil {
		differs = state.Differences(id)
	}
	switch {
	case state == nil || o.fresh:
		// A new run.
	case len(differs) > 0:
		// Another run's checkpoint: its outcomes were decided for another
		// input, customer, backend or flags (an emulator's "sent" rows were
		// never emailed), so none of them may be resumed.
		// Its report too, which the new run replaces at once; each pair
		// set aside is kept (.old, .old.1, ...).
		aside, err := reports.SetAside([]string{o.checkpoint, o.report})
		if err != nil {
			return nil, nil, nil, false, err
		}
		log.Warn("starting a new run: the checkpoint was made by a run that differs; the old checkpoint and its report were set aside",
			zap.Strings("differs_in", differs), zap.Strings("set_aside", aside))
	case !state.Finished || state.HasFailed():
		// Resumed: the rows without an outcome, and once a run of this
		// checkpoint has finished, its failed rows too. That is a finished
		// run's failed rows, and those of such a rerun that was itself
		// interrupted, so the same command still ends with them retried.
		retry := state.FinishedBefore
		cp, err = reports.ResumeCheckpoint(o.checkpoint, state, opts)
		skip = skipRows(state, func(oc batch.Outcome) bool {
			return oc != batch.OutcomeNone && !(retry && oc == batch.Failed)
		})
		what := "resuming an unfinished run"
		if retry {
			what = "resuming the failed rows of a finished run"
		}
		log.Info(what, zap.String("checkpoint", o.checkpoint), zap.String("earlier_run", state.RunID),
			zap.Int("failed", state.Count(batch.Failed)))
		return state, cp, skip, true, err
	}
	cp, err = reports.CreateCheckpoint(o.checkpoint, id, runID, opts)
	return reports.NewOutcomeTable(), cp, nil, false, err
}

// skipRows returns the runner's Skip func: the rows whose earlier outcome
// keep says to keep. It reads a copy of the outcomes taken now, because the
// run writes its own outcomes into state while its producer calls Skip.
func skipRows(state *reports.CheckpointState, keep func(batch.Outcome) bool) func(int) bool {
	earlier := state.Outcomes()
	return func(row int) bool { return row < len(earlier) && keep(earlier[row]) }
}

// clientConfig builds the client's configuration, starting the built-in
// emulator when asked. The returned func stops it.
func (o *runOptions) clientConfig(log *zap.Logger) (client.Config, func(), error) {
	cfg := o.config()
	cfg.Conns = o.workers
	if !o.emulator {
		return cfg, func() {}, nil
	}
	emu := emulator.New(emulator.Options{Customer: o.customer})
	if o.emulatorSeed != "" {
		f, err := os.Open(o.emulatorSeed)
		if err != nil {
			return cfg, nil, usagef("--emulator-seed: %v", err)
		}
		err = emu.LoadSeed(f)
		f.Close()
		if err != nil {
			return cfg, nil, usagef("--emulator-seed %s: %v", o.emulatorSeed, err)
		}
	}
	addr, stop, err := serveEmulator(emu, "127.0.0.1:0")
	if err != nil {
		return cfg, nil, err
	}
	log.Debug("built-in emulator listening", zap.String("addr", addr))
	cfg.Emulator = addr
	return cfg, stop, nil
}

// serveEmulator serves h on addr and returns the address it listens on and
// a func that stops it.
func serveEmulator(h http.Handler, addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("emulator: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	var once sync.Once
	return ln.Addr().String(), func() { once.Do(func() { _ = srv.Close() }) }, nil
}

// endpointName says where requests go, for the summary and the notices.
func endpointName(cfg client.Config) string {
	switch {
	case cfg.Emulator != "":
		return "http://" + cfg.Emulator + "/"
	case cfg.Endpoint != "":
		return cfg.Endpoint
	}
	return "https://cloudidentity.googleapis.com/"
}

// stopChannel returns the channel that stops the run from taking rows (the
// first signal, or --max-duration) and a func saying which did.
func (o *runOptions) stopChannel(e env) (<-chan struct{}, func() string) {
	if o.maxDuration == 0 {
		return e.stop, func() string { return "signal" }
	}
	stop := make(chan struct{})
	var mu sync.Mutex
	why := "signal"
	go func() {
		t := time.NewTimer(o.maxDuration)
		defer t.Stop()
		select {
		case <-e.stop:
		case <-t.C:
			mu.Lock()
			why = "max-duration"
			mu.Unlock()
		case <-e.ctx.Done():
		}
		close(stop)
	}()
	return stop, func() string { mu.Lock(); defer mu.Unlock(); return why }
}

// writeSummary prints the summary for people on stderr, and as JSON where
// --summary says.
func (o *runOptions) writeSummary(e env, sum *reports.Summary) error {
	if o.summary == "-" {
		return sum.WriteJSON(e.stdout)
	}
	if err := sum.WriteText(e.stderr); err != nil {
		return err
	}
	if o.summary == "" {
		return nil
	}
	return reports.WriteFileAtomic(o.summary, func(w io.Writer) error { return sum.WriteJSON(w) }, 0o600)
}

// periodicMetrics rewrites --metrics-file every --metrics-interval while
// the run goes on, from a snapshot of its counters plus the earlier runs'
// outcomes (a resumed run). The returned func stops it and returns only once
// no write is in progress, so the final write always comes last.
func (o *runOptions) periodicMetrics(r *batch.Runner, sum reports.Summary, table *reports.CheckpointState, log *zap.Logger) func() {
	if o.metricsFile == "" || o.metricsEvery <= 0 {
		return func() {}
	}
	earlier := make(map[batch.Outcome]int)
	for _, oc := range batch.Outcomes() {
		earlier[oc] = table.Count(oc)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(o.metricsEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			st := r.Snapshot()
			total := make(map[batch.Outcome]int, len(earlier))
			for oc, n := range earlier {
				total[oc] = n + st.Outcomes[oc]
			}
			part := sum
			part.Finished = time.Now()
			part.Fill(&st, total)
			if err := reports.WriteRunningMetrics(o.metricsFile, &part); err != nil {
				log.Warn("metrics file not written", zap.String("path", o.metricsFile), zap.Error(err))
			}
		}
	}()
	return func() { close(stop); <-done }
}

// gcPercent is the run's GOGC. A run's live data is mostly fixed-size
// tables (the ledger index, the duplicate set, a few bytes of outcome per
// row), while each request leaves garbage behind; at the default of 100 the
// heap grows to twice the live data. 50 measured 24% less peak RSS on a
// 1,000,000-row rerun at the same CPU time (cmd/invitebench). A fixed
// memory limit was tried and rejected: with a large ledger the live data
// alone reaches it and the collector runs without pause. GOGC in the
// environment overrides it.
const gcPercent = 50

func setGCPercent(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
