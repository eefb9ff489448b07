package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/reports"
	"github.com/invitebatch/invitebatch/reports/dashboard"
)

// dashboardOptions are the flags of `invitebatch dashboard`.
type dashboardOptions struct {
	apiFlags
	files       []string
	output      string
	groupBy     string
	format      string
	metricsFile string
	ledger      string
	emailColumn string
	now         func() time.Time
}

const dashboardUsage = `Usage: invitebatch dashboard --customer C0xxxxxxx [--output migration.html] [--group-by COLUMN] [--format html|json] [FILE.csv ...]

The migration's progress as pictures: reads every invitation of the
customer (a paged list of all states, within --qps), the ledger, and
optionally the input files and their reports (FILE.report.csv), and writes
one self-contained HTML page (mode 0600, atomically; it opens offline and
needs no JavaScript) with the pending invitations beside it as
<output>.pending.csv, which run --resend-after takes as input.
--format json writes the same figures as JSON (to stdout unless --output).
--metrics-file writes the funnel as Prometheus gauges
(invitebatch_invitations{state}). Exit 0; 2 usage or unreadable file;
5 fatal API or credential error. Flags:
`

func parseDashboardFlags(e env, args []string) (*dashboardOptions, error) {
	o := &dashboardOptions{now: time.Now}
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	o.apiFlags.register(fs, e.getenv)
	fs.StringVar(&o.output, "output", "", "write the page (or JSON) to `file` (default: migration.html; JSON: stdout)")
	fs.StringVar(&o.groupBy, "group-by", "", "with input files: group people by this `column` (e.g. department)")
	fs.StringVar(&o.format, "format", "html", "html, or json for the same figures as JSON")
	fs.StringVar(&o.metricsFile, "metrics-file", "", "also write the funnel as Prometheus gauges to `file` (*.prom, for node_exporter's textfile collector)")
	fs.StringVar(&o.ledger, "ledger", "", "ledger `file` to read (default: the customer's, for this endpoint)")
	fs.StringVar(&o.emailColumn, "email-column", "", "`name` of the input files' email column (default: detected)")
	pos, err := parseWithHelp(e, fs, dashboardUsage, args)
	if err != nil {
		return nil, err
	}
	for _, p := range pos {
		if p == "-" {
			return nil, usagef("dashboard: give input files by name, not stdin")
		}
	}
	o.files = pos
	if o.output == "" && o.format == "html" {
		o.output = "migration.html"
	}
	switch {
	case o.format != "html" && o.format != "json":
		return nil, usagef("dashboard: --format %q: want html or json", o.format)
	case o.metricsFile != "" && filepath.Ext(o.metricsFile) != ".prom":
		return nil, usagef("dashboard: --metrics-file %q: name it *.prom (node_exporter's textfile collector reads only those)", o.metricsFile)
	case o.groupBy != "" && len(o.files) == 0:
		return nil, usagef("dashboard: --group-by needs input files (FILE.csv ...) that have the column")
	}
	return o, o.apiFlags.check("dashboard", e)
}

func dashboardCommand(e env, args []string) (int, error) {
	o, err := parseDashboardFlags(e, args)
	if err != nil {
		return exitUsage, err
	}
	return o.run(e)
}

func (o *dashboardOptions) run(e env) (int, error) {
	ctx, cancel := stopContext(e)
	defer cancel()
	b := dashboard.NewBuilder(o.now())
	// The files first: an unreadable one is exit 2 before any request.
	for _, f := range o.files {
		if err := b.AddInputFile(f, input.Options{EmailColumn: o.emailColumn}, o.groupBy); err != nil {
			return exitUsage, fmt.Errorf("dashboard: %w", err)
		}
		if err := b.AddReportFile(inputSibling(f, ".report.csv")); err != nil {
			return exitUsage, fmt.Errorf("dashboard: %w", err)
		}
	}
	ledger, ledgerPath, err := o.openLedgerReadOnly(e, "dashboard", o.ledger)
	if err != nil {
		return exitCode(err), fmt.Errorf("dashboard: %w", err)
	}
	err = ledger.Each(func(r reports.LedgerRecord) error { b.AddLedger(r); return nil })
	ledger.Close()
	if err != nil {
		return exitFatal, fmt.Errorf("dashboard: %w", err)
	}
	api, err := o.connect(e, 0)
	if err != nil {
		return exitFatal, err
	}
	pages := 0
	err = newCaller(api, o.qps).list(ctx, nil, func(inv batch.Invitation) error {
		b.AddInvitation(inv)
		return nil
	}, func(p int, _ bool) error { pages = max(pages, p); return nil })
	if err != nil {
		return exitCode(err), fmt.Errorf("dashboard: list invitations: %w", err)
	}
	cfg := o.config()
	b.SetSource(dashboard.Source{Customer: o.customer, Backend: endpointName(cfg), Emulator: cfg.Emulator != "",
		ListPages: pages, Ledger: ledgerPath})
	fig := b.Figures(o.groupBy)
	if o.metricsFile != "" {
		if err := dashboard.WriteMetrics(o.metricsFile, fig); err != nil {
			return exitFatal, fmt.Errorf("dashboard: metrics: %w", err)
		}
	}
	if o.format == "json" {
		if o.output == "" {
			return exitOK, fig.WriteJSON(e.stdout)
		}
		err = reports.WriteFileAtomic(o.output, func(w io.Writer) error { return fig.WriteJSON(w) }, 0o600)
	} else {
		err = writeDashboardHTML(o.output, b, fig)
	}
	if err != nil {
		return exitFatal, fmt.Errorf("dashboard: %w", err)
	}
	fmt.Fprintf(e.stderr, "invitebatch dashboard: wrote %s\n", o.output)
	return exitOK, nil
}

// writeDashboardHTML writes the page, and the pending invitations beside it
// (migration.pending.csv for migration.html), each atomically with mode
// 0600: both hold addresses.
func writeDashboardHTML(path string, b *dashboard.Builder, fig *dashboard.Figures) error {
	csvPath := sibling(path, ".pending.csv")
	if err := reports.WriteFileAtomic(csvPath, b.WritePendingCSV, 0o600); err != nil {
		return err
	}
	fig.Pending.CSV = filepath.Base(csvPath)
	return reports.WriteFileAtomic(path, func(w io.Writer) error { return dashboard.WriteHTML(w, fig) }, 0o600)
}
