package ecs

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current encoder")

// TestGolden decodes every testdata/input/*.log file with package decode
// (a header line names a custom format) and compares each record's id and
// ECS document with testdata/golden/<name>.json; enriched.json holds
// records built with every enrichment field set. Run with -update to
// regenerate, then review the diff.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "input", "*.log"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".log")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, name, decodeText(t, string(data)))
		})
	}
	t.Run("enriched", func(t *testing.T) {
		full := enrichedRecord()
		full.Enrichment.Src.Geo = &stream.Geo{CountryISOCode: "DE", ContinentCode: "EU", ASN: 64500}
		// The raw record's fields win over the inventory's.
		raw := enrichedRecord()
		raw.InstanceID, raw.Region, raw.AZID, raw.AccountID, raw.FlowDirection = "i-raw", "eu-west-1", "euw1-az1", "999", "ingress"
		for _, f := range []stream.Field{stream.FieldInstanceID, stream.FieldRegion, stream.FieldAZID, stream.FieldAccountID, stream.FieldFlowDirection} {
			raw.Present.Add(f)
		}
		raw.Enrichment.Direction, raw.Enrichment.DirectionFrom = "ingress", stream.DirectionFlowLog
		compareGolden(t, "enriched", []stream.Record{full, raw})
	})
}

// compareGolden compares the ids and documents of recs with
// testdata/golden/<name>.json, or rewrites the file with -update.
func compareGolden(t *testing.T, name string, recs []stream.Record) {
	t.Helper()
	e := Encoder{Original: true}
	var buf []byte
	buf = append(buf, '[')
	for i := range recs {
		r := &recs[i]
		doc := e.Append(nil, r)
		if !json.Valid(doc) {
			t.Fatalf("record %d: invalid JSON: %s", i, doc)
		}
		if err := checkShape(doc); err != nil {
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
}
