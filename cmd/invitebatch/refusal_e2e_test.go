package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// Per-address refusals, as the real service very likely gives them (GAM
// catches 404, 400 and 403 for single addresses): each is that row's
// not_invitable with the server's message, and a CSV sorted by domain with
// many refused addresses in a row does not stop the run.
func TestE2EPerAddressRefusals(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) {
			w := newWorldWith(t, emulator.Options{Domains: []string{"example.com"}})
			w.emu.SetProfile(p)
			w.emu.Seed("nobody@example.com", emulator.KindNone)
			w.emu.Seed("managed@example.com", emulator.KindManaged)
			var b strings.Builder
			b.WriteString("email\n")
			var contractors []string
			for i := range 60 {
				e := fmt.Sprintf("c%02d@contractor.com", i)
				contractors = append(contractors, e)
				b.WriteString(e + "\n")
			}
			b.WriteString("nobody@example.com\nmanaged@example.com\nsend404@example.com\nok1@example.com\nok2@example.com\n")
			w.write("users.csv", b.String())
			// The emulator answers the first send (send404's: the rows
			// before it are never sent) with 404 NOT_FOUND; one worker
			// keeps the order.
			w.emu.FailNext(emulator.MethodSend, 1, 404)
			res := w.run("run", "--workers", "1", "--qps", "1000", "--lookup", "get", "--summary", "sum.json", "users.csv")
			if res.code != 0 {
				t.Fatalf("exit = %d, want 0 (refusals are outcomes, not failures)\n%s", res.code, res.stderr)
			}
			rows := w.report("users.report.csv")
			got := map[string]map[string]string{}
			for _, r := range rows {
				got[r["email"]] = r
			}
			for _, e := range append(contractors, "nobody@example.com", "managed@example.com") {
				if o := got[e]["outcome"]; o != "not_invitable" {
					t.Errorf("%s: %s (%s), want not_invitable", e, o, got[e]["error"])
				}
			}
			if r := got["send404@example.com"]; r["outcome"] != "not_invitable" || !strings.Contains(r["error"], "404 NOT_FOUND: Requested entity was not found.") {
				t.Errorf("send refused with 404: %s (%s), want not_invitable with the server's message", r["outcome"], r["error"])
			}
			for _, e := range []string{"ok1@example.com", "ok2@example.com"} {
				if o := got[e]["outcome"]; o != "sent" {
					t.Errorf("%s: %s (%s), want sent", e, o, got[e]["error"])
				}
			}
			if p == emulator.ProfileGoogleStrict {
				if r := got["nobody@example.com"]; !strings.Contains(r["error"], "404 NOT_FOUND") {
					t.Errorf("no account: reason %q, want the server's 404", r["error"])
				}
				if r := got["c00@contractor.com"]; !strings.Contains(r["error"], "403 PERMISSION_DENIED: The caller does not have permission") {
					t.Errorf("other domain: reason %q, want the server's 403", r["error"])
				}
				// The 403s were checked with a customer-wide read, not one
				// per address.
				if n := w.emu.Stats().Total(emulator.MethodList); n < 1 || n > 3 {
					t.Errorf("list requests (probes) = %d, want 1 to 3", n)
				}
			}
			s := w.summary("sum.json")
			if s.Outcomes["failed"] != 0 || s.ExitCode != 0 {
				t.Errorf("summary: %d failed, exit %d", s.Outcomes["failed"], s.ExitCode)
			}
		})
	}
}

// A 400 INVALID_ARGUMENT from isInvitableUser for one address is that row's
// not_invitable; `invalid` stays for rows never sent to the API.
func TestE2EInvalidArgumentIsNotInvitable(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	w.emu.FailNext(emulator.MethodIsInvitable, 1, 400)
	res := w.run("run", "--workers", "1", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	rows := w.report("users.report.csv")
	if rows[0]["outcome"] != "not_invitable" || !strings.Contains(rows[0]["error"], "400 INVALID_ARGUMENT") {
		t.Errorf("row 1 = %s (%s), want not_invitable with the server's message", rows[0]["outcome"], rows[0]["error"])
	}
	if rows[1]["outcome"] != "sent" {
		t.Errorf("row 2 = %s, want sent", rows[1]["outcome"])
	}
}

// A bare 403 that the customer-wide read meets too is the credential's
// problem: exit 5 naming the fix, no row marked.
func TestE2EForbiddenForTheCustomerExits5(t *testing.T) {
	w := newWorldWith(t, emulator.Options{Domains: []string{"example.com"}})
	w.emu.SetProfile(emulator.ProfileGoogleStrict)
	w.emu.SetFatal(emulator.FatalPermissionDenied)
	w.write("users.csv", "email\na@example.com\nb@example.com\n")
	res := w.run("run", "--lookup", "get", "users.csv")
	if res.code != 5 {
		t.Fatalf("exit = %d, want 5\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "super administrator") {
		t.Errorf("stderr does not name the fix:\n%s", res.stderr)
	}
	for _, r := range w.report("users.report.csv") {
		if r["outcome"] != "" {
			t.Errorf("row %s marked %s", r["email"], r["outcome"])
		}
	}
}

// A credential that can read but not write makes list and isInvitableUser
// work and every send fail with 403: the run stops (exit 5) at the first,
// instead of turning the migration into not_invitable with exit 0.
func TestE2EReadOnlyCredentialStops(t *testing.T) {
	for _, p := range profiles {
		t.Run(p.String(), func(t *testing.T) {
			w := newWorldWith(t, emulator.Options{Domains: []string{"example.com"}})
			w.emu.SetProfile(p)
			w.emu.SetReadOnly(true)
			var b strings.Builder
			b.WriteString("email\n")
			for i := range 30 {
				fmt.Fprintf(&b, "u%02d@example.com\n", i)
			}
			w.write("users.csv", b.String())
			res := w.run("run", "--workers", "4", "users.csv")
			if res.code != 5 {
				t.Fatalf("exit = %d, want 5\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, "PERMISSION_DENIED") {
				t.Errorf("stderr does not explain:\n%s", res.stderr)
			}
			for _, r := range w.report("users.report.csv") {
				if r["outcome"] == "not_invitable" {
					t.Fatalf("%s became not_invitable under a read-only credential", r["email"])
				}
			}
			if n := w.emu.Stats().Total(emulator.MethodSend); n > 4 {
				t.Errorf("%d sends tried, want at most one per worker", n)
			}
		})
	}
}
