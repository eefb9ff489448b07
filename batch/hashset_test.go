package batch

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestHashSetMatchesMap checks the set against a map on random hashes with
// many repeats, on hashes that all want the last slot (so probes wrap), and
// on 0, from a presized set and from the zero value (which grows).
func TestHashSetMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := map[string][]uint64{"random": nil, "last-slot": nil}
	for range 50_000 {
		inputs["random"] = append(inputs["random"], rng.Uint64()%30_000*0x9e3779b97f4a7c15)
	}
	for i := range 200 {
		// All land on the table's last slot (their top bits are all ones),
		// whatever its length.
		inputs["last-slot"] = append(inputs["last-slot"], ^uint64(0)-uint64(i%150))
	}
	inputs["last-slot"] = append(inputs["last-slot"], 0, 0, 1, 0)
	for name, in := range inputs {
		for _, s := range []*hashSet{newHashSet(len(in)), {}} {
			want := map[uint64]bool{}
			for i, h := range in {
				if got := s.add(h); got != !want[h] {
					t.Fatalf("%s: add #%d (%#x) = %v, want %v", name, i, h, got, !want[h])
				}
				want[h] = true
			}
			if s.len() != len(want) {
				t.Errorf("%s: len %d, want %d", name, s.len(), len(want))
			}
			for h := range want {
				if s.add(h) {
					t.Fatalf("%s: %#x lost", name, h)
				}
			}
		}
	}
}

// TestHashSetSize checks the table stays within its promised size when
// presized, and that a set grown from empty keeps its load under maxLoad.
func TestHashSetSize(t *testing.T) {
	const n = 100_000
	s := newHashSet(n)
	size := len(s.slots)
	rng := rand.New(rand.NewPCG(3, 4))
	for range n {
		s.add(rng.Uint64())
	}
	if len(s.slots) != size {
		t.Errorf("a set presized for %d grew from %d to %d slots", n, size, len(s.slots))
	}
	if perEntry := float64(8*len(s.slots)) / n; perEntry > 11.5 {
		t.Errorf("%.1f bytes per entry, want <= 11.5", perEntry)
	}
	var g hashSet
	for range n {
		g.add(rng.Uint64())
		if g.n*10 > len(g.slots)*maxLoad {
			t.Fatalf("load %d/%d over %d/10", g.n, len(g.slots), maxLoad)
		}
	}
}

// BenchmarkHashSet compares the set with the map it replaced, each sized
// for a million rows: time per add and the heap each holds (B/entry).
func BenchmarkHashSet(b *testing.B) {
	const n = 1_000_000
	hashes := make([]uint64, n)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range hashes {
		hashes[i] = rng.Uint64()
	}
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	b.Run("hashSet", func(b *testing.B) {
		var s *hashSet
		before := heap()
		for i := 0; b.Loop(); i++ {
			if i%n == 0 {
				s = newHashSet(n)
			}
			s.add(hashes[i%n])
		}
		b.ReportMetric(float64(heap()-before)/n, "B/entry")
		runtime.KeepAlive(s)
	})
	b.Run("map", func(b *testing.B) {
		var s map[uint64]struct{}
		before := heap()
		for i := 0; b.Loop(); i++ {
			if i%n == 0 {
				s = make(map[uint64]struct{}, n)
			}
			s[hashes[i%n]] = struct{}{}
		}
		b.ReportMetric(float64(heap()-before)/n, "B/entry")
		runtime.KeepAlive(s)
	})
}
