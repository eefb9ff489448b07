package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCounters(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1"]
	for _, email := range []string{"a@example.com", "A@example.com", "b@example.com", "a@example.com"} {
		if _, _, err := a.send(email); err != nil {
			t.Fatal(err)
		}
	}
	a.send("m@gmail.com") // refused: not counted as a send
	a.get("a@example.com")
	a.list("", "", 0, "")
	a.invitable("b@example.com")
	a.cancel("b@example.com")

	s := e.Stats()
	wantReq := map[string]map[int]int{
		MethodSend:        {200: 4, 400: 1},
		MethodGet:         {200: 1},
		MethodList:        {200: 1},
		MethodIsInvitable: {200: 1},
		MethodCancel:      {200: 1},
	}
	if diff := cmp.Diff(wantReq, s.Requests); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if s.Sends != 4 || s.DuplicateSends != 2 || s.Held != 2 {
		t.Errorf("Sends %d, DuplicateSends %d, Held %d; want 4, 2, 2", s.Sends, s.DuplicateSends, s.Held)
	}
	if got := e.Sends("A@EXAMPLE.COM"); got != 3 {
		t.Errorf("Sends(a) = %d, want 3", got)
	}
	total := 0
	for _, sc := range s.PerSecond {
		total += sc.Requests
	}
	if total != 9 || s.MaxPerWindow < 1 || s.MaxPerWindow > 9 {
		t.Errorf("PerSecond sums to %d, MaxPerWindow %d; want 9 and 1..9", total, s.MaxPerWindow)
	}
	if s.Total(MethodSend) != 5 {
		t.Errorf("Total(send) = %d, want 5", s.Total(MethodSend))
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Stats
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}

	e.ResetCounters()
	s = e.Stats()
	if len(s.Requests) != 0 || s.Sends != 0 || s.DuplicateSends != 0 || len(s.PerSecond) != 0 || s.MaxPerWindow != 0 || e.Sends("a@example.com") != 0 {
		t.Errorf("after ResetCounters: %+v", s)
	}
	if got, _ := a.get("a@example.com"); got.Mails != 3 {
		t.Errorf("ResetCounters changed an invitation: %+v", got)
	}
}

