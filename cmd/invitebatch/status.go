package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/reports"
)

// statusOptions are the flags of `invitebatch status`.
type statusOptions struct {
	apiFlags
	file        string
	emailColumn string
	states      listFlag
	format      string
	ledger      string
	lookup      string
	workers     int
}

const statusUsage = `Usage: invitebatch status --customer C0xxxxxxx [flags] [FILE.csv]

The current invitation state of each address of FILE.csv (one line per data
record, in order, the input's other columns carried through), or without a
file of every invitation the customer has (--state to choose). States:
NOT_YET_SENT, INVITED (mails_sent, updated), ACCEPTED, DECLINED, NONE (no
invitation visible: none, a managed account, or one too new to be listed);
with a file also INVALID (not a usable address, no request made) and ERROR
(the state could not be read). ledger_status and ledger_time say what this
tool last did to the address (the ledger is only read).
Output: a table on a terminal, else CSV; --format csv|json|table. Totals go
to stderr with CSV. Exit 0; 1 when some rows are INVALID or ERROR; 2 usage;
5 fatal API or credential error. Flags:
`

func parseStatusFlags(e env, args []string) (*statusOptions, error) {
	o := &statusOptions{}
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	o.apiFlags.register(fs, e.getenv)
	fs.StringVar(&o.emailColumn, "email-column", "", "`name` of the email column (default: detected)")
	fs.Var(&o.states, "state", "without a file: only these `states` (not_yet_sent, invited, accepted, declined; repeatable or comma-separated)")
	fs.StringVar(&o.format, "format", "", "csv, json or table (default: table on a terminal, else csv)")
	fs.StringVar(&o.ledger, "ledger", "", "ledger `file` to read (default: the customer's, for this endpoint)")
	fs.StringVar(&o.lookup, "lookup", "auto", "with a file: auto (list when cheaper than a get per address), list or get")
	fs.IntVar(&o.workers, "workers", defaultWorkers, "with a file: gets in flight at once")
	pos, err := parseWithHelp(e, fs, statusUsage, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) > 1:
		return nil, usagef("status: want at most one FILE.csv, got %d arguments", len(pos))
	case len(pos) == 1 && pos[0] == "-":
		return nil, usagef("status: the input is read more than once: give a file, not stdin")
	case len(pos) == 1 && len(o.states) > 0:
		return nil, usagef("status: --state applies only without a file")
	case o.format != "" && o.format != "csv" && o.format != "json" && o.format != "table":
		return nil, usagef("status: --format %q: want csv, json or table", o.format)
	case o.lookup != "auto" && o.lookup != "list" && o.lookup != "get":
		return nil, usagef("status: --lookup %q: want auto, list or get", o.lookup)
	case o.workers < 1 || o.workers > 1024:
		return nil, usagef("status: --workers must be between 1 and 1024")
	}
	if len(pos) == 1 {
		o.file = pos[0]
	}
	if _, err := parseStates(o.states); err != nil {
		return nil, usagef("status: %v", err)
	}
	if o.format == "" {
		o.format = "csv"
		if stdoutTerminal(e) {
			o.format = "table"
		}
	}
	return o, o.apiFlags.check("status", e)
}

func statusCommand(e env, args []string) (int, error) {
	o, err := parseStatusFlags(e, args)
	if err != nil {
		return exitUsage, err
	}
	return o.run(e)
}

