package main

// Which ledger a command uses: the default ledger of a customer on a
// backend (client.Backend), the upgrade of the ledgers of earlier versions
// (header-less, and split by the spelling of the customer and the endpoint),
// and the refusal of another backend's or customer's ledger.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/invitebatch/invitebatch/client"
	"github.com/invitebatch/invitebatch/reports"
)

// ledgerOwner is the customer and backend a ledger belongs to.
type ledgerOwner struct {
	customer string
	backend  client.Backend
}

// identity is the owner as the ledger's header records it.
func (w ledgerOwner) identity() reports.LedgerIdentity {
	return reports.LedgerIdentity{Backend: w.backend.ID(), Customer: w.customer}
}

// defaultPath is the owner's default ledger: <customer>.ledger for Google,
// <customer>.<backend key>.ledger for a test backend, the customer in lower
// case (customer IDs compare case-insensitively), in the state directory.
func (w ledgerOwner) defaultPath() (string, error) {
	p, err := reports.DefaultLedgerPath(strings.ToLower(w.customer), w.backend.Key())
	if err != nil {
		return "", usagef("ledger: %v (use --ledger PATH)", err)
	}
	return p, nil
}

// isMyCustomer reports whether customer is the API's alias for the
// caller's own customer.
func isMyCustomer(customer string) bool { return strings.EqualFold(customer, "my_customer") }

// errMyCustomer refuses my_customer where the ledger is written: the
// ledger belongs to one customer, and my_customer names whichever customer
// the credentials of the day belong to.
func errMyCustomer(cmd string) error {
	return usagef("%s: --customer my_customer: the ledger that keeps people from a second email is kept per customer ID, "+
		"and my_customer names whichever customer the credentials belong to; give your customer ID (C0xxxxxxx), "+
		"found in the Admin console under Account settings (Account > Account settings > Profile: Customer ID)", cmd)
}

// ledgerVariant parses the name of a default ledger file, as this or an
// earlier version named it: <customer>.ledger (Google),
// <customer>.<key>.ledger where key is "emulator-builtin", "emulator-<host>"
// (CLOUDIDENTITY_EMULATOR_HOST), "test-<host>" (this version's test
// backends) or an --endpoint's <host> (Google unless it is a loopback
// address), each reduced to [A-Za-z0-9._-]. ok is false for any other name.
func ledgerVariant(name string) (customer string, backend client.Backend, ok bool) {
	base, found := strings.CutSuffix(name, ".ledger")
	if !found || base == "" {
		return "", client.Backend{}, false
	}
	customer, key, _ := strings.Cut(base, ".")
	if customer == "" {
		return "", client.Backend{}, false
	}
	switch {
	case key == "":
		return customer, client.Google, true
	case key == "emulator-builtin":
		return customer, client.BuiltinEmulator, true
	}
	host, test := strings.CutPrefix(key, "emulator-")
	if !test {
		host, test = strings.CutPrefix(key, "test-")
	}
	hp, ok := unsanitiseHostPort(host)
	if !ok {
		return "", client.Backend{}, false
	}
	if !test {
		// An --endpoint's host: a test backend only on a loopback
		// address; any other endpoint reached Google.
		h, _, err := net.SplitHostPort(hp)
		if err != nil {
			h = strings.Trim(hp, "[]")
		}
		if !client.IsLoopback(h) {
			return customer, client.Google, true
		}
	}
	b, err := client.BackendOf(client.Config{Emulator: hp})
	if err != nil {
		return "", client.Backend{}, false
	}
	return customer, b, true
}

// unsanitiseHostPort undoes what the file name made of host:port (':' and
// the brackets of an IPv6 address became '_'): "127.0.0.1_8086" is
// 127.0.0.1:8086, "___1__8086" is [::1]:8086, "localhost" has no port.
func unsanitiseHostPort(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	// The port is the digits after the last '_'.
	host, port := s, ""
	if i := strings.LastIndexByte(s, '_'); i >= 0 && i < len(s)-1 && strings.Trim(s[i+1:], "0123456789") == "" {
		host, port = s[:i], s[i+1:]
	}
	if strings.HasPrefix(host, "_") && strings.HasSuffix(host, "_") && len(host) > 2 {
		// An IPv6 address: [::1] became ___1_.
		host = "[" + strings.ReplaceAll(host[1:len(host)-1], "_", ":") + "]"
	} else if strings.Contains(host, "_") {
		return "", false
	}
	if port == "" {
		return host, true
	}
	return host + ":" + port, true
}

