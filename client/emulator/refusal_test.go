package emulator

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/api/googleapi"
)

// An ineligible account is listed NOT_YET_SENT like any unmanaged one, but
// isInvitableUser says false and send refuses it, as SetRefusal says.
func TestIneligibleListedButRefused(t *testing.T) {
	tests := []struct {
		refusal    Refusal
		code       int
		status     string
		namesEmail bool // the reply names the address as its cause
	}{
		{RefuseFailedPrecondition, 400, "FAILED_PRECONDITION", false},
		{RefuseNotFound, 404, "NOT_FOUND", false},
		{RefusePermissionDenied, 403, "PERMISSION_DENIED", true},
	}
	for _, tt := range tests {
		t.Run(tt.refusal.String(), func(t *testing.T) {
			e, apis, _ := newTest(t)
			e.Seed("alias@example.com", KindIneligible)
			e.SetRefusal(tt.refusal)
			a := apis["v1"]
			got, err := a.get("alias@example.com")
			if err != nil || got.State != StateNotYetSent {
				t.Fatalf("get = %v, %v; want NOT_YET_SENT", got, err)
			}
			p, err := a.list("state=='not_yet_sent'", "", 0, "")
			if err != nil || len(p.Invs) != 1 || p.Invs[0].Name != name("alias@example.com") {
				t.Fatalf("list = %v, %v; want the ineligible account", p, err)
			}
			if ok, err := a.invitable("alias@example.com"); err != nil || ok {
				t.Errorf("isInvitableUser = %v, %v; want false", ok, err)
			}
			_, _, err = a.send("alias@example.com")
			var herr *googleapi.Error
			if !errors.As(err, &herr) || herr.Code != tt.code || !strings.Contains(herr.Body, tt.status) {
				t.Fatalf("send: %v; want %d %s", err, tt.code, tt.status)
			}
			if got := strings.Contains(herr.Body, "alias@example.com"); got != tt.namesEmail {
				t.Errorf("reply names the address: %v, want %v: %s", got, tt.namesEmail, herr.Body)
			}
			if n := e.Sends("alias@example.com"); n != 0 {
				t.Errorf("emails delivered = %d, want 0", n)
			}
			if got, _ := a.get("alias@example.com"); got.State != StateNotYetSent {
				t.Errorf("state after the refused send = %s, want NOT_YET_SENT", got.State)
			}
		})
	}
}

func TestRefusalConfig(t *testing.T) {
	e := New(Options{})
	if got := e.Config().Refusal; got != "failed_precondition" {
		t.Errorf("default refusal = %q, want failed_precondition", got)
	}
	c := e.Config()
	c.Refusal = "permission_denied"
	if err := e.Apply(c); err != nil {
		t.Fatal(err)
	}
	if got := e.Config().Refusal; got != "permission_denied" {
		t.Errorf("refusal = %q after Apply", got)
	}
	c.Refusal = "teapot"
	if err := e.Apply(c); err == nil {
		t.Error("Apply accepted an unknown refusal")
	}
	if _, err := ParseKind("Ineligible"); err != nil {
		t.Errorf("ParseKind(ineligible): %v", err)
	}
}

// Resends counts emails to invitations that were INVITED already (a seeded
// invitation someone else sent, or this emulator's own earlier send), the
// benchmark's "emails to people already invited".
func TestStatsResends(t *testing.T) {
	e, apis, _ := newTest(t)
	a := apis["v1"]
	e.Seed("inv@example.com", KindInvited)
	for _, email := range []string{"inv@example.com", "new@example.com", "new@example.com"} {
		if _, _, err := a.send(email); err != nil {
			t.Fatal(err)
		}
	}
	s := e.Stats()
	if s.Sends != 3 || s.Resends != 2 || s.DuplicateSends != 1 {
		t.Errorf("Sends %d, Resends %d, DuplicateSends %d; want 3, 2, 1", s.Sends, s.Resends, s.DuplicateSends)
	}
	e.ResetCounters()
	if s := e.Stats(); s.Resends != 0 {
		t.Errorf("Resends after ResetCounters = %d", s.Resends)
	}
}
