package batch

import "math/bits"

// hashSet is a set of 64-bit hashes in one open-addressed table with linear
// probing. Sized for its expected entries it takes about 11.5 bytes per
// entry; a Go map[uint64]struct{} made with the same size hint took 37.8
// at 10^6 (BenchmarkHashSet), and the duplicate check holds one entry per
// input row for the whole run.
//
// The hashes must be well mixed (maphash): a slot is chosen from the high
// bits of hash × table length. The zero value is an empty set that grows on
// first use.
type hashSet struct {
	slots []uint64 // 0 marks an empty slot
	n     int      // entries in slots
	zero  bool     // whether hash 0, which cannot live in slots, is in the set
}

// maxLoad is the fill (in tenths) past which the table doubles. At 0.7 an
// absent hash, the common case, probes about six slots: within one or two
// cache lines.
const maxLoad = 7

// newHashSet returns a set with room for expected entries before it grows.
func newHashSet(expected int) *hashSet {
	return &hashSet{slots: make([]uint64, tableLen(expected))}
}

func tableLen(entries int) int {
	return max(16, entries*10/maxLoad+1)
}

// add adds h and reports whether it was absent.
func (s *hashSet) add(h uint64) bool {
	if h == 0 {
		added := !s.zero
		s.zero = true
		return added
	}
	if (s.n+1)*10 > len(s.slots)*maxLoad {
		s.grow()
	}
	if !insert(s.slots, h) {
		return false
	}
	s.n++
	return true
}

// has reports whether h is in the set.
func (s *hashSet) has(h uint64) bool {
	if h == 0 {
		return s.zero
	}
	i, _ := bits.Mul64(h, uint64(len(s.slots)))
	for {
		switch s.slots[i] {
		case 0:
			return false
		case h:
			return true
		}
		if i++; i == uint64(len(s.slots)) {
			i = 0
		}
	}
}

// insert puts h into slots unless it is there already, and reports whether
// it did. slots must have an empty slot.
func insert(slots []uint64, h uint64) bool {
	i, _ := bits.Mul64(h, uint64(len(slots)))
	for {
		switch slots[i] {
		case 0:
			slots[i] = h
			return true
		case h:
			return false
		}
		if i++; i == uint64(len(slots)) {
			i = 0
		}
	}
}

func (s *hashSet) grow() {
	old := s.slots
	s.slots = make([]uint64, max(tableLen(s.n+1), 2*len(old)))
	for _, h := range old {
		if h != 0 {
			insert(s.slots, h)
		}
	}
}

// len returns the number of hashes in the set.
func (s *hashSet) len() int {
	if s.zero {
		return s.n + 1
	}
	return s.n
}
