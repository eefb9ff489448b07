package reports

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// loadJournal reads every payload of the journal at path.
func loadJournal(t testing.TB, path string, opts JournalOptions) (*Journal, []string, error) {
	t.Helper()
	var got []string
	j, err := OpenJournal(path, opts, func(n int, p []byte) error {
		if n != len(got)+1 {
			t.Errorf("line number %d, want %d", n, len(got)+1)
		}
		got = append(got, string(p))
		return nil
	})
	return j, got, err
}

// writeJournal creates a journal at path holding payloads.
func writeJournal(t testing.TB, path string, payloads ...string) {
	t.Helper()
	j, err := OpenJournal(path, JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range payloads {
		j.Append([]byte(p))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

// lineStarts returns the byte offset of the start of each line of b.
func lineStarts(b []byte) []int {
	starts := []int{0}
	for i, c := range b {
		if c == '\n' && i+1 < len(b) {
			starts = append(starts, i+1)
		}
	}
	return starts
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "j")
	payloads := []string{"hello", "", "with spaces and \"quotes\"", strings.Repeat("x", 100000), "ünïcødé"}
	j, got, err := loadJournal(t, path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("new journal has %d records", len(got))
	}
	for i, p := range payloads {
		if p == strings.Repeat("x", 100000) {
			p = p[:MaxPayload]
			payloads[i] = p
		}
		if seq := j.Append([]byte(p)); seq != uint64(i+1) {
			t.Errorf("Append returned %d, want %d", seq, i+1)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Dir(path), 0o700)

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("3610a686 hello\n00000000 \n")) {
		t.Errorf("file starts %q", b[:30])
	}

	j, got, err = loadJournal(t, path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if diff := cmp.Diff(payloads, got); diff != "" {
		t.Errorf("reloaded payloads (-want +got):\n%s", diff)
	}
}

func TestJournalAppendRejects(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j"), JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	for _, p := range []string{"a\nb", strings.Repeat("x", MaxPayload+1)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%.10q...) did not panic", p)
				}
			}()
			j.Append([]byte(p))
		}()
	}
}

func TestJournalClosedAndReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	if _, _, err := loadJournal(t, path, JournalOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open of a missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read-only open created the file")
	}
	writeJournal(t, path, "a", "b")

	// A torn tail is dropped but left in place by a read-only open.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("0000")
	f.Close()
	j, got, err := loadJournal(t, path, JournalOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("payloads (-want +got):\n%s", diff)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("c"))); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Wait after read-only Append: %v, want ErrReadOnly", err)
	}
	if err := j.Err(); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Err: %v, want ErrReadOnly", err)
	}
	if err := j.Close(); err != nil {
		t.Error(err)
	}
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("\n0000")) {
		t.Errorf("read-only open changed the file: %q", b)
	}

	j, _, err = loadJournal(t, path, JournalOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Wait(context.Background(), j.Append([]byte("late"))); !errors.Is(err, ErrJournalClosed) {
		t.Errorf("Wait after Append after Close: %v, want ErrJournalClosed", err)
	}
	if err := j.Wait(context.Background(), 0); err != nil {
		t.Errorf("Wait(0): %v", err)
	}
}

func TestJournalWaitUnknown(t *testing.T) {
	j, err := OpenJournal(filepath.Join(t.TempDir(), "j"), JournalOptions{NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.Wait(context.Background(), 5); err == nil {
		t.Error("Wait for a record never appended returned nil")
	}
}
