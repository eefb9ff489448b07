package dashboard

import (
	"testing"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/reports"
)

// TestRestoredSendIsNotASecondEmail: a refused re-send puts back the
// earlier `sent` with its own time (batch.Ledger.Restore); that line is not
// a second email (it would count as a reminder).
func TestRestoredSendIsNotASecondEmail(t *testing.T) {
	b := NewBuilder(now)
	for _, r := range []reports.LedgerRecord{
		{Email: "a@x.com", Status: batch.LedgerSendIntent, Time: ago(10 * 24 * h)},
		{Email: "a@x.com", Status: batch.LedgerSent, Time: ago(10 * 24 * h)},
		{Email: "a@x.com", Status: batch.LedgerResendIntent, Time: ago(h)},
		{Email: "a@x.com", Status: batch.LedgerSent, Time: ago(10 * 24 * h)}, // restored
	} {
		b.AddLedger(r)
	}
	if p := b.person("a@x.com"); len(p.sends) != 1 || p.ledger != batch.LedgerSent {
		t.Errorf("sends %v, ledger %v; want one send, ledger sent", p.sends, p.ledger)
	}
}
