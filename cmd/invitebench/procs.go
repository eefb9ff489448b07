package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/invitebatch/invitebatch/client/emulator"
	"github.com/invitebatch/invitebatch/reports"
)

// emu is an `invitebatch emulator` child process: the emulator's CPU and
// memory never count as the tool's.
type emu struct {
	cmd  *exec.Cmd
	addr string // host:port
	done chan struct{}
}

var servingRE = regexp.MustCompile(`serving customer \S+ on http://([^/\s]+)/`)

// startEmulator starts the emulator on a free loopback port and waits
// until it serves.
func startEmulator(bin string, args ...string) (*emu, error) {
	cmd := exec.Command(bin, append([]string{"emulator", "--addr", "127.0.0.1:0", "--customer", customer}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start emulator: %w", err)
	}
	e := &emu{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { _ = cmd.Wait(); close(e.done) }()
	select {
	case e.addr = <-found:
		return e, nil
	case <-e.done:
		return nil, errors.New("emulator exited before serving")
	case <-time.After(10 * time.Second):
		e.stop()
		return nil, errors.New("emulator did not start within 10s")
	}
}

func (e *emu) stop() {
	_ = e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

func (e *emu) url(p string) string { return "http://" + e.addr + p }

func (e *emu) post(path string, body io.Reader, out any) error {
	resp, err := http.Post(e.url(path), "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("emulator %s: %s: %s", path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// setQuota enforces s requests/s (0: unlimited) with a burst of one
// second's worth, as `invitebatch emulator --quota` does.
func (e *emu) setQuota(s float64) error {
	b, _ := json.Marshal(map[string]any{"quota_qps": s, "quota_burst": max(1, int(s))})
	return e.post("/emulator/config", bytes.NewReader(b), nil)
}

func (e *emu) seed(csv []byte) error {
	return e.post("/emulator/seed", bytes.NewReader(csv), nil)
}

func (e *emu) stats() (emulator.Stats, error) {
	var s emulator.Stats
	resp, err := http.Get(e.url("/emulator/stats"))
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// toolRun is what one run of the tool cost and said.
type toolRun struct {
	wall      time.Duration
	user, sys time.Duration
	maxRSS    int64 // bytes
	exit      int
	sum       reports.Summary
	stderr    string // the last lines, for errors
}

func (t *toolRun) cpu() time.Duration { return t.user + t.sys }

// runTool runs `invitebatch run` against e as a child process and reads
// its rusage (its own process only) and its JSON summary.
func runTool(bin string, e *emu, dir string, extraEnv []string, args ...string) (*toolRun, error) {
	return runToolCtx(context.Background(), bin, e, dir, extraEnv, args...)
}

// runToolCtx is runTool that interrupts the tool (SIGINT, as Ctrl-C: rows
// in flight finish, exit 3) when ctx ends.
func runToolCtx(ctx context.Context, bin string, e *emu, dir string, extraEnv []string, args ...string) (*toolRun, error) {
	sumPath := dir + "/summary.json"
	_ = os.Remove(sumPath)
	args = append([]string{"run", "--customer", customer, "--summary", sumPath}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	cmd.Env = append(os.Environ(), "CLOUDIDENTITY_EMULATOR_HOST="+e.addr)
	cmd.Env = append(cmd.Env, extraEnv...)
	// The run logs every send: keep the log in a file, as cron would.
	logf, err := os.Create(dir + "/tool.log")
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	tail := &tailWriter{max: 4096}
	cmd.Stderr = io.MultiWriter(logf, tail)
	start := time.Now()
	err = cmd.Run()
	t := &toolRun{wall: time.Since(start), stderr: tail.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		t.exit = ee.ExitCode()
	case err != nil:
		return nil, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		t.user = time.Duration(ru.Utime.Nano())
		t.sys = time.Duration(ru.Stime.Nano())
		t.maxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	b, err := os.ReadFile(sumPath)
	if err != nil {
		return t, fmt.Errorf("run exited %d without a summary: %s", t.exit, t.stderr)
	}
	if err := json.Unmarshal(b, &t.sum); err != nil {
		return t, err
	}
	return t, nil
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.TrimSpace(string(w.b))
}
