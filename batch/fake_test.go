package batch

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/invitebatch/invitebatch/batch/input"
)

// fakeAPI is an in-memory API with scripted failures, for the pipeline's
// unit tests. (End-to-end tests use the HTTP emulator through the real
// client; this fake keeps the decision logic's tests exact and fast.)
type fakeAPI struct {
	mu        sync.Mutex
	inv       map[string]Invitation
	invitable map[string]bool
	hidden    map[string]bool // too new: get/list never show it
	// fail maps a method to the errors its next calls return, in order.
	fail map[string][]error
	// afterSend, when set, fails a send after performing it.
	afterSend map[string]error
	sends     map[string]int
	calls     map[string]int
	pages     int // list pages served
	// listTokens is the page token of each list request, in order.
	listTokens []string
	// lag, when set, makes get show an invitation as it was before its
	// last send until lag has passed since that send: the API's reads lag.
	lag    time.Duration
	sentAt map[string]time.Time
	before map[string]Invitation
	// getAt records when each get of an address was made.
	getAt map[string][]time.Time
	// onSend and onIsInvitable, when set, are called at the start of those
	// methods, outside the fake's lock.
	onSend        func(email string)
	onIsInvitable func(email string)
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		inv: map[string]Invitation{}, invitable: map[string]bool{}, hidden: map[string]bool{},
		fail: map[string][]error{}, afterSend: map[string]error{}, sends: map[string]int{}, calls: map[string]int{},
		sentAt: map[string]time.Time{}, before: map[string]Invitation{}, getAt: map[string][]time.Time{},
	}
}

func (f *fakeAPI) unmanaged(emails ...string) {
	for _, e := range emails {
		f.inv[e] = Invitation{Email: e, State: StateNotYetSent}
		f.invitable[e] = true
	}
}

func (f *fakeAPI) take(method string) error {
	f.calls[method]++
	if errs := f.fail[method]; len(errs) > 0 {
		f.fail[method] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeAPI) IsInvitable(_ context.Context, email string) (bool, error) {
	if f.onIsInvitable != nil {
		f.onIsInvitable(email)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.take(MethodIsInvitable); err != nil {
		return false, err
	}
	return f.invitable[email], nil
}

func (f *fakeAPI) Get(_ context.Context, email string) (Invitation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getAt[email] = append(f.getAt[email], time.Now())
	if err := f.take(MethodGet); err != nil {
		return Invitation{}, err
	}
	inv, ok := f.inv[email]
	if at, sent := f.sentAt[email]; sent && f.lag > 0 && time.Since(at) < f.lag {
		inv, ok = f.before[email] // a stale read
	}
	if !ok || f.hidden[email] {
		return Invitation{}, &APIError{Kind: KindNotFound, Code: 404, Msg: "get: 404 NOT_FOUND"}
	}
	return inv, nil
}

func (f *fakeAPI) Send(_ context.Context, email string) error {
	if f.onSend != nil {
		f.onSend(email)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.take(MethodSend); err != nil {
		return err
	}
	if !f.invitable[email] {
		return &APIError{Kind: KindPrecondition, Code: 400, Msg: "send: 400 FAILED_PRECONDITION"}
	}
	f.sends[email]++
	f.before[email] = f.inv[email]
	f.sentAt[email] = time.Now()
	inv := f.inv[email]
	inv.Email, inv.State = email, StateInvited
	inv.MailsSent++
	f.inv[email] = inv
	if err, ok := f.afterSend[email]; ok {
		delete(f.afterSend, email)
		return err
	}
	return nil
}

func (f *fakeAPI) Cancel(context.Context, string) error { panic("not used") }

// List serves pages of listPageSize; a page token is the index of the
// page's first invitation.
func (f *fakeAPI) List(_ context.Context, states []State, token string) ([]Invitation, string, error) {
	f.mu.Lock()
	f.listTokens = append(f.listTokens, token)
	if err := f.take(MethodList); err != nil {
		f.mu.Unlock()
		return nil, "", err
	}
	var all []Invitation
	for e, inv := range f.inv {
		if f.hidden[e] {
			continue
		}
		if len(states) == 0 { // no filter: every state
			all = append(all, inv)
		}
		for _, s := range states {
			if inv.State == s {
				all = append(all, inv)
			}
		}
	}
	f.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Email < all[j].Email })
	f.pages++
	from := 0
	if token != "" {
		from, _ = strconv.Atoi(token)
	}
	to := min(from+listPageSize, len(all))
	next := ""
	if to < len(all) {
		next = strconv.Itoa(to)
	}
	return all[from:to], next, nil
}

// memLedger is an in-memory Ledger. A settled entry is visible at once and
// becomes durable when its wait is called.
type memLedger struct {
	mu      sync.Mutex
	entries map[string]LedgerEntry
	durable map[string]LedgerStatus
	log     []string
	intents []string // every Intend, in order
	// history is every status recorded for an address, in order.
	history map[string][]LedgerStatus
}

func newMemLedger() *memLedger {
	return &memLedger{entries: map[string]LedgerEntry{}, durable: map[string]LedgerStatus{}, history: map[string][]LedgerStatus{}}
}

func (l *memLedger) Lookup(email string) (LedgerEntry, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.entries[email]
	return e, ok
}

func (l *memLedger) Intend(ctx context.Context, email string, s LedgerStatus) error {
	l.mu.Lock()
	l.intents = append(l.intents, email)
	l.mu.Unlock()
	wait, _ := l.Settle(email, s)
	return wait(ctx)
}

func (l *memLedger) Settle(email string, s LedgerStatus) (func(context.Context) error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[email] = LedgerEntry{Status: s, Time: time.Now()}
	l.log = append(l.log, email)
	l.history[email] = append(l.history[email], s)
	return func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.durable[email] = s
		return nil
	}, nil
}

// memSink collects results by row.
type memSink map[int]Result

func (s memSink) Record(r Result) error { s[r.Row] = r; return nil }

// csvSource is a Source over CSV text.
func csvSource(text string) Source {
	r, err := input.Open(strings.NewReader(text), input.Options{})
	if err != nil {
		panic(err)
	}
	return r
}

// Restore puts e back as the entry of email, its time included.
func (l *memLedger) Restore(email string, e LedgerEntry) (func(context.Context) error, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[email] = e
	l.log = append(l.log, email)
	l.history[email] = append(l.history[email], e.Status)
	return func(context.Context) error {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.durable[email] = e.Status
		return nil
	}, nil
}
