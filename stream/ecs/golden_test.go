package ecs

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream/decode"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current encoder")

// TestGolden decodes every testdata/input/*.log file with package decode
// (a header line names a custom format) and compares each record's id and
// ECS document with testdata/golden/<name>.json. Run with -update to
// regenerate, then review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "input", "*.log"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	e := Encoder{Original: true}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".log")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			d, err := decode.New(decode.Options{Source: name})
			if err != nil {
				t.Fatal(err)
			}
			var out decode.Output
			d.Text(string(data), &out)
			if len(out.Failures) > 0 {
				t.Fatalf("decode failures: %+v", out.Failures)
			}
			if len(out.Records) == 0 {
				t.Fatal("no records decoded")
			}
			var buf []byte
			buf = append(buf, '[')
			for i := range out.Records {
				r := &out.Records[i]
				doc := e.Append(nil, r)
				if !json.Valid(doc) {
					t.Fatalf("record %d: invalid JSON: %s", i, doc)
				}
				if err := checkDuplicateKeys(doc); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, `{"id":"`...)
				buf = AppendID(buf, r)
				buf = append(buf, `","doc":`...)
				buf = append(buf, doc...)
				buf = append(buf, '}')
			}
			buf = append(buf, ']')
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, buf, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')

			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s differs from the encoder's output; run with -update and review the diff\ngot:\n%s", golden, pretty.Bytes())
			}
		})
	}
}
