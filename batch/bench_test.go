package batch

import (
	"context"
	"io"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/invitebatch/invitebatch/batch/input"
)

// benchAPI answers every request at once: every address is unmanaged and
// invitable, and the list is empty. It measures the pipeline, not an API.
type benchAPI struct{ calls atomic.Int64 }

func (a *benchAPI) IsInvitable(context.Context, string) (bool, error) {
	a.calls.Add(1)
	return true, nil
}

func (a *benchAPI) Get(_ context.Context, email string) (Invitation, error) {
	a.calls.Add(1)
	return Invitation{Email: email, State: StateNotYetSent}, nil
}

func (a *benchAPI) Send(context.Context, string) error { a.calls.Add(1); return nil }

func (a *benchAPI) Cancel(context.Context, string) error { return nil }

func (a *benchAPI) List(context.Context, []State, string) ([]Invitation, string, error) {
	a.calls.Add(1)
	return nil, "", nil
}

// genSource yields n records with distinct addresses.
type genSource struct{ row, n int }

func (s *genSource) Next() (input.Record, error) {
	if s.row == s.n {
		return input.Record{}, io.EOF
	}
	s.row++
	return input.Record{Row: s.row, Email: "user" + strconv.Itoa(s.row) + "@corp.example.com"}, nil
}

type countSink struct{ n int }

func (s *countSink) Record(Result) error { s.n++; return nil }

func benchRun(b *testing.B, ledger func(n int) Ledger, wantCalls float64) {
	api := &benchAPI{}
	r := &Runner{API: api, Pacer: NewPacer(1e9, 1e6, true), Backoff: DefaultBackoff, Workers: 16, ExpectedRows: b.N}
	if ledger != nil {
		r.Ledger = ledger(b.N)
	}
	sink := &countSink{}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := r.Run(context.Background(), &genSource{n: b.N}, sink); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if sink.n != b.N {
		b.Fatalf("%d outcomes for %d rows", sink.n, b.N)
	}
	calls := float64(api.calls.Load()-1) / float64(b.N) // the list call is per run
	if calls != wantCalls {
		b.Fatalf("%.3f calls per row, want %.3f", calls, wantCalls)
	}
	b.ReportMetric(calls, "calls/row")
}

// BenchmarkRunSend is a fresh migration: isInvitableUser and send for
// every row, through the pacer, with an in-memory ledger.
func BenchmarkRunSend(b *testing.B) {
	benchRun(b, func(int) Ledger { return newMemLedger() }, 2)
}

// BenchmarkRunLedgerSettled is a rerun: the ledger settles every row with
// no API call.
func BenchmarkRunLedgerSettled(b *testing.B) {
	benchRun(b, func(n int) Ledger {
		l := newMemLedger()
		for i := 1; i <= n; i++ {
			l.entries["user"+strconv.Itoa(i)+"@corp.example.com"] = LedgerEntry{Status: LedgerSent}
		}
		return l
	}, 0)
}

// BenchmarkPacer is the cost of the pacer per request at a rate that never
// waits.
func BenchmarkPacer(b *testing.B) {
	p := NewPacer(1e12, 1e6, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.Wait(ctx); err != nil {
				b.Error(err)
				return
			}
			p.Succeeded()
		}
	})
}