// ledgerVariants returns the other files in dir that hold ledgers of the
// owner: spellings of its customer (case) and of its backend (an endpoint
// spelled out, localhost for 127.0.0.1, an emulator host), from earlier
// versions, other than the file at path.
func (w ledgerOwner) variants(path string) ([]string, error) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	target, _ := os.Stat(path)
	var out []string
	for _, de := range entries {
		if !de.Type().IsRegular() {
			continue
		}
		c, b, ok := ledgerVariant(de.Name())
		if !ok || b != w.backend || !strings.EqualFold(c, sanitiseCustomer(w.customer)) {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if p == path {
			continue
		}
		if fi, err := os.Stat(p); err == nil && target != nil && os.SameFile(fi, target) {
			continue // the same file (a case-insensitive file system)
		}
		out = append(out, p)
	}
	return out, nil
}

// sanitiseCustomer is the customer as a default ledger's name spells it.
func sanitiseCustomer(c string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, c)
}

// otherOwner returns the owner whose default ledger path is, when path is
// a default ledger (in the state directory, named as one) of another
// customer or backend than w.
func (w ledgerOwner) otherOwner(path string) (ledgerOwner, bool) {
	def, err := w.defaultPath()
	if err != nil {
		return ledgerOwner{}, false
	}
	d1, err1 := os.Stat(filepath.Dir(def))
	d2, err2 := os.Stat(filepath.Dir(path))
	if err1 != nil || err2 != nil || !os.SameFile(d1, d2) {
		return ledgerOwner{}, false
	}
	c, b, ok := ledgerVariant(filepath.Base(path))
	if !ok || (b == w.backend && strings.EqualFold(c, sanitiseCustomer(w.customer))) {
		return ledgerOwner{}, false
	}
	return ledgerOwner{customer: c, backend: b}, true
}

// openLedger opens the owner's ledger: the explicit path if not "", else
// its default one. A writable open upgrades what earlier versions left: the
// header is written into a header-less ledger (reports adopts it), and the
// spelling variants of the default ledger are merged into it and moved
// aside, once; each is said on notice. A ledger of another backend or
// customer is refused (exit 2).
func (w ledgerOwner) openLedger(cmd, path string, opts reports.LedgerOptions, notice io.Writer) (*reports.Ledger, string, error) {
	explicit := path != ""
	if !explicit {
		p, err := w.defaultPath()
		if err != nil {
			return nil, "", err
		}
		path = p
	} else if other, ok := w.otherOwner(path); ok {
		// A header-less ledger would be adopted by whoever opens it first:
		// another backend's default ledger must not be (an emulator's
		// pretend sends in the production ledger would keep those people
		// from ever being invited).
		return nil, "", usagef("%s: --ledger %s is the default ledger of customer %s on %s, not of customer %s on %s; "+
			"use the default (no --ledger) or a ledger of its own", cmd, path, other.customer, other.backend, w.customer, w.backend)
	}
	opts.Identity = w.identity()
	l, err := reports.OpenLedger(path, opts)
	if err != nil {
		return nil, path, err
	}
	if l.Adopted() {
		fmt.Fprintf(notice, "invitebatch %s: ledger %s (of an earlier version) now records that it belongs to %s on %s; this happens once\n",
			cmd, path, w.customer, w.backend)
	}
	if explicit {
		return l, path, nil
	}
	variants, err := w.variants(path)
	if err != nil {
		l.Close()
		return nil, path, fmt.Errorf("ledger: %w", err)
	}
	for _, v := range variants {
		if opts.ReadOnly {
			fmt.Fprintf(notice, "invitebatch %s: warning: %s holds more of this ledger (an earlier version's spelling); "+
				"the next run or cancel merges it into %s; until then this command does not see it\n", cmd, v, path)
			continue
		}
		added, err := l.Merge(v)
		if reports.IsLedgerMismatch(err) {
			fmt.Fprintf(notice, "invitebatch %s: warning: %s is named like this ledger but belongs to another; left alone: %v\n", cmd, v, err)
			continue
		}
		if err != nil {
			l.Close()
			return nil, path, fmt.Errorf("ledger: merge %s into %s: %w", v, path, err)
		}
		// Not named *.ledger, so that it is no variant of anything.
		aside := v + ".merged-into-" + strings.TrimSuffix(filepath.Base(path), ".ledger")
		if err := os.Rename(v, aside); err != nil {
			l.Close()
			return nil, path, fmt.Errorf("ledger: merged %s into %s, but could not move it aside: %w", v, path, err)
		}
		fmt.Fprintf(notice, "invitebatch %s: merged %s (%d records; the same customer and backend, spelled otherwise by an earlier version) into %s, and moved it aside as %s; this happens once\n",
			cmd, v, added, path, filepath.Base(aside))
	}
	return l, path, nil
}
