package main

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/invitebatch/invitebatch/batch"
)

// progress is a progress bar on stderr fed by the run's outcomes: rows
// done of total, rate, ETA and counts by outcome. It is a batch.Sink; a nil
// *progress does nothing.
type progress struct {
	bar    *progressbar.ProgressBar
	counts map[batch.Outcome]int
	out    *termOut
}

// newProgress returns the bar, or nil when there is to be none: off a
// terminal (cron, pipes, CI), with JSON logs (a bar would corrupt them),
// or with --progress never.
func (o *runOptions) newProgress(e env, total int) *progress {
	switch {
	case o.progress == "never":
		return nil
	case o.progress == "auto" && (!e.terminal || o.logFormat == "json"):
		return nil
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(e.stderr),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionClearOnFinish(),
	)
	p := &progress{bar: bar, counts: make(map[batch.Outcome]int), out: e.logOut}
	if p.out != nil {
		p.out.setBar(bar)
	}
	return p
}

// Record counts one row.
func (p *progress) Record(r batch.Result) error {
	p.counts[r.Outcome]++
	words := make([]string, 0, len(p.counts))
	for o, n := range p.counts {
		words = append(words, fmt.Sprintf("%s=%d", o, n))
	}
	sort.Strings(words)
	p.bar.Describe(strings.Join(words, " "))
	_ = p.bar.Add(1) // a bar that cannot draw must not stop the run
	return nil
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	_ = p.bar.Finish()
	if p.out != nil {
		p.out.setBar(nil)
	}
}

// termOut is stderr as the logger sees it: while a progress bar is shown,
// each log line first clears the bar, so lines and bar never mix (the bar
// redraws itself at its next update).
type termOut struct {
	mu  sync.Mutex
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (t *termOut) setBar(b *progressbar.ProgressBar) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bar = b
}

func (t *termOut) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Clear()
	}
	return t.w.Write(p)
}

// confirm asks on a terminal before a run that may send more than
// --confirm-above emails, unless --yes or a dry run.
func (o *runOptions) confirm(e env, rows int, endpoint string) error {
	if o.yes || o.dryRun || o.cancel || rows <= o.confirmAbove || !e.terminal || !e.stdinTerminal || o.file == "-" {
		return nil
	}
	fmt.Fprintf(e.stderr, "About to invite up to %d addresses of customer %s through %s.\nType yes to go on: ", rows, o.customer, endpoint)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(line)) != "yes" {
		return usagef("not confirmed; nothing was sent (use --yes to skip the question)")
	}
	return nil
}
