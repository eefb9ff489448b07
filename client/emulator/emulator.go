package emulator

import (
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure an Emulator. The zero value is usable: any customer,
// any domain, unseeded addresses unmanaged, the real clock.
type Options struct {
	// Customer is the customer ID requests must name (e.g. "C0123abc"), in
	// any case; "my_customer" is accepted too, and other IDs get 403
	// PERMISSION_DENIED. Resource names in replies use Customer as given.
	// Empty accepts any customer ID and echoes it.
	Customer string
	// Domains are the customer's verified domains; addresses elsewhere are
	// not invitable and have no visible invitation. Empty means any domain.
	Domains []string
	// Default is the kind of an address nobody seeded.
	Default Kind
	// Now is the clock for updateTime; nil means time.Now. Quota, latency
	// and the per-second counters always use the real clock.
	Now func() time.Time
	// Seed seeds the random source of latency jitter and injected faults.
	Seed int64
}

// Emulator is an http.Handler emulating customers.userinvitations. Create
// one with New; its methods are safe for concurrent use, also while it
// serves.
type Emulator struct {
	customer    string
	domains     map[string]bool // nil: any domain
	defaultKind Kind
	now         func() time.Time
	created     time.Time // updateTime of unseeded invitations

	mu       sync.Mutex // guards the fields below
	accounts map[string]account
	version  uint64 // bumped on every change of accounts
	snap     *snapshot
	sends    int
	dupSends int
	resends  int // sends to an invitation already INVITED
	opSeq    uint64
	stale    map[string]staleRead // what get shows until a send's read lag has passed

	readLag atomic.Int64 // SetReadLag, in nanoseconds

	knobMu     sync.Mutex // guards the fields below
	rng        *rand.Rand
	latency    time.Duration
	jitter     time.Duration
	qps        float64
	burst      int
	tokens     float64
	last       time.Time
	failRate   float64
	failNext   map[string][]failure
	ambRate    float64
	ambMode    AmbiguousMode
	fatal      Fatal
	refusal    Refusal
	validToken func(string) bool
	profile    Profile // strict.go
	readOnly   bool
	hangRate   float64
	throttleAs Throttle // throttle.go
	// The window and daily quotas and the RetryInfo of 429s (window.go).
	retryInfo             string
	winN                  int
	winLen, winOffset     time.Duration
	winStart              time.Time
	winUsed, winThrottled int
	dayN, dayUsed         int
	day                   string
	toldAt, toldUntil     time.Time // the longest RetryInfo running
	early                 int       // requests that came before it ran out

	statsMu   sync.Mutex // guards the fields below
	requests  map[string]map[int]int
	throttled int
	perSecond map[int64]int
	window    []time.Time // arrivals within the last second
	maxWindow int
	windows   []WindowCount // the window quota's ended windows
}

// New returns an Emulator with no accounts seeded and no faults.
func New(opts Options) *Emulator {
	e := &Emulator{
		customer:    opts.Customer,
		defaultKind: opts.Default,
		now:         opts.Now,
		accounts:    map[string]account{},
		rng:         rand.New(rand.NewPCG(uint64(opts.Seed), 0x1badb002)),
		burst:       1,
		failNext:    map[string][]failure{},
		requests:    map[string]map[int]int{},
		perSecond:   map[int64]int{},
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.created = e.now()
	if len(opts.Domains) > 0 {
		e.domains = map[string]bool{}
		for _, d := range opts.Domains {
			e.domains[strings.ToLower(strings.TrimSpace(d))] = true
		}
	}
	return e
}

// route is a parsed API request path.
type route struct {
	method   string // a Method constant
	version  string // "v1" or "v1beta1"
	customer string // unescaped
	name     string // escaped email segment(s), without the verb
}

// parseRoute maps a request to an API method. It works on the escaped
// path so that an email with a "/" shows up as an extra segment.
func parseRoute(r *http.Request) (route, bool) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(segs) < 4 || (segs[0] != "v1" && segs[0] != "v1beta1") ||
		segs[1] != "customers" || segs[3] != "userinvitations" {
		return route{}, false
	}
	customer, err := url.PathUnescape(segs[2])
	if err != nil {
		customer = "\x00" // never valid
	}
	rt := route{version: segs[0], customer: customer}
	if len(segs) == 4 {
		rt.method = MethodList
		return rt, r.Method == http.MethodGet
	}
	rt.name = strings.Join(segs[4:], "/")
	want := http.MethodGet
	rt.method = MethodGet
	if i := strings.LastIndexByte(rt.name, ':'); i >= 0 {
		switch verb := rt.name[i+1:]; verb {
		case MethodIsInvitable:
			rt.method = verb
		case MethodSend, MethodCancel:
			rt.method, want = verb, http.MethodPost
		}
		if rt.method != MethodGet {
			rt.name = rt.name[:i]
		}
	}
	return rt, r.Method == want
}

// ServeHTTP serves the API under /v1/ and /v1beta1/ and the admin
// endpoints under /emulator/.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/emulator/") {
		e.serveAdmin(w, r)
		return
	}
	e.arrived()
	rt, ok := parseRoute(r)
	if !ok {
		e.done(MethodOther, writeError(w, errNoMethod))
		return
	}
	// Reading the body before the latency lets the server notice a client
	// that gives up meanwhile.
	var body []byte
	var err error
	if r.Body != nil {
		body, err = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	}
	if err != nil {
		e.done(rt.method, writeError(w, invalidArgument("Could not read the request body.")))
		return
	}
	if !e.wait(r) {
		e.done(rt.method, writeError(w, codeError(CodeClientGone)))
		return
	}
	ambiguous, mode, apiErr := e.inject(r, rt.method)
	if apiErr != nil {
		code := writeError(w, apiErr)
		if apiErr.throttle && code != 429 {
			e.countThrottled() // a rate-limit 403 (throttle.go)
		}
		e.done(rt.method, code)
		return
	}
	if hang, perform := e.hang(rt.method); hang {
		if perform {
			_, _ = e.serveMethod(r, rt, body)
		}
		holdForever(r)
		e.done(rt.method, CodeHung)
		return
	}
	reply, apiErr := e.serveMethod(r, rt, body)
	switch {
	case apiErr != nil:
		e.done(rt.method, writeError(w, apiErr))
	case !ambiguous:
		e.done(rt.method, writeJSON(w, reply))
	case mode == AmbiguousDrop:
		// The send was performed: the client never hears so.
		e.done(rt.method, CodeDropped)
		drop(w)
	case mode == AmbiguousOperation:
		// The send was performed; its Operation says it failed.
		e.done(rt.method, writeJSON(w, failedOperation(reply)))
	default:
		e.done(rt.method, writeError(w, codeError(500)))
	}
}

