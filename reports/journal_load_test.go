package reports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestJournalTornTail cuts the file at every byte offset inside its last two
// records: each copy must load without the torn record, and an append must
// then produce a valid file.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	payloads := []string{"one", "two", "three", "four"}
	writeJournal(t, src, payloads...)
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	starts := lineStarts(full)
	for cut := starts[len(starts)-2]; cut < len(full); cut++ {
		complete := bytes.Count(full[:cut], []byte("\n")) // lines wholly before cut
		if full[cut] == '\n' {
			complete++ // a complete record without its newline is kept
		}
		path := filepath.Join(dir, fmt.Sprintf("cut%d", cut))
		if err := os.WriteFile(path, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j, got, err := loadJournal(t, path, JournalOptions{NoSync: true})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		if diff := cmp.Diff(payloads[:complete], got); diff != "" {
			t.Errorf("cut at %d: payloads (-want +got):\n%s", cut, diff)
		}
		if err := j.Wait(context.Background(), j.Append([]byte("after"))); err != nil {
			t.Fatal(err)
		}
		j.Close()
		_, got, err = loadJournal(t, path, JournalOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("cut at %d, then append: %v", cut, err)
		}
		want := append(append([]string(nil), payloads[:complete]...), "after")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("cut at %d, then append: payloads (-want +got):\n%s", cut, diff)
		}
	}
}

// TestJournalLastLineWithoutNewline: a complete, CRC-valid last line that
// lost only its newline was dropped as torn (in a ledger: a send forgotten).
// It is kept, by readers too, and a writer ends it before appending.
func TestJournalLastLineWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	content := string(appendLine(nil, []byte("one"))) + strings.TrimSuffix(string(appendLine(nil, []byte("two"))), "\n")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	_, got, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
		t.Errorf("read-only load (-want +got):\n%s", diff)
	}
	j, got, err := loadJournal(t, path, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "two"}, got); diff != "" {
		t.Errorf("load (-want +got):\n%s", diff)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("three"))); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if b, _ := os.ReadFile(path); string(b) != content+"\n"+string(appendLine(nil, []byte("three"))) {
		t.Errorf("file after append:\n%s", b)
	}
}

func TestJournalCorrupt(t *testing.T) {
	good := "3610a686 hello\n"
	tests := []struct {
		name     string
		content  string
		wantLine int
		wantOff  int64
		wantErr  string
	}{
		{"flipped payload byte", good + "3610a686 hellp\n" + good, 2, 15, "checksum mismatch"},
		{"bad crc", good + good + "3610a687 hello\n", 3, 30, "checksum mismatch"},
		{"upper-case crc", "3610A686 hello\n", 1, 0, "malformed checksum"},
		{"no space", good + "3610a686hello\n", 2, 15, "malformed line"},
		{"short line", good + "\n" + good, 2, 15, "malformed line"},
		{"too long", good + "00000000 " + strings.Repeat("x", MaxPayload+1) + "\n" + good, 2, 15, "line too long"},
		{"bad crc then torn tail", "3610a686 hellp\n3610a6", 1, 0, "checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				_, _, err := loadJournal(t, path, JournalOptions{ReadOnly: ro})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("read-only %v: error %v, want a *CorruptError", ro, err)
				}
				if ce.Line != tt.wantLine || ce.Offset != tt.wantOff || ce.Path != path {
					t.Errorf("got line %d offset %d path %s, want line %d offset %d path %s",
						ce.Line, ce.Offset, ce.Path, tt.wantLine, tt.wantOff, path)
				}
				want := fmt.Sprintf("%s: line %d (byte offset %d): %s", path, tt.wantLine, tt.wantOff, tt.wantErr)
				if err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Error("a failed load changed the file")
			}
		})
	}
}

func TestJournalCallbackError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	writeJournal(t, path, "a", "b", "c")
	boom := errors.New("boom")
	_, err := OpenJournal(path, JournalOptions{}, func(n int, p []byte) error {
		if string(p) == "b" {
			return boom
		}
		return nil
	})
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Offset != 11 || !errors.Is(err, boom) {
		t.Errorf("error %v, want boom at line 2, offset 11", err)
	}
}

// FuzzLoadJournal loads arbitrary bytes: it must never panic, and whenever a
// load succeeds, appending a record must yield a file that loads with one
// more record.
func FuzzLoadJournal(f *testing.F) {
	f.Add([]byte("3610a686 hello\n"))
	f.Add([]byte("3610a686 hello\n3610a6"))
	f.Add([]byte("00000000 \n"))
	f.Add([]byte("3610a686 hellp\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, before, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
		j, got, werr := loadJournal(t, path, JournalOptions{NoSync: true})
		if (err == nil) != (werr == nil) {
			t.Fatalf("read-only load: %v; writable load: %v", err, werr)
		}
		if err != nil {
			return
		}
		if diff := cmp.Diff(before, got); diff != "" {
			t.Fatalf("read-only and writable loads differ:\n%s", diff)
		}
		j.Append([]byte("appended"))
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		_, after, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
		if err != nil {
			t.Fatalf("load after append: %v", err)
		}
		if want := append(got, "appended"); !cmp.Equal(want, after) {
			t.Fatalf("after append: %q, want %q", after, want)
		}
	})
}

// BenchmarkJournalLoad loads a journal of a million lines.
func BenchmarkJournalLoad(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "j")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	var buf, p []byte
	for i := range n {
		p = fmt.Appendf(p[:0], "1795834800000000000 sent user%07d@example.com", i)
		buf = appendLine(buf, p)
	}
	f.Write(buf)
	f.Close()
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		count := 0
		j, err := OpenJournal(path, JournalOptions{ReadOnly: true}, func(int, []byte) error { count++; return nil })
		if err != nil || count != n {
			b.Fatal(count, err)
		}
		j.Close()
	}
}
