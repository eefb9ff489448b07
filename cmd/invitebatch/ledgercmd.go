package main

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/gocarina/gocsv"

	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/reports"
)

const ledgerUsage = `Usage:
  invitebatch ledger show [ADDRESS...]            every record (or those of ADDRESS), oldest first, as CSV
  invitebatch ledger forget ADDRESS...            delete every record of these addresses
  invitebatch ledger prune --older-than DURATION  delete the addresses whose last record (sent or not_sent) is
                                                  older (at least 720h = 30 days)

The ledger is the record of every send this tool made; it is what keeps a
rerun from emailing someone twice. Forgetting an address lets a later run
email it again. Flags:
`

// ledgerCommand inspects and corrects the ledger.
func ledgerCommand(e env, args []string) (int, error) {
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	customer := fs.String("customer", e.getenv("INVITEBATCH_CUSTOMER"), "customer `ID` whose ledger to use")
	path := fs.String("ledger", "", "ledger `file` (default: the customer's, for the backend CLOUDIDENTITY_EMULATOR_HOST, --endpoint or --emulator names)")
	endpoint := fs.String("endpoint", "", "the API base `URL` the runs used, if not Google's")
	builtin := fs.Bool("emulator", false, "the ledger of run --emulator")
	olderThan := fs.Duration("older-than", 0, "for prune: age of the last record, e.g. 2160h (90 days)")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) || (err == nil && len(pos) == 0) {
		fmt.Fprint(e.stdout, ledgerUsage+flagUsage(fs))
		if err == nil {
			return exitUsage, usagef("ledger: want show, forget or prune")
		}
		return exitOK, err
	}
	if err != nil {
		return exitUsage, err
	}
	sub, addrs := pos[0], pos[1:]
	open, err := ledgerOpener(e, "ledger "+sub, *customer, *path, *endpoint, *builtin, sub != "show")
	if err != nil {
		return exitUsage, err
	}
	norm := make([]string, 0, len(addrs))
	for _, a := range addrs {
		n, err := input.Address(a)
		if err != nil {
			return exitUsage, usagef("ledger: %q: %v", a, err)
		}
		norm = append(norm, n)
	}
	switch sub {
	case "show":
		return ledgerShow(e, open, norm)
	case "forget":
		if len(norm) == 0 {
			return exitUsage, usagef("ledger forget: name the addresses to forget")
		}
		return ledgerEdit(e, open, func(l *reports.Ledger) (int, error) { return l.Forget(norm...) })
	case "prune":
		if *olderThan <= 0 || len(norm) > 0 {
			return exitUsage, usagef("ledger prune: want --older-than DURATION and no addresses")
		}
		if *olderThan < reports.MinPruneAge {
			return exitUsage, usagef("ledger prune: --older-than %s: %v", *olderThan, reports.ErrPruneTooRecent)
		}
		cutoff := time.Now().Add(-*olderThan)
		return ledgerEdit(e, open, func(l *reports.Ledger) (int, error) { return l.Prune(cutoff) })
	}
	return exitUsage, usagef("ledger: unknown subcommand %q (want show, forget or prune)", sub)
}

// ledgerRow is a line of `ledger show`.
type ledgerRow struct {
	Time   string `csv:"time"`
	Email  string `csv:"email"`
	Status string `csv:"status"`
}

// ledgerOpener returns the func that opens the ledger the flags name: the
// customer's on a backend (upgrading an earlier version's, see
// ledgerOwner.openLedger), or the file of --ledger (checked against its
// customer and backend, when --customer or INVITEBATCH_CUSTOMER names one,
// before forget or prune change it; show shows any).
// A command that writes the ledger refuses my_customer.
func ledgerOpener(e env, cmd, customer, path, endpoint string, builtin, writes bool) (func(reports.LedgerOptions) (*reports.Ledger, string, error), error) {
	emulatorHost := e.getenv("CLOUDIDENTITY_EMULATOR_HOST")
	switch {
	case customer == "" && path == "":
		return nil, usagef("ledger: --customer (or INVITEBATCH_CUSTOMER) or --ledger is required")
	case customer == "" || (path != "" && !writes):
		// No owner to check against, or only a look at a file named
		// explicitly (whoever's it is).
		return func(opts reports.LedgerOptions) (*reports.Ledger, string, error) {
			l, err := reports.OpenLedger(path, opts)
			return l, path, err
		}, nil
	case !validCustomer(customer):
		return nil, usagef("ledger: --customer %q is not a customer ID (C0xxxxxxx: letters and digits)", customer)
	case writes && isMyCustomer(customer):
		return nil, errMyCustomer(cmd)
	case (builtin && (emulatorHost != "" || endpoint != "")) || (emulatorHost != "" && endpoint != ""):
		return nil, usagef("ledger: choose one of --emulator, CLOUDIDENTITY_EMULATOR_HOST and --endpoint")
	}
	b := client.BuiltinEmulator
	if !builtin {
		var err error
		if b, err = client.BackendOf(client.Config{Emulator: emulatorHost, Endpoint: endpoint}); err != nil {
			return nil, usagef("ledger: %v", err)
		}
	}
	owner := ledgerOwner{customer: customer, backend: b}
	return func(opts reports.LedgerOptions) (*reports.Ledger, string, error) {
		return owner.openLedger(cmd, path, opts, e.stderr)
	}, nil
}

func ledgerShow(e env, open func(reports.LedgerOptions) (*reports.Ledger, string, error), only []string) (int, error) {
	l, _, err := open(reports.LedgerOptions{ReadOnly: true})
	if err != nil {
		return exitCode(err), err
	}
	defer l.Close()
	want := make(map[string]bool, len(only))
	for _, a := range only {
		want[a] = true
	}
	// Fixed columns: gocsv maps ledgerRow to them, in chunks so that a
	// ledger of a million lines streams in constant memory.
	w := gocsv.DefaultCSVWriter(e.stdout)
	chunk := make([]ledgerRow, 0, 1024)
	header := true
	flush := func() error {
		var err error
		if header {
			err = gocsv.MarshalCSV(chunk, w)
		} else {
			err = gocsv.MarshalCSVWithoutHeaders(chunk, w)
		}
		header, chunk = false, chunk[:0]
		return err
	}
	err = l.Each(func(r reports.LedgerRecord) error {
		if len(want) > 0 && !want[r.Email] {
			return nil
		}
		chunk = append(chunk, ledgerRow{r.Time.UTC().Format(time.RFC3339), reports.Cell(r.Email), reports.LedgerStatusWord(r.Status)})
		if len(chunk) == cap(chunk) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil {
		return exitFatal, err
	}
	return exitOK, nil
}

// ledgerEdit runs edit on the ledger under its lock (exit 4 while a run
// holds it).
func ledgerEdit(e env, open func(reports.LedgerOptions) (*reports.Ledger, string, error), edit func(*reports.Ledger) (int, error)) (int, error) {
	l, path, err := open(reports.LedgerOptions{})
	if err != nil {
		return exitCode(err), err
	}
	n, err := edit(l)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exitFatal, err
	}
	fmt.Fprintf(e.stderr, "invitebatch ledger: removed %d addresses from %s\n", n, path)
	return exitOK, nil
}
