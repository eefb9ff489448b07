package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the run to the file named by
// INVITEBATCH_CPUPROFILE and, when the run ends, a heap profile to the file
// named by INVITEBATCH_MEMPROFILE. It is a hidden hook for cmd/invitebench
// and `go tool pprof`; the returned func stops profiling. Failures to
// profile are ignored: a profile never changes a run's outcome.
func startProfile(getenv func(string) string) (stop func()) {
	var cpu *os.File
	if path := getenv("INVITEBATCH_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				cpu = f
			} else {
				f.Close()
			}
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if path := getenv("INVITEBATCH_MEMPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				runtime.GC()
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}
}
