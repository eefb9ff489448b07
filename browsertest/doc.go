// Package browsertest renders the dashboard in a real headless Chromium,
// driven with chromedp: no console error, no network request beyond the
// file itself, every chart drawn, and the funnel equal to the emulator's
// counts.
//
// The test runs only when INVITEBATCH_BROWSER_TEST=1 (CI sets it, after
// `apt-get install -y chromium`); otherwise it skips and says so. With
// the variable set and no browser found it fails, saying how to install
// one. CHROME_PATH names a browser binary explicitly.
//
//	INVITEBATCH_BROWSER_TEST=1 go test ./browsertest/
//	INVITEBATCH_BROWSER_TEST=1 go test ./browsertest/ -update   # also rewrite docs/dashboard.png
package browsertest
