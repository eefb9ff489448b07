package emulator

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// History describes a seeded past migration: Count unmanaged accounts that
// this tool invited over the Weeks weeks before a given time, some of whom
// accepted over the following days, some declined, some got reminders,
// a few were cancelled and a few sends could not be confirmed; plus
// Uninvited accounts found but not invited yet. The same History and the
// same time always give the same past (a seeded random source), so a demo,
// a test and a benchmark see the same curve every time.
//
// LoadHistory puts the past into an Emulator; Actions lists what this tool
// did in it, oldest first, for a ledger that agrees with the emulator.
type History struct {
	// Count is the number of addresses invited (0: none).
	Count int
	// Weeks is how far back the first emails go (< 1 counts as 1).
	Weeks int
	// Uninvited is the number of further unmanaged accounts, listed as
	// NOT_YET_SENT: found, never invited.
	Uninvited int
	// Domains are the domains of the generated addresses, in turn
	// (default example.com). Addresses are h<number>.<name>@<domain>.
	Domains []string
	// Seed seeds the random source.
	Seed uint64
}

// Past is one address of a History: the emails this tool sent it and what
// the invitation shows now.
type Past struct {
	Email string
	// Sends are the times of the emails this tool sent, oldest first: the
	// first email and any reminders. Empty for an uninvited account.
	Sends []time.Time
	// State is the invitation's state now: StateInvited, StateAccepted,
	// StateDeclined, or StateNotYetSent (never invited, or cancelled).
	State string
	// Updated is the invitation's updateTime: the last email for INVITED,
	// the answer for ACCEPTED and DECLINED, the cancel for a cancelled one.
	Updated time.Time
	// Cancelled is when this tool cancelled the invitation (zero: never).
	Cancelled time.Time
	// Unconfirmed marks an account too new to be listed when its last
	// send failed ambiguously: the ledger calls it unconfirmed, the API
	// shows nothing.
	Unconfirmed bool
}

// Generate returns the past of h as of now, ordered by address.
func (h History) Generate(now time.Time) []Past {
	rng := rand.New(rand.NewPCG(h.Seed, 0x5eed1157))
	weeks := max(h.Weeks, 1)
	span := time.Duration(weeks) * 7 * 24 * time.Hour
	start := now.Add(-span)
	domains := h.Domains
	if len(domains) == 0 {
		domains = []string{"example.com"}
	}
	names := []string{"ada", "ben", "cleo", "dan", "eva", "finn", "gus", "hana", "ivo", "jen", "kai", "lea", "max", "nia", "otto", "pia"}
	out := make([]Past, 0, h.Count+h.Uninvited)
	for i := range h.Count + h.Uninvited {
		p := Past{Email: fmt.Sprintf("h%06d.%s@%s", i, names[i%len(names)], strings.ToLower(domains[i%len(domains)])), State: StateNotYetSent}
		if i >= h.Count {
			p.Updated = start.Add(-24 * time.Hour)
			out = append(out, p)
			continue
		}
		// First emails: a migration sent in waves, more early on, on
		// working days between 08:00 and 18:00.
		day := int(math.Floor(math.Pow(rng.Float64(), 1.6) * float64(weeks*7)))
		t0 := start.Truncate(24*time.Hour).AddDate(0, 0, day)
		for t0.Weekday() == time.Saturday || t0.Weekday() == time.Sunday {
			t0 = t0.AddDate(0, 0, 1)
		}
		t0 = t0.Add(8*time.Hour + time.Duration(rng.Int64N(int64(10*time.Hour))))
		if !t0.Before(now) {
			t0 = now.Add(-time.Duration(1 + rng.Int64N(int64(time.Hour))))
		}
		p.Sends = []time.Time{t0}
		p.State, p.Updated = StateInvited, t0
		h.answer(rng, &p, t0, now, 0)
		switch {
		case p.State == StateInvited && now.Sub(p.Updated) < 48*time.Hour && rng.Float64() < 0.1:
			// A recent account whose send failed ambiguously: not
			// listed yet, so the send cannot be confirmed.
			p.Unconfirmed = true
		case p.State == StateInvited && now.Sub(p.Updated) > 21*24*time.Hour && rng.Float64() < 0.03:
			p.Cancelled = p.Updated.Add(14 * 24 * time.Hour)
			p.State, p.Updated = StateNotYetSent, p.Cancelled
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Past) int { return strings.Compare(a.Email, b.Email) })
	return out
}

