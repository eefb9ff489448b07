package reports

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

func TestNarrowEntry(t *testing.T) {
	tests := []struct {
		time time.Time
		ok   bool
	}{
		{time.Date(2019, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{t0, true},
		{time.Date(2037, 1, 4, 18, 48, 31, 999, time.UTC), true},
		{time.Date(2037, 1, 4, 18, 48, 32, 0, time.UTC), false},
		{time.Unix(0, 0), false},
	}
	for _, tt := range tests {
		for st := batch.LedgerSendIntent; st <= batch.LedgerCancelled; st++ {
			v := packEntry(st, tt.time.UnixNano())
			n, ok := narrowEntry(v)
			if ok != tt.ok {
				t.Errorf("narrowEntry(%v, %v) ok = %v, want %v", st, tt.time, ok, tt.ok)
			}
			if ok && widenEntry(n) != v {
				t.Errorf("widenEntry(narrowEntry(%v, %v)) = %x, want %x", st, tt.time, widenEntry(n), v)
			}
		}
	}
}

// TestLedgerModel records random entries for a few thousand addresses, some
// at times a narrow entry cannot hold (before 2020, after 2036), reopening
// and forgetting now and then, merging the recent entries into the sorted
// slices often, and checks Lookup and Len against a map. The ledger grows big
// enough to load in several chunks.
func TestLedgerModel(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	runLedgerModel(t, 3000, 30000)
}

// TestLedgerModelColliding is TestLedgerModel with a hash under which every
// address collides, and with one of 7 values: the index must answer from
// the addresses themselves, never from a hash hit.
func TestLedgerModelColliding(t *testing.T) {
	for name, h := range map[string]func([]byte) uint64{
		"all":  func([]byte) uint64 { return 42 },
		"mod7": func(b []byte) uint64 { return uint64(len(b)+int(b[1])) % 7 },
	} {
		t.Run(name, func(t *testing.T) {
			setHash(t, h)
			runLedgerModel(t, 300, 6000)
		})
	}
}

// setHash makes the ledger index use h until the test ends.
func setHash(t *testing.T, h func([]byte) uint64) {
	hashOverride = h
	t.Cleanup(func() { hashOverride = nil })
}

func runLedgerModel(t *testing.T, addresses, steps int) {
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(t.TempDir(), "l")
	var now time.Time
	open := func() *Ledger {
		l, err := OpenLedger(path, LedgerOptions{NoSync: true, Now: func() time.Time { return now }, Reserve: rng.IntN(100)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	defer func() { l.Close() }()
	email := func(i int) string { return fmt.Sprintf("u%d@x.y", i) }
	model := map[string]batch.LedgerEntry{}
	check := func(step int) {
		t.Helper()
		for i := range addresses {
			e := email(i)
			got, ok := l.Lookup(e)
			want, wok := model[e]
			if ok != wok || got.Status != want.Status || !got.Time.Equal(want.Time) {
				t.Fatalf("step %d: Lookup(%s) = %v, %v, want %v, %v", step, e, got, ok, want, wok)
			}
		}
		if l.Len() != len(model) {
			t.Fatalf("step %d: Len %d, want %d", step, l.Len(), len(model))
		}
		checkIndexOffsets(t, l)
	}
	ctx := context.Background()
	base := []time.Time{t0, time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)}
	for step := range steps {
		switch r := rng.IntN(1000); {
		case r == 0:
			check(step)
			l.Close()
			l = open()
			check(step)
		case r < 20: // merge the recent entries now, not only when there are thousands
			l.mu.Lock()
			l.index.fold(l.j.written())
			l.mu.Unlock()
		case r == 20:
			e := email(rng.IntN(addresses))
			if _, err := l.Forget(e); err != nil {
				t.Fatal(err)
			}
			delete(model, e)
			check(step)
		default:
			e := email(rng.IntN(addresses))
			now = base[rng.IntN(len(base))].Add(time.Duration(rng.IntN(1e6)) * time.Second)
			if rng.IntN(10) > 0 {
				now = base[0].Add(time.Duration(step) * time.Second)
			}
			st := batch.LedgerStatus(1 + rng.IntN(int(batch.LedgerCancelled)))
			var err error
			if st == batch.LedgerSendIntent || st == batch.LedgerCancelIntent {
				err = l.Intend(ctx, e, st)
			} else {
				err = settleNow(l, e, st)
			}
			if err != nil {
				t.Fatal(err)
			}
			model[e] = batch.LedgerEntry{Status: st, Time: now.Truncate(time.Second)}
		}
	}
	check(-1)
	l.Close()
	l = open()
	check(-2)
}

// settleNow settles and waits until the result is durable.
func settleNow(l *Ledger, email string, st batch.LedgerStatus) error {
	wait, err := l.Settle(email, st)
	if err != nil {
		return err
	}
	return wait(context.Background())
}
