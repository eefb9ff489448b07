package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
	"github.com/invitebatch/invitebatch/client/emulator"
)

// The emulator's rate-limit 403s (SetThrottleAs), in the ErrorInfo and the
// legacy errors[] form, are retryable quota refusals for every method: a
// send refused so is neither fatal (the rule for a 403 on send) nor
// ambiguous (nothing was sent), and a read's is not a per-address 403 to
// check with a customer-wide read.
func TestRateLimit403IsRetryable(t *testing.T) {
	for _, th := range []emulator.Throttle{emulator.Throttle403, emulator.Throttle403Legacy} {
		for _, method := range []string{"isInvitable", "get", "send", "cancel", "list"} {
			t.Run(th.String()+"/"+method, func(t *testing.T) {
				emu := emulator.New(emulator.Options{Customer: customer})
				emu.SetThrottleAs(th)
				emu.SetWindowQuota(1, time.Hour, 0)
				c := newEmulated(t, "v1", emu)
				ctx := context.Background()
				if _, err := c.Get(ctx, "first@example.com"); err != nil {
					t.Fatalf("first request: %v", err)
				}
				err := call(ctx, c, method, "x@example.com")
				var ae *batch.APIError
				if !errors.As(err, &ae) {
					t.Fatalf("%s over quota: %v (%T), want a *batch.APIError", method, err, err)
				}
				wantReason := "RATE_LIMIT_EXCEEDED"
				if th == emulator.Throttle403Legacy {
					wantReason = "rateLimitExceeded"
				}
				if ae.Kind != batch.KindRetryable || ae.Code != 403 || ae.Reason != wantReason || ae.Ambiguous {
					t.Errorf("%s over quota: kind %v, code %d, reason %q, ambiguous %v (%s); want retryable 403 %s, not ambiguous",
						method, ae.Kind, ae.Code, ae.Reason, ae.Ambiguous, ae.Msg, wantReason)
				}
			})
		}
	}
}
