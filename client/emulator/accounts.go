package emulator

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Kind is what kind of account an address belongs to, and for the seeded
// invitation kinds, the state its invitation is in.
type Kind int

// The kinds of address. KindUnmanaged is the zero value.
const (
	// KindUnmanaged is a personal (consumer) account on a customer domain:
	// its invitation is NOT_YET_SENT, visible in get and list, invitable.
	KindUnmanaged Kind = iota
	// KindInvited is an unmanaged account whose invitation is INVITED
	// (mailsSentCount 1); it is invitable and a send re-sends.
	KindInvited
	// KindAccepted is an account whose invitation is ACCEPTED: it is now
	// managed and not invitable.
	KindAccepted
	// KindDeclined is an account whose invitation is DECLINED; not
	// invitable.
	KindDeclined
	// KindManaged is already a managed account: no invitation (get 404),
	// not invitable.
	KindManaged
	// KindNone is an address with no Google account: get 404, not
	// invitable.
	KindNone
	// KindNew is an unmanaged account created too recently to be listed:
	// invitable and send works, but get and list never show it (the
	// documented 48-hour lag), before or after the send.
	KindNew
	// KindIneligible is an account listed NOT_YET_SENT (get and list show
	// it) that breaks a rule send enforces: a secondary address, an alias
	// domain, a family group, or converted to managed within the API's
	// lag. isInvitableUser says false; send is refused as SetRefusal says.
	KindIneligible
)

var kindWords = [...]string{
	KindUnmanaged:  "unmanaged",
	KindInvited:    "invited",
	KindAccepted:   "accepted",
	KindDeclined:   "declined",
	KindManaged:    "managed",
	KindNone:       "none",
	KindNew:        "new",
	KindIneligible: "ineligible",
}

// String returns the word the seed format uses for k.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindWords) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindWords[k]
}

