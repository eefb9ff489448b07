package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// clock is a settable clock for updateTime.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newTest(t *testing.T) (*Emulator, map[string]api, *clock) {
	t.Helper()
	c := &clock{t: t0}
	e := New(Options{Customer: testCustomer, Domains: []string{"example.com", "Example.ORG"}, Now: c.now, Seed: 1})
	_, apis := newServer(t, e)
	return e, apis, c
}

func TestStateMachine(t *testing.T) {
	// A step is one call and what it must give: the reply code, and for
	// get, send and cancel the state and mailsSentCount; for
	// isInvitableUser the answer.
	type step struct {
		op        string // get, inv, send, cancel
		code      int
		state     string
		mails     int64
		invitable bool
	}
	ts := timestampJSON(t0.Add(time.Second))
	tests := []struct {
		name  string
		email string
		kind  *Kind // nil: not seeded
		steps []step
	}{
		{"unmanaged", "u@example.com", ptr(KindUnmanaged), []step{
			{op: "get", code: 200, state: StateNotYetSent},
			{op: "inv", code: 200, invitable: true},
			{op: "cancel", code: 400},
			{op: "send", code: 200, state: StateInvited, mails: 1},
			{op: "get", code: 200, state: StateInvited, mails: 1},
			{op: "inv", code: 200, invitable: true},
			{op: "send", code: 200, state: StateInvited, mails: 2},
			{op: "cancel", code: 200, state: StateNotYetSent, mails: 2},
			{op: "get", code: 200, state: StateNotYetSent, mails: 2},
			{op: "cancel", code: 400},
			{op: "send", code: 200, state: StateInvited, mails: 3},
		}},
		{"unseeded default", "nobody@example.org", nil, []step{
			{op: "get", code: 200, state: StateNotYetSent},
			{op: "inv", code: 200, invitable: true},
			{op: "send", code: 200, state: StateInvited, mails: 1},
		}},
		{"invited", "i@example.com", ptr(KindInvited), []step{
			{op: "get", code: 200, state: StateInvited, mails: 1},
			{op: "inv", code: 200, invitable: true},
			{op: "send", code: 200, state: StateInvited, mails: 2},
			{op: "cancel", code: 200, state: StateNotYetSent, mails: 2},
		}},
		{"accepted", "a@example.com", ptr(KindAccepted), []step{
			{op: "get", code: 200, state: StateAccepted, mails: 1},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
			{op: "cancel", code: 400},
			{op: "get", code: 200, state: StateAccepted, mails: 1},
		}},
		{"declined", "d@example.com", ptr(KindDeclined), []step{
			{op: "get", code: 200, state: StateDeclined, mails: 1},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
			{op: "cancel", code: 400},
		}},
		{"managed", "m@example.com", ptr(KindManaged), []step{
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
			{op: "cancel", code: 400},
		}},
		{"none", "n@example.com", ptr(KindNone), []step{
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
		}},
		{"new", "new@example.com", ptr(KindNew), []step{
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: true},
			{op: "send", code: 200, state: StateInvited, mails: 1},
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: true},
			{op: "send", code: 200, state: StateInvited, mails: 2},
			{op: "cancel", code: 200, state: StateNotYetSent, mails: 2},
			{op: "get", code: 404},
		}},
		{"other domain", "u@gmail.com", ptr(KindUnmanaged), []step{
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
		}},
		{"other domain invited", "i@gmail.com", ptr(KindInvited), []step{
			{op: "get", code: 404},
			{op: "inv", code: 200, invitable: false},
			{op: "send", code: 400},
			{op: "cancel", code: 400},
		}},
		{"mixed case", "Mixed.Case@EXAMPLE.com", ptr(KindInvited), []step{
			{op: "get", code: 200, state: StateInvited, mails: 1},
			{op: "send", code: 200, state: StateInvited, mails: 2},
		}},
	}
	for _, version := range []string{"v1", "v1beta1"} {
		for _, tt := range tests {
			t.Run(version+"/"+tt.name, func(t *testing.T) {
				e, apis, c := newTest(t)
				a := apis[version]
				if tt.kind != nil {
					e.Seed(tt.email, *tt.kind)
				}
				c.advance(time.Second)
				wantName := name(strings.ToLower(tt.email))
				sends := 0
				for i, s := range tt.steps {
					var got inv
					var typ string
					var invitable bool
					var err error
					switch s.op {
					case "get":
						got, err = a.get(tt.email)
					case "inv":
						invitable, err = a.invitable(tt.email)
					case "send":
						got, typ, err = a.send(tt.email)
					case "cancel":
						got, typ, err = a.cancel(tt.email)
					}
					if code := httpCode(err); code != s.code {
						t.Fatalf("step %d %s: code %d (%v), want %d", i, s.op, code, err, s.code)
					}
					if err != nil {
						continue
					}
					if s.op == "send" {
						sends++
					}
					if s.op == "inv" {
						if invitable != s.invitable {
							t.Errorf("step %d: isInvitableUser %v, want %v", i, invitable, s.invitable)
						}
						continue
					}
					want := inv{Name: wantName, State: s.state, Mails: s.mails, Updated: got.Updated}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("step %d %s: invitation (-want +got):\n%s", i, s.op, diff)
					}
					if s.op == "send" || s.op == "cancel" {
						if got.Updated != ts {
							t.Errorf("step %d %s: updateTime %q, want %q", i, s.op, got.Updated, ts)
						}
						if wantType := "type.googleapis.com/google.apps.cloudidentity." + version + ".UserInvitation"; typ != wantType {
							t.Errorf("step %d: @type %q, want %q", i, typ, wantType)
						}
					}
				}
				if got := e.Sends(tt.email); got != sends {
					t.Errorf("Sends(%q) = %d, want %d", tt.email, got, sends)
				}
			})
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestWireFormat(t *testing.T) {
	e, apis, _ := newTest(t)
	srv := serveURL(t, e)
	updated := time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.FixedZone("x", 3600))
	e.SetInvitation("w@example.com", "invited", 3, updated)

	body := getBody(t, srv+"/v1/customers/my_customer/userinvitations/w@example.com?alt=json&prettyPrint=false")
	want := `{"name":"customers/C0123abc/userinvitations/w@example.com","state":"INVITED","mailsSentCount":"3","updateTime":"2026-01-02T02:04:05.120Z"}`
	if body != want {
		t.Errorf("get body\n got %s\nwant %s", body, want)
	}
	got, err := apis["v1"].get("w@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got.Mails != 3 {
		t.Errorf("decoded mailsSentCount %d, want 3", got.Mails)
	}
	parsed, err := time.Parse(time.RFC3339Nano, got.Updated)
	if err != nil || !parsed.Equal(updated) {
		t.Errorf("updateTime %q parses to %v (%v), want %v", got.Updated, parsed, err, updated)
	}

	if body := getBody(t, srv+"/v1/customers/C0123abc/userinvitations/m@gmail.com:isInvitableUser"); body != `{}` {
		t.Errorf("isInvitableUser false: %s, want {}", body)
	}
	if body := getBody(t, srv+"/v1/customers/C0123abc/userinvitations/x@example.com:isInvitableUser"); body != `{"isInvitableUser":true}` {
		t.Errorf("isInvitableUser true: %s", body)
	}
	resp, err := http.Post(srv+"/v1/customers/C0123abc/userinvitations/x@example.com:send", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var op map[string]any
	if err := json.Unmarshal(b, &op); err != nil {
		t.Fatal(err)
	}
	if op["done"] != true || !strings.HasPrefix(op["name"].(string), "operations/") {
		t.Errorf("operation %s: want done and an operations/ name", b)
	}
	r := op["response"].(map[string]any)
	if r["mailsSentCount"] != "1" || r["@type"] != "type.googleapis.com/google.apps.cloudidentity.v1.UserInvitation" {
		t.Errorf("operation response %v", r)
	}

	// An unknown field in the request body is refused; another customer
	// is not ours.
	resp, _ = http.Post(srv+"/v1/customers/C0123abc/userinvitations/x@example.com:send", "application/json", strings.NewReader(`{"x":1}`))
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("send with a field: %d, want 400", resp.StatusCode)
	}
	if _, err := apis["v1"].(v1API).s.Get("customers/C999/userinvitations/x@example.com").Do(); httpCode(err) != 403 {
		t.Errorf("other customer: %v, want 403", err)
	}
	if _, err := apis["v1"].(v1API).s.List("customers/my_customer").Do(); err != nil {
		t.Errorf("list my_customer: %v", err)
	}
}

