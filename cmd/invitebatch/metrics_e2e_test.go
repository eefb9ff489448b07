package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/invitebatch/invitebatch/reports"
)

func TestE2EMetricsFile(t *testing.T) {
	w := newWorld(t)
	w.write("users.csv", "email\na@example.com\nb@example.com\nnot-an-address\n")
	res := w.run("run", "--metrics-file", "invitebatch.prom", "users.csv")
	if res.code != 1 {
		t.Fatalf("exit = %d, want 1 (an invalid row)\n%s", res.code, res.stderr)
	}
	f, err := os.Open(w.path("invitebatch.prom"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	value := func(name string, labels map[string]string) (float64, bool) {
		mf, ok := mfs[name]
		if !ok {
			return 0, false
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
		return 0, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{reports.MetricRows, map[string]string{"outcome": "sent"}, 2},
		{reports.MetricRows, map[string]string{"outcome": "invalid"}, 1},
		{reports.MetricAPIRequests, map[string]string{"method": "send", "code": "200"}, 2},
		{reports.MetricRunInfo, map[string]string{"customer": testCustomer}, 1},
	} {
		if got, ok := value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v, %v; want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if v, ok := value(reports.MetricLastSuccess, nil); !ok || v <= 0 {
		t.Errorf("%s = %v, %v; want the end of this run (exit 1 counts as finished)", reports.MetricLastSuccess, v, ok)
	}

	res = w.run("run", "--metrics-file", "metrics.txt", "users.csv")
	if res.code != 2 || !strings.Contains(res.stderr, ".prom") {
		t.Errorf("--metrics-file metrics.txt: exit %d, want 2 and a hint to name it *.prom\n%s", res.code, res.stderr)
	}
}

// TestE2EMetricsWrittenDuringRun: a slow run rewrites the metrics file while
// it goes on, before any final write.
func TestE2EMetricsWrittenDuringRun(t *testing.T) {
	w := newWorld(t)
	var b strings.Builder
	b.WriteString("email\n")
	for i := range 30 {
		b.WriteString("u" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@example.com\n")
	}
	w.write("users.csv", b.String())
	w.emu.SetLatency(50*time.Millisecond, 0)
	cmd := exec.Command(binary, "run", "--qps", "20", "--workers", "2", "--metrics-file", "m.prom", "--metrics-interval", "200ms", "users.csv")
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "CLOUDIDENTITY_EMULATOR_HOST="+strings.TrimPrefix(w.srv.URL, "http://"),
		"INVITEBATCH_CUSTOMER="+testCustomer, "XDG_STATE_HOME="+w.path("state"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(w.path("m.prom")); err == nil {
			// The final write sets the last-success time; a periodic one
			// never does, so this also shows the write came mid-run.
			if strings.Contains(string(b), reports.MetricLastSuccess) {
				t.Errorf("the first write seen has %s: not a periodic write\n%s", reports.MetricLastSuccess, b)
			}
			if !strings.Contains(string(b), reports.MetricRows) {
				t.Errorf("periodic metrics lack %s:\n%s", reports.MetricRows, b)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no metrics file appeared during the run")
}