// ParseKind parses a seed-format kind word (case-insensitive).
func ParseKind(s string) (Kind, error) {
	w := strings.ToLower(strings.TrimSpace(s))
	for k, word := range kindWords {
		if w == word {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("unknown kind %q (want one of %s)", s, strings.Join(kindWords[:], ", "))
}

// The invitation states, as the API spells them.
const (
	StateNotYetSent = "NOT_YET_SENT"
	StateInvited    = "INVITED"
	StateAccepted   = "ACCEPTED"
	StateDeclined   = "DECLINED"
)

// acctType is the kind of Google account behind an address.
type acctType uint8

const (
	typeUnmanaged acctType = iota
	typeNew
	typeManaged
	typeNone
	typeIneligible // listed NOT_YET_SENT, refused by send
)

// invState is an invitation state; stNone means no invitation exists.
type invState uint8

const (
	stNone invState = iota
	stNotYetSent
	stInvited
	stAccepted
	stDeclined
)

var stateNames = [...]string{
	stNotYetSent: StateNotYetSent,
	stInvited:    StateInvited,
	stAccepted:   StateAccepted,
	stDeclined:   StateDeclined,
}

func (s invState) String() string { return stateNames[s] }

func parseState(s string) (invState, bool) {
	for i, n := range stateNames {
		if n != "" && strings.EqualFold(s, n) {
			return invState(i), true
		}
	}
	return stNone, false
}

// account is what the emulator keeps per held address. It is kept small
// and stored by value: benchmarks hold a million of them.
type account struct {
	updated   int64 // updateTime, Unix nanoseconds
	mails     int64 // mailsSentCount
	delivered int32 // emails actually delivered by sends (a counter)
	typ       acctType
	state     invState
}

// fromKind returns the account a Kind describes, updated at t.
func fromKind(k Kind, t time.Time) account {
	a := account{updated: t.UnixNano(), typ: typeUnmanaged, state: stNotYetSent}
	switch k {
	case KindInvited:
		a.state, a.mails = stInvited, 1
	case KindAccepted:
		a.state, a.mails = stAccepted, 1
	case KindDeclined:
		a.state, a.mails = stDeclined, 1
	case KindManaged:
		a.typ, a.state = typeManaged, stNone
	case KindNone:
		a.typ, a.state = typeNone, stNone
	case KindNew:
		a.typ = typeNew
	case KindIneligible:
		a.typ = typeIneligible
	}
	return a
}

// account returns the account of a lower-case address; the caller holds
// e.mu.
func (e *Emulator) account(email string) (a account, held bool) {
	if a, ok := e.accounts[email]; ok {
		return a, true
	}
	return fromKind(e.defaultKind, e.created), false
}

func (e *Emulator) inDomain(email string) bool {
	if e.domains == nil {
		return true
	}
	return e.domains[email[strings.LastIndexByte(email, '@')+1:]]
}

// visible reports whether get and list show the invitation.
func (e *Emulator) visible(email string, a account) bool {
	return (a.typ == typeUnmanaged || a.typ == typeIneligible) && a.state != stNone && e.inDomain(email)
}

// invitable reports what isInvitableUser answers, and whether send works.
func (e *Emulator) invitable(email string, a account) bool {
	return (a.typ == typeUnmanaged || a.typ == typeNew) &&
		(a.state == stNotYetSent || a.state == stInvited) && e.inDomain(email)
}

// Seed sets the kind of an address, replacing its invitation state (its
// Sends counter is kept). It panics if email is not a valid address.
func (e *Emulator) Seed(email string, k Kind) {
	key := mustEmail(email)
	if k < 0 || int(k) >= len(kindWords) {
		panic(fmt.Sprintf("emulator: Seed(%q): invalid kind %d", email, int(k)))
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.put(key, fromKind(k, now))
}

// SetInvitation sets the invitation of an address directly: state is one of
// the State constants (case-insensitive), mails its mailsSentCount, updated
// its updateTime. A KindNew address stays invisible; any other becomes an
// unmanaged account with that invitation. It panics if email is not a
// valid address or state is unknown.
func (e *Emulator) SetInvitation(email string, state string, mails int64, updated time.Time) {
	key := mustEmail(email)
	st, ok := parseState(state)
	if !ok {
		panic(fmt.Sprintf("emulator: SetInvitation(%q): unknown state %q", email, state))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	a, _ := e.account(key)
	if a.typ != typeNew && a.typ != typeIneligible {
		a.typ = typeUnmanaged
	}
	a.state, a.mails, a.updated = st, mails, updated.UnixNano()
	e.put(key, a)
}

// put stores an account, keeping its delivered counter; the caller holds
// e.mu.
func (e *Emulator) put(key string, a account) {
	if old, ok := e.accounts[key]; ok {
		a.delivered = old.delivered
	}
	e.accounts[key] = a
	e.version++
}

func mustEmail(email string) string {
	if !validEmail(email) {
		panic(fmt.Sprintf("emulator: invalid address %q", email))
	}
	return strings.ToLower(email)
}

// LoadSeed reads a seed CSV (see the package documentation) and seeds every
// address in it. Nothing is applied unless the whole input is valid.
func (e *Emulator) LoadSeed(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return errors.New("emulator: seed: no header row")
	}
	if err != nil {
		return fmt.Errorf("emulator: seed: %w", err)
	}
	emailCol, kindCol := -1, -1
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "email":
			emailCol = i
		case "kind":
			kindCol = i
		}
	}
	if emailCol < 0 || kindCol < 0 {
		return fmt.Errorf("emulator: seed: header %q must name an email and a kind column", strings.Join(header, ","))
	}
	type row struct {
		email string
		kind  Kind
	}
	var rows []row
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("emulator: seed: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) <= max(emailCol, kindCol) {
			return fmt.Errorf("emulator: seed line %d: %d fields, want at least %d", line, len(rec), max(emailCol, kindCol)+1)
		}
		email := strings.TrimSpace(rec[emailCol])
		if !validEmail(email) {
			return fmt.Errorf("emulator: seed line %d: invalid address %q", line, email)
		}
		k, err := ParseKind(rec[kindCol])
		if err != nil {
			return fmt.Errorf("emulator: seed line %d: %w", line, err)
		}
		rows = append(rows, row{strings.ToLower(email), k})
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rows {
		e.put(r.email, fromKind(r.kind, now))
	}
	return nil
}

// Sends returns how many emails sends have delivered to an address,
// including ambiguous sends that were performed before they failed.
func (e *Emulator) Sends(email string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return int(e.accounts[strings.ToLower(email)].delivered)
}

// validEmail reports whether s is a plain ASCII address the emulator
// accepts in a resource name: a dot-atom local part without the characters
// that are unsafe in a URL path (/ ? # %), and a domain of at least two DNS
// labels.
func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at <= 0 || at > 64 || strings.LastIndexByte(s, '@') != at {
		return false
	}
	local, domain := s[:at], s[at+1:]
	for _, part := range strings.Split(local, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if !isAtext(part[i]) {
				return false
			}
		}
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 || len(domain) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// isAtext is RFC 5322 atext without '#', '%', '/' and '?'.
func isAtext(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!$&'*+-=^_`{|}~", c) >= 0
}
