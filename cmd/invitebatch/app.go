package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/batch/input"
	"github.com/invitebatch/invitebatch/reports"
)

// Exit codes: the contract's table, the same for every subcommand.
const (
	exitOK        = 0 // finished; no row needs attention
	exitAttention = 1 // finished; some rows need attention
	exitUsage     = 2 // usage or input error, before any API call
	exitStopped   = 3 // stopped before finishing; the same command resumes
	exitLocked    = 4 // another run holds the checkpoint or ledger lock
	exitFatal     = 5 // fatal API or credential error; fix it, then resume
)

// env is the process's surroundings, so that tests can run Main in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal reports whether stderr is a terminal (progress, console
	// logs), stdinTerminal whether stdin is (confirmation questions).
	terminal, stdinTerminal bool
	// logOut, when set, carries the log lines to stderr around the
	// progress bar.
	logOut *termOut
	// stop is closed on the first SIGINT/SIGTERM: stop taking rows. ctx is
	// cancelled on the second: stop now.
	ctx  context.Context
	stop <-chan struct{}
}

// forcedExitAfter is how long after a second signal the process exits
// whatever it is doing (the contract: within 2 s), its last message
// included.
const forcedExitAfter = 1500 * time.Millisecond

// sayWait is how long say waits for stderr.
const sayWait = 100 * time.Millisecond

// say prints msg on stderr, printed before what follows it, but waits at
// most sayWait: a stderr that blocks (a pipe nobody reads) must not keep a
// signal from acting, nor the forced exit from happening.
func say(msg string) {
	done := make(chan struct{})
	go func() {
		fmt.Fprintln(os.Stderr, msg)
		close(done)
	}()
	t := time.NewTimer(sayWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

func systemEnv() env {
	ctx, cancel := context.WithCancel(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		say("invitebatch: stopping: finishing rows in flight (press Ctrl-C again to stop at once; the same command resumes)")
		close(stop)
		<-sigs
		// Requests end at once with the context; if something else does
		// not (a token fetch that takes no context, writing the files),
		// exit anyway: the ledger holds every intent on disk, and the
		// rerun settles them (as after a crash).
		time.AfterFunc(forcedExitAfter-sayWait, func() {
			say("invitebatch: forced exit; the same command resumes")
			os.Exit(exitStopped)
		})
		say("invitebatch: stopping now")
		cancel()
	}()
	return env{
		stdin:         os.Stdin,
		stdout:        os.Stdout,
		stderr:        os.Stderr,
		getenv:        os.Getenv,
		terminal:      term.IsTerminal(int(os.Stderr.Fd())),
		stdinTerminal: term.IsTerminal(int(os.Stdin.Fd())),
		ctx:           ctx,
		stop:          stop,
	}
}

const usageText = `invitebatch sends Google Cloud Identity / Workspace user invitations in bulk.

Usage:
  invitebatch run --customer C0xxxxxxx [flags] FILE.csv   send invitations (- reads stdin)
  invitebatch cancel --customer C0xxxxxxx [flags] FILE.csv cancel the INVITED invitations of FILE
  invitebatch check [flags] FILE.csv                     check a file offline, as run reads it
  invitebatch status --customer C0xxxxxxx [FILE.csv]     current invitation states (+ ledger)
  invitebatch export [--state not_yet_sent] > FILE.csv   the customer's unmanaged accounts, as run input
  invitebatch dashboard --customer C0xxxxxxx [FILE.csv]  the migration's progress as one HTML page (or JSON)
  invitebatch demo                                       the whole job on the built-in emulator, in a temp dir
  invitebatch ledger show|forget ADDRESS|prune --older-than D
  invitebatch doctor --customer C0xxxxxxx [flags]       check credentials and API setup (read-only)
  invitebatch emulator [--addr 127.0.0.1:8086]          serve the built-in API emulator
  invitebatch version

Run "invitebatch COMMAND -h" for a command's flags. Exit codes: 0 done, 1 rows need
attention, 2 usage or input error, 3 stopped (rerun resumes), 4 locked by another run,
5 fatal API or credential error (fix it, rerun resumes).
`

// Main runs the command line args and returns the exit code.
func Main(args []string, e env) int {
	if e.ctx == nil {
		e.ctx = context.Background()
	}
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return exitUsage
	}
	var err error
	code := exitOK
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run", "cancel":
		code, err = runCommand(e, cmd, rest)
	case "doctor":
		code, err = doctorCommand(e, rest)
	case "check":
		code, err = checkCommand(e, rest)
	case "status":
		code, err = statusCommand(e, rest)
	case "export":
		code, err = exportCommand(e, rest)
	case "dashboard":
		code, err = dashboardCommand(e, rest)
	case "demo":
		code, err = demoCommand(e, rest)
	case "emulator":
		err = emulatorCommand(e, rest)
	case "ledger":
		code, err = ledgerCommand(e, rest)
	case "version", "--version":
		err = versionCommand(e)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	default:
		err = usagef("unknown command %q\n\n%s", cmd, usageText)
	}
	if err == nil {
		return code
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "invitebatch: %v\n", err)
	return exitCode(err)
}

func isQuotaStop(err error) bool { _, ok := batch.QuotaStop(err); return ok }

// exitCode maps an error to the contract's exit code: the one place where
// error types meet exit codes.
func exitCode(err error) int {
	var ue *usageError
	var fe *input.FileError
	switch {
	case errors.As(err, &ue), errors.As(err, &fe), reports.IsLedgerMismatch(err), reports.IsLockFileError(err):
		return exitUsage
	case reports.IsLocked(err):
		return exitLocked
	case isQuotaStop(err):
		return exitStopped // a quota that comes back later: resumable
	case batch.KindOf(err) == batch.KindFatal:
		return exitFatal
	case errors.Is(err, context.Canceled):
		return exitStopped
	}
	return exitFatal
}
