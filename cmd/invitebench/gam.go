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

// gamModel is a model of how GAM sends invitations: a few workers, no
// client-side rate, and per-request backoff of min(2^n, 60) s plus up to
// 1 s of jitter on 429 and 5xx, for at most 10 tries. It makes the same
// two requests per row as invitebatch (isInvitableUser, then send), so the
// comparison in rows/s is one of strategy alone.
type gamModel struct {
	Workers, Tries int
}

type gamResult struct {
	rows, failed int
	elapsed      time.Duration
}

// run sends to addresses prefix0, prefix1... until d has passed, then
// finishes the rows in flight.
func (g gamModel) run(e *emu, prefix string, d time.Duration) gamResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	hc := &http.Client{Timeout: 30 * time.Second}
	base := e.url("/v1/customers/" + customer + "/userinvitations/")
	var next, rows, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range g.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				addr := address(prefix, int(next.Add(1)-1))
				ok := g.request(hc, http.MethodGet, base+addr+":isInvitableUser") &&
					g.request(hc, http.MethodPost, base+addr+":send")
				if ok {
					rows.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return gamResult{rows: int(rows.Load()), failed: int(failed.Load()), elapsed: time.Since(start)}
}

// request makes one request with GAM's retries; it reports success. The
// backoff sleeps are not cut short by the end of the run: GAM has no
// deadline either.
func (g gamModel) request(hc *http.Client, method, url string) bool {
	for n := 1; n <= g.Tries; n++ {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := hc.Do(req)
		code := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
		}
		if code == http.StatusOK {
			return true
		}
		if code != 0 && code != http.StatusTooManyRequests && code < 500 {
			return false
		}
		wait := time.Duration(math.Min(math.Pow(2, float64(n)), 60) * float64(time.Second))
		time.Sleep(wait + time.Duration(rand.Float64()*float64(time.Second)))
	}
	return false
}
