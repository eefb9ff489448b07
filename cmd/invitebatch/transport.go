package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/invitebatch/invitebatch/client"
)

// Where requests may go in the clear (CONTRACT.md "Environment"):
// credentials only ever travel over HTTPS, except to a loopback --endpoint
// (tests), which is announced loudly; CLOUDIDENTITY_EMULATOR_HOST, plain
// HTTP with the addresses (personal data) in every request, must be a
// loopback address unless --allow-remote-emulator says otherwise. Both are
// checked before any token is fetched or any request made.

// registerTransport registers --allow-remote-emulator and
// --request-timeout.
func (a *apiFlags) registerTransport(fs *flag.FlagSet) {
	fs.BoolVar(&a.allowRemoteEmulator, "allow-remote-emulator", false,
		"allow CLOUDIDENTITY_EMULATOR_HOST to name a host that is not loopback (the addresses travel in plain HTTP)")
	fs.DurationVar(&a.requestTimeout, "request-timeout", client.DefaultReadTimeout,
		"deadline of each attempt of a read; a send waits twice as long for its reply before it counts as ambiguous")
}

// checkTransport refuses an endpoint that would carry credentials or
// personal data in the clear, and warns loudly about a loopback http://
// endpoint.
func (a *apiFlags) checkTransport(cmd string, e env) error {
	if a.requestTimeout <= 0 {
		return usagef("%s: --request-timeout must be > 0", cmd)
	}
	if a.emulatorHost != "" {
		host := strings.TrimSuffix(strings.TrimPrefix(a.emulatorHost, "http://"), "/")
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			return usagef("%s: CLOUDIDENTITY_EMULATOR_HOST=%q: want host:port", cmd, a.emulatorHost)
		}
		if !loopback(h) && !a.allowRemoteEmulator {
			return usagef("%s: CLOUDIDENTITY_EMULATOR_HOST=%s is not a loopback address: requests to an emulator are plain HTTP "+
				"and carry the addresses (personal data); pass --allow-remote-emulator if that host is meant", cmd, a.emulatorHost)
		}
	}
	if a.endpoint == "" {
		return nil
	}
	u, err := url.Parse(a.endpoint)
	if err != nil || u.Host == "" {
		return usagef("%s: --endpoint %q is not an http(s) URL", cmd, a.endpoint)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme != "http":
		return usagef("%s: --endpoint %q is not an http(s) URL", cmd, a.endpoint)
	case !loopback(u.Hostname()):
		return usagef("%s: --endpoint %s is plain http:// to a host that is not loopback: the bearer token (which can send and "+
			"cancel invitations for the whole customer) would travel in the clear; use https://", cmd, a.endpoint)
	}
	fmt.Fprintf(e.stderr, "*** PLAIN HTTP: credentials go unencrypted to %s (allowed for a loopback test endpoint only) ***\n", a.endpoint)
	return nil
}

// loopback reports whether host (a name or an IP, without port or
// brackets) is this machine: localhost or a loopback IP.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