// wait sleeps for the emulated latency; it reports false if the client
// gave up meanwhile.
func (e *Emulator) wait(r *http.Request) bool {
	e.knobMu.Lock()
	d := e.latency
	if e.jitter > 0 {
		d += time.Duration(e.rng.Int64N(int64(e.jitter)))
	}
	e.knobMu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// inject applies the fault knobs in the documented order. For a send that
// passes them it also decides whether the send is to be ambiguous.
func (e *Emulator) inject(r *http.Request, method string) (ambiguous bool, mode AmbiguousMode, err *apiError) {
	e.knobMu.Lock()
	defer e.knobMu.Unlock()
	if e.validToken != nil {
		auth := r.Header.Get("Authorization")
		scheme, tok, _ := strings.Cut(auth, " ")
		switch {
		case auth == "" || !strings.EqualFold(scheme, "Bearer"):
			return false, 0, errMissingCredentials
		case !e.validToken(strings.TrimSpace(tok)):
			return false, 0, codeError(401)
		}
	}
	if e.fatal != FatalNone {
		return false, 0, fatalErrors[e.fatal]
	}
	now := time.Now()
	e.checkEarly(now)
	if wait, ok := e.take(now); !ok {
		err := e.quotaError(wait, "", 0)
		e.told(now, err)
		return false, 0, err
	}
	if err := e.takeWindow(now); err != nil {
		e.told(now, err)
		return false, 0, err
	}
	if code, ok := e.nextFailure(method); ok {
		return false, 0, codeError(code)
	}
	if e.failRate > 0 && e.rng.Float64() < e.failRate {
		return false, 0, codeError(503)
	}
	if method == MethodSend && e.ambRate > 0 && e.rng.Float64() < e.ambRate {
		return true, e.ambMode, nil
	}
	return false, 0, nil
}

var errMissingCredentials = &apiError{
	Code:    401,
	Message: "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
	Status:  "UNAUTHENTICATED",
	Details: []map[string]any{errorInfo("CREDENTIALS_MISSING", map[string]string{
		"service": "cloudidentity.googleapis.com",
		"method":  "google.apps.cloudidentity.v1.UserInvitationService",
	})},
	header: map[string]string{"WWW-Authenticate": `Bearer realm="https://accounts.google.com/"`},
}

// drop closes the connection without a reply.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// HTTP/2 cannot be hijacked: abort the stream instead.
	panic(http.ErrAbortHandler)
}
