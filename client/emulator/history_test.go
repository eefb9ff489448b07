package emulator

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHistory(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	h := History{Count: 2000, Weeks: 6, Uninvited: 300, Domains: []string{"example.com", "corp.example"}, Seed: 7}
	past := h.Generate(now)
	if d := cmp.Diff(past, h.Generate(now)); d != "" {
		t.Fatalf("Generate is not deterministic (-first +second):\n%s", d)
	}
	if len(past) != 2300 {
		t.Fatalf("len(past) = %d, want 2300", len(past))
	}
	counts := map[string]int{}
	reminded, cancelled, unconfirmed := 0, 0, 0
	for _, p := range past {
		counts[p.State]++
		if len(p.Sends) > 1 {
			reminded++
		}
		if !p.Cancelled.IsZero() {
			cancelled++
		}
		if p.Unconfirmed {
			unconfirmed++
		}
		for i, s := range p.Sends {
			if s.After(now) || s.Before(now.AddDate(0, 0, -43)) {
				t.Errorf("%s: send %v outside the six weeks before %v", p.Email, s, now)
			}
			if i > 0 && !s.After(p.Sends[i-1]) {
				t.Errorf("%s: sends out of order: %v", p.Email, p.Sends)
			}
		}
		switch {
		case len(p.Sends) == 0 && p.State != StateNotYetSent:
			t.Errorf("%s: never sent but %s", p.Email, p.State)
		case len(p.Sends) > 0 && p.Updated.Before(p.Sends[len(p.Sends)-1]):
			t.Errorf("%s: updateTime %v before the last email %v", p.Email, p.Updated, p.Sends[len(p.Sends)-1])
		case p.Updated.After(now):
			t.Errorf("%s: updateTime %v in the future", p.Email, p.Updated)
		}
	}
	// A real curve: every outcome is there, in plausible shares.
	if counts[StateAccepted] < 800 || counts[StateDeclined] < 20 || counts[StateInvited] < 100 || counts[StateNotYetSent] < 300 {
		t.Errorf("states = %v: want mostly accepted, some declined and invited, 300+ not yet sent", counts)
	}
	if reminded < 100 || cancelled == 0 {
		t.Errorf("reminded = %d, cancelled = %d: want some of each", reminded, cancelled)
	}

	e := New(Options{})
	e.LoadHistory(past)
	got := e.StateCounts()
	want := map[string]int{}
	for _, p := range past {
		if !p.Unconfirmed {
			want[p.State]++
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("StateCounts (-want +got):\n%s", d)
	}

	acts := Actions(past)
	sends := 0
	for i, a := range acts {
		if i > 0 && a.Time.Before(acts[i-1].Time) {
			t.Fatalf("Actions not in time order at %d", i)
		}
		if a.Kind != ActionCancel {
			sends++
		}
	}
	total := 0
	for _, p := range past {
		total += len(p.Sends)
	}
	if sends != total {
		t.Errorf("Actions has %d sends, the past %d", sends, total)
	}
	_ = unconfirmed
}

func TestHistoryServed(t *testing.T) {
	now := time.Now()
	past := History{Count: 50, Weeks: 2, Seed: 1}.Generate(now)
	e := New(Options{})
	e.LoadHistory(past)
	for _, p := range past {
		if p.Unconfirmed {
			continue
		}
		e.mu.Lock()
		a, held := e.account(p.Email)
		e.mu.Unlock()
		if !held || a.state.String() != p.State || a.mails != int64(len(p.Sends)) || a.updated != p.Updated.UnixNano() {
			t.Errorf("%s: account %+v, want state %s, %d mails, updated %v", p.Email, a, p.State, len(p.Sends), p.Updated)
		}
	}
}