func TestMaxPerWindow(t *testing.T) {
	e := New(Options{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	for range 5 {
		resp, err := http.Get(srv.URL + "/v1/customers/C1/userinvitations/x@example.com")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// Not an API path: counted under "other" with 404.
	resp, err := http.Get(srv.URL + "/v2/customers/C1/userinvitations")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := e.Stats()
	if s.MaxPerWindow != 6 || s.Requests[MethodOther][404] != 1 {
		t.Errorf("MaxPerWindow %d, other 404s %d; want 6, 1", s.MaxPerWindow, s.Requests[MethodOther][404])
	}
}

func TestLoadSeed(t *testing.T) {
	tests := []struct {
		name string
		csv  string
		want map[string]Kind // nil: an error
	}{
		{"basic", "email,kind\na@example.com,invited\nB@Example.com, Managed \n", map[string]Kind{"a@example.com": KindInvited, "b@example.com": KindManaged}},
		{"columns by name", "\uFEFFKind,note,Email\nnew,x,c@example.com\n# comment\n\ndeclined,,d@example.com\n", map[string]Kind{"c@example.com": KindNew, "d@example.com": KindDeclined}},
		{"later wins", "email,kind\na@example.com,none\na@example.com,accepted\n", map[string]Kind{"a@example.com": KindAccepted}},
		{"no header", "a@example.com,invited\n", nil},
		{"empty", "", nil},
		{"bad kind", "email,kind\na@example.com,invited\nb@example.com,vip\n", nil},
		{"bad address", "email,kind\na/b@example.com,invited\n", nil},
		{"short row", "email,note,kind\na@example.com\n", nil},
		{"bad quote", "email,kind\n\"a@example.com,invited\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(Options{Default: KindNone})
			err := e.LoadSeed(strings.NewReader(tt.csv))
			if tt.want == nil {
				if err == nil {
					t.Fatal("no error")
				}
				if len(e.accounts) != 0 {
					t.Errorf("a failed load seeded %d addresses", len(e.accounts))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]account{}
			for email, k := range tt.want {
				want[email] = fromKind(k, e.created)
			}
			got := map[string]account{}
			for email, a := range e.accounts {
				a.updated = e.created.UnixNano()
				got[email] = a
			}
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(account{})); diff != "" {
				t.Errorf("accounts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAdmin(t *testing.T) {
	e := New(Options{Customer: testCustomer})
	srv := httptest.NewServer(e)
	defer srv.Close()
	post := func(path, body string) (int, string) {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := post("/emulator/seed", "email,kind\nm@example.com,managed\n"); code != 200 {
		t.Fatalf("seed: %d %s", code, body)
	}
	if code, _ := post("/emulator/seed", "nope"); code != 400 {
		t.Errorf("bad seed: %d, want 400", code)
	}
	if code, body := post("/emulator/config", `{"latency_ms": 1.5, "quota_qps": 10, "quota_burst": 5, "ambiguous_mode": "drop"}`); code != 200 {
		t.Fatalf("config: %d %s", code, body)
	}
	// Fields left out keep their value.
	if code, body := post("/emulator/config", `{"fail_rate": 0.25, "fatal": "service_disabled"}`); code != 200 {
		t.Fatalf("config: %d %s", code, body)
	}
	want := Config{LatencyMS: 1.5, QuotaQPS: 10, QuotaBurst: 5, FailRate: 0.25, AmbiguousMode: "drop", Fatal: "service_disabled", Refusal: "failed_precondition", Profile: "default",
		QuotaConfig: QuotaConfig{ThrottleAs: "429"}}
	if diff := cmp.Diff(want, e.Config()); diff != "" {
		t.Errorf("Config (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`{"latency": 1}`, `{"fatal": "oops"}`, `{"fail_rate": 2}`, `{"ambiguous_mode": "maybe"}`, `{"refusal": "teapot"}`, `{"throttle_as": "418"}`, `[`} {
		if code, _ := post("/emulator/config", bad); code != 400 {
			t.Errorf("config %s: %d, want 400", bad, code)
		}
	}
	if diff := cmp.Diff(want, e.Config()); diff != "" {
		t.Errorf("a bad config changed Config (-want +got):\n%s", diff)
	}

	resp, err := http.Get(srv.URL + "/v1/customers/C0123abc/userinvitations/m@example.com")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("with fatal service_disabled: %d, want 403", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/emulator/stats")
	if err != nil {
		t.Fatal(err)
	}
	var s Stats
	err = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if err != nil || s.Requests[MethodGet][403] != 1 || s.Held != 1 {
		t.Errorf("stats: %+v, %v", s, err)
	}
	if code, _ := post("/emulator/reset", ""); code != 200 || e.Stats().Total(MethodGet) != 0 {
		t.Errorf("reset: %d, %+v", code, e.Stats())
	}
	if code, _ := post("/emulator/nothing", ""); code != 404 {
		t.Errorf("unknown admin path: %d, want 404", code)
	}
}

// TestHeldAddresses checks that only seeded and touched addresses are
// held in memory.
func TestHeldAddresses(t *testing.T) {
	e := New(Options{})
	for i := range 1000 {
		rec := httptest.NewRecorder()
		method, verb := http.MethodGet, ""
		if i%2 == 0 {
			method, verb = http.MethodPost, ":send"
		}
		e.ServeHTTP(rec, httptest.NewRequest(method, fmt.Sprintf("/v1/customers/C1/userinvitations/u%d@example.com%s", i, verb), strings.NewReader("{}")))
		if rec.Code != 200 {
			t.Fatalf("%d: %d %s", i, rec.Code, rec.Body)
		}
	}
	if s := e.Stats(); s.Held != 500 || s.Sends != 500 {
		t.Errorf("Held %d, Sends %d; want 500, 500", s.Held, s.Sends)
	}
}

// FuzzServeHTTP checks that no path makes the emulator panic or accept an
// address it should refuse.
func FuzzServeHTTP(f *testing.F) {
	for _, s := range []string{"a@example.com", "a/b@example.com", "a%2Fb@example.com", "a@example.com:send", "%zz", "a@b@c.d", "x:isInvitableUser"} {
		f.Add(s)
	}
	e := New(Options{Customer: "C1"})
	f.Fuzz(func(t *testing.T, seg string) {
		req, err := http.NewRequest(http.MethodGet, "http://h/v1/customers/C1/userinvitations/x", nil)
		if err != nil {
			t.Skip()
		}
		req.URL.Path = "/v1/customers/C1/userinvitations/" + seg
		req.URL.RawPath = ""
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			email, _, _ := strings.Cut(seg, ":")
			if !validEmail(email) {
				t.Errorf("%q accepted", seg)
			}
		case 400, 404:
		default:
			t.Errorf("%q: code %d", seg, rec.Code)
		}
	})
}

func BenchmarkSend(b *testing.B) {
	e := New(Options{Customer: "C1"})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, fmt.Sprintf("/v1/customers/C1/userinvitations/u%d@example.com:send", i), strings.NewReader("{}")))
		i++
	}
}
