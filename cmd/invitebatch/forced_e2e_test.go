package main

import (
	"encoding/csv"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sendHolder serves the API through next, except the first n sends: it
// accepts them and never answers, until the client gives up or the test
// ends. The odd-numbered ones are performed by next first, the even ones
// never reach it, so that the client cannot know whether they went out.
type sendHolder struct {
	next    http.Handler
	n       int
	release chan struct{}

	mu     sync.Mutex
	held   int
	emails []string // of the held sends
}

func (h *sendHolder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, ":send") {
		h.next.ServeHTTP(w, r)
		return
	}
	h.mu.Lock()
	hold := h.held < h.n
	if hold {
		h.held++
		email := strings.TrimSuffix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], ":send")
		h.emails = append(h.emails, email)
	}
	k := h.held
	h.mu.Unlock()
	if !hold {
		h.next.ServeHTTP(w, r)
		return
	}
	if k%2 == 1 {
		h.next.ServeHTTP(httptest.NewRecorder(), r) // performed; the reply is lost
	}
	select {
	case <-r.Context().Done():
	case <-h.release:
	}
}

func (h *sendHolder) heldSends() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

func (h *sendHolder) heldEmails() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.emails...)
}

// ledgerLast returns the last status the ledger at path records for each
// address (ledger show).
func ledgerLast(t *testing.T, w *world, path string) map[string]string {
	t.Helper()
	show := w.run("ledger", "show", "--ledger", path)
	recs, err := csv.NewReader(strings.NewReader(show.stdout)).ReadAll()
	if show.code != 0 || err != nil || len(recs) < 1 {
		t.Fatalf("ledger show: exit %d, %v\n%s%s", show.code, err, show.stdout, show.stderr)
	}
	last := map[string]string{}
	for _, r := range recs[1:] {
		last[r[1]] = r[2]
	}
	return last
}

// forcedExitMessage is what the process says when the second Ctrl-C's
// backstop ends it (app.go).
const forcedExitMessage = "forced exit; the same command resumes"

