package main

import (
	"os"
	"strings"
	"testing"

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
