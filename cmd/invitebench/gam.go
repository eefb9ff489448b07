package main

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// gamModel is a model of how GAM sends invitations (`gam csv users.csv gam
// send userinvitation ~email`): one `send` per row and nothing else (no
// isInvitableUser, no state read, no record of earlier sends), from a pool
// of a few workers with no client-side rate, each request retried on 429,
// 5xx and connection errors with a backoff of min(2^n, 60) s plus up to 1 s
// of jitter, for at most 10 tries. Any other error ends the row.
type gamModel struct {
	Workers, Tries int
}

// gamResult is what the model saw: rows sent (2xx), refused (4xx other
// than 429) and failed (retries exhausted).
type gamResult struct {
	sent, refused, failed int
}

// run sends to addrs in order until they run out or ctx ends. A row whose
// backoff sleep ctx interrupts counts in no total: the comparison measures
// the server's side over a window, and the model is stopped after it.
func (g gamModel) run(ctx context.Context, e *emu, addrs []string) gamResult {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: g.Workers}}
	base := e.url("/v1/customers/" + customer + "/userinvitations/")
	var next, sent, refused, failed atomic.Int64
	var wg sync.WaitGroup
	for range g.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(addrs) {
					return
				}
				switch g.send(ctx, hc, base+addrs[i]+":send") {
				case gamSent:
					sent.Add(1)
				case gamRefused:
					refused.Add(1)
				case gamFailed:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return gamResult{sent: int(sent.Load()), refused: int(refused.Load()), failed: int(failed.Load())}
}

type gamOutcome int

const (
	gamStopped gamOutcome = iota // ctx ended first
	gamSent
	gamRefused
	gamFailed
)

// send makes one send with GAM's retries.
func (g gamModel) send(ctx context.Context, hc *http.Client, url string) gamOutcome {
	for n := 1; n <= g.Tries; n++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if ctx.Err() != nil {
			return gamStopped
		}
		code := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		switch {
		case code == http.StatusOK:
			return gamSent
		case code != 0 && code != http.StatusTooManyRequests && code < 500:
			return gamRefused
		}
		wait := time.Duration(math.Min(math.Pow(2, float64(n)), 60)*float64(time.Second)) +
			time.Duration(rand.Float64()*float64(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return gamStopped
		}
	}
	return gamFailed
}