// A second Ctrl-C exits within 2 s even when cancelling the run does not
// end it. Here the access token expires mid-run and its renewal hangs: the
// token endpoint accepts the connection and never answers. The reads that
// need the token wait for it inside x/oauth2's Transport, whose
// TokenSource.Token takes no context, so they ignore the cancelled run and
// wait out the 30 s token-fetch timeout; meanwhile two sends hang in flight
// (one delivered, one not), their intents in the ledger. The process must
// exit 3 with its forced-exit message within about 2 s of the second
// signal, and the rerun settles both intents: one email each, and no row is
// ever reported sent that was not. (Rows 3 on are already INVITED: after
// the two sends every request is a get, so that the hung fetch is always a
// read's, which no context reaches, never a send's wait for its token
// before its intent, which a stop ends.)
func TestE2ESecondStopExitsDuringHungTokenFetch(t *testing.T) {
	holder := &sendHolder{n: 2, release: make(chan struct{})}
	w := newAuthWorldVia(t, func(next http.Handler) http.Handler { holder.next = next; return holder })
	t.Cleanup(func() { close(holder.release) }) // before the server's Close, which waits for them
	// x/oauth2 renews a token 10 s before it expires: an 11 s token is
	// renewed after about 1 s. The first token request is answered, the
	// renewal hangs.
	w.oauth.expiresIn = 11
	w.oauth.hangFromRequest(2)
	emails := w.writeRows(40)
	for _, e := range emails[2:] {
		w.emu.SetInvitation(e, "INVITED", 1, time.Now().Add(-time.Hour))
	}
	args := []string{"--credentials", "key.json", "--impersonate-user", adminEmail, "--lookup", "get",
		"--workers", "4", "--qps", "20", "--request-timeout", "1h", "--ledger", "ledger", "users.csv"}
	p := startCmd(t, w.authCmd([]string{goraceEnv}, args...))

	deadline := time.Now().Add(60 * time.Second)
	for holder.heldSends() < holder.n || w.oauth.hungRequests() < 1 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("got %d held sends and %d hung token requests, want %d and 1; stderr:\n%s",
				holder.heldSends(), w.oauth.hungRequests(), holder.n, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(os.Interrupt) // the held sends (1 h) and the token fetch (30 s) go on
	time.Sleep(200 * time.Millisecond)
	if p.exited() {
		t.Fatalf("the first Ctrl-C ended the run with sends in flight: the test proves nothing\n%s", p.stderr.String())
	}
	p.signal(os.Interrupt)
	second := time.Now()
	res := p.wait(60 * time.Second)
	took := time.Since(second)
	t.Logf("exited %v after the second Ctrl-C (%d token requests hung)", took.Round(time.Millisecond), w.oauth.hungRequests())
	checkRaces(t, res.stderr)
	if res.code != exitStopped || !strings.Contains(res.stderr, forcedExitMessage) {
		t.Errorf("got exit %d, want %d with %q\n%s", res.code, exitStopped, forcedExitMessage, res.stderr)
	}
	if took > 2*time.Second {
		t.Errorf("exited %v after the second Ctrl-C, want within 2 s", took.Round(time.Millisecond))
	}
	// The held sends are left as intents, one of them delivered.
	last := ledgerLast(t, w.world, "ledger")
	for _, e := range holder.heldEmails() {
		if last[e] != "send_intent" {
			t.Errorf("%s: ledger ends with %q, want send_intent (a send in flight)", e, last[e])
		}
	}
	// Whatever the stopped run recorded as sent went out.
	if cp := w.checkpoint("users.checkpoint"); cp != nil {
		for row := 1; row <= cp.Rows() && row <= len(emails); row++ {
			if oc, _ := cp.Outcome(row); oc.String() == "sent" && w.emu.Sends(emails[row-1]) != 1 {
				t.Errorf("row %d (%s): recorded sent, %d emails", row, emails[row-1], w.emu.Sends(emails[row-1]))
			}
		}
	}

	w.oauth.hangFromRequest(0)
	if res := w.runAuth([]string{goraceEnv}, args...); res.code != 0 {
		t.Fatalf("rerun: got exit %d, want 0\n%s", res.code, res.stderr)
	} else {
		checkRaces(t, res.stderr)
	}
	got := checkReport(t, w.report("users.report.csv"), len(emails))
	for i, e := range emails {
		want, mails := "sent", 1
		if i >= 2 {
			want, mails = "already_invited", 0
		}
		if got[e] != want || w.emu.Sends(e) != mails {
			t.Errorf("%s: got %q and %d emails, want %s and %d", e, got[e], w.emu.Sends(e), want, mails)
		}
	}
	if d := w.emu.Stats().DuplicateSends; d != 0 {
		t.Errorf("got %d duplicate sends, want 0", d)
	}
}

// A first Ctrl-C while the access token's renewal hangs ends the run within
// the run's longest request bound (--request-timeout 2s: a send gets 4 s
// for its reply's headers, 8 s in all), not the 30 s token-fetch timeout.
// Here the API refuses the token (401) and the renewal the send's retry
// needs goes to a token endpoint that accepts the connection and never
// answers: the OAuth token endpoint of a service-account key, whose
// requests get the reply-header bound (4 s), or the GCE metadata server,
// whose client brings its own bounds (5 s an attempt, retried: ~30 s). The
// send had no intent yet: nothing is left in flight, and the rerun sends
// every row once. (With the token client's transport unbounded the key's
// run ended 30 s after Ctrl-C; the metadata server's did before the fetch
// was bounded like the requests.)
func TestE2EFirstStopDuringHungTokenFetch(t *testing.T) {
	for _, creds := range []string{"key", "metadata"} {
		t.Run(creds, func(t *testing.T) { testFirstStopDuringHungTokenFetch(t, creds) })
	}
}

func testFirstStopDuringHungTokenFetch(t *testing.T, creds string) {
	w := newAuthWorld(t)
	emails := w.writeRows(20)
	args := []string{"--credentials", "key.json", "--impersonate-user", adminEmail}
	var env []string
	if creds == "metadata" {
		args = nil
		env = []string{"GCE_METADATA_HOST=" + strings.TrimPrefix(w.oauth.serveMetadata().URL, "http://")}
	}
	env = append(env, goraceEnv)
	args = append(args, "--lookup", "list", "--workers", "1", "--qps", "50", "--request-timeout", "2s",
		"--ledger", "ledger", "--summary", "sum.json", "users.csv")
	// Request 6 (the list, then sends) is the first the API refuses; the
	// renewal its retry needs hangs.
	w.api.onRequest(6, func() { w.oauth.hangFromRequest(1); w.oauth.refuseAll() })
	p := startCmd(t, w.authCmd(env, args...))
	deadline := time.Now().Add(60 * time.Second)
	for w.oauth.hungRequests() < 1 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("no token request hung; stderr:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.signal(os.Interrupt)
	first := time.Now()
	res := p.wait(60 * time.Second)
	took := time.Since(first)
	t.Logf("exited %v after Ctrl-C", took.Round(time.Millisecond))
	checkRaces(t, res.stderr)
	if res.code != exitStopped || strings.Contains(res.stderr, forcedExitMessage) {
		t.Errorf("got exit %d, want %d, and no forced exit\n%s", res.code, exitStopped, res.stderr)
	}
	if took > 8*time.Second {
		t.Errorf("exited %v after Ctrl-C, want within the longest request bound, 8 s", took.Round(time.Millisecond))
	}
	if s := w.summary("sum.json"); s.Stopped != "signal" {
		t.Errorf("summary: stopped %q, want signal", s.Stopped)
	}
	for e, st := range ledgerLast(t, w.world, "ledger") {
		if st == "send_intent" {
			t.Errorf("%s: ledger ends with send_intent; no send was in flight", e)
		}
	}

	w.oauth.hangFromRequest(0)
	if res := w.runAuth(env, args...); res.code != 0 {
		t.Fatalf("rerun: got exit %d, want 0\n%s", res.code, res.stderr)
	} else {
		checkRaces(t, res.stderr)
	}
	checkReport(t, w.report("users.report.csv"), len(emails))
	w.checkAllSent(emails)
}

// fullPipe returns a pipe whose buffer is full: a write to w blocks until
// someone reads r, as when stderr goes to a pager or a log shipper that
// stopped reading.
func fullPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fds[1], true); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(fds[1], chunk); err != nil {
			if err != syscall.EAGAIN {
				t.Fatal(err)
			}
			break
		}
	}
	// The run's stderr shares the pipe's file: it must block, not fail.
	if err := syscall.SetNonblock(fds[1], false); err != nil {
		t.Fatal(err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "pipe-r"), os.NewFile(uintptr(fds[1]), "pipe-w")
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// A second Ctrl-C exits within 2 s even when stderr blocks (a pipe nobody
// reads): the signal handler used to print "stopping" before acting on
// the signal, so a blocked stderr kept both signals from doing anything
// and the run, stuck on its own first line, held the ledger lock until
// killed. It exits 3 (nothing can be printed), and the rerun sends every
// row once.
func TestE2ESecondStopExitsWithStderrBlocked(t *testing.T) {
	w := newWorld(t)
	emails := usersCSV(w, 20)
	_, stderr := fullPipe(t)
	cmd := exec.Command(binary, "run", "--qps", "50", "users.csv")
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(),
		"CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer,
		"XDG_STATE_HOME="+w.path("state"),
		goraceEnv,
	)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// The run has taken its lock and written its checkpoint's header
	// before it prints anything; then it blocks on stderr.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(w.path("users.checkpoint")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run wrote no checkpoint")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	second := time.Now()
	select {
	case err := <-done:
		took := time.Since(second)
		t.Logf("exited %v after the second Ctrl-C: %v", took.Round(time.Millisecond), err)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitStopped {
			t.Errorf("got %v, want exit %d", err, exitStopped)
		}
		if took > 2*time.Second {
			t.Errorf("exited %v after the second Ctrl-C, want within 2 s", took.Round(time.Millisecond))
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the run did not exit within 20 s of the second Ctrl-C")
	}

	if res := w.runR("run", "--qps", "500", "users.csv"); res.code != 0 {
		t.Fatalf("rerun: exit %d\n%s", res.code, res.stderr)
	}
	checkAllSentOnce(t, w, emails, "")
}
