package emulator

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// List page sizes, as documented.
const (
	defaultPageSize = 100
	maxPageSize     = 200
)

// listItem is one visible invitation in a snapshot.
type listItem struct {
	email string
	account
}

// snapshot is the visible invitations in one order, as of one version of
// the accounts. It is never changed once built, so pages can read it
// without the lock; it is rebuilt when the accounts change.
type snapshot struct {
	version uint64
	order   string
	items   []listItem
}

// pageToken is the opaque nextPageToken: the last item returned and the
// parameters that must not change between pages.
type pageToken struct {
	Filter  uint8  `json:"f"`
	Order   string `json:"o"`
	Email   string `json:"e"`
	Updated int64  `json:"t"`
}

func (e *Emulator) list(r *http.Request, customer string) (any, *apiError) {
	q := r.URL.Query()
	size := defaultPageSize
	if s := q.Get("pageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, invalidArgument("Invalid value for pageSize: " + strconv.Quote(s))
		}
		if n > 0 {
			size = min(n, maxPageSize)
		}
	}
	mask, ok := parseFilter(q.Get("filter"))
	if !ok {
		return nil, invalidArgument("Invalid filter: " + strconv.Quote(q.Get("filter")))
	}
	order, ok := parseOrder(q.Get("orderBy"))
	if !ok {
		return nil, invalidArgument("Invalid orderBy: " + strconv.Quote(q.Get("orderBy")))
	}
	less := lessFunc(order)
	var cursor *listItem
	if s := q.Get("pageToken"); s != "" {
		var t pageToken
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err == nil {
			err = json.Unmarshal(b, &t)
		}
		if err != nil || t.Filter != mask || t.Order != order {
			return nil, invalidArgument("Invalid page token; the other parameters must stay the same across pages.")
		}
		cursor = &listItem{email: t.Email, account: account{updated: t.Updated}}
	}

	e.mu.Lock()
	snap := e.snapshot(order, less)
	e.mu.Unlock()

	items := snap.items
	if cursor != nil {
		items = items[sort.Search(len(items), func(i int) bool { return less(*cursor, items[i]) < 0 }):]
	}
	var resp struct {
		UserInvitations []invitationJSON `json:"userInvitations,omitempty"`
		NextPageToken   string           `json:"nextPageToken,omitempty"`
	}
	prefix := "customers/" + customer + "/userinvitations/"
	var last listItem
	for _, it := range items {
		if mask&(1<<it.state) == 0 {
			continue
		}
		if len(resp.UserInvitations) == size {
			// There is more: point the token at the last item returned.
			b, _ := json.Marshal(pageToken{Filter: mask, Order: order, Email: last.email, Updated: last.updated})
			resp.NextPageToken = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		resp.UserInvitations = append(resp.UserInvitations, it.json(prefix+it.email))
		last = it
	}
	return resp, nil
}

// snapshot returns the visible invitations sorted in order; the caller
// holds e.mu.
func (e *Emulator) snapshot(order string, less func(a, b listItem) int) *snapshot {
	if s := e.snap; s != nil && s.version == e.version && s.order == order {
		return s
	}
	s := &snapshot{version: e.version, order: order}
	for email, a := range e.accounts {
		if e.visible(email, a) {
			s.items = append(s.items, listItem{email, a})
		}
	}
	slices.SortFunc(s.items, less)
	e.snap = s
	return s
}

var filterTerm = regexp.MustCompile(`^state\s*==\s*(?:'([a-z_]+)'|"([a-z_]+)")$`)

// parseFilter parses a list filter such as state=='invited'||state=='accepted'
// into a mask of invState bits; empty means all states.
func parseFilter(f string) (uint8, bool) {
	f = strings.TrimSpace(strings.ToLower(f))
	if f == "" {
		return 0xff, true
	}
	var mask uint8
	for term := range strings.SplitSeq(f, "||") {
		m := filterTerm.FindStringSubmatch(strings.TrimSpace(term))
		if m == nil {
			return 0, false
		}
		st, ok := parseState(m[1] + m[2])
		if !ok {
			return 0, false
		}
		mask |= 1 << st
	}
	return mask, true
}

// parseOrder normalizes a list orderBy: "email asc" (the default),
// "email desc", "update_time asc" or "update_time desc".
func parseOrder(o string) (string, bool) {
	f := strings.Fields(strings.ToLower(o))
	if len(f) == 0 {
		return "email asc", true
	}
	if len(f) > 2 || (f[0] != "email" && f[0] != "update_time") {
		return "", false
	}
	dir := "asc"
	if len(f) == 2 {
		dir = f[1]
	}
	if dir != "asc" && dir != "desc" {
		return "", false
	}
	return f[0] + " " + dir, true
}

// lessFunc returns the comparison of an order; update_time ties are
// broken by email, so every order is total and a page token is a cursor.
func lessFunc(order string) func(a, b listItem) int {
	byEmail := func(a, b listItem) int { return strings.Compare(a.email, b.email) }
	byTime := func(a, b listItem) int {
		return cmp.Or(cmp.Compare(a.updated, b.updated), byEmail(a, b))
	}
	switch order {
	case "email desc":
		return func(a, b listItem) int { return byEmail(b, a) }
	case "update_time asc":
		return byTime
	case "update_time desc":
		return func(a, b listItem) int { return byTime(b, a) }
	}
	return byEmail
}
