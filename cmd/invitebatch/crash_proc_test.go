package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a process writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// goraceEnv keeps the race detector from replacing a run's exit code 0
// with 66 (a non-zero code is never replaced): the tests check the exit
// codes of the contract, and checkRaces reads the race reports from stderr.
const goraceEnv = "GORACE=exitcode=0"

// checkRaces fails the test for a data race report in a run's stderr.
func checkRaces(t *testing.T, stderr string) {
	t.Helper()
	parts := strings.Split(stderr, "WARNING: DATA RACE")
	for _, r := range parts[1:] {
		if end := strings.Index(r, "=================="); end >= 0 {
			r = r[:end]
		}
		t.Errorf("the binary reported a data race:\n%s", r)
	}
}

// runR is w.run with goraceEnv, checking stderr for data races.
func (w *world) runR(args ...string) result {
	w.t.Helper()
	res := w.runEnv([]string{goraceEnv}, args...)
	checkRaces(w.t, res.stderr)
	return res
}

// proc is a run of the binary in the background.
type proc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	err            error // of Wait, once done is closed
}

// start starts the binary as w.run would, without waiting for it.
func (w *world) start(args ...string) *proc {
	w.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(),
		"CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer,
		"XDG_STATE_HOME="+w.path("state"),
		goraceEnv,
	)
	return startCmd(w.t, cmd)
}

// startCmd starts cmd without waiting for it; the test's cleanup kills it
// if it still runs.
func startCmd(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// procResult is how a background run ended.
type procResult struct {
	result
	signaled syscall.Signal // the signal that killed it, 0 if it exited
}

// wait waits for the run to end (killing it after timeout, which fails the
// test).
func (p *proc) wait(timeout time.Duration) procResult {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("the run did not end within %v; stderr:\n%s", timeout, p.stderr.String())
	}
	r := procResult{result: result{stdout: p.stdout.String(), stderr: p.stderr.String()}}
	var ee *exec.ExitError
	switch {
	case errors.As(p.err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signaled = ws.Signal()
		}
	case p.err != nil:
		p.t.Fatalf("wait: %v", p.err)
	}
	return r
}

// kill9 SIGKILLs the run and waits for it.
func (p *proc) kill9() procResult {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	return p.wait(30 * time.Second)
}
