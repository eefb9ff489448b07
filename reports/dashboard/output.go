package dashboard

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/invitebatch/invitebatch/reports"
)

// WriteJSON writes the figures as one indented JSON document (see Schema).
func (f *Figures) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(f)
}

// The gauges of WriteMetrics.
const (
	MetricInvitations = "invitebatch_invitations"
	MetricSnapshot    = "invitebatch_dashboard_snapshot_timestamp_seconds"
)

// WriteMetrics writes the funnel as Prometheus gauges,
// invitebatch_invitations{state} with one state per funnel stage (found,
// invited, accepted, declined, pending, unconfirmed, cancelled,
// not_yet_invited), and the snapshot's time, atomically to path with mode
// reports.MetricsFileMode (counts only, no personal data).
func WriteMetrics(path string, f *Figures) error {
	reg := prometheus.NewPedanticRegistry()
	inv := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricInvitations,
		Help: "The customer's invitations by funnel stage, as of the last dashboard snapshot (cancelled and unconfirmed come from the ledger).",
	}, []string{"state"})
	snap := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: MetricSnapshot,
		Help: "When the dashboard's snapshot of the invitations was taken.",
	})
	reg.MustRegister(inv, snap)
	for _, s := range f.Funnel.Stages {
		inv.WithLabelValues(s.Name).Set(float64(s.Count))
	}
	snap.Set(float64(f.Source.Snapshot.UnixNano()) / 1e9)
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	return reports.WriteFileAtomic(path, func(w io.Writer) error {
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return err
			}
		}
		return nil
	}, reports.MetricsFileMode)
}

// PendingColumns are the columns of the pending CSV: email first, so that
// `run --resend-after` finds it; the rest are carried into run's report.
var PendingColumns = []string{"email", "mails_sent", "last_email", "first_sent_by_tool", "group"}

// WritePendingCSV writes every pending invitation of b as CSV (see
// PendingColumns), every cell neutralised as in the reports.
func (b *Builder) WritePendingCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	cw := csv.NewWriter(bw)
	if err := cw.Write(PendingColumns); err != nil {
		return err
	}
	err := b.EachPending(func(r PendingRow) error {
		first := ""
		if !r.FirstSent.IsZero() {
			first = r.FirstSent.Format("2006-01-02T15:04:05Z")
		}
		return cw.Write([]string{reports.Cell(r.Email), strconv.FormatInt(r.MailsSent, 10),
			r.Updated.Format("2006-01-02T15:04:05Z"), first, reports.Cell(r.Group)})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}
