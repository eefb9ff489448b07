package reports

import (
	"fmt"
	"io"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// MetricsFileMode is the mode of the metrics file. Unlike the report, the
// checkpoint and the ledger it holds no personal data (counts, the run id,
// the tool version and the customer ID), and node_exporter, which reads it,
// usually runs as a user of its own: 0600 would make its textfile collector
// fail with "permission denied". prometheus.WriteToTextfile uses 0644 too.
const MetricsFileMode = 0o644

// The metric names, for dashboards and alerts; see WriteMetrics.
const (
	MetricRows        = "invitebatch_rows_total"
	MetricAPIRequests = "invitebatch_api_requests_total"
	MetricRetries     = "invitebatch_retries_total"
	MetricThrottled   = "invitebatch_throttled_total"
	MetricDuration    = "invitebatch_run_duration_seconds"
	MetricLastSuccess = "invitebatch_last_success_timestamp_seconds"
	MetricRunInfo     = "invitebatch_run_info"
)

// WriteMetrics writes the end-of-run metrics of s to path, in the
// Prometheus text format that node_exporter's textfile collector reads
// (name the file *.prom in the collector's directory). The write is atomic,
// as WriteFileAtomic's, so the collector never reads half a file.
//
// The metrics describe the run of s: rows by outcome (over the whole input,
// earlier runs' rows included when s.Resumed), API requests by method and
// HTTP code ("0": transport failure), retries, 429s, the duration, and
// invitebatch_run_info{run_id,version,customer} 1.
// invitebatch_last_success_timestamp_seconds is s.Finished when the run
// finished with exit 0 or 1; otherwise (stopped, fatal) the value already in
// the file is kept, so that an alert on its age sees the last good run,
// not no data.
func WriteMetrics(path string, s *Summary) error {
	return writeMetrics(path, s, s.Stopped == "" && (s.ExitCode == 0 || s.ExitCode == 1))
}

// WriteRunningMetrics is WriteMetrics for a run still in progress, called
// periodically with a summary filled from the counters so far (Finished:
// now): it never sets invitebatch_last_success_timestamp_seconds, only
// keeps the value already in the file.
func WriteRunningMetrics(path string, s *Summary) error {
	return writeMetrics(path, s, false)
}

func writeMetrics(path string, s *Summary, success bool) error {
	reg := prometheus.NewPedanticRegistry()
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricRows,
		Help: "Input rows by outcome, over the whole input (a resumed run includes the earlier runs' rows).",
	}, []string{"outcome"})
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: MetricAPIRequests,
		Help: "API requests of the run by method and HTTP status code (0: transport failure).",
	}, []string{"method", "code"})
	retries := prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricRetries,
		Help: "API requests of the run repeated after a retryable failure.",
	})
	throttled := prometheus.NewCounter(prometheus.CounterOpts{
		Name: MetricThrottled,
		Help: "Quota refusals the run got: 429 answers and rate-limit 403s.",
	})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricDuration,
		Help: "How long the run took (so far, while it runs).",
	})
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricRunInfo,
		Help: "The run these metrics describe; always 1.",
	}, []string{"run_id", "version", "customer"})
	reg.MustRegister(rows, calls, retries, throttled, duration, info)

	for outcome, n := range s.Outcomes {
		rows.WithLabelValues(outcome).Add(float64(n))
	}
	for method, byCode := range s.APICalls {
		for code, n := range byCode {
			calls.WithLabelValues(method, code).Add(float64(n))
		}
	}
	retries.Add(float64(s.Retries))
	throttled.Add(float64(s.Throttled))
	duration.Set(s.DurationSeconds)
	info.WithLabelValues(s.RunID, s.Version, s.Customer).Set(1)

	last, ok := 0.0, false
	if success && !s.Finished.IsZero() {
		last, ok = float64(s.Finished.UnixNano())/1e9, true
	} else {
		last, ok = previousLastSuccess(path)
	}
	if ok {
		g := prometheus.NewGauge(prometheus.GaugeOpts{
			Name: MetricLastSuccess,
			Help: "When the last run that finished (exit 0 or 1) ended, in seconds since the epoch.",
		})
		g.Set(last)
		reg.MustRegister(g)
	}

	mfs, err := reg.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return WriteFileAtomic(path, func(w io.Writer) error {
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return err
			}
		}
		return nil
	}, MetricsFileMode)
}

// previousLastSuccess reads invitebatch_last_success_timestamp_seconds from
// an earlier metrics file at path. A missing or unreadable file has none.
func previousLastSuccess(path string) (float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		return 0, false
	}
	mf, ok := mfs[MetricLastSuccess]
	if !ok || len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge() == nil {
		return 0, false
	}
	return mf.GetMetric()[0].GetGauge().GetValue(), true
}