func (o *statusOptions) run(e env) (int, error) {
	ctx, cancel := stopContext(e)
	defer cancel()
	// Everything that can be a usage error comes before any request.
	var scan *statusScan
	if o.file != "" {
		var err error
		if scan, err = o.scan(); err != nil {
			return exitUsage, err
		}
	}
	ledger, _, err := o.openLedgerReadOnly(e, "status", o.ledger)
	if err != nil {
		return exitCode(err), err
	}
	defer ledger.Close()
	api, err := o.connect(e, o.workers)
	if err != nil {
		return exitFatal, err
	}
	c := newCaller(api, o.qps)
	if o.file == "" {
		states, _ := parseStates(o.states)
		w, err := newRowWriter(o.format, e.stdout, e.stderr, columns{ledger: true})
		if err != nil {
			return exitFatal, err
		}
		totals := make(map[string]int)
		err = c.list(ctx, states, func(inv batch.Invitation) error {
			r := rowOf(inv)
			joinLedger(&r, ledger)
			totals[r.State]++
			return w.write(r)
		}, nil)
		if err != nil {
			return exitCode(err), fmt.Errorf("status: %w", err)
		}
		return exitOK, w.close(totals)
	}
	if err := o.lookupStates(ctx, e, c, scan); err != nil {
		return exitCode(err), fmt.Errorf("status: %w", err)
	}
	return o.writeFile(e, scan, ledger)
}

func joinLedger(r *stateRow, l *reports.Ledger) {
	if ent, ok := l.Lookup(r.Email); ok {
		r.LedgerStatus = reports.LedgerStatusWord(ent.Status)
		r.LedgerTime = formatTime(ent.Time)
	}
}

// statusScan is what the first read of the input found: the state table,
// keyed by a 64-bit hash of each distinct usable address (a collision would
// show one address's state for another; at a million rows the odds are
// about 1 in 10^8), filled in by the lookup.
type statusScan struct {
	opts  input.Options
	seed  maphash.Seed
	mu    sync.Mutex
	table map[uint64]*lookupResult
}

// lookupResult is the state of one address; nil inv means not looked up.
type lookupResult struct {
	inv    *batch.Invitation
	err    string
	queued bool
}

// scan reads the whole input once, before any request: an unreadable file
// is exit 2 with no call made.
func (o *statusOptions) scan() (*statusScan, error) {
	s := &statusScan{opts: input.Options{EmailColumn: o.emailColumn}, seed: maphash.MakeSeed(), table: make(map[uint64]*lookupResult)}
	err := s.each(o.file, nil, func(rec input.Record, email string) error {
		if email != "" {
			if h := maphash.String(s.seed, email); s.table[h] == nil {
				s.table[h] = &lookupResult{}
			}
		}
		return nil
	})
	return s, err
}

// each calls onOpen (if not nil) once the header is read, then fn with
// every record of the file and its normalised address ("" when the row is
// unusable).
func (s *statusScan) each(file string, onOpen func(*input.Reader) error, fn func(input.Record, string) error) error {
	f, err := os.Open(file)
	if err != nil {
		return &input.FileError{Reason: fmt.Sprintf("cannot read %s: %v", file, errors.Unwrap(err))}
	}
	defer f.Close()
	rd, err := input.Open(f, s.opts)
	if err != nil {
		return withPath(file, err)
	}
	if onOpen != nil {
		if err := onOpen(rd); err != nil {
			return err
		}
	}
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return withPath(file, err)
		}
		email := ""
		if rec.Problem == "" {
			email, _ = input.Address(rec.Email)
		}
		if err := fn(rec, email); err != nil {
			return err
		}
	}
}

// errListBudget stops the list when it has cost as many requests as a get
// per address would.
var errListBudget = errors.New("list lookup over budget")

// lookupStates fills the state table: with one paged list of every
// invitation when that is cheaper than a get per distinct address (the list
// is abandoned once its pages reach that number), else with gets.
func (o *statusOptions) lookupStates(ctx context.Context, e env, c *caller, s *statusScan) error {
	n := len(s.table)
	if n == 0 {
		return nil
	}
	if o.lookup != "get" {
		err := c.list(ctx, nil, func(inv batch.Invitation) error {
			if r := s.table[maphash.String(s.seed, inv.Email)]; r != nil {
				r.inv = &inv
			}
			return nil
		}, func(p int, full bool) error {
			if o.lookup == "auto" && p >= n && full {
				return errListBudget
			}
			return nil
		})
		switch {
		case err == nil:
			for _, r := range s.table {
				if r.inv == nil {
					r.inv = &batch.Invitation{State: batch.StateNone}
				}
			}
			return nil
		case errors.Is(err, errListBudget):
			// Reading on would cost more than the gets it replaces.
		case o.lookup == "auto" && batch.KindOf(err) != batch.KindFatal && ctx.Err() == nil:
			fmt.Fprintf(e.stderr, "invitebatch status: listing invitations failed (%v); reading them one address at a time\n", err)
		default:
			return err
		}
		for _, r := range s.table {
			r.inv = nil
		}
	}
	return o.getStates(ctx, c, s)
}

