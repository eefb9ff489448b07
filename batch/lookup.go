package batch

import (
	"context"
	"errors"

	"go.uber.org/zap"
)

// listStates are the states the list lookup loads. NOT_YET_SENT and "no
// invitation" lead to the same next step (isInvitableUser), so a fresh
// migration's list, mostly NOT_YET_SENT, costs only a few pages.
var listStates = []State{StateInvited, StateAccepted, StateDeclined}

// errListBudget stops the list lookup when it costs more than it saves.
var errListBudget = errors.New("list lookup over budget")

// listPageSize is the largest page the API serves.
const listPageSize = 200

// loadStates runs the list lookup, if the mode and its budget allow.
func (r *Runner) loadStates(ctx context.Context, stats *Stats) error {
	if r.Lookup == LookupGet {
		return nil
	}
	// Budget: the list must cost at most 1 request per 20 rows, or it is
	// dearer than the per-row gets it replaces for the rows that need them.
	budget := -1
	if r.Lookup == LookupAuto {
		budget = max(1, r.ExpectedRows/20)
	}
	loaded := make(map[string]Invitation)
	pages := 0
	var t tally
	err := r.call(ctx, &t, MethodList, func(ctx context.Context) error {
		clear(loaded)
		pages = 0
		states := listStates
		if r.Cancel {
			states = []State{StateInvited}
		}
		return r.API.List(ctx, states, func(page []Invitation) error {
			pages++
			for _, inv := range page {
				loaded[inv.Email] = inv
			}
			if budget >= 0 && pages >= budget && len(page) == listPageSize {
				return errListBudget
			}
			return nil
		})
	})
	switch {
	case errors.Is(err, errListBudget):
		r.Log.Info("invitation list too long for this input; reading states one row at a time",
			zap.Int("pages", pages), zap.Int("rows", r.ExpectedRows))
		return nil
	case err != nil && KindOf(err) != KindFatal && ctx.Err() == nil:
		r.Log.Warn("list lookup failed; reading states one row at a time", zap.Error(err))
		return nil
	case err != nil:
		return err
	}
	r.states = loaded
	r.liveMu.Lock()
	stats.Lookup = "list"
	r.liveMu.Unlock()
	r.Log.Info("invitation states loaded", zap.Int("invitations", len(loaded)), zap.Int("pages", pages))
	return nil
}

// state returns the current invitation of email: from the list lookup when
// loaded (and fresh is false), else by a get. StateNone means none visible.
func (r *Runner) state(ctx context.Context, t *tally, email string, fresh bool) (Invitation, error) {
	if r.states != nil && !fresh {
		if inv, ok := r.states[email]; ok {
			return inv, nil
		}
		return Invitation{Email: email, State: StateNone}, nil
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
