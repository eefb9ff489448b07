package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/examples"
)

const demoUsage = `Usage: invitebatch demo [--dir DIR]

The whole job in one command, on the built-in emulator (nothing reaches
Google, no credentials): in a new temporary directory (or --dir, which must
not exist yet), it starts the emulator with the example seed and a seeded
history of a six-week migration, runs "run" on the example users.csv (with
a ledger in that directory: the checkout and your state directory are not
touched), prints the report as a table, and writes the dashboard and prints
its path. Exit 0 when all of that worked. Flags:
`

// demoCustomer is the customer the demo's emulator answers for.
const demoCustomer = "C0demo"

func demoCommand(e env, args []string) (int, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("dir", "", "work in this new `directory` instead of a temporary one")
	var hist historyFlags
	hist.register(fs)
	hist.count = 2000
	pos, err := parseWithHelp(e, fs, demoUsage, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) > 0 {
		return exitUsage, usagef("demo: unexpected arguments %q", pos)
	}
	hist.ledger = ""
	if err := hist.check("demo"); err != nil {
		return exitUsage, err
	}
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "invitebatch-demo-"); err != nil {
			return exitFatal, fmt.Errorf("demo: %w", err)
		}
	} else if err := os.Mkdir(*dir, 0o700); err != nil {
		return exitUsage, usagef("demo: --dir: %v (give a directory that does not exist yet)", err)
	}
	path := func(name string) string { return filepath.Join(*dir, name) }
	fmt.Fprintf(e.stdout, "invitebatch demo: working in %s\n", *dir)

	// The pretend Google side: the example seed and six weeks of history.
	emu := emulator.New(emulator.Options{Customer: demoCustomer})
	if err := emu.LoadSeed(bytes.NewReader(examples.EmulatorSeed)); err != nil {
		return exitFatal, fmt.Errorf("demo: %w", err)
	}
	addr, stop, err := serveEmulator(emu, "127.0.0.1:0")
	if err != nil {
		return exitFatal, fmt.Errorf("demo: %w", err)
	}
	defer stop()
	hist.ledger = path("demo.ledger")
	if err := hist.load(emu, time.Now(), addr, demoCustomer); err != nil {
		return exitFatal, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(path("users.csv"), examples.UsersCSV, 0o600); err != nil {
		return exitFatal, fmt.Errorf("demo: %w", err)
	}

	// Every command the demo runs talks to that emulator, with the demo's
	// ledger, and keeps any default state inside the directory.
	sub := e
	sub.getenv = func(k string) string {
		switch k {
		case "CLOUDIDENTITY_EMULATOR_HOST":
			return addr
		case "INVITEBATCH_CUSTOMER":
			return demoCustomer
		case "XDG_STATE_HOME":
			return path("state")
		}
		return e.getenv(k)
	}
	sub.stdout = io.Discard
	sub.terminal = false
	fmt.Fprintf(e.stdout, "\n$ invitebatch run --customer %s users.csv   (emulator at %s, %d invitations of history)\n", demoCustomer, addr, hist.count)
	code := Main([]string{"run", "--ledger", path("demo.ledger"), "--log-level", "warn", "--progress", "never", "--yes", path("users.csv")}, sub)
	// Exit 1: users.csv has an invalid address on purpose.
	if code != exitOK && code != exitAttention {
		return code, fmt.Errorf("demo: run failed (exit %d)", code)
	}
	if err := printReport(e.stdout, path("users.report.csv")); err != nil {
		return exitFatal, fmt.Errorf("demo: %w", err)
	}

	page := path("migration.html")
	fmt.Fprintf(e.stdout, "\n$ invitebatch dashboard --customer %s --group-by department users.csv\n", demoCustomer)
	code = Main([]string{"dashboard", "--ledger", path("demo.ledger"), "--output", page, "--group-by", "department", path("users.csv")}, sub)
	if code != exitOK {
		return code, fmt.Errorf("demo: dashboard failed (exit %d)", code)
	}
	fmt.Fprintf(e.stdout, "\nThe dashboard: %s\nOpen it in a browser: file://%s\n", page, filepath.ToSlash(page))
	return exitOK, nil
}

// printReport prints a report CSV as an aligned table.
func printReport(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	fmt.Fprintf(w, "\nThe report (%s):\n\n", path)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, r := range rows {
		var cells []string
		for i, c := range r {
			if i < len(rows[0]) && rows[0][i] == "run_id" {
				continue // the same long id on every line
			}
			cells = append(cells, printable(c))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