// serveURL serves e and returns its URL.
func serveURL(t *testing.T, e *Emulator) string {
	srv, _ := newServer(t, e)
	return srv.URL
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestListPaging(t *testing.T) {
	e, apis, _ := newTest(t)
	var want []string
	for i := range 450 {
		email := fmt.Sprintf("user%03d@example.com", i)
		e.Seed(email, KindUnmanaged)
		want = append(want, name(email))
	}
	e.Seed("hidden@example.com", KindNew)
	e.Seed("managed@example.com", KindManaged)
	e.Seed("outside@gmail.com", KindInvited)
	for _, version := range []string{"v1", "v1beta1"} {
		for _, tt := range []struct {
			size  int64
			pages []int
		}{
			{0, []int{100, 100, 100, 100, 50}},
			{200, []int{200, 200, 50}},
			{500, []int{200, 200, 50}},
			{150, []int{150, 150, 150}},
		} {
			t.Run(fmt.Sprintf("%s/%d", version, tt.size), func(t *testing.T) {
				var got []string
				var sizes []int
				token := ""
				for {
					p, err := apis[version].list("", "", tt.size, token)
					if err != nil {
						t.Fatal(err)
					}
					sizes = append(sizes, len(p.Invs))
					for _, i := range p.Invs {
						got = append(got, i.Name)
					}
					if token = p.Token; token == "" {
						break
					}
				}
				if diff := cmp.Diff(tt.pages, sizes); diff != "" {
					t.Errorf("page sizes (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("names (-want +got):\n%s", diff)
				}
			})
		}
	}

	// The token is tied to the filter and order.
	p, _ := apis["v1"].list("", "", 10, "")
	if _, err := apis["v1"].list("state=='invited'", "", 10, p.Token); httpCode(err) != 400 {
		t.Errorf("token with another filter: %v, want 400", err)
	}
	if _, err := apis["v1"].list("", "email desc", 10, p.Token); httpCode(err) != 400 {
		t.Errorf("token with another order: %v, want 400", err)
	}
	if _, err := apis["v1"].list("", "", 10, "garbage"); httpCode(err) != 400 {
		t.Errorf("garbage token: %v, want 400", err)
	}
}

func TestListFilterOrder(t *testing.T) {
	e, apis, _ := newTest(t)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	e.SetInvitation("b@example.com", StateInvited, 1, at(3))
	e.SetInvitation("a@example.com", StateAccepted, 1, at(2))
	e.SetInvitation("d@example.com", StateDeclined, 2, at(1))
	e.SetInvitation("c@example.com", StateNotYetSent, 0, at(4))
	e.SetInvitation("e@example.com", StateInvited, 5, at(3)) // ties b on time
	tests := []struct {
		filter, order string
		want          string // initials, or an error code
	}{
		{"", "", "abcde"},
		{"", "email asc", "abcde"},
		{"", "email desc", "edcba"},
		{"", "update_time asc", "dabec"},
		{"", "update_time desc", "cebad"},
		{"", "UPDATE_TIME  desc", "cebad"},
		{"state=='invited'", "", "be"},
		{"state=='INVITED'", "", "be"},
		{`state == "Invited"`, "", "be"},
		{"state=='invited'||state=='accepted'", "email desc", "eba"},
		{"state=='accepted' || state=='declined'", "update_time asc", "da"},
		{"state=='not_yet_sent'", "", "c"},
		{"state=='nope'", "", "400"},
		{"email=='a@example.com'", "", "400"},
		{"state='invited'", "", "400"},
		{"", "name", "400"},
		{"", "email up", "400"},
		{"", "email asc, update_time asc", "400"},
	}
	for _, version := range []string{"v1", "v1beta1"} {
		for _, tt := range tests {
			t.Run(version+"/"+tt.filter+"/"+tt.order, func(t *testing.T) {
				// Two items per page, so ties and cursors are exercised.
				var got strings.Builder
				token := ""
				for {
					p, err := apis[version].list(tt.filter, tt.order, 2, token)
					if err != nil {
						fmt.Fprint(&got, httpCode(err))
						break
					}
					for _, i := range p.Invs {
						got.WriteString(strings.TrimPrefix(i.Name, name(""))[:1])
					}
					if token = p.Token; token == "" {
						break
					}
				}
				if got.String() != tt.want {
					t.Errorf("got %q, want %q", got.String(), tt.want)
				}
			})
		}
	}
}

// The customer ID in the path is compared without regard to case, as the
// tool compares customers (its ledger and lock are one per customer,
// whatever the spelling); replies name the customer as configured. Another
// ID is still refused.
func TestCustomerAnyCase(t *testing.T) {
	e, apis, _ := newTest(t)
	srv := serveURL(t, e)
	e.SetInvitation("w@example.com", "invited", 1, t0)
	want := `"name":"customers/` + testCustomer + `/userinvitations/w@example.com"`
	for _, c := range []string{testCustomer, strings.ToLower(testCustomer), strings.ToUpper(testCustomer), "MY_Customer"} {
		if body := getBody(t, srv+"/v1/customers/"+c+"/userinvitations/w@example.com"); !strings.Contains(body, want) {
			t.Errorf("get as customer %q: %s, want %s", c, body, want)
		}
		if _, err := apis["v1"].(v1API).s.List("customers/" + c).Do(); err != nil {
			t.Errorf("list as customer %q: %v", c, err)
		}
	}
	if _, err := apis["v1"].(v1API).s.Get("customers/" + testCustomer + "x/userinvitations/w@example.com").Do(); httpCode(err) != 403 {
		t.Errorf("another customer: %v, want 403", err)
	}
}
