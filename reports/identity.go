package reports

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RunIdentity is everything that decides a row's outcome in a run, and so
// what a checkpoint must match for a rerun to resume it (CONTRACT.md, "What
// a rerun does"). The list is exhaustive: a setting that can change what
// happens to a row belongs here, and a rerun that differs in it starts a
// new run, since the rows the checkpoint marks done were decided under the
// other setting (a row "sent" by an emulator was never emailed by Google).
// Settings that only change how fast or how far a run goes (--qps,
// --workers, --max-sends, --max-duration, logging) do not belong here: a
// rerun with other values resumes.
type RunIdentity struct {
	InputSHA256 string        // hex SHA-256 of the input content the run reads
	Command     string        // "run" or "cancel"
	Customer    string        // compared case-insensitively
	Backend     string        // client.Backend.ID(): "google", "test:127.0.0.1:8086", ...
	EmailColumn int           // 1-based column of the addresses, as resolved
	Domains     []string      // --domain (order and case do not matter)
	ResendAfter time.Duration // --resend-after
	MaxMails    int           // --max-mails
	CheckEach   bool          // --check-each: every row's eligibility checked by its own request
}

// identityField is one field of a RunIdentity in the checkpoint header:
// its key there, its name for people, and its value in the header's form.
type identityField struct {
	key, name string
	value     func(*RunIdentity) string
}

// identityFields lists the header's identity fields, in header order.
var identityFields = []identityField{
	{"sha256", "the input's content", func(id *RunIdentity) string { return id.InputSHA256 }},
	{"command", "the command", func(id *RunIdentity) string { return id.Command }},
	{"customer", "--customer", func(id *RunIdentity) string { return strings.ToLower(id.Customer) }},
	{"backend", "the backend (--emulator, --endpoint, CLOUDIDENTITY_EMULATOR_HOST)", func(id *RunIdentity) string { return id.Backend }},
	{"email_column", "the email column", func(id *RunIdentity) string { return strconv.Itoa(id.EmailColumn) }},
	{"domain", "--domain", func(id *RunIdentity) string {
		d := make([]string, len(id.Domains))
		for i, s := range id.Domains {
			d[i] = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
		}
		slices.Sort(d)
		return strings.Join(slices.Compact(d), ",")
	}},
	{"resend_after", "--resend-after", func(id *RunIdentity) string { return id.ResendAfter.String() }},
	{"max_mails", "--max-mails", func(id *RunIdentity) string { return strconv.Itoa(id.MaxMails) }},
	{"check_each", "--check-each", func(id *RunIdentity) string { return strconv.FormatBool(id.CheckEach) }},
}

// headerFields returns id's fields as the header writes them, checking that
// each is a valid header value.
func (id *RunIdentity) headerFields() ([]string, error) {
	if id.InputSHA256 == "" || id.Command == "" || id.Customer == "" || id.Backend == "" {
		return nil, errors.New("incomplete run identity")
	}
	out := make([]string, 0, len(identityFields))
	for _, f := range identityFields {
		v := f.value(id)
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("bad header field %s=%q", f.key, v)
		}
		out = append(out, f.key+"="+v)
	}
	return out, nil
}

// validHeaderValue reports whether v can stand in the space-separated
// header: no spaces or control characters.
func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// Differences names the identity fields in which the run that wrote the
// checkpoint differs from id, for a one-line notice, e.g. "--customer,
// the email column"; nil if the checkpoint belongs to id's run. A
// checkpoint of an earlier version, which recorded only the input, differs
// by definition: nothing says which customer, backend or flags made it.
func (s *CheckpointState) Differences(id RunIdentity) []string {
	if s.version < 2 {
		return []string{"nothing but the input (an earlier version wrote it)"}
	}
	var diff []string
	known := make(map[string]bool, len(identityFields))
	for _, f := range identityFields {
		known[f.key] = true
		old, ok := s.identity[f.key]
		if now := f.value(&id); !ok || old != now {
			diff = append(diff, describeDiff(f, old, now, ok))
		}
	}
	var unknown []string
	for k := range s.identity {
		if !known[k] {
			unknown = append(unknown, k+" (unknown to this version)")
		}
	}
	slices.Sort(unknown)
	return append(diff, unknown...)
}

// describeDiff says how one field differs; values are shown for the flags
// (not for the input's hash).
func describeDiff(f identityField, old, now string, ok bool) string {
	switch {
	case !ok:
		return f.name + " (not recorded)"
	case f.key == "sha256":
		return f.name
	}
	show := func(v string) string {
		if v == "" {
			return "none"
		}
		return v
	}
	return fmt.Sprintf("%s (was %s, now %s)", f.name, show(old), show(now))
}
