package reports

import (
	"bytes"
	"cmp"
	"hash/maphash"
	"math/bits"
	"slices"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// The ledger's index maps a hash of each address to the status and time of
// its last line and to the offset of that line in the file. A hash hit never
// stands for an address by itself: the line at the offset is read back
// (pread, a page-cache hit) and its address compared. An address whose hash
// equals that of another address already in the index (its "primary") is
// kept, with its entry, in a small map by the address itself (overflow). A
// line recorded by this process but not yet written is waited for before it
// is read back (rarely needed).
//
// The hash is maphash, keyed with a seed drawn per process: nobody can
// predict which addresses collide; when two do, it costs a map entry, never
// a wrong answer. Tests replace the hash with one under which every address
// collides.
//
// Memory: 12 bytes per address in the sorted slices (32-bit hash, narrow
// entry, line offset).

var hashSeed = maphash.MakeSeed()

// hashOverride, if set, replaces the hash (tests only).
var hashOverride func([]byte) uint64

// The index keeps 32 bits of the hash: every hit is checked against the
// address anyway, so the hash only has to make hits of other addresses rare
// (with 2 million addresses, a lookup of an absent one reads a line back
// once in 2000, and some 500 pairs of addresses are kept by address).

func hashEmail(s string) uint32 {
	if hashOverride != nil {
		return uint32(hashOverride([]byte(s)))
	}
	return uint32(maphash.String(hashSeed, s) >> 32)
}

func hashEmailBytes(b []byte) uint32 {
	if hashOverride != nil {
		return uint32(hashOverride(b))
	}
	return uint32(maphash.Bytes(hashSeed, b) >> 32)
}

// An index entry packs the status into the top 8 bits and the time in unix
// seconds into the low 56.
const secondsMask = 1<<56 - 1

func packEntry(st batch.LedgerStatus, nanos int64) uint64 {
	return uint64(st)<<56 | uint64(nanos/1e9)&secondsMask
}

func unpackEntry(v uint64) batch.LedgerEntry {
	return batch.LedgerEntry{Status: batch.LedgerStatus(v >> 56), Time: time.Unix(int64(v&secondsMask), 0)}
}

// ledgerIndex: most entries live in hashes, vals and offs, sorted by hash,
// 12 bytes each: vals[i] is the narrow form of the entry for hashes[i], offs[i]
// the offset of its line. Entries recorded since the last merge, and any
// entry a narrow entry or a 32-bit offset cannot hold, are in recent, which
// overrides the slices. When recent reaches limit, its narrow entries whose
// lines are written are merged into the slices in place (in their spare
// capacity, which LedgerOptions.Reserve presizes), so that recent stays
// small. overflow holds the addresses whose hash is another address's.
type ledgerIndex struct {
	hashes   []uint32
	vals     []uint32
	offs     []uint32
	recent   map[uint32]recentEntry
	overflow map[string]uint64 // wide entries by address
	limit    int
}

// recentEntry is a wide entry and the offset of its line.
type recentEntry struct {
	v   uint64
	off int64
}

// A narrow entry packs the status into the top 3 bits and the seconds since
// 2020-01-01T00:00:00Z into the low 29: times from then until
// 2037-01-04T18:48:31Z. An entry outside that range, or with a status that
// does not fit, stays wide in ledgerIndex.recent, so nothing is ever lost
// or clamped; only the memory it takes grows (to a map's 40 or so bytes).
const (
	narrowEpoch  = 1577836800 // 2020-01-01T00:00:00Z in unix seconds
	narrowBits   = 29
	narrowMax    = 1<<narrowBits - 1
	narrowStatus = 1<<(32-narrowBits) - 1
	// narrowWide marks, while loading, an entry held wide (status 7, which
	// is no status).
	narrowWide = narrowStatus << narrowBits
)

// Every status up to LedgerCancelled fits in a narrow entry's 3 bits, and 7
// is left for narrowWide. LedgerResendIntent (7), rare and short-lived (a
// re-send in flight), is held wide.
const _ = uint(narrowStatus - batch.LedgerCancelled - 1)

func narrowEntry(v uint64) (uint32, bool) {
	st, secs := v>>56, v&secondsMask
	if st >= narrowStatus || secs < narrowEpoch || secs-narrowEpoch > narrowMax {
		return 0, false
	}
	return uint32(st<<narrowBits | (secs - narrowEpoch)), true
}

func widenEntry(n uint32) uint64 {
	return uint64(n>>narrowBits)<<56 | (uint64(n&narrowMax) + narrowEpoch)
}

// addrReader reads back the address of the line at an offset of the file,
// appending it to dst.
type addrReader func(off int64, dst []byte) ([]byte, error)

// primary returns the entry the index holds under h and the offset of its
// line, or, for an entry whose line is not yet written, its address.
func (x *ledgerIndex) primary(h uint32) (r recentEntry, ok bool) {
	if len(x.recent) > 0 {
		if r, ok := x.recent[h]; ok {
			return r, true
		}
	}
	if i, ok := slices.BinarySearch(x.hashes, h); ok {
		return recentEntry{v: widenEntry(x.vals[i]), off: int64(x.offs[i])}, true
	}
	return recentEntry{}, false
}

// isAddr reports whether r is the entry of email. If the line cannot be
// read back, it answers err: the caller decides which way is safe.
func isAddr(r recentEntry, email string, read addrReader) (bool, error) {
	got, err := read(r.off, nil)
	if err != nil {
		return false, err
	}
	return string(got) == email, nil
}

// get returns the wide entry for email, whose hash is h. If the line under
// h cannot be read back, get answers with its entry anyway: the ledger then
// errs towards "this tool acted on the address", never towards emailing it
// again.
func (x *ledgerIndex) get(h uint32, email string, read addrReader) (uint64, bool) {
	if len(x.overflow) > 0 {
		if v, ok := x.overflow[email]; ok {
			return v, true
		}
	}
	r, ok := x.primary(h)
	if !ok {
		return 0, false
	}
	if same, err := isAddr(r, email, read); !same && err == nil {
		return 0, false
	}
	return r.v, true
}

// set records the wide entry v for email (hash h), whose line starts at off
// and is not yet written.
func (x *ledgerIndex) set(h uint32, email string, v uint64, off int64, read addrReader) {
	if len(x.overflow) > 0 {
		if _, ok := x.overflow[email]; ok {
			x.overflow[email] = v
			return
		}
	}
	if r, ok := x.primary(h); ok {
		if same, err := isAddr(r, email, read); !same || err != nil {
			// Another address's hash, or unknown: the overflow map is
			// exact either way.
			x.addOverflow(email, v)
			return
		}
	}
	x.recent[h] = recentEntry{v: v, off: off}
}

func (x *ledgerIndex) addOverflow(email string, v uint64) {
	if x.overflow == nil {
		x.overflow = make(map[string]uint64)
	}
	x.overflow[email] = v
}

// len is the number of addresses in the index.
func (x *ledgerIndex) len() int {
	n := len(x.hashes) + len(x.overflow)
	for h := range x.recent {
		if _, ok := slices.BinarySearch(x.hashes, h); !ok {
			n++
		}
	}
	return n
}

// fold merges recent's narrow entries into the slices, those whose lines are
// in the file's first written bytes (all if written < 0).
func (x *ledgerIndex) fold(written int64) {
	es := make([]indexEntry, 0, len(x.recent))
	for h, r := range x.recent {
		if written >= 0 && r.off >= written {
			continue // not readable yet
		}
		if n, ok := narrowEntry(r.v); ok && r.off <= 1<<32-1 {
			es = append(es, indexEntry{h: h, v: n, off: r.off})
			delete(x.recent, h)
		}
	}
	slices.SortFunc(es, func(a, b indexEntry) int { return cmp.Compare(a.h, b.h) })
	x.merge(es)
	x.setLimit()
}

// setLimit sets when recent is next folded: after a sixteenth of the slices'
// length more entries (a merge moves the whole slices), between 4096 and
// 65536 entries (a few MB).
func (x *ledgerIndex) setLimit() {
	x.limit = len(x.recent) + min(max(len(x.hashes)/16, 1<<12), 1<<16)
}

// indexEntry is a narrow entry for merge, and a line's while loading (addr
// and alen its address in the chunk's arena).
type indexEntry struct {
	off  int64
	h    uint32
	v    uint32
	addr uint32 // also the line's order in the chunk
	alen uint32
}

// merge merges es, sorted by hash without duplicates, into the slices; es's
// entries override the slices'. It works in place from the end, in the
// slices' spare capacity, growing them only if that is too small.
func (x *ledgerIndex) merge(es []indexEntry) {
	n, m := len(x.hashes), len(es)
	if m == 0 {
		return
	}
	hs, vs, ofs := slices.Grow(x.hashes, m)[:n+m], slices.Grow(x.vals, m)[:n+m], slices.Grow(x.offs, m)[:n+m]
	i, j, k := n-1, m-1, n+m-1
	for ; j >= 0; k-- {
		if i >= 0 && hs[i] > es[j].h {
			hs[k], vs[k], ofs[k] = hs[i], vs[i], ofs[i]
			i--
			continue
		}
		if i >= 0 && hs[i] == es[j].h {
			i-- // overridden
		}
		hs[k], vs[k], ofs[k] = es[j].h, es[j].v, uint32(es[j].off)
		j--
	}
	// hs[:i+1] is untouched, the merged rest is hs[k+1:]; close the gap
	// the overridden entries left.
	if gap := k - i; gap > 0 {
		copy(hs[i+1:], hs[k+1:])
		copy(vs[i+1:], vs[k+1:])
		copy(ofs[i+1:], ofs[k+1:])
		hs, vs, ofs = hs[:n+m-gap], vs[:n+m-gap], ofs[:n+m-gap]
	}
	x.hashes, x.vals, x.offs = hs, vs, ofs
}

// indexBuilder builds a ledgerIndex from the file's lines, oldest first. It
// collects lines in a chunk (with their addresses in an arena); a full chunk
// is sorted, reduced to the last line per address, and merged into the
// index. So the load needs only the index and one chunk, never an entry per
// line nor a map of every address.
type indexBuilder struct {
	x       ledgerIndex
	read    addrReader
	chunk   []indexEntry
	arena   []byte
	scratch []indexEntry      // as long as chunk's capacity, for sorting
	counts  []int32           // a count per bucket, for sorting
	wide    map[uint32]uint64 // the chunk's wide entries by arena offset
	buf     []byte            // a primary's address, read back
	err     error             // the first read-back error
}

func newIndexBuilder(capacity, chunk int, read addrReader) *indexBuilder {
	chunk = max(chunk, 1<<10)
	return &indexBuilder{
		x: ledgerIndex{
			hashes: make([]uint32, 0, capacity),
			vals:   make([]uint32, 0, capacity),
			offs:   make([]uint32, 0, capacity),
			recent: make(map[uint32]recentEntry),
		},
		read:    read,
		chunk:   make([]indexEntry, 0, chunk),
		arena:   make([]byte, 0, chunk*24),
		scratch: make([]indexEntry, chunk),
		// About two lines per bucket.
		counts: make([]int32, 1<<(bits.Len(uint(chunk))-2)),
	}
}

func (b *indexBuilder) add(email []byte, v uint64, off int64) {
	seq := uint32(len(b.arena))
	n, ok := narrowEntry(v)
	if !ok || off > 1<<32-1 {
		if b.wide == nil {
			b.wide = make(map[uint32]uint64)
		}
		b.wide[seq], n = v, narrowWide
	}
	e := indexEntry{h: hashEmailBytes(email), off: off, v: n, addr: seq, alen: uint32(len(email))}
	b.arena = append(b.arena, email...)
	b.chunk = append(b.chunk, e)
	if len(b.chunk) == cap(b.chunk) || len(b.arena) > 1<<30 {
		b.flush()
	}
}

func (b *indexBuilder) addr(e indexEntry) []byte { return b.arena[e.addr : e.addr+e.alen] }

func (b *indexBuilder) wideOf(e indexEntry) uint64 {
	if e.v == narrowWide {
		return b.wide[e.addr]
	}
	return widenEntry(e.v)
}

func (b *indexBuilder) flush() {
	c := b.sortChunk()
	out := b.chunk[:0] // c is in scratch
	for i := 0; i < len(c); {
		j := i + 1
		for j < len(c) && c[j].h == c[i].h {
			j++
		}
		out = b.flushRun(c[i:j], out)
		i = j
	}
	b.x.merge(out)
	b.chunk, b.arena = b.chunk[:0], b.arena[:0]
	clear(b.wide)
}

// flushRun reduces the lines of one hash (in file order) to the last line
// per address: the index's address for the hash (its primary: already in the
// index, or else the first here) goes to out or recent, any other to the
// overflow map.
func (b *indexBuilder) flushRun(run []indexEntry, out []indexEntry) []indexEntry {
	h := run[0].h
	var prim []byte // the primary's address; read into b.buf, or in the arena
	if r, ok := b.x.primary(h); ok {
		a, err := b.read(r.off, b.buf[:0])
		if err != nil && b.err == nil {
			b.err = err
		}
		b.buf, prim = a, a
	}
	for i, e := range run {
		last := true
		for _, f := range run[i+1:] {
			if f.alen == e.alen && bytes.Equal(b.addr(f), b.addr(e)) {
				last = false
				break
			}
		}
		if !last {
			continue
		}
		a := b.addr(e)
		if prim == nil {
			prim = a
		}
		if !bytes.Equal(a, prim) {
			b.x.addOverflow(string(a), b.wideOf(e))
			continue
		}
		if e.v == narrowWide {
			b.x.recent[h] = recentEntry{v: b.wide[e.addr], off: e.off}
			continue
		}
		if len(b.x.recent) > 0 {
			delete(b.x.recent, h) // an older wide entry
		}
		out = append(out, e)
	}
	return out
}

// sortChunk returns the chunk's lines in b.scratch, sorted by hash and, for
// equal hashes, in file order. Hashes are uniform, so it scatters the lines
// into buckets by their hash's top bits (keeping their order), then sorts
// each bucket, of a few lines, by insertion.
func (b *indexBuilder) sortChunk() []indexEntry {
	c, sorted, counts := b.chunk, b.scratch[:len(b.chunk)], b.counts
	shift := 32 - bits.Len(uint(len(counts)-1))
	clear(counts)
	for _, e := range c {
		counts[e.h>>shift]++
	}
	var sum int32
	for i, n := range counts {
		counts[i] = sum
		sum += n
	}
	for _, e := range c {
		k := e.h >> shift
		sorted[counts[k]] = e
		counts[k]++
	}
	start := int32(0) // counts[k] is now the end of bucket k
	for _, end := range counts {
		bucket := sorted[start:end]
		start = end
		if len(bucket) > 16 { // many lines of one address, or unlucky
			slices.SortFunc(bucket, func(a, b indexEntry) int {
				if a.h != b.h {
					return cmp.Compare(a.h, b.h)
				}
				return cmp.Compare(a.addr, b.addr)
			})
			continue
		}
		for i := 1; i < len(bucket); i++ {
			for j := i; j > 0 && bucket[j].h < bucket[j-1].h; j-- {
				bucket[j], bucket[j-1] = bucket[j-1], bucket[j]
			}
		}
	}
	return sorted
}

// finish returns the index with room for reserve more addresses, trimming
// the slices if the size guess left them far too big.
func (b *indexBuilder) finish(reserve int) (ledgerIndex, error) {
	b.flush()
	b.chunk, b.scratch, b.counts, b.arena = nil, nil, nil, nil
	x := b.x
	want := len(x.hashes) + reserve
	if c := cap(x.hashes); c < want || c > want+want/8+1<<10 {
		x.hashes = append(make([]uint32, 0, want), x.hashes...)
		x.vals = append(make([]uint32, 0, want), x.vals...)
		x.offs = append(make([]uint32, 0, want), x.offs...)
	}
	x.setLimit()
	return x, b.err
}
