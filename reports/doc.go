// Package reports writes what a run leaves behind: reports, summaries, the
// checkpoint and the ledger.
package reports
