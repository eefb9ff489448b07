package client

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// Backend is the service a configuration reaches, as the ledger and the
// checkpoint record it. Production Google is one backend however it is
// spelled: the default endpoint, any *.googleapis.com host of the API (mTLS
// included) and any other non-loopback --endpoint, which reaches Google
// through a proxy or Private Service Connect. A test backend (an emulator
// named as one, or a loopback --endpoint) is one backend per normalised
// address: localhost, 127.0.0.1 and [::1] are one address.
//
// Backends compare with ==. The zero value is Google.
type Backend struct {
	test bool
	addr string // test backends: normalised host:port, or "builtin"
}

// Google is production Google.
var Google = Backend{}

// BuiltinEmulator is run's --emulator: a fresh in-process emulator each
// run, all of them one backend (their ledger is shared across runs, like a
// test server's).
var BuiltinEmulator = Backend{test: true, addr: "builtin"}

// BackendOf returns the backend cfg reaches (Config.Emulator, else
// Config.Endpoint, else Google).
func BackendOf(cfg Config) (Backend, error) {
	switch {
	case cfg.Emulator != "":
		hp, err := normaliseHostPort(strings.TrimSuffix(strings.TrimPrefix(cfg.Emulator, "http://"), "/"), "80")
		if err != nil {
			return Backend{}, fmt.Errorf("emulator host %q: %w", cfg.Emulator, err)
		}
		return Backend{test: true, addr: hp}, nil
	case cfg.Endpoint != "":
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return Backend{}, fmt.Errorf("endpoint %q is not an http(s) URL", cfg.Endpoint)
		}
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		hp, err := normaliseHostPort(u.Host, port)
		if err != nil {
			return Backend{}, fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err)
		}
		if !IsLoopback(u.Hostname()) {
			// Google, or a proxy or Private Service Connect endpoint in
			// front of it: the same invitations, so the same ledger.
			return Google, nil
		}
		return Backend{test: true, addr: hp}, nil
	}
	return Google, nil
}

// IsTest reports whether b is a test backend (not production Google).
func (b Backend) IsTest() bool { return b.test }

// ID is b's stable name in file headers: "google", "test:builtin" or
// "test:<host>:<port>" (IPv6 hosts in brackets). It holds no spaces.
func (b Backend) ID() string {
	if !b.test {
		return "google"
	}
	return "test:" + b.addr
}

// Key names b in the default ledger's file name ("" for Google), made of
// [a-z0-9._-] only: "emulator-builtin", or "test-127.0.0.1_8086".
func (b Backend) Key() string {
	switch {
	case !b.test:
		return ""
	case b == BuiltinEmulator:
		return "emulator-builtin"
	}
	return "test-" + strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '.', r == '-':
			return r
		}
		return '_'
	}, b.addr)
}

// String describes b for people: "Google" or "the test backend at
// 127.0.0.1:8086".
func (b Backend) String() string {
	switch {
	case !b.test:
		return "Google"
	case b == BuiltinEmulator:
		return "the built-in emulator"
	}
	return "the test backend at " + b.addr
}

// ParseBackend parses an ID.
func ParseBackend(id string) (Backend, error) {
	switch {
	case id == "google":
		return Google, nil
	case id == "test:builtin":
		return BuiltinEmulator, nil
	case strings.HasPrefix(id, "test:"):
		hp, err := normaliseHostPort(strings.TrimPrefix(id, "test:"), "")
		if err != nil || "test:"+hp != id {
			return Backend{}, fmt.Errorf("bad backend %q", id)
		}
		return Backend{test: true, addr: hp}, nil
	}
	return Backend{}, fmt.Errorf("bad backend %q", id)
}

// IsLoopback reports whether host (a name or an IP address, without port
// or brackets) is this machine: localhost, *.localhost, 127.0.0.0/8, ::1.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.Unmap().IsLoopback()
}

// normaliseHostPort returns host:port in one spelling: lower case, no
// trailing dot, IP addresses in their canonical form, the loopback names
// of this machine (localhost, 127.0.0.1, ::1) as 127.0.0.1, and defPort
// when there is no port ("" makes a port required).
func normaliseHostPort(hp, defPort string) (string, error) {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		if defPort == "" {
			return "", err
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), defPort
	}
	if port == "" {
		port = defPort
	}
	if n, ok := parsePort(port); !ok {
		return "", fmt.Errorf("bad port %q", port)
	} else {
		port = fmt.Sprint(n)
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.ContainsAny(host, " \t\r\n/?#@%[]") {
		return "", fmt.Errorf("bad host %q", host)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.Zone() != "" {
			return "", fmt.Errorf("bad host %q (an address with a zone)", host)
		}
		host = ip.String()
		if ip == netip.IPv6Loopback() {
			host = "127.0.0.1"
		}
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0 && n <= 65535
}
