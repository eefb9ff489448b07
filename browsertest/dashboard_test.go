package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var update = flag.Bool("update", false, "write the 1280x800 screenshot to docs/dashboard.png")

// enableVar turns the test on; CI sets it.
const enableVar = "INVITEBATCH_BROWSER_TEST"

// browser returns the path of a Chromium to drive: $CHROME_PATH, else the
// Debian packages' names on $PATH.
func browser(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME_PATH"); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			t.Fatalf("CHROME_PATH=%s: %v; install Chromium with\n\tsudo apt-get install -y chromium\nor point CHROME_PATH at a Chrome or Chromium binary", p, err)
		}
		return p
	}
	for _, name := range []string{"chromium", "chromium-headless-shell", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatalf("%s is set but no Chromium was found on $PATH: install one with\n\tsudo apt-get install -y chromium\n(or chromium-headless-shell), or set CHROME_PATH to a Chrome or Chromium binary", enableVar)
	return ""
}

// build builds invitebatch into dir.
func build(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "invitebatch")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/invitebatch/invitebatch/cmd/invitebatch")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startEmulator starts `invitebatch emulator` with the demo's seed and a
// history whose ledger it writes, and returns its host:port.
func startEmulator(t *testing.T, bin, ledger string) string {
	t.Helper()
	cmd := exec.Command(bin, "emulator", "--addr", "127.0.0.1:0", "--customer", "C0demo",
		"--seed", "../examples/emulator-seed.csv", "--history", "2000", "--history-ledger", ledger)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`on http://([0-9.:]+)/`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("the emulator did not say where it listens")
	}
	return ""
}

func run(t *testing.T, dir, bin string, env []string, wantCode int, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantCode {
		t.Fatalf("invitebatch %v: exit %d, want %d\n%s", args, code, wantCode, out)
	}
}

// TestDashboardInBrowser renders the demo's dashboard (the example seed, a
// history of 2,000 invitations, a run of examples/users.csv) in Chromium.
func TestDashboardInBrowser(t *testing.T) {
	if os.Getenv(enableVar) == "" {
		t.Skipf("browser test skipped: set %s=1 to run it (needs Chromium: apt-get install -y chromium)", enableVar)
	}
	exe := browser(t)
	dir := t.TempDir()
	bin := build(t, dir)
	ledger := filepath.Join(dir, "demo.ledger")
	addr := startEmulator(t, bin, ledger)
	users, err := os.ReadFile("../examples/users.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.csv"), users, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"CLOUDIDENTITY_EMULATOR_HOST=" + addr, "INVITEBATCH_CUSTOMER=C0demo", "XDG_STATE_HOME=" + filepath.Join(dir, "state")}
	run(t, dir, bin, env, 1, "run", "--ledger", ledger, "--progress", "never", "users.csv") // 1: an invalid row, on purpose
	run(t, dir, bin, env, 0, "dashboard", "--ledger", ledger, "--group-by", "department", "--output", "migration.html", "users.csv")
	page := filepath.Join(dir, "migration.html")

	var states map[string]int
	resp, err := http.Get("http://" + addr + "/emulator/states")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&states)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(filepath.Join(dir, "chromium")),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var requests []string
	err = chromedp.Listen(ctx, func(ev any) {
		if r, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, r.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("chromium (%s): %v", exe, err)
	}
	cctx, stopConsole := context.WithCancel(ctx)
	console := chromedp.Console(cctx) // subscribed now, read at the end

	type chartInfo struct {
		Label     string  `json:"label"`
		Width     float64 `json:"width"`
		Height    float64 `json:"height"`
		Shapes    int     `json:"shapes"`
		Captioned bool    `json:"captioned"`
	}
	url := "file://" + page
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#sources"))); err != nil {
		t.Fatalf("chromium (%s): %v", exe, err)
	}
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[[]chartInfo](`[...document.querySelectorAll("svg.chart")].map(s => {
		const r = s.getBoundingClientRect();
		const id = s.getAttribute("aria-labelledby");
		const cap = id && document.getElementById(id);
		return {label: id, width: r.width, height: r.height,
			shapes: s.querySelectorAll("path, rect, line, polyline, polygon, circle").length,
			captioned: !!cap && cap.textContent.trim().length > 0};
	})`))
	if err != nil {
		t.Fatal(err)
	}
	funnel, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("tr[data-stage]")].map(r =>
		[r.dataset.stage, r.querySelector("td.count").textContent.trim()]))`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	// Let late messages (a blocked request, a CSP violation) arrive, then
	// read them all.
	time.AfterFunc(500*time.Millisecond, stopConsole)
	var problems []string
	for m, err := range console {
		if err != nil {
			break
		}
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
			problems = append(problems, m.String())
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("the page logged: %s", p)
	}
	for _, r := range requests {
		if r != url {
			t.Errorf("the page made a request beyond the file itself: %s", r)
		}
	}
	wantCharts := []string{"cap-funnel", "cap-timeline", "cap-tta", "cap-reminders", "cap-pending", "cap-domain", "cap-group"}
	if len(charts) != len(wantCharts) {
		t.Errorf("%d charts, want %d: %+v", len(charts), len(wantCharts), charts)
	}
	for i, c := range charts {
		if i < len(wantCharts) && c.Label != wantCharts[i] {
			t.Errorf("chart %d is labelled by %q, want %q", i, c.Label, wantCharts[i])
		}
		if c.Width < 100 || c.Height < 50 || c.Shapes < 3 || !c.Captioned {
			t.Errorf("chart %s is empty or uncaptioned: %+v", c.Label, c)
		}
	}
	count := func(stage string) int {
		n, err := strconv.Atoi(funnel[stage])
		if err != nil {
			t.Errorf("funnel %s = %q: not a number", stage, funnel[stage])
		}
		return n
	}
	for stage, want := range map[string]int{
		"accepted":        states["ACCEPTED"],
		"declined":        states["DECLINED"],
		"pending":         states["INVITED"],
		"not_yet_invited": states["NOT_YET_SENT"] - count("cancelled"),
	} {
		if got := count(stage); got != want || want == 0 {
			t.Errorf("the page's funnel %s = %d, the emulator's = %d", stage, got, want)
		}
	}
	listed := states["NOT_YET_SENT"] + states["INVITED"] + states["ACCEPTED"] + states["DECLINED"]
	if got := count("found"); got != listed+count("unconfirmed") {
		t.Errorf("found = %d, want the emulator's %d listed + %d unconfirmed", got, listed, count("unconfirmed"))
	}
	if *update {
		if err := os.WriteFile("../docs/dashboard.png", shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/dashboard.png (%d bytes)", len(shot))
	}
}
