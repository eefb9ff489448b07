package main

import (
	"net"
	"net/url"
	"time"

	"github.com/invitebatch/invitebatch/client"
)

// The default settle windows (--settle-window): after a send failed
// ambiguously, how long before its invitation is read back. Google's reads
// lag its writes by an undocumented time, so a minute at least; a test
// backend reads its own writes at once.
const (
	googleSettleWindow = 60 * time.Second
	testSettleWindow   = time.Second
)

// settleWindow is --settle-window, or its default for the backend of cfg.
func settleWindow(flag time.Duration, cfg client.Config) time.Duration {
	switch {
	case flag > 0:
		return flag
	case cfg.Emulator != "" || loopbackEndpoint(cfg.Endpoint):
		return testSettleWindow
	}
	return googleSettleWindow
}

// loopbackEndpoint reports whether an --endpoint names a loopback host.
func loopbackEndpoint(endpoint string) bool {
	if endpoint == "" {
		return false
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
