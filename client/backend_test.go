package client

import "testing"

func TestBackendOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string // ID; "" for an error
	}{
		{"default", Config{}, "google"},
		{"Google spelled out", Config{Endpoint: "https://cloudidentity.googleapis.com/"}, "google"},
		{"Google without slash", Config{Endpoint: "https://cloudidentity.googleapis.com"}, "google"},
		{"Google with port", Config{Endpoint: "https://cloudidentity.googleapis.com:443/"}, "google"},
		{"Google in capitals", Config{Endpoint: "https://CloudIdentity.GoogleAPIs.com./"}, "google"},
		{"mTLS", Config{Endpoint: "https://cloudidentity.mtls.googleapis.com/"}, "google"},
		{"proxy", Config{Endpoint: "https://proxy.corp.example:8443/cloudidentity/"}, "google"},
		{"private service connect", Config{Endpoint: "https://cloudidentity-psc.p.googleapis.com/"}, "google"},
		{"loopback endpoint", Config{Endpoint: "http://127.0.0.1:8086/"}, "test:127.0.0.1:8086"},
		{"localhost endpoint", Config{Endpoint: "http://localhost:8086"}, "test:127.0.0.1:8086"},
		{"LOCALHOST. endpoint", Config{Endpoint: "http://LOCALHOST.:8086/x/"}, "test:127.0.0.1:8086"},
		{"ipv6 loopback endpoint", Config{Endpoint: "https://[::1]:8086/"}, "test:127.0.0.1:8086"},
		{"mapped loopback endpoint", Config{Endpoint: "https://[::ffff:127.0.0.1]:8086/"}, "test:127.0.0.1:8086"},
		{"loopback https default port", Config{Endpoint: "https://localhost/"}, "test:127.0.0.1:443"},
		{"loopback http default port", Config{Endpoint: "http://localhost/"}, "test:127.0.0.1:80"},
		{"other loopback address", Config{Endpoint: "http://127.0.0.2:8086/"}, "test:127.0.0.2:8086"},
		{"emulator", Config{Emulator: "127.0.0.1:8086"}, "test:127.0.0.1:8086"},
		{"emulator localhost", Config{Emulator: "localhost:8086"}, "test:127.0.0.1:8086"},
		{"emulator ::1", Config{Emulator: "[::1]:8086"}, "test:127.0.0.1:8086"},
		{"emulator with scheme", Config{Emulator: "http://localhost:08086/"}, "test:127.0.0.1:8086"},
		{"emulator elsewhere", Config{Emulator: "Emu.Test:9000"}, "test:emu.test:9000"},
		{"emulator without port", Config{Emulator: "localhost"}, "test:127.0.0.1:80"},
		{"bad endpoint", Config{Endpoint: "ftp://x/"}, ""},
		{"bad port", Config{Emulator: "localhost:99999"}, ""},
		{"zone", Config{Emulator: "[fe80::1%eth0]:80"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := BackendOf(tt.cfg)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("BackendOf = %v, want an error", b.ID())
				}
				return
			}
			if err != nil || b.ID() != tt.want {
				t.Fatalf("BackendOf = %q, %v, want %q", b.ID(), err, tt.want)
			}
			if p, err := ParseBackend(b.ID()); err != nil || p != b {
				t.Errorf("ParseBackend(%q) = %v, %v", b.ID(), p, err)
			}
			if (b == Google) == b.IsTest() || (b == Google) != (b.Key() == "") {
				t.Errorf("%s: IsTest %v, Key %q", b.ID(), b.IsTest(), b.Key())
			}
		})
	}
}

func TestBackendKeyAndParse(t *testing.T) {
	if k := BuiltinEmulator.Key(); k != "emulator-builtin" {
		t.Errorf("builtin key %q", k)
	}
	b, _ := BackendOf(Config{Emulator: "[::1]:8086"})
	if k := b.Key(); k != "test-127.0.0.1_8086" {
		t.Errorf("key %q", k)
	}
	for _, bad := range []string{"", "Google", "test:", "test:localhost:80", "test:127.0.0.1", "test:127.0.0.1:080", "x"} {
		if b, err := ParseBackend(bad); err == nil {
			t.Errorf("ParseBackend(%q) = %v, want an error", bad, b.ID())
		}
	}
}
