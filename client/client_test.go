package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/googleapi"

	"github.com/invitebatch/invitebatch/batch"
)

// recorder is a fake API that records the request URIs and answers with
// the JSON reply returns (200 unless it sets a code).
type recorder struct {
	mu    sync.Mutex
	uris  []string
	reply func(r *http.Request) (int, string)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec.mu.Lock()
	rec.uris = append(rec.uris, r.Method+" "+r.URL.EscapedPath())
	if a := r.Header.Get("Authorization"); a != "" {
		rec.uris = append(rec.uris, "Authorization: "+a)
	}
	rec.mu.Unlock()
	code, body := http.StatusOK, "{}"
	if rec.reply != nil {
		code, body = rec.reply(r)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write([]byte(body))
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.uris...)
}

func TestVersionPaths(t *testing.T) {
	for _, api := range []string{"", APIv1, APIv1beta1} {
		t.Run("api="+api, func(t *testing.T) {
			rec := &recorder{}
			c := newEmulated(t, api, rec)
			ctx := context.Background()
			for _, m := range []string{"isInvitable", "get", "send", "cancel", "list"} {
				if err := call(ctx, c, m, "A.B+Tag@X.com"); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
			}
			v := api
			if v == "" {
				v = "v1"
			}
			name := "/" + v + "/customers/C0test/userinvitations/a.b+tag@x.com"
			want := []string{
				"GET " + name + ":isInvitableUser",
				"GET " + name,
				"POST " + name + ":send",
				"POST " + name + ":cancel",
				"GET /" + v + "/customers/C0test/userinvitations",
			}
			if diff := cmp.Diff(want, rec.requests()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsInvitable(t *testing.T) {
	for _, tt := range []struct {
		body string
		want bool
	}{
		{`{"isInvitableUser":true}`, true},
		{`{"isInvitableUser":false}`, false},
		{`{}`, false},
	} {
		c := newEmulated(t, APIv1beta1, &recorder{reply: func(*http.Request) (int, string) { return 200, tt.body }})
		got, err := c.IsInvitable(context.Background(), "a@x.com")
		if err != nil || got != tt.want {
			t.Errorf("IsInvitable with reply %s = %v, %v; want %v, nil", tt.body, got, err, tt.want)
		}
	}
}

func TestInvalidEmail(t *testing.T) {
	rec := &recorder{}
	c := newEmulated(t, APIv1, rec)
	for _, email := range []string{
		"we/ird@x.com", "../x@x.com", "q?x@x.com", "h#x@x.com", "pct%41@x.com", `b\s@x.com`,
		"sp ace@x.com", "tab\t@x.com", "nl\n@x.com", "ctl\x01@x.com", "nbsp\u00a0@x.com", "bad\xff@x.com",
		"no-at.x.com", "two@@x.com", "a@b@x.com", "@x.com", "a@", "",
	} {
		for _, m := range []string{"isInvitable", "get", "send", "cancel"} {
			err := call(context.Background(), c, m, email)
			var ae *batch.APIError
			if !errors.As(err, &ae) || ae.Kind != batch.KindPermanent {
				t.Errorf("%s(%q) = %v, want a KindPermanent *batch.APIError", m, email, err)
			}
		}
	}
	if got := rec.requests(); len(got) != 0 {
		t.Errorf("got requests %q, want none", got)
	}
}

func TestGet(t *testing.T) {
	tests := []struct {
		name string
		body string
		want batch.Invitation
	}{
		{
			name: "Z with nanoseconds",
			body: `{"name":"customers/C0test/userinvitations/Mixed.Case@X.com","state":"INVITED","mailsSentCount":"3","updateTime":"2026-03-04T05:06:07.123456789Z"}`,
			want: batch.Invitation{Email: "mixed.case@x.com", State: batch.StateInvited, MailsSent: 3,
				Updated: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)},
		},
		{
			name: "offset",
			body: `{"name":"customers/C0test/userinvitations/a@x.com","state":"ACCEPTED","updateTime":"2026-03-04T10:36:07+05:30"}`,
			want: batch.Invitation{Email: "a@x.com", State: batch.StateAccepted,
				Updated: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		},
		{
			name: "unparsable time and no state",
			body: `{"name":"customers/C0test/userinvitations/a@x.com","updateTime":"yesterday"}`,
			want: batch.Invitation{Email: "a@x.com", State: batch.StateUnspecified},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newEmulated(t, APIv1, &recorder{reply: func(*http.Request) (int, string) { return 200, tt.body }})
			got, err := c.Get(context.Background(), "a@x.com")
			if err != nil {
				t.Fatal(err)
			}
			if !got.Updated.Equal(tt.want.Updated) {
				t.Errorf("got Updated %v, want %v", got.Updated, tt.want.Updated)
			}
			got.Updated, tt.want.Updated = time.Time{}, time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("invitation (-want +got):\n%s", diff)
			}
		})
	}
}

func TestList(t *testing.T) {
	pages := map[string]string{
		"": `{"userInvitations":[
			{"name":"customers/C0test/userinvitations/a@x.com","state":"INVITED","mailsSentCount":"1"},
			{"name":"customers/C0test/userinvitations/b@x.com","state":"ACCEPTED"}],"nextPageToken":"p2"}`,
		"p2": `{"userInvitations":[{"name":"customers/C0test/userinvitations/c@x.com","state":"INVITED"}],"nextPageToken":"p3"}`,
		"p3": `{"userInvitations":[{"name":"customers/C0test/userinvitations/D@x.com","state":"ACCEPTED"}]}`,
	}
	for _, api := range []string{APIv1, APIv1beta1} {
		t.Run(api, func(t *testing.T) {
			var mu sync.Mutex
			var queries []string
			rec := &recorder{reply: func(r *http.Request) (int, string) {
				q := r.URL.Query()
				mu.Lock()
				queries = append(queries, q.Get("filter")+" "+q.Get("pageSize")+" "+q.Get("pageToken"))
				mu.Unlock()
				body, ok := pages[q.Get("pageToken")]
				if !ok {
					return 400, `{"error":{"code":400,"message":"bad token","status":"INVALID_ARGUMENT"}}`
				}
				return 200, body
			}}
			c := newEmulated(t, api, rec)
			var got [][]string
			token := ""
			for {
				invs, next, err := c.List(context.Background(), []batch.State{batch.StateInvited, batch.StateAccepted}, token)
				if err != nil {
					t.Fatal(err)
				}
				var page []string
				for _, inv := range invs {
					page = append(page, inv.Email+" "+string(inv.State))
				}
				got = append(got, page)
				if next == "" {
					break
				}
				token = next
			}
			want := [][]string{
				{"a@x.com INVITED", "b@x.com ACCEPTED"},
				{"c@x.com INVITED"},
				{"d@x.com ACCEPTED"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			const filter = "state=='invited'||state=='accepted'"
			wantQueries := []string{filter + " 200 ", filter + " 200 p2", filter + " 200 p3"}
			if diff := cmp.Diff(wantQueries, queries); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
			if path := rec.requests()[0]; path != "GET /"+api+"/customers/C0test/userinvitations" {
				t.Errorf("got request %q", path)
			}
		})
	}
}

func TestListOnePage(t *testing.T) {
	rec := &recorder{reply: func(*http.Request) (int, string) {
		return 200, `{"userInvitations":[{"name":"customers/C0test/userinvitations/a@x.com"}],"nextPageToken":"more"}`
	}}
	c := newEmulated(t, APIv1, rec)
	page, next, err := c.List(context.Background(), nil, "")
	if err != nil || len(page) != 1 || next != "more" {
		t.Errorf("List = %v, %q, %v; want one invitation and the next token", page, next, err)
	}
	if n := len(rec.requests()); n != 1 {
		t.Errorf("got %d requests, want 1: List makes one request", n)
	}
	if _, _, err := c.List(context.Background(), []batch.State{batch.StateNone}, ""); err == nil {
		t.Error("List(StateNone) = nil, want an error")
	}
	if got, _ := stateFilter(nil); got != "" {
		t.Errorf("stateFilter(nil) = %q, want none", got)
	}
}

func TestSendOperation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want *batch.APIError // nil: success; Msg ignored
	}{
		{"done with response", `{"name":"operations/1","done":true,"response":{"@type":"type.googleapis.com/google.apps.cloudidentity.v1.UserInvitation","name":"customers/C0test/userinvitations/a@x.com","state":"INVITED"}}`, nil},
		{"not done", `{"name":"operations/1"}`, nil},
		{"empty", `{}`, nil},
		{
			"done with FAILED_PRECONDITION",
			`{"name":"operations/1","done":true,"error":{"code":9,"message":"user is not invitable"}}`,
			&batch.APIError{Kind: batch.KindPrecondition, Code: 400, Status: "FAILED_PRECONDITION"},
		},
		{
			"done with RESOURCE_EXHAUSTED",
			`{"done":true,"error":{"code":8,"message":"slow down","details":[
				{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"RATE_LIMIT_EXCEEDED"},
				{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}`,
			// The request was accepted: ambiguous (TestOperationErrorIsAmbiguous).
			&batch.APIError{Kind: batch.KindRetryable, Code: 429, Status: "RESOURCE_EXHAUSTED", Reason: "RATE_LIMIT_EXCEEDED", RetryAfter: 2 * time.Second, Ambiguous: true},
		},
		{
			"done with PERMISSION_DENIED",
			`{"done":true,"error":{"code":7,"message":"no"}}`,
			&batch.APIError{Kind: batch.KindFatal, Code: 403, Status: "PERMISSION_DENIED", Ambiguous: true},
		},
	}
	for _, api := range []string{APIv1, APIv1beta1} {
		for _, tt := range tests {
			t.Run(api+"/"+tt.name, func(t *testing.T) {
				c := newEmulated(t, api, &recorder{reply: func(*http.Request) (int, string) { return 200, tt.body }})
				for _, m := range []string{"send", "cancel"} {
					err := call(context.Background(), c, m, "a@x.com")
					if tt.want == nil {
						if err != nil {
							t.Errorf("%s: got %v, want nil", m, err)
						}
						continue
					}
					var got *batch.APIError
					if !errors.As(err, &got) {
						t.Fatalf("%s: got %v, want *batch.APIError", m, err)
					}
					if !strings.HasPrefix(got.Msg, m+": ") {
						t.Errorf("got message %q, want it to start with %q", got.Msg, m)
					}
					g := *got
					g.Msg = ""
					if g != *tt.want {
						t.Errorf("%s: got %+v, want %+v", m, g, *tt.want)
					}
				}
			})
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no customer", Config{Emulator: "127.0.0.1:1"}},
		{"customer with slash", Config{Customer: "C0/x", Emulator: "127.0.0.1:1"}},
		{"unknown version", Config{Customer: customer, API: "v2", Emulator: "127.0.0.1:1"}},
		{"emulator with credentials", Config{Customer: customer, Emulator: "127.0.0.1:1", CredentialsFile: "key.json"}},
		{"emulator with endpoint", Config{Customer: customer, Emulator: "127.0.0.1:1", Endpoint: "http://127.0.0.1:2/"}},
		{"missing credentials file", Config{Customer: customer, CredentialsFile: "/nonexistent/key.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := New(context.Background(), tt.cfg); err == nil {
				t.Errorf("New = %v, nil; want an error", c)
			}
		})
	}
}

func TestEmulatorPrincipal(t *testing.T) {
	c := newEmulated(t, APIv1, &recorder{})
	if got, want := c.Principal(), "emulator (no credentials)"; got != want {
		t.Errorf("got principal %q, want %q", got, want)
	}
}

// FuzzName checks that an accepted address stays one path segment of the
// URL the generated client builds, and comes back unchanged from it.
func FuzzName(f *testing.F) {
	for _, s := range []string{"a.b+tag@x.com", "we/ird@x.com", "q?x@x", "pct%41@x", "ü@x.de", "semi;colon=@x", "..@x"} {
		f.Add(s)
	}
	c := &Client{customer: customer}
	f.Fuzz(func(t *testing.T, email string) {
		name, err := c.name("get", email)
		if err != nil {
			return
		}
		u := &url.URL{Path: "v1/{+name}"}
		googleapi.Expand(u, map[string]string{"name": name})
		parsed, err := url.Parse("http://h/" + u.EscapedPath())
		if err != nil {
			t.Fatalf("address %q gives an unparsable URL %q: %v", email, u.EscapedPath(), err)
		}
		segs := strings.Split(parsed.Path, "/")
		if len(segs) != 6 || segs[5] != strings.ToLower(email) {
			t.Errorf("address %q gives path %q, want one segment holding it", email, parsed.Path)
		}
	})
}

// TestConnsKeptIdle checks that Config.Conns requests in flight at once
// reuse their connections: with fewer idle connections kept, every round
// would close the extra ones and dial them again.
func TestConnsKeptIdle(t *testing.T) {
	const n, rounds = 120, 3 // more than the default's 100
	var (
		mu      sync.Mutex
		arrived int
		release = make(chan struct{})
		dialled atomic.Int64
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Hold every request until all n of the round are in flight, so
		// that they need n connections at once.
		mu.Lock()
		arrived++
		ch := release
		if arrived == n {
			arrived = 0
			close(release)
			release = make(chan struct{})
		}
		mu.Unlock()
		<-ch
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"isInvitableUser":true}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := New(context.Background(), Config{Customer: customer, Emulator: srv.Listener.Addr().String(), Conns: n})
	if err != nil {
		t.Fatal(err)
	}
	for range rounds {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := c.IsInvitable(context.Background(), "a@x.com"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if got := dialled.Load(); got != n {
		t.Errorf("%d rounds of %d requests at once opened %d connections, want %d", rounds, n, got, n)
	}
}
