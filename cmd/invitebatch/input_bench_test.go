package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/batch/input"
)

// BenchmarkOpenInput reads a 1,000,000-row input the way run does (checked,
// hashed and copied into the private copy), against the check and hash
// alone: the price of reading the input once.
func BenchmarkOpenInput(b *testing.B) {
	dir := b.TempDir()
	var sb strings.Builder
	sb.WriteString("email,name,office\n")
	for i := range 1_000_000 {
		fmt.Fprintf(&sb, "user%07d@example.com,User %d,Office %d\n", i, i, i%50)
	}
	in := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(in, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	size := int64(sb.Len())
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(size)
		o := &runOptions{file: in, report: filepath.Join(dir, "users.report.csv")}
		for b.Loop() {
			ri, scan, err := o.openInput(env{}, input.Options{})
			if err != nil || scan.records != 1_000_000 {
				b.Fatal(err, scan.records)
			}
			ri.Close()
		}
	})
	b.Run("scan-only", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			f, err := os.Open(in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := scanInput(in, f, io.Discard, input.Options{}); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
