package dashboard

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/schema.golden")

// keyPaths lists every key path of a JSON value: "funnel.stages[].count".
func keyPaths(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if strings.ToUpper(k) == k && strings.Contains(prefix, "states") {
				p = prefix + ".<STATE>"
			}
			out[p] = true
			keyPaths(p, x, out)
		}
	case []any:
		for _, x := range v {
			keyPaths(prefix+"[]", x, out)
		}
	}
}

// TestJSONSchemaStable: the JSON document's fields are those of
// testdata/schema.golden. A field may be added (run with -update and say
// so in the README); renaming or removing one needs a new Schema version.
func TestJSONSchemaStable(t *testing.T) {
	b, past := historyBuilder(t, 500)
	for i, p := range past[:50] {
		b.AddInputRow(p.Email, []string{"Sales", "IT"}[i%2])
	}
	b.AddInvalidRow("users.csv:9", "x", "no @", "IT")
	b.SetSource(Source{Customer: "C0x", Backend: "b", Emulator: true, ListPages: 3, Ledger: "l", Files: []string{"users.csv"}, Reports: []string{"users.report.csv"}})
	f := b.Figures("department")
	f.Pending.CSV = "m.pending.csv"
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	keyPaths("", v, paths)
	var got []string
	for p := range paths {
		got = append(got, p)
	}
	slices.Sort(got)
	golden := filepath.Join("testdata", "schema.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(strings.Fields(string(want)), got); d != "" {
		t.Errorf("JSON fields differ from %s (-golden +now); a removed or renamed field needs a new Schema (%s):\n%s", golden, Schema, d)
	}
}
