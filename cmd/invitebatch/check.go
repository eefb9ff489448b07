package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/invitebatch/invitebatch/batch/input"
)

// checkOptions are the flags of `invitebatch check`.
type checkOptions struct {
	file        string
	emailColumn string
	domains     listFlag
	format      string
	strict      bool
	limit       int
}

const checkUsage = `Usage: invitebatch check [flags] FILE.csv   (- reads stdin)

Checks an input file offline, as run would read it: no credentials, no API
call. Reports the rows, the invalid rows (with the reason run would give),
the duplicates (with the row each repeats) and the domains present.
Exit 0: nothing to fix; 1: invalid rows (with --strict, also duplicates);
2: the file cannot be read as a CSV of addresses. Flags:
`

func parseCheckFlags(e env, args []string) (*checkOptions, error) {
	o := &checkOptions{}
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.StringVar(&o.emailColumn, "email-column", "", "`name` of the email column (default: detected)")
	fs.Var(&o.domains, "domain", "addresses outside this `domain` are invalid, as in run (repeatable)")
	fs.StringVar(&o.format, "format", "text", "output: text or json")
	fs.BoolVar(&o.strict, "strict", false, "duplicates make the exit code 1 too")
	fs.IntVar(&o.limit, "limit", 100, "text: list at most this many invalid rows and duplicates each (0: all)")
	pos, err := parseWithHelp(e, fs, checkUsage, args)
	if err != nil {
		return nil, err
	}
	switch {
	case len(pos) != 1:
		return nil, usagef("check: want exactly one input FILE.csv (or - for stdin), got %d arguments", len(pos))
	case o.format != "text" && o.format != "json":
		return nil, usagef("check: --format %q: want text or json", o.format)
	case o.limit < 0:
		return nil, usagef("check: --limit must be >= 0")
	}
	for _, d := range o.domains {
		if _, err := input.Address("x@" + d); err != nil {
			return nil, usagef("check: --domain %q is not a domain", d)
		}
	}
	o.file = pos[0]
	return o, nil
}

func checkCommand(e env, args []string) (int, error) {
	o, err := parseCheckFlags(e, args)
	if err != nil {
		return exitUsage, err
	}
	var r io.Reader = e.stdin
	if o.file != "-" {
		f, err := os.Open(o.file)
		if err != nil {
			return exitUsage, &input.FileError{Reason: fmt.Sprintf("cannot read %s: %v", o.file, errors.Unwrap(err))}
		}
		defer f.Close()
		r = f
	}
	res, err := checkInput(r, input.Options{EmailColumn: o.emailColumn}, o.domains)
	if err != nil {
		return exitUsage, withPath(o.file, err)
	}
	res.File = o.file
	if o.format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.writeText(e.stdout, o.limit, o.domains)
	}
	if err != nil {
		return exitFatal, err
	}
	if len(res.Invalid) > 0 || (o.strict && len(res.Duplicates) > 0) {
		return exitAttention, nil
	}
	return exitOK, nil
}

// checkResult is what check found; its JSON form is check's --format json.
type checkResult struct {
	File        string         `json:"file"`
	EmailColumn string         `json:"email_column"`
	Rows        int            `json:"rows"`
	Valid       int            `json:"valid"` // rows run would look up: not invalid, not duplicate
	Invalid     []invalidRow   `json:"invalid"`
	Duplicates  []duplicateRow `json:"duplicates"`
	Domains     []domainCount  `json:"domains"`
}

type invalidRow struct {
	Row    int    `json:"row"`
	Email  string `json:"email"` // the cell as it appeared
	Reason string `json:"reason"`
}

type duplicateRow struct {
	Row   int    `json:"row"`
	Email string `json:"email"`
	Of    int    `json:"duplicate_of"` // the first row with the address
}

type domainCount struct {
	Domain string `json:"domain"`
	Rows   int    `json:"rows"` // rows with a well-formed address there, duplicates excluded
	// Outside is set when --domain was given and this domain is not in it:
	// its rows are invalid.
	Outside bool `json:"outside_domain,omitempty"`
}

