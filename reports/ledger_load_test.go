package reports

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/invitebatch/invitebatch/batch"
)

// TestLedgerTornTail cuts the file at every byte offset inside its last two
// records: each copy must load without the torn record, and the ledger must
// then append a valid record.
func TestLedgerTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	l := openTestLedger(t, src)
	emails := []string{"a@x.y", "b@x.y", "c@x.y", "d@x.y"}
	for _, e := range emails {
		if err := settleNow(l, e, batch.LedgerSent); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	full, _ := os.ReadFile(src)
	starts := lineStarts(full)
	for cut := starts[len(starts)-2]; cut < len(full); cut++ {
		complete := bytes.Count(full[:cut], []byte("\n"))
		if full[cut] == '\n' {
			complete++ // a complete record without its newline is kept
		}
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(path, LedgerOptions{NoSync: true})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		for i, e := range emails {
			if _, ok := l.Lookup(e); ok != (i < complete) {
				t.Errorf("cut at %d: Lookup(%s) found %v, want %v", cut, e, ok, i < complete)
			}
		}
		if err := l.Intend(context.Background(), "new@x.y", batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
		l.Close()
		l, err = OpenLedger(path, LedgerOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("cut at %d, then append: %v", cut, err)
		}
		if _, ok := l.Lookup("new@x.y"); !ok || l.Len() != complete+1 {
			t.Errorf("cut at %d, then append: Len %d, new found %v", cut, l.Len(), ok)
		}
	}
}

func TestLedgerCorrupt(t *testing.T) {
	line := func(payload string) string { return string(appendLine(nil, []byte(payload))) }
	good := line("1795834800000000000 sent a@x.y")
	tests := []struct {
		name, content, wantErr string
	}{
		{"flipped byte", good + strings.Replace(good, "a@x", "a@y", 1) + good, "line 2 (byte offset 40): checksum mismatch"},
		{"unknown status", good + line("1 resent a@x.y"), `line 2 (byte offset 40): unknown ledger status "resent"`},
		{"bad time", line("-1 sent a@x.y"), "line 1 (byte offset 0): malformed ledger time"},
		{"time overflow", line("99999999999999999999 sent a@x.y"), "line 1 (byte offset 0): malformed ledger time"},
		{"no address", line("1 sent"), "line 1 (byte offset 0): malformed ledger record"},
		{"address with space", line("1 sent a @x.y"), "line 1 (byte offset 0): malformed ledger address"},
		{"empty address", line("1 sent "), "line 1 (byte offset 0): malformed ledger address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l")
			os.WriteFile(path, []byte(tt.content), 0o600)
			for _, ro := range []bool{false, true} {
				_, err := OpenLedger(path, LedgerOptions{ReadOnly: ro})
				if err == nil || !strings.Contains(err.Error(), path+": "+tt.wantErr) {
					t.Errorf("read-only %v: error %v, want %q", ro, err, tt.wantErr)
				}
			}
		})
	}
}

func FuzzLoadLedger(f *testing.F) {
	f.Add([]byte("6e0e1c4a 1795834800000000000 sent a@x.y\n"))
	f.Add(appendLine(nil, []byte("1 send_intent a@x.y")))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "l")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := OpenLedger(path, LedgerOptions{NoSync: true})
		if err != nil {
			return
		}
		defer l.Close()
		n := l.Len()
		if err := l.Intend(context.Background(), "fuzz@x.y", batch.LedgerSendIntent); err != nil {
			t.Fatal(err)
		}
		if err := l.Each(func(LedgerRecord) error { return nil }); err != nil {
			t.Fatalf("Each after append: %v", err)
		}
		if l.Len() > n+1 {
			t.Fatalf("Len %d after one append to %d", l.Len(), n)
		}
	})
}

// writeBigLedger writes a ledger of n addresses, each with a send_intent and
// a sent line.
func writeBigLedger(tb testing.TB, path string, n int) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var p []byte
	var line []byte
	ns := t0.UnixNano()
	for i := range n {
		for _, st := range []string{"send_intent", "sent"} {
			p = fmt.Appendf(p[:0], "%d %s user%07d@example.com", ns+int64(i)*1e6, st, i)
			line = appendLine(line[:0], p)
			w.Write(line)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
}

// TestLedgerMemory guards the index's size: 12 bytes per address in its
// sorted slices, plus the slack of the size guess; under 14 bytes of heap per
// address.
func TestLedgerMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	const n = 100_000
	path := filepath.Join(t.TempDir(), "l")
	writeBigLedger(t, path, n)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if l.Len() != n {
		t.Fatalf("Len %d, want %d", l.Len(), n)
	}
	perAddr := float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / n
	t.Logf("%.1f bytes of heap per address", perAddr)
	if perAddr > 14 {
		t.Errorf("%.1f bytes of heap per address, want < 14", perAddr)
	}
	runtime.KeepAlive(l)
}

// BenchmarkLedgerLoad loads a ledger of a million addresses (two lines each)
// and reports the heap it keeps per address.
func BenchmarkLedgerLoad(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "l")
	writeBigLedger(b, path, n)
	var ms0, ms1 runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime()
		l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64((cpuTime() - cpu0).Milliseconds()), "cpu-ms/op")
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		if l.Len() != n {
			b.Fatalf("Len %d", l.Len())
		}
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/n, "heapB/addr")
		runtime.KeepAlive(l)
	}
}

// cpuTime returns the CPU time this process has used, to tell the work a
// benchmark does from time spent waiting for a busy machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLedgerLookupHit looks up addresses the ledger holds: each hit
// reads its line back from the file to compare the address.
func BenchmarkLedgerLookupHit(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "l")
	writeBigLedger(b, path, n)
	l, err := OpenLedger(path, LedgerOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("user%07d@example.com", i)
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, ok := l.Lookup(emails[i%n]); !ok {
			b.Fatal("miss")
		}
		i++
	}
}
