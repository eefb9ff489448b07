package main

import (
	"testing"

	"github.com/invitebatch/invitebatch/client"
)

func TestLedgerVariant(t *testing.T) {
	for _, tt := range []struct {
		name, customer, backend string // backend "" for not a ledger name
	}{
		{"C0x.ledger", "C0x", "google"},
		{"c0x.ledger", "c0x", "google"},
		{"C0x.cloudidentity.googleapis.com.ledger", "C0x", "google"},
		{"C0x.cloudidentity.mtls.googleapis.com.ledger", "C0x", "google"},
		{"C0x.proxy.corp.example_8443.ledger", "C0x", "google"},
		{"C0x.127.0.0.1_8086.ledger", "C0x", "test:127.0.0.1:8086"},
		{"C0x.localhost_8086.ledger", "C0x", "test:127.0.0.1:8086"},
		{"C0x.___1__8086.ledger", "C0x", "test:127.0.0.1:8086"},
		{"C0x.emulator-127.0.0.1_8086.ledger", "C0x", "test:127.0.0.1:8086"},
		{"C0x.emulator-localhost_8086.ledger", "C0x", "test:127.0.0.1:8086"},
		{"c0x.test-127.0.0.1_8086.ledger", "c0x", "test:127.0.0.1:8086"},
		{"C0x.emulator-builtin.ledger", "C0x", "test:builtin"},
		{"C0x.emulator-emu.test_9000.ledger", "C0x", "test:emu.test:9000"},
		{"C0x.___2001_db8__1__443.ledger", "C0x", "google"},
		{"C0x.ledger.merged-into-c0x", "", ""},
		{"C0x.ledger.lock", "", ""},
		{".C0x.ledger", "", ""},
		{"C0x.emulator-bad_host_1.ledger", "", ""},
		{"notes.txt", "", ""},
	} {
		c, b, ok := ledgerVariant(tt.name)
		if tt.backend == "" {
			if ok {
				t.Errorf("ledgerVariant(%q) = %q, %s, want not a ledger", tt.name, c, b.ID())
			}
			continue
		}
		if !ok || c != tt.customer || b.ID() != tt.backend {
			t.Errorf("ledgerVariant(%q) = %q, %s, %v; want %q, %s", tt.name, c, b.ID(), ok, tt.customer, tt.backend)
		}
	}
}

// The default path is one per customer and backend, whatever the spelling.
func TestLedgerDefaultPathOneSpelling(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	path := func(customer string, cfg client.Config) string {
		t.Helper()
		b, err := client.BackendOf(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p, err := ledgerOwner{customer, b}.defaultPath()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	google := path("C0x", client.Config{})
	for _, p := range []string{
		path("c0x", client.Config{}),
		path("C0X", client.Config{Endpoint: "https://cloudidentity.googleapis.com/"}),
		path("C0x", client.Config{Endpoint: "https://cloudidentity.mtls.googleapis.com/"}),
		path("C0x", client.Config{Endpoint: "https://psc.example:8443/"}),
	} {
		if p != google {
			t.Errorf("%s, want Google's %s", p, google)
		}
	}
	emu := path("C0x", client.Config{Emulator: "127.0.0.1:8086"})
	for _, p := range []string{
		path("c0x", client.Config{Emulator: "localhost:8086"}),
		path("C0x", client.Config{Emulator: "[::1]:8086"}),
		path("C0x", client.Config{Endpoint: "http://localhost:8086/"}),
	} {
		if p != emu {
			t.Errorf("%s, want %s", p, emu)
		}
	}
	if emu == google {
		t.Errorf("a test backend shares Google's ledger %s", google)
	}
}
