package input

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the user+system CPU time of the process so far: unlike
// wall-clock time it hardly moves when other processes share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// genCSV writes a header and n rows shaped like an HR export.
func genCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Employee ID,First Name,Last Name,Department,Email Address,Manager\r\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,First%d,\"Last, %d\",Sales,User.%d@Example.com,m%d@example.com\r\n", i, i, i, i, i%100)
	}
	return b.Bytes()
}

// genReader yields a header and n rows without holding them in memory.
type genReader struct {
	n, i int
	buf  []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) == 0 {
		switch {
		case g.i > g.n:
			return 0, io.EOF
		case g.i == 0:
			g.buf = append(g.buf, "id,name,email,dept\n"...)
		default:
			g.buf = strconv.AppendInt(g.buf, int64(g.i), 10)
			g.buf = append(g.buf, ",Name,user"...)
			g.buf = strconv.AppendInt(g.buf, int64(g.i), 10)
			g.buf = append(g.buf, "@example.com,Sales\n"...)
		}
		g.i++
	}
	n := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[n:])]
	return n, nil
}

// BenchmarkReader reads a 100,000-row in-memory CSV per op, validating each
// address as the pipeline does, and reports the cost per row.
func BenchmarkReader(b *testing.B) {
	const rows = 100_000
	data := genCSV(rows)
	b.SetBytes(int64(len(data)))
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		r, err := Open(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Address(rec.Email); err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	perRow := float64(b.N) * rows
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perRow, "ns/row")
	b.ReportMetric(float64(cpu.Nanoseconds())/perRow, "cpu-ns/row")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/perRow, "allocs/row")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/perRow, "B/row")
}

// TestReaderFlatMemory streams 1,000,000 generated rows and checks that
// the live heap does not grow with them.
func TestReaderFlatMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1,000,000 rows")
	}
	const rows = 1_000_000
	r, err := Open(&genReader{n: rows}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var peak uint64
	var ms runtime.MemStats
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if rec.Row != n {
			t.Fatalf("row %d, want %d", rec.Row, n)
		}
		if n%200_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if n != rows {
		t.Fatalf("read %d rows, want %d", n, rows)
	}
	// The whole heap of the test binary, not just the Reader: a few MB.
	if peak > 16<<20 {
		t.Errorf("live heap reached %d bytes while streaming, want < 16 MiB", peak)
	}
	t.Logf("peak live heap %d KiB over %d rows", peak>>10, rows)
}

// BenchmarkNext is BenchmarkReader without address validation.
func BenchmarkNext(b *testing.B) {
	const rows = 100_000
	data := genCSV(rows)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, err := Open(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}

func BenchmarkAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Address(" User.12345@Example.com "); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseAddress is the share of BenchmarkAddress spent in the
// net/mail cross-check.
func BenchmarkParseAddress(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mail.ParseAddress("User.12345@Example.com"); err != nil {
			b.Fatal(err)
		}
	}
}
