package reports

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// readMetrics parses a metrics file with the Prometheus text parser into
// values by metric name and then by labels (`k="v",k="v"`, sorted; "" for
// none).
func readMetrics(t *testing.T, path string) map[string]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := make(map[string]map[string]float64)
	for name, mf := range mfs {
		if mf.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		vals := make(map[string]float64)
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName()+`="`+lp.GetValue()+`"`)
			}
			sort.Strings(labels)
			switch {
			case m.GetCounter() != nil:
				vals[strings.Join(labels, ",")] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				vals[strings.Join(labels, ",")] = m.GetGauge().GetValue()
			default:
				t.Errorf("%s: neither a counter nor a gauge", name)
			}
		}
		out[name] = vals
	}
	return out
}

func testSummary() *Summary {
	start := time.Date(2026, 3, 1, 2, 15, 0, 0, time.UTC)
	return &Summary{
		RunID: "20260301T021500Z-0a1b2c3d", Version: "v1.2.3", Customer: "C0xyz",
		Started: start, Finished: start.Add(90 * time.Second), DurationSeconds: 90,
		Outcomes: map[string]int{"sent": 7, "failed": 1, "invalid": 0},
		APICalls: map[string]map[string]int{
			"send":        {"200": 7, "503": 2},
			"isInvitable": {"200": 8, "429": 3, "0": 1},
		},
		Retries: 6, Throttled: 3, ExitCode: 1,
	}
}

func TestWriteMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invitebatch.prom")
	s := testSummary()
	if err := WriteMetrics(path, s); err != nil {
		t.Fatal(err)
	}
	got := readMetrics(t, path)
	want := map[string]map[string]float64{
		MetricRows: {`outcome="sent"`: 7, `outcome="failed"`: 1, `outcome="invalid"`: 0},
		MetricAPIRequests: {
			`code="200",method="send"`: 7, `code="503",method="send"`: 2,
			`code="200",method="isInvitable"`: 8, `code="429",method="isInvitable"`: 3, `code="0",method="isInvitable"`: 1,
		},
		MetricRetries:     {"": 6},
		MetricThrottled:   {"": 3},
		MetricDuration:    {"": 90},
		MetricLastSuccess: {"": float64(s.Finished.Unix())},
		MetricRunInfo:     {`customer="C0xyz",run_id="20260301T021500Z-0a1b2c3d",version="v1.2.3"`: 1},
	}
	if d := cmp.Diff(got, want); d != "" {
		t.Errorf("metrics (-got +want):\n%s", d)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != MetricsFileMode {
		t.Errorf("mode = %v, want %v (node_exporter must be able to read it)", fi.Mode().Perm(), os.FileMode(MetricsFileMode))
	}
	// Nothing but the file itself is left in the directory: node_exporter
	// reads every *.prom file there.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the metrics file", len(ents))
	}
}

// TestWriteMetricsLastSuccess: only a run that finished (exit 0 or 1) sets
// the last-success time; running and stopped runs keep the earlier value,
// so an alert on its age sees the last good run.
func TestWriteMetricsLastSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invitebatch.prom")
	last := func() (float64, bool) {
		v, ok := readMetrics(t, path)[MetricLastSuccess][""]
		return v, ok
	}

	// No earlier file, a run in progress: no last success at all.
	s := testSummary()
	if err := WriteRunningMetrics(path, s); err != nil {
		t.Fatal(err)
	}
	if v, ok := last(); ok {
		t.Fatalf("running, no earlier success: last success = %v, want none", v)
	}

	tests := []struct {
		name     string
		write    func(string, *Summary) error
		exitCode int
		stopped  string
		finished time.Time
		want     time.Time
	}{
		{"exit 0 sets it", WriteMetrics, 0, "", time.Unix(1000, 0), time.Unix(1000, 0)},
		{"running keeps it", WriteRunningMetrics, 0, "", time.Unix(2000, 0), time.Unix(1000, 0)},
		{"exit 3 keeps it", WriteMetrics, 3, "max-duration", time.Unix(3000, 0), time.Unix(1000, 0)},
		{"exit 5 keeps it", WriteMetrics, 5, "fatal", time.Unix(4000, 0), time.Unix(1000, 0)},
		{"exit 1 sets it", WriteMetrics, 1, "", time.Unix(5000, 500e6), time.Unix(5000, 500e6)},
		{"exit 2 keeps it", WriteMetrics, 2, "", time.Unix(6000, 0), time.Unix(5000, 500e6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSummary()
			s.ExitCode, s.Stopped, s.Finished = tt.exitCode, tt.stopped, tt.finished
			if err := tt.write(path, s); err != nil {
				t.Fatal(err)
			}
			v, ok := last()
			if want := float64(tt.want.UnixNano()) / 1e9; !ok || v != want {
				t.Errorf("last success = %v, %v; want %v", v, ok, want)
			}
		})
	}
}

func TestWriteMetricsReplacesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invitebatch.prom")
	if err := os.WriteFile(path, []byte("not { metrics\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := testSummary()
	s.ExitCode, s.Stopped = 3, "signal"
	if err := WriteMetrics(path, s); err != nil {
		t.Fatal(err)
	}
	got := readMetrics(t, path)
	if _, ok := got[MetricLastSuccess]; ok {
		t.Errorf("a last success came from an unparsable file")
	}
	if got[MetricRetries][""] != 6 {
		t.Errorf("retries = %v, want 6", got[MetricRetries])
	}
}
