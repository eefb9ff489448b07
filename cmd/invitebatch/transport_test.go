package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Credentials only over HTTPS: a plain http:// --endpoint that is not
// loopback is refused with exit 2 before any token is fetched.
func TestE2ERemoteHTTPEndpointRefused(t *testing.T) {
	w := newAuthWorld(t)
	w.writeRows(2)
	for _, endpoint := range []string{"http://invitebatch-test.invalid:9/", "http://192.0.2.1:9/"} {
		res := w.runAuth(nil, "--endpoint", endpoint, "--credentials", "key.json", "--impersonate-user", adminEmail, "users.csv")
		if res.code != 2 {
			t.Fatalf("%s: exit = %d, want 2\n%s", endpoint, res.code, res.stderr)
		}
		if !strings.Contains(res.stderr, "https://") || !strings.Contains(res.stderr, endpoint) {
			t.Errorf("%s: stderr does not say why:\n%s", endpoint, res.stderr)
		}
	}
	if g := w.oauth.grantsSeen(); len(g) != 0 {
		t.Errorf("a token was fetched for a refused endpoint: %v", g)
	}
}

// A loopback http:// endpoint (tests) works, with a loud warning.
func TestE2ELoopbackHTTPEndpointWarned(t *testing.T) {
	w := newAuthWorld(t)
	emails := w.writeRows(2)
	res := w.runAuth(nil, "--credentials", "key.json", "--impersonate-user", adminEmail, "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "*** PLAIN HTTP: credentials go unencrypted to "+w.srv.URL+"/") {
		t.Errorf("no loud warning for a plain-http endpoint:\n%s", res.stderr)
	}
	w.checkAllSent(emails)
}

// CLOUDIDENTITY_EMULATOR_HOST must be loopback: the addresses (personal
// data) travel in plain HTTP.
func TestE2ERemoteEmulatorHostRefused(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\n")
	res := w.runEnv([]string{"CLOUDIDENTITY_EMULATOR_HOST=192.0.2.1:8086"}, "run", "users.csv")
	if res.code != 2 || !strings.Contains(res.stderr, "--allow-remote-emulator") {
		t.Errorf("exit = %d, want 2 naming --allow-remote-emulator\n%s", res.code, res.stderr)
	}
	for _, cmd := range [][]string{{"status", "users.csv"}, {"export"}, {"doctor"}} {
		if res := w.runEnv([]string{"CLOUDIDENTITY_EMULATOR_HOST=192.0.2.1:8086"}, cmd...); res.code != 2 {
			t.Errorf("%v: exit = %d, want 2\n%s", cmd, res.code, res.stderr)
		}
	}
}

func TestCheckTransport(t *testing.T) {
	tests := []struct {
		emulator, endpoint string
		allow              bool
		ok                 bool
		warn               bool
	}{
		{emulator: "127.0.0.1:8086", ok: true},
		{emulator: "localhost:8086", ok: true},
		{emulator: "[::1]:8086", ok: true},
		{emulator: "http://127.0.0.1:8086/", ok: true},
		{emulator: "10.0.0.5:8086"},
		{emulator: "emu.corp:8086"},
		{emulator: "emu.corp:8086", allow: true, ok: true},
		{emulator: "nonsense"},
		{endpoint: "https://proxy.corp/", ok: true},
		{endpoint: "http://127.0.0.1:1/", ok: true, warn: true},
		{endpoint: "http://proxy.corp/"},
		{endpoint: "http://proxy.corp/", allow: true}, // the flag is for emulators only
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		a := apiFlags{emulatorHost: tt.emulator, endpoint: tt.endpoint, allowRemoteEmulator: tt.allow, requestTimeout: time.Second}
		err := a.checkTransport("run", env{stderr: &stderr})
		if (err == nil) != tt.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tt, err, tt.ok)
		}
		if got := strings.Contains(stderr.String(), "PLAIN HTTP"); got != tt.warn {
			t.Errorf("%+v: warned = %v, want %v", tt, got, tt.warn)
		}
	}
}
