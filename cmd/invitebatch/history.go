package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// historyFlags are the emulator's seeded-history flags (emulator.History).
type historyFlags struct {
	count, uninvited, weeks int
	seed                    uint64
	ledger                  string
}

func (h *historyFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&h.count, "history", 0, "seed a past migration: `N` addresses invited over the past --history-weeks (0: none)")
	fs.IntVar(&h.weeks, "history-weeks", 6, "how many `weeks` back the history's first emails go")
	fs.IntVar(&h.uninvited, "history-uninvited", -1, "unmanaged accounts found but not invited yet (default: a fifth of --history)")
	fs.Uint64Var(&h.seed, "history-seed", 1, "random `seed` of the history")
	fs.StringVar(&h.ledger, "history-ledger", "", "write the ledger that agrees with the history to this new `file` (use it as --ledger)")
}

func (h *historyFlags) check(cmd string) error {
	switch {
	case h.count < 0 || h.weeks < 1 || h.weeks > 520:
		return usagef("%s: --history must be >= 0 and --history-weeks between 1 and 520", cmd)
	case h.ledger != "" && h.count == 0:
		return usagef("%s: --history-ledger needs --history N", cmd)
	}
	if h.uninvited < 0 {
		h.uninvited = h.count / 5
	}
	return nil
}

// load generates the history as of now, loads it into emu and writes its
// ledger if asked, with the header of the emulator at addr (host:port) and
// customer.
func (h *historyFlags) load(emu *emulator.Emulator, now time.Time, addr, customer string) error {
	if h.count == 0 {
		return nil
	}
	past := emulator.History{Count: h.count, Weeks: h.weeks, Uninvited: h.uninvited, Seed: h.seed}.Generate(now)
	emu.LoadHistory(past)
	if h.ledger == "" {
		return nil
	}
	backend, err := client.BackendOf(client.Config{Emulator: addr})
	if err != nil {
		return fmt.Errorf("history ledger: %w", err)
	}
	return writeHistoryLedger(h.ledger, reports.LedgerIdentity{Backend: backend.ID(), Customer: customer}, past)
}

// writeHistoryLedger writes a new ledger at path, for the backend and
// customer of id, with what this tool did in past, each line stamped with
// the time it happened. It holds the results
// only (sent, unconfirmed, cancelled), not the intents before them, which a
// finished run's ledger does not need to be read correctly. An existing
// file is refused: a history must never mix with a real ledger.
func writeHistoryLedger(path string, id reports.LedgerIdentity, past []emulator.Past) error {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return usagef("--history-ledger %s: the file exists; give a new file", path)
	}
	var mu sync.Mutex
	var at time.Time
	l, err := reports.OpenLedger(path, reports.LedgerOptions{Identity: id, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return at }})
	if err != nil {
		return fmt.Errorf("history ledger: %w", err)
	}
	for _, a := range emulator.Actions(past) {
		st := batch.LedgerSent
		switch a.Kind {
		case emulator.ActionUnconfirmed:
			st = batch.LedgerUnconfirmed
		case emulator.ActionCancel:
			st = batch.LedgerCancelled
		}
		mu.Lock()
		at = a.Time
		mu.Unlock()
		if _, err := l.Settle(a.Email, st); err != nil {
			l.Close()
			return fmt.Errorf("history ledger: %w", err)
		}
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("history ledger: %w", err)
	}
	return nil
}
