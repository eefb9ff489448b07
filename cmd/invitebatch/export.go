package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/reports"
)

// exportOptions are the flags of `invitebatch export`.
type exportOptions struct {
	apiFlags
	states  listFlag
	domains listFlag
	output  string
}

const exportUsage = `Usage: invitebatch export --customer C0xxxxxxx [--state not_yet_sent] [flags] > unmanaged.csv

Lists the customer's invitations in the given states as CSV
(email,state,mails_sent,updated) that run takes as input. The default,
--state not_yet_sent, is every unmanaged account not yet invited. Accounts
created in the last 48 hours are not listed yet (an API limit).
Exit 0; 1 when some addresses could not be written so that run reads them
back unchanged; 2 usage; 5 fatal API or credential error (with --output,
the file is then left untouched). Flags:
`

func parseExportFlags(e env, args []string) (*exportOptions, error) {
	o := &exportOptions{}
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	o.apiFlags.register(fs, e.getenv)
	fs.Var(&o.states, "state", "invitation `states` to list: not_yet_sent (default), invited, accepted, declined or all (repeatable or comma-separated)")
	fs.Var(&o.domains, "domain", "only addresses in this `domain` (repeatable)")
	fs.StringVar(&o.output, "output", "", "write to `file` (replaced whole, mode 0600) instead of stdout")
	pos, err := parseWithHelp(e, fs, exportUsage, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, usagef("export: unexpected arguments %q (the CSV goes to stdout or --output)", pos)
	}
	if len(o.states) == 0 {
		o.states = listFlag{"not_yet_sent"}
	}
	if _, err := parseStates(o.states); err != nil {
		return nil, usagef("export: %v", err)
	}
	for _, d := range o.domains {
		if _, err := input.Address("x@" + d); err != nil {
			return nil, usagef("export: --domain %q is not a domain", d)
		}
	}
	return o, o.apiFlags.check("export", e)
}

func exportCommand(e env, args []string) (int, error) {
	o, err := parseExportFlags(e, args)
	if err != nil {
		return exitUsage, err
	}
	ctx, cancel := stopContext(e)
	defer cancel()
	api, err := o.connect(e, 0)
	if err != nil {
		return exitFatal, err
	}
	states, _ := parseStates(o.states)
	c := newCaller(api, o.qps)
	totals := make(map[string]int)
	write := func(out io.Writer) error {
		w, err := newRowWriter("csv", out, nil, columns{})
		if err != nil {
			return err
		}
		err = c.list(ctx, states, func(inv batch.Invitation) error {
			if len(o.domains) > 0 && !input.InDomains(inv.Email, o.domains) {
				return nil
			}
			totals[string(inv.State)]++
			return w.write(rowOf(inv))
		}, nil)
		if err != nil {
			return err
		}
		return w.close(nil)
	}
	if o.output == "" {
		err = write(e.stdout)
	} else {
		err = reports.WriteFileAtomic(o.output, write, 0o600)
	}
	if err != nil {
		return exitCode(err), fmt.Errorf("export: %w", err)
	}
	fmt.Fprintf(e.stderr, "invitebatch export: %s\n", totalsLine(totals))
	return exitOK, nil
}
