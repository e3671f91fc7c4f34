package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// checkShape reports an object holding a key twice (encoding/json accepts
// that, Elasticsearch rejects the document) and a member name holding a
// dot: a dotted name beside an object ("network.direction" next to
// "network") is one field to Elasticsearch but two shapes to jq, Kafka
// consumers or Splunk. Only the keys of a "tags" object may hold dots:
// they are the users' resource-tag keys, kept whole inside their object.
func checkShape(doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		path     string
		keys     map[string]bool
		isObject bool
		wantKey  bool
		userKeys bool // keys chosen by users (resource tags)
	}
	var stack []frame
	name := "" // the member name read last: the name of a value that follows
	for {
		tok, err := dec.Token()
		if err != nil {
			if len(stack) == 0 {
				return nil
			}
			return err
		}
		top := len(stack) - 1
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				path, userKeys := "", false
				if top >= 0 {
					path = stack[top].path
					if stack[top].isObject {
						path += "." + name
						userKeys = v == '{' && name == "tags"
						stack[top].wantKey = true
					}
				}
				stack = append(stack, frame{path: path, keys: map[string]bool{}, isObject: v == '{', wantKey: v == '{', userKeys: userKeys})
			default:
				stack = stack[:top]
			}
			continue
		case string:
			if top >= 0 && stack[top].isObject && stack[top].wantKey {
				f := &stack[top]
				if f.keys[v] {
					return fmt.Errorf("duplicate key %q at %q", v, "doc"+f.path)
				}
				if strings.Contains(v, ".") && !f.userKeys {
					return fmt.Errorf("dotted key %q at %q", v, "doc"+f.path)
				}
				f.keys[v] = true
				f.wantKey = false
				name = v
				continue
			}
		}
		if top >= 0 && stack[top].isObject {
			stack[top].wantKey = true
		}
	}
}

func TestCheckShape(t *testing.T) {
	for doc, bad := range map[string]bool{
		`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`: false,
		`{"a":1,"a":2}`:                        true,
		`{"a":{"x":[1,{"y":1}],"x":2}}`:        true,
		`{"a":"a","b":"a"}`:                    false,
		`{"a.b":"x"}`:                          true,
		`{"n":{"d":1},"n.d":1}`:                true,
		`{"x":{"tags":{"a.b":"c","d":"a.b"}}}`: false,
		`{"x":{"tags":{"a.b":"c","a.b":"d"}}}`: true,
		`{"tags":{"k":{"a.b":1}}}`:             true,
		`{"x":[{"tags.y":1}]}`:                 true,
		`{"a":"tags","b":{"c.d":1}}`:           true,
	} {
		if err := checkShape([]byte(doc)); (err != nil) != bad {
			t.Errorf("checkShape(%s) = %v, want error=%v", doc, err, bad)
		}
	}
}

// TestDocumentShape checks every document flowhose writes for the sample
// inputs, plain and enriched, and the golden files: one shape per
// document, no key twice at any level, no dotted keys beside objects.
func TestDocumentShape(t *testing.T) {
	enr := fileEnricher(t)
	var e Encoder
	check := func(t *testing.T, what string, recs []stream.Record) {
		t.Helper()
		for i := range recs {
			if err := checkShape(e.Append(nil, &recs[i])); err != nil {
				t.Fatalf("%s record %d: %v", what, i, err)
			}
		}
		enr.Enrich(context.Background(), recs)
		enriched := 0
		for i := range recs {
			doc := e.Append(nil, &recs[i])
			if err := checkShape(doc); err != nil {
				t.Fatalf("%s record %d enriched: %v\n%s", what, i, err, doc)
			}
			if recs[i].Enrichment.Interface != nil {
				enriched++
			}
		}
		t.Logf("%s: %d records, %d with inventory data", what, len(recs), enriched)
	}

	inputs, err := filepath.Glob(filepath.Join("testdata", "input", "*.log"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no inputs: %v", err)
	}
	inputs = append(inputs, filepath.Join("..", "..", "testdata", "flowlogs", "sample-v2.log"))
	for _, in := range inputs {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		check(t, in, decodeText(t, string(data)))
	}

	var examples struct {
		Sections []struct {
			Format  string
			Records []struct{ Record string }
		}
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "flowlogs", "aws-docs-flow-log-record-examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &examples); err != nil {
		t.Fatal(err)
	}
	for _, sec := range examples.Sections {
		var text strings.Builder
		text.WriteString(sec.Format + "\n") // a header line names the format
		for _, r := range sec.Records {
			text.WriteString(r.Record + "\n")
		}
		check(t, "AWS example "+sec.Format, decodeText(t, text.String()))
	}

	full := enrichedRecord()
	full.Enrichment.Src.Geo = full.Enrichment.Dst.Geo
	if err := checkShape(e.Append(nil, &full)); err != nil {
		t.Errorf("fully enriched record: %v", err)
	}

	goldens, err := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkShape(data); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
}

// decodeText decodes flow-log text (a header line names a custom format)
// and fails the test on any undecodable line.
func decodeText(t *testing.T, text string) []stream.Record {
	t.Helper()
	d, err := decode.New(decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out decode.Output
	d.Text(text, &out)
	if len(out.Failures) > 0 {
		t.Fatalf("decode failures: %+v", out.Failures)
	}
	if len(out.Records) == 0 {
		t.Fatal("no records decoded")
	}
	return out.Records
}
