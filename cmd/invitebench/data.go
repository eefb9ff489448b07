package main

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"os"
	"strconv"
	"time"
)

// address is the i-th generated address of a data set; prefixes keep the
// data sets of different runs apart.
func address(prefix string, i int) string {
	return prefix + strconv.Itoa(i) + "@corp.example.com"
}

// writeCSV writes an input of n rows with a name column beside the email
// column, as an HR export would have.
func writeCSV(path, prefix string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("email,name\n")
	for i := range n {
		fmt.Fprintf(w, "%s,User %d\n", address(prefix, i), i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeLedger writes a ledger of n earlier sends, a month old, in the
// journal format reports.Ledger reads: "<crc32 hex> <nanos> sent <email>".
func writeLedger(path, prefix string, n int) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	t := time.Now().Add(-30 * 24 * time.Hour).UnixNano()
	var p, line []byte
	for i := range n {
		p = strconv.AppendInt(p[:0], t+int64(i), 10)
		p = append(p, " sent "...)
		p = append(p, address(prefix, i)...)
		line = fmt.Appendf(line[:0], "%08x %s\n", crc32.ChecksumIEEE(p), p)
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addresses returns the first n addresses of prefix.
func addresses(prefix string, n int) []string {
	a := make([]string, n)
	for i := range a {
		a[i] = address(prefix, i)
	}
	return a
}

// seedKinds is a seed CSV giving each of the first n addresses of prefix
// the kind kindOf says ("" leaves it unseeded: unmanaged but not listed).
func seedKinds(prefix string, n int, kindOf func(i int) string) []byte {
	b := []byte("email,kind\n")
	for i := range n {
		if k := kindOf(i); k != "" {
			b = fmt.Appendf(b, "%s,%s\n", address(prefix, i), k)
		}
	}
	return b
}
