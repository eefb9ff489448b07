package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// SummarySchema is the version of the summary's JSON schema. Fields are
// only ever added within a version.
const SummarySchema = 1

// Summary is the end-of-run account, written as JSON with --summary PATH
// and shown to people on stderr. Its JSON field names are a stable schema.
type Summary struct {
	Schema     int    `json:"schema"`
	RunID      string `json:"run_id"`
	Version    string `json:"version"`
	Command    string `json:"command"`
	Customer   string `json:"customer"`
	Principal  string `json:"principal"`
	API        string `json:"api"`
	Endpoint   string `json:"endpoint"`
	Emulator   bool   `json:"emulator"`
	DryRun     bool   `json:"dry_run"`
	Input      string `json:"input"`
	Report     string `json:"report"`
	Checkpoint string `json:"checkpoint,omitempty"`
	Ledger     string `json:"ledger,omitempty"`
	// Resumed is set when this run continued an earlier unfinished one.
	Resumed bool `json:"resumed"`

	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`

	// Rows counts the input rows with a final outcome, this run's and
	// (when resumed) the earlier runs'.
	Rows int `json:"rows"`
	// RowsThisRun counts the rows this run settled.
	RowsThisRun int `json:"rows_this_run"`
	// Outcomes has every outcome word, zeros included, over Rows.
	Outcomes       map[string]int `json:"outcomes"`
	NeedsAttention int            `json:"needs_attention"`

	// APICalls counts this run's requests by method and HTTP status ("0"
	// for a transport failure).
	APICalls      map[string]map[string]int `json:"api_calls"`
	APICallsTotal int                       `json:"api_calls_total"`
	// CallsPerRow is this run's requests per row, by outcome.
	CallsPerRow   map[string]float64 `json:"calls_per_row"`
	Retries       int                `json:"retries"`
	Throttled     int                `json:"throttled"`
	Lookup        string             `json:"lookup"`
	AchievedQPS   float64            `json:"achieved_qps"`
	RowsPerSecond float64            `json:"rows_per_second"`
	// LookupReason says why the run read states as Lookup says (--lookup
	// auto's decision: the list's pages against the gets they replace).
	LookupReason string `json:"lookup_reason,omitempty"`
	// CheckEach is set when isInvitableUser was asked before every send
	// (--check-each).
	CheckEach bool `json:"check_each,omitempty"`

	ExitCode int `json:"exit_code"`
	// Stopped says why the run ended before its input did: "signal",
	// "max-duration", "max-sends", "quota" (a daily quota used up, or a
	// server delay over the cap) or "fatal"; empty when it finished.
	Stopped string `json:"stopped,omitempty"`
	// QuotaResets is, for Stopped "quota", when the quota is expected back
	// (a daily quota: midnight Pacific time).
	QuotaResets *time.Time `json:"quota_resets,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// Fill copies a run's counters into s. total holds the outcome counts over
// every row of the input (earlier runs' included).
func (s *Summary) Fill(st *batch.Stats, total map[batch.Outcome]int) {
	s.Outcomes = make(map[string]int)
	s.Rows, s.NeedsAttention = 0, 0
	for _, o := range batch.Outcomes() {
		s.Outcomes[o.String()] = total[o]
		s.Rows += total[o]
		if o.NeedsAttention() {
			s.NeedsAttention += total[o]
		}
	}
	s.RowsThisRun = st.Rows()
	s.APICalls = make(map[string]map[string]int)
	for m, byCode := range st.Calls {
		out := make(map[string]int, len(byCode))
		for code, n := range byCode {
			out[strconv.Itoa(code)] = n
		}
		s.APICalls[m] = out
	}
	s.APICallsTotal = st.TotalCalls()
	s.CallsPerRow = make(map[string]float64)
	for _, o := range batch.Outcomes() {
		if n := st.Outcomes[o]; n > 0 {
			s.CallsPerRow[o.String()] = float64(st.CallsByOutcome[o]) / float64(n)
		}
	}
	s.Retries, s.Throttled, s.Lookup, s.LookupReason = st.Retries, st.Throttled, st.Lookup, st.LookupReason
	s.DurationSeconds = s.Finished.Sub(s.Started).Seconds()
	if s.DurationSeconds > 0 {
		s.AchievedQPS = float64(s.APICallsTotal) / s.DurationSeconds
		s.RowsPerSecond = float64(s.RowsThisRun) / s.DurationSeconds
	}
}

// WriteJSON writes s as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes s for people: a few aligned lines.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	if s.Emulator {
		fmt.Fprintf(&b, "*** EMULATOR RUN (%s): nothing was sent to Google ***\n", s.Endpoint)
	}
	state := "finished"
	if s.Stopped != "" {
		state = "stopped (" + s.Stopped + "); rerun the same command to resume"
	}
	if s.QuotaResets != nil {
		// The quota's reset, then the run's duration: "in 9.1s" must not
		// read as the time until the quota comes back.
		state = "stopped (quota used up until " + s.QuotaResets.UTC().Format(time.RFC3339) +
			"; rerun the same command then)"
	}
	fmt.Fprintf(&b, "invitebatch %s: run %s %s in %.1fs (exit %d)\n", s.Command, s.RunID, state, s.DurationSeconds, s.ExitCode)
	fmt.Fprintf(&b, "  rows: %d (this run: %d)", s.Rows, s.RowsThisRun)
	words := make([]string, 0, len(s.Outcomes))
	for w, n := range s.Outcomes {
		if n > 0 {
			words = append(words, w)
		}
	}
	sort.Strings(words)
	for _, w := range words {
		fmt.Fprintf(&b, "  %s=%d", w, s.Outcomes[w])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  api calls: %d (%.1f/s)", s.APICallsTotal, s.AchievedQPS)
	methods := make([]string, 0, len(s.APICalls))
	for m := range s.APICalls {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	for _, m := range methods {
		n := 0
		for _, c := range s.APICalls[m] {
			n += c
		}
		fmt.Fprintf(&b, "  %s=%d", m, n)
	}
	fmt.Fprintf(&b, "  retries=%d throttled=%d\n", s.Retries, s.Throttled)
	if s.Lookup != "" {
		fmt.Fprintf(&b, "  states read by %s", s.Lookup)
		if s.LookupReason != "" {
			fmt.Fprintf(&b, ": %s", s.LookupReason)
		}
		if s.CheckEach {
			b.WriteString("; isInvitableUser before every send (--check-each)")
		}
		b.WriteString("\n")
	}
	if s.Report != "" {
		fmt.Fprintf(&b, "  report: %s\n", s.Report)
	}
	if s.NeedsAttention > 0 {
		fmt.Fprintf(&b, "  %d rows need attention (failed, invalid or unconfirmed): see the report\n", s.NeedsAttention)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, "  error: %s\n", s.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
