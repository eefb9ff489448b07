package batch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"

	"go.uber.org/zap"
)

// errListBudget stops the list lookup when it costs more than it saves.
var errListBudget = errors.New("list lookup over budget")

// listPageSize is the largest page the API serves.
const listPageSize = 200

// listBudgetShare is the share of the rows' per-row lookups that --lookup
// auto spends on list pages before it gives up on a list that has not
// ended: a get per row is the least the per-row path costs, so a list that
// is abandoned costs at most this much more than never listing (#13: a
// 500-row CSV against 1,000,000 listed accounts within 1.1x).
const listBudgetShare = 10 // pages <= rows/10

// listBudget returns how many pages auto reads for rows that may need a
// state: a page costs one request and can save up to 200 gets; a list that
// ends within the budget costs at most a tenth of the gets it replaces.
func listBudget(rows int) int { return max(1, rows/listBudgetShare) }

// listed is what the list lookup read. NOT_YET_SENT invitations, the bulk
// of a customer's list (every unmanaged account has one), are kept as
// 64-bit hashes only: about 12 bytes each instead of a map entry of over
// 100. A hash collision can only make an unlisted row look NOT_YET_SENT,
// and then send itself refuses it if it is not invitable: it never emails
// an INVITED, ACCEPTED or DECLINED address, whose invitations are kept
// whole and looked up first.
type listed struct {
	states     map[string]Invitation // every other state, by address
	notYetSent *hashSet
	seed       maphash.Seed
	// complete is set when the whole list was read: an address not in it
	// has no visible invitation. After an abandoned list only the
	// addresses it read are answered; the rest are read one by one.
	complete bool
	pages    int
}

func newListed() *listed {
	return &listed{states: make(map[string]Invitation), notYetSent: newHashSet(0), seed: maphash.MakeSeed()}
}

func (l *listed) add(page []Invitation) {
	l.pages++
	for _, inv := range page {
		if inv.State == StateNotYetSent {
			l.notYetSent.add(maphash.String(l.seed, inv.Email))
			continue
		}
		l.states[inv.Email] = inv
	}
}

// lookup returns the listed invitation of email; ok is false when the list
// cannot tell (it was abandoned before reaching it).
func (l *listed) lookup(email string) (inv Invitation, ok bool) {
	if inv, ok := l.states[email]; ok {
		return inv, true
	}
	if l.notYetSent.has(maphash.String(l.seed, email)) {
		return Invitation{Email: email, State: StateNotYetSent}, true
	}
	return Invitation{Email: email, State: StateNone}, l.complete
}

func (l *listed) len() int { return len(l.states) + l.notYetSent.len() }

// loadStates runs the list lookup, if the mode and its budget allow. It
// reads the customer's invitations in every state (no filter: the
// documented filter values are lower-case and NOT_YET_SENT's is not among
// the documented examples), so that a row listed NOT_YET_SENT needs no
// isInvitableUser before its send. A cancel run lists INVITED only.
func (r *Runner) loadStates(ctx context.Context, stats *Stats) error {
	if r.Lookup == LookupGet {
		r.setLookup(stats, "get", "--lookup get, or no row needs a state")
		return nil
	}
	budget := -1
	if r.Lookup == LookupAuto {
		budget = listBudget(r.ExpectedRows)
	}
	var states []State // all
	if r.Cancel {
		states = []State{StateInvited}
	}
	l := newListed()
	err := r.caller.List(ctx, r.API, states, func(page []Invitation) error {
		l.add(page)
		if budget >= 0 && l.pages >= budget && len(page) == listPageSize {
			return errListBudget
		}
		return nil
	})
	switch {
	case errors.Is(err, errListBudget):
		// What was read still answers its rows: a get would say the same.
		r.states = l
		why := fmt.Sprintf("the list had not ended after %d page(s), its budget for %d rows (one page per %d rows, "+
			"so at most %d%% above a get per row): the %d invitations read answer their rows, the others get one get each",
			l.pages, r.ExpectedRows, listBudgetShare, 100/listBudgetShare, l.len())
		r.setLookup(stats, "get", why)
		r.Log.Info("invitation list too long for this input; reading states one row at a time",
			zap.Int("pages", l.pages), zap.Int("rows", r.ExpectedRows))
		return nil
	case err != nil && KindOf(err) != KindFatal && ctx.Err() == nil:
		r.setLookup(stats, "get", "the list failed: "+err.Error())
		r.Log.Warn("list lookup failed; reading states one row at a time", zap.Error(err))
		return nil
	case err != nil:
		return err
	}
	l.complete = true
	r.states = l
	why := "--lookup list"
	if budget >= 0 {
		why = fmt.Sprintf("%d list page(s) replaced a get for each of up to %d rows (budget: %d page(s), one per %d rows)",
			l.pages, r.ExpectedRows, budget, listBudgetShare)
	}
	r.setLookup(stats, "list", why)
	r.Log.Info("invitation states loaded", zap.Int("invitations", l.len()), zap.Int("pages", l.pages))
	return nil
}

func (r *Runner) setLookup(stats *Stats, how, why string) {
	r.liveMu.Lock()
	stats.Lookup, stats.LookupReason = how, why
	r.liveMu.Unlock()
}

// state returns the current invitation of email: from the list lookup when
// it knows (and fresh is false), else by a get. StateNone means none
// visible.
func (r *Runner) state(ctx context.Context, t *tally, email string, fresh bool) (Invitation, error) {
	if r.states != nil && !fresh {
		if inv, ok := r.states.lookup(email); ok {
			return inv, nil
		}
	}
	var inv Invitation
	err := r.call(ctx, t, MethodGet, func(ctx context.Context) error {
		var err error
		inv, err = r.API.Get(ctx, email)
		return err
	})
	if KindOf(err) == KindNotFound {
		return Invitation{Email: email, State: StateNone}, nil
	}
	return inv, err
}
