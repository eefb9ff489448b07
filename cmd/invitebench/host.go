package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"time"
)

// hostReference prints what this machine's basic operations cost right
// now, in the units the tool's figures depend on: CPU per loopback HTTP
// request (net/http client and server in this process, 16 at a time,
// keep-alive) and the latency of an fsync after a small append. On a shared
// machine both move by tens of percent over a day, and the tool's CPU per
// row and its fsync-on rate move with them; the scale lines are best read
// against the reference printed in the same run.
func hostReference(dir, when string) {
	perReq, err := httpReference()
	if err != nil {
		fmt.Printf("%-12s  when=%s  error=%v  (info)\n", "host-ref", when, err)
		return
	}
	fsync, err := fsyncReference(dir)
	if err != nil {
		fmt.Printf("%-12s  when=%s  error=%v  (info)\n", "host-ref", when, err)
		return
	}
	fmt.Printf("%-12s  when=%s  http-request=%.1fµs-cpu  fsync=%.2fms  (info)\n", "host-ref", when,
		float64(perReq.Nanoseconds())/1e3, float64(fsync.Microseconds())/1e3)
}

// httpReference returns the CPU (user+sys, client and server together) per
// bare loopback HTTP/1.1 GET.
func httpReference() (time.Duration, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"isInvitableUser":true}`)
	}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	const workers, each = 16, 2000
	get := func() error {
		res, err := c.Get(srv.URL)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return err
	}
	if err := get(); err != nil { // connect outside the measurement
		return 0, err
	}
	before := selfCPU()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				if err := get(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return (selfCPU() - before) / (workers * each), nil
}

// fsyncReference returns the mean latency of an fsync after a 100-byte
// append, as a journal's group commit pays it.
func fsyncReference(dir string) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, "fsync-ref-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	line := make([]byte, 100)
	const n = 200
	start := time.Now()
	for range n {
		if _, err := f.Write(line); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / n, nil
}

// selfCPU is this process's user+sys CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
