package examples_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// dockerfile is the parsed examples/Dockerfile: its instructions, with
// continuation lines joined and comments dropped.
func dockerfile() ([][2]string, error) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		return nil, err
	}
	var out [][2]string
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(rest)})
	}
	return out, nil
}

// dockerBuildCommand returns the Dockerfile's `go build` command, its
// environment assignments first, with ${VERSION} set and the output
// redirected to out.
func dockerBuildCommand(out string) ([]string, error) {
	instrs, err := dockerfile()
	if err != nil {
		return nil, err
	}
	for _, in := range instrs {
		if in[0] != "RUN" || !strings.Contains(in[1], "go build") {
			continue
		}
		args, err := shellFields(strings.ReplaceAll(in[1], "${VERSION}", testVersion))
		if err != nil {
			return nil, err
		}
		for i, a := range args {
			if a == "-o" && i+1 < len(args) {
				args[i+1] = out
			}
		}
		return args, nil
	}
	return nil, fmt.Errorf("no RUN ... go build in the Dockerfile")
}

// runBuild runs a build command (VAR=value... go build ...) from the
// repository root, as the Dockerfile's WORKDIR holds it.
func runBuild(args []string) error {
	env := os.Environ()
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		env = append(env, args[0])
		args = args[1:]
	}
	if len(args) < 2 || args[0] != "go" || args[1] != "build" {
		return fmt.Errorf("want VAR=value... go build ..., got %q", args)
	}
	cmd := exec.Command("go", args[1:]...)
	cmd.Dir = ".."
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%q: %v\n%s", args, err, out)
	}
	return nil
}

// shellFields splits a command line as sh does for the plain words, single
// and double quotes these examples use (no expansions, no escapes).
func shellFields(s string) ([]string, error) {
	var fields []string
	var cur strings.Builder
	inField := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inField = r, true
		case r == ' ' || r == '\t':
			if inField {
				fields = append(fields, cur.String())
				cur.Reset()
				inField = false
			}
		default:
			cur.WriteRune(r)
			inField = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inField {
		fields = append(fields, cur.String())
	}
	return fields, nil
}

func TestDockerfile(t *testing.T) {
	instrs, err := dockerfile()
	if err != nil {
		t.Fatal(err)
	}
	var froms, users []string
	var build, copyFrom, entrypoint string
	for _, in := range instrs {
		switch in[0] {
		case "FROM":
			froms = append(froms, in[1])
		case "USER":
			users = append(users, in[1])
		case "RUN":
			if strings.Contains(in[1], "go build") {
				build = in[1]
			}
		case "COPY":
			if strings.HasPrefix(in[1], "--from=") {
				copyFrom = in[1]
			}
		case "ENTRYPOINT":
			entrypoint = in[1]
		}
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %q: want a multi-stage build", froms)
	}
	final := froms[len(froms)-1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage FROM %s: want distroless/static or scratch", final)
	}
	if len(users) == 0 || users[len(users)-1] == "root" || strings.HasPrefix(users[len(users)-1], "0") {
		t.Errorf("USER %q: want a non-root user last", users)
	}
	if !strings.HasPrefix(build, "CGO_ENABLED=0 go build") {
		t.Errorf("build command %q: want CGO_ENABLED=0 go build", build)
	}
	// The binary the build put out is the one the final stage copies and
	// runs.
	args, _ := shellFields(build)
	out := ""
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			out = args[i+1]
		}
	}
	cf, _ := shellFields(copyFrom)
	if len(cf) != 3 || cf[1] != out {
		t.Errorf("COPY %q does not copy the build's output %s", copyFrom, out)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) != 1 || len(cf) != 3 || ep[0] != cf[2] {
		t.Errorf("ENTRYPOINT %s: want the exec form running %v", entrypoint, cf)
	}
}

// TestDockerBuildIsStatic: the binary of the Dockerfile's build command
// (built by TestMain) needs no dynamic loader, so distroless/static or
// scratch can run it, and carries the version of the build argument.
func TestDockerBuildIsStatic(t *testing.T) {
	f, err := elf.Open(binary)
	if err != nil {
		t.Skipf("not an ELF binary on this OS: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v dynamically", libs)
	}
	out, err := exec.Command(binary, "version").Output()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("version: %v\n%s\nwant %s (from -ldflags -X main.version)", err, out, testVersion)
	}
}