// getStates reads the state of every distinct address with a get, o.workers
// at a time; a row whose get fails for good is ERROR, a fatal error stops
// everything.
func (o *statusOptions) getStates(ctx context.Context, c *caller, s *statusScan) error {
	g, ctx := errgroup.WithContext(ctx)
	jobs := make(chan string)
	g.Go(func() error {
		defer close(jobs)
		return s.each(o.file, nil, func(_ input.Record, email string) error {
			if email == "" {
				return nil
			}
			r := s.table[maphash.String(s.seed, email)]
			if r == nil || r.queued { // nil: the file changed since the scan
				return nil
			}
			r.queued = true
			select {
			case jobs <- email:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	for range o.workers {
		g.Go(func() error {
			for email := range jobs {
				inv, err := c.get(ctx, email)
				if err != nil && (batch.KindOf(err) == batch.KindFatal || ctx.Err() != nil) {
					return err
				}
				s.mu.Lock()
				r := s.table[maphash.String(s.seed, email)]
				if err != nil {
					r.err = err.Error()
				} else {
					r.inv = &inv
				}
				s.mu.Unlock()
			}
			return nil
		})
	}
	return g.Wait()
}

// writeFile writes one line per data record, joined with the states and
// the ledger.
func (o *statusOptions) writeFile(e env, s *statusScan, ledger *reports.Ledger) (int, error) {
	var w rowWriter
	var rd *input.Reader
	var keep []int
	totals := make(map[string]int)
	attention := false
	err := s.each(o.file, func(r *input.Reader) error {
		rd = r
		cols := columns{ledger: true, file: true}
		cols.input, keep = inputColumns(rd.Header(), rd.EmailIndex(), cols.header())
		var err error
		w, err = newRowWriter(o.format, e.stdout, e.stderr, cols)
		return err
	}, func(rec input.Record, email string) error {
		var r stateRow
		switch {
		case rec.Problem != "":
			r = stateRow{Email: rec.Email, State: stateInvalid, Error: rec.Problem}
		case email == "":
			_, err := input.Address(rec.Email)
			r = stateRow{Email: rec.Email, State: stateInvalid, Error: err.Error()}
		default:
			res := s.table[maphash.String(s.seed, email)]
			switch {
			case res == nil:
				r = stateRow{Email: email, State: stateError, Error: "the file changed while status read it"}
			case res.inv != nil:
				res.inv.Email = email
				r = rowOf(*res.inv)
			case res.err != "":
				r = stateRow{Email: email, State: stateError, Error: res.err}
			default:
				r = stateRow{Email: email, State: stateError, Error: "not looked up"}
			}
			joinLedger(&r, ledger)
		}
		if r.State == stateInvalid || r.State == stateError {
			attention = true
		}
		r.Row = rec.Row
		fields := rd.Fields()
		r.Input = make(map[string]string, len(keep))
		r.inputCells = make([]string, len(keep))
		for i, k := range keep {
			if k < len(fields) {
				r.inputCells[i] = fields[k]
				r.Input[rd.Header()[k]] = fields[k]
			}
		}
		totals[r.State]++
		return w.write(r)
	})
	if err == nil {
		err = w.close(totals)
	}
	if err != nil {
		return exitFatal, err
	}
	if attention {
		return exitAttention, nil
	}
	return exitOK, nil
}
