package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/invitebatch/invitebatch/client/emulator"
)

// A list lookup of three pages whose first request fails once: the summary
// counts every page as a request, as the emulator saw them.
func TestE2EListPagesCountAsRequests(t *testing.T) {
	w := newWorld(t)
	var csv strings.Builder
	csv.WriteString("email\n")
	for i := range 450 {
		e := fmt.Sprintf("u%03d@example.com", i)
		w.emu.Seed(e, emulator.KindInvited)
		csv.WriteString(e + "\n")
	}
	w.write("users.csv", csv.String())
	w.emu.FailNext(emulator.MethodList, 1, 503)
	res := w.run("run", "--lookup", "list", "--summary", "sum.json", "users.csv")
	if res.code != 0 {
		t.Fatalf("exit = %d, want 0\n%s", res.code, res.stderr)
	}
	sum := w.summary("sum.json")
	lists := 0
	for _, n := range sum.APICalls["list"] {
		lists += n
	}
	if got, want := lists, w.emu.Stats().Total(emulator.MethodList); got != want || want != 4 {
		t.Errorf("summary counts %d list requests, the emulator saw %d; want 4 (3 pages and a retry)", got, want)
	}
	if sum.Outcomes["already_invited"] != 450 {
		t.Errorf("outcomes = %v, want 450 already_invited", sum.Outcomes)
	}
}