// answer decides what a person does after the email sent at t (reminder
// number n): accept or decline after a delay of a few days (log-normal,
// median about a day and a half, shorter after a reminder), else stay
// silent; a silent invitation gets a reminder a week later, at most two.
func (h History) answer(rng *rand.Rand, p *Past, t, now time.Time, n int) {
	u := rng.Float64()
	accept, decline := 0.55, 0.04
	if n > 0 {
		accept, decline = 0.45, 0.05
	}
	if u < accept+decline {
		median := 36 * time.Hour
		if n > 0 {
			median = 20 * time.Hour
		}
		delay := time.Duration(float64(median) * math.Exp(rng.NormFloat64()*0.9))
		if at := t.Add(delay); at.Before(now) {
			p.State, p.Updated = StateDeclined, at
			if u < accept {
				p.State = StateAccepted
			}
			return
		}
		return // would answer, but not yet
	}
	if n >= 2 || rng.Float64() > 0.7 {
		return
	}
	next := t.Add(7*24*time.Hour + time.Duration(rng.Int64N(int64(24*time.Hour))))
	if !next.Before(now) {
		return
	}
	p.Sends = append(p.Sends, next)
	p.Updated = next
	h.answer(rng, p, next, now, n+1)
}

// LoadHistory puts a generated past into the emulator: each address an
// unmanaged account whose invitation has the past's state, mailsSentCount
// (the number of emails) and updateTime; an Unconfirmed one an account too
// new to be listed. It replaces what the emulator held for those
// addresses.
func (e *Emulator) LoadHistory(past []Past) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range past {
		st, ok := parseState(p.State)
		if !ok || !validEmail(p.Email) {
			panic(fmt.Sprintf("emulator: LoadHistory: bad entry %q %q", p.Email, p.State))
		}
		a := account{typ: typeUnmanaged, state: st, mails: int64(len(p.Sends)), updated: p.Updated.UnixNano()}
		if p.Unconfirmed {
			a.typ = typeNew
		}
		e.put(strings.ToLower(p.Email), a)
	}
}

// ActionKind is what this tool did to an address in a History.
type ActionKind int

// The kinds of Action, as the tool's ledger records them.
const (
	// ActionSend: an email went out (a send intent, then sent).
	ActionSend ActionKind = iota
	// ActionUnconfirmed: a send intent whose send failed ambiguously and
	// could not be confirmed.
	ActionUnconfirmed
	// ActionCancel: a cancel intent, then cancelled.
	ActionCancel
)

// Action is one thing this tool did in a History.
type Action struct {
	Time  time.Time
	Email string
	Kind  ActionKind
}

// Actions returns what this tool did in past, oldest first: what a ledger
// that agrees with the emulator holds.
func Actions(past []Past) []Action {
	var out []Action
	for _, p := range past {
		for i, t := range p.Sends {
			k := ActionSend
			if p.Unconfirmed && i == len(p.Sends)-1 {
				k = ActionUnconfirmed
			}
			out = append(out, Action{Time: t, Email: p.Email, Kind: k})
		}
		if !p.Cancelled.IsZero() {
			out = append(out, Action{Time: p.Cancelled, Email: p.Email, Kind: ActionCancel})
		}
	}
	slices.SortStableFunc(out, func(a, b Action) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Email, b.Email))
	})
	return out
}

// StateCounts returns the number of invitations get and list show, by
// state (the State constants).
func (e *Emulator) StateCounts() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{StateNotYetSent: 0, StateInvited: 0, StateAccepted: 0, StateDeclined: 0}
	for email, a := range e.accounts {
		if e.visible(email, a) {
			out[a.state.String()]++
		}
	}
	return out
}