// checkInput reads the input as run's producer does (batch.Runner.produce):
// a record's own problem, then the address, then --domain make a row
// invalid, with the same reasons; among the rest, a repeated address is a
// duplicate. Only the first 64 bits of a hash of each address are kept, as
// run does, so a million rows take a few MB.
func checkInput(r io.Reader, opts input.Options, domains []string) (*checkResult, error) {
	rd, err := input.Open(r, opts)
	if err != nil {
		return nil, err
	}
	res := &checkResult{EmailColumn: rd.Header()[rd.EmailIndex()], Invalid: []invalidRow{}, Duplicates: []duplicateRow{}}
	seed := maphash.MakeSeed()
	first := make(map[uint64]int)
	perDomain := make(map[string]int)
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		res.Rows++
		if rec.Problem != "" {
			res.Invalid = append(res.Invalid, invalidRow{rec.Row, rec.Email, rec.Problem})
			continue
		}
		email, err := input.Address(rec.Email)
		if err != nil {
			res.Invalid = append(res.Invalid, invalidRow{rec.Row, rec.Email, err.Error()})
			continue
		}
		domain := email[strings.LastIndexByte(email, '@')+1:]
		if len(domains) > 0 && !input.InDomains(email, domains) {
			// Counted under its domain, so that a typo stands out.
			perDomain[domain]++
			res.Invalid = append(res.Invalid, invalidRow{rec.Row, rec.Email, "outside --domain " + strings.Join(domains, ", ")})
			continue
		}
		h := maphash.String(seed, email)
		if row, dup := first[h]; dup {
			res.Duplicates = append(res.Duplicates, duplicateRow{rec.Row, rec.Email, row})
			continue
		}
		first[h] = rec.Row
		perDomain[domain]++
		res.Valid++
	}
	for d, n := range perDomain {
		res.Domains = append(res.Domains, domainCount{Domain: d, Rows: n, Outside: len(domains) > 0 && !input.InDomains("x@"+d, domains)})
	}
	slices.SortFunc(res.Domains, func(a, b domainCount) int {
		return cmp.Or(cmp.Compare(b.Rows, a.Rows), strings.Compare(a.Domain, b.Domain))
	})
	if res.Domains == nil {
		res.Domains = []domainCount{}
	}
	return res, nil
}

func (res *checkResult) writeText(w io.Writer, limit int, domains []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d rows: %d valid, %d invalid, %d duplicates (email column %q)\n",
		printable(res.File), res.Rows, res.Valid, len(res.Invalid), len(res.Duplicates), printable(res.EmailColumn))
	if len(res.Invalid) > 0 {
		b.WriteString("\ninvalid (run would not send these):\n")
		for i, r := range res.Invalid {
			if limit > 0 && i == limit {
				fmt.Fprintf(&b, "  ... and %d more (--limit 0 or --format json lists all)\n", len(res.Invalid)-limit)
				break
			}
			fmt.Fprintf(&b, "  row %d: %+q: %s\n", r.Row, r.Email, printable(r.Reason))
		}
	}
	if len(res.Duplicates) > 0 {
		b.WriteString("\nduplicates (run sends to the first row only):\n")
		for i, r := range res.Duplicates {
			if limit > 0 && i == limit {
				fmt.Fprintf(&b, "  ... and %d more (--limit 0 or --format json lists all)\n", len(res.Duplicates)-limit)
				break
			}
			fmt.Fprintf(&b, "  row %d: %+q: same address as row %d\n", r.Row, r.Email, r.Of)
		}
	}
	if len(res.Domains) > 0 {
		b.WriteString("\ndomains (rows with a well-formed address, duplicates excluded):\n")
		width := 0
		for _, d := range res.Domains {
			width = max(width, len(d.Domain))
		}
		for _, d := range res.Domains {
			note := ""
			if d.Outside {
				note = "  (outside --domain " + strings.Join(domains, ", ") + ")"
			}
			fmt.Fprintf(&b, "  %-*s %7d%s\n", width, d.Domain, d.Rows, note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
