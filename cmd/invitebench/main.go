// Command invitebench measures invitebatch against the targets of its
// performance issue: quota use, adaptation to a server-side quota, API
// calls per row, scale (memory, throughput, CPU per row) and resume time.
//
// It builds the tool (or takes -bin), starts `invitebatch emulator` as a
// child process, generates inputs and ledgers, runs the real binary as
// another child and reads that child's own rusage, so the emulator's CPU
// and memory never count as the tool's. Each figure is printed on one line
// with its target:
//
//	quota-use  latency=100ms  qps=100  achieved=0.98xQ  max-window=Q+3  target>=0.97xQ,<=Q+burst  PASS
//
// Figures are ratios measured within one run; absolute timings depend on
// the machine. -quick runs every scenario small, in under two minutes.
// See README-performance.md for the full run and its numbers.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const customer = "C0bench"

type options struct {
	bin        string
	dir        string
	quick      bool
	scenarios  map[string]bool
	duration   time.Duration // per rate run
	quotaQPS   float64
	adaptS     float64
	adaptLat   time.Duration
	scaleRows  int
	ledgerRows int
	profileDir string
	keep       bool
}

// fails counts figures that missed their target.
var fails int

func main() {
	var o options
	scen := flag.String("scenarios", "quota,adapt,quota-cost,windows,sharp-bucket,calls,scale,resume,dashboard", "comma-separated scenarios to run: quota, adapt, quota-cost, windows, sharp-bucket, calls, scale, resume (resume needs scale), dashboard")
	flag.StringVar(&o.bin, "bin", "", "invitebatch binary (default: go build ./cmd/invitebatch into the work directory)")
	flag.StringVar(&o.dir, "dir", "", "work directory (default: a new temporary directory)")
	flag.BoolVar(&o.quick, "quick", false, "small sizes and short runs (< 2 minutes in all), for a smoke test")
	flag.DurationVar(&o.duration, "duration", 0, "length of each rate run (default 30s, -quick 8s)")
	flag.Float64Var(&o.quotaQPS, "qps", 0, "--qps of the quota-use runs (default 200 at 0 ms and 100 at 100 ms)")
	flag.Float64Var(&o.adaptS, "quota", 50, "server-side quota S of the adapt runs (the tool gets --qps 2S)")
	flag.DurationVar(&o.adaptLat, "adapt-latency", 20*time.Millisecond, "emulator latency of the adapt runs")
	flag.IntVar(&o.scaleRows, "rows", 0, "input rows of the scale run (default 1000000, -quick 20000)")
	flag.IntVar(&o.ledgerRows, "ledger-rows", -1, "earlier sends in the scale run's ledger (default: as many as -rows)")
	flag.StringVar(&o.profileDir, "profile", "", "write CPU and heap profiles of the scale run's tool process to this directory")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	o.scenarios = map[string]bool{}
	for _, s := range strings.Split(*scen, ",") {
		o.scenarios[strings.TrimSpace(s)] = true
	}
	if o.duration == 0 {
		o.duration = 30 * time.Second
		if o.quick {
			o.duration = 8 * time.Second
		}
	}
	if o.scaleRows == 0 {
		o.scaleRows = 1_000_000
		if o.quick {
			o.scaleRows = 20_000
		}
	}
	if o.ledgerRows < 0 {
		o.ledgerRows = o.scaleRows
	}
	if err := run(&o); err != nil {
		fmt.Fprintln(os.Stderr, "invitebench:", err)
		os.Exit(2)
	}
	if fails > 0 {
		fmt.Printf("%d figure(s) missed their target\n", fails)
		os.Exit(1)
	}
}

func run(o *options) error {
	if o.dir == "" {
		d, err := os.MkdirTemp("", "invitebench-")
		if err != nil {
			return err
		}
		o.dir = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	if o.bin == "" {
		o.bin = filepath.Join(o.dir, "invitebatch")
		cmd := exec.Command("go", "build", "-o", o.bin, "github.com/invitebatch/invitebatch/cmd/invitebatch")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	fmt.Printf("# invitebench  quick=%v  duration=%s  workdir=%s\n", o.quick, o.duration, o.dir)
	hostReference(o.dir, "start")
	defer hostReference(o.dir, "end")
	steps := []struct {
		name string
		fn   func(*options) error
	}{
		{"quota", quotaUse},
		{"adapt", adapt},
		{"quota-cost", quotaCost},
		{"windows", windows},
		{"sharp-bucket", sharpBucket},
		{"calls", callsPerRow},
		{"scale", scale},
		{"dashboard", dashboard},
	}
	for _, s := range steps {
		if !o.scenarios[s.name] && !(s.name == "scale" && o.scenarios["resume"]) {
			continue
		}
		if err := s.fn(o); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// report prints one figure: its name, its measurements, its target and
// PASS or FAIL.
func report(name string, ok bool, fields ...string) {
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
		fails++
	}
	fmt.Printf("%-12s  %s  %s\n", name, strings.Join(fields, "  "), verdict)
}

// fullSize returns report, or with -quick a reporter that prints the
// figure as info: a target set for a million rows (the rate, the CPU and
// the memory per row of the scale run) says nothing about a run of
// 20,000 rows, whose start and end weigh as much as its rows.
func fullSize(o *options) func(name string, ok bool, fields ...string) {
	if !o.quick {
		return report
	}
	return func(name string, _ bool, fields ...string) {
		info(name, append(fields, "judged-without--quick")...)
	}
}

// info prints a measurement that has no target of its own.
func info(name string, fields ...string) {
	fmt.Printf("%-12s  %s  (info)\n", name, strings.Join(fields, "  "))
}

// subdir makes a fresh directory for one run's files.
func subdir(o *options, name string) (string, error) {
	d := filepath.Join(o.dir, name)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o700)
}
