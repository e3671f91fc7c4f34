package splunk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/sinktest"
)

// receiver returns the independent HEC receiver's URL (the OpenTelemetry
// Collector's splunkhecreceiver, scripts/services.d/splunkhec.sh) and the
// file its exporter writes, skipping the test when it is not running
// unless FLOWHOSE_REQUIRE_SERVICES demands it.
func receiver(t testing.TB) (url, out string) {
	t.Helper()
	url, out = os.Getenv("FLOWHOSE_TEST_SPLUNK_HEC_URL"), os.Getenv("FLOWHOSE_TEST_SPLUNK_HEC_OUT")
	if url == "" || out == "" {
		if os.Getenv("FLOWHOSE_REQUIRE_SERVICES") != "" {
			t.Fatal("FLOWHOSE_TEST_SPLUNK_HEC_URL is unset but FLOWHOSE_REQUIRE_SERVICES is set: run scripts/services start")
		}
		t.Skip("FLOWHOSE_TEST_SPLUNK_HEC_URL unset; run scripts/services start and source .services/env")
	}
	return url, out
}

// otlpValue is an OTLP JSON AnyValue, as the fileexporter writes it.
type otlpValue struct {
	String *string `json:"stringValue"`
	Array  *struct {
		Values []otlpValue `json:"values"`
	} `json:"arrayValue"`
	KV *struct {
		Values []otlpKV `json:"values"`
	} `json:"kvlistValue"`
}

type otlpKV struct {
	Key   string    `json:"key"`
	Value otlpValue `json:"value"`
}

// received is one event as the receiver passed it on.
type received struct {
	resource map[string]string
	time     string
	body     otlpValue
	attrs    map[string]otlpValue
}

// readReceived returns the events written to the exporter's file from
// offset on whose resource has com.splunk.source == source (each test
// sends its own source).
func readReceived(t *testing.T, path string, offset int64, source string) []received {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out []received
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(source)) {
			continue // another test's: skip the decoding
		}
		var line struct {
			ResourceLogs []struct {
				Resource struct {
					Attributes []otlpKV `json:"attributes"`
				} `json:"resource"`
				ScopeLogs []struct {
					LogRecords []struct {
						Time       string    `json:"timeUnixNano"`
						Body       otlpValue `json:"body"`
						Attributes []otlpKV  `json:"attributes"`
					} `json:"logRecords"`
				} `json:"scopeLogs"`
			} `json:"resourceLogs"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			// The exporter's last line may be cut off mid-write: the
			// caller reads again.
			break
		}
		for _, rl := range line.ResourceLogs {
			res := map[string]string{}
			for _, kv := range rl.Resource.Attributes {
				if kv.Value.String != nil {
					res[kv.Key] = *kv.Value.String
				}
			}
			if res["com.splunk.source"] != source {
				continue
			}
			for _, sl := range rl.ScopeLogs {
				for _, lr := range sl.LogRecords {
					r := received{resource: res, time: lr.Time, body: lr.Body, attrs: map[string]otlpValue{}}
					for _, kv := range lr.Attributes {
						r.attrs[kv.Key] = kv.Value
					}
					out = append(out, r)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// enriched gives some records what enrichment adds, so the indexed
// fields are checked too.
func enriched(recs []stream.Record) {
	ifc := &stream.Interface{ID: "eni-x", VPCID: "vpc-0abc", SubnetID: "subnet-1", Tags: []stream.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "net \"core\""}}}
	for i := range recs {
		e := &recs[i].Enrichment
		e.Cost = stream.CostInternet
		e.Perimeter = "outbound"
		e.Src.Class = stream.AddrPrivate
		if i%3 == 0 {
			e.Interface = ifc
		}
	}
}

func TestIntegrationReceiver(t *testing.T) {
	url, out := receiver(t)
	for _, tc := range []struct {
		shape string
		ack   bool
	}{{ShapeLine, true}, {ShapeECS, true}, {ShapeLine, false}} {
		t.Run(fmt.Sprintf("%s ack=%v", tc.shape, tc.ack), func(t *testing.T) {
			source := fmt.Sprintf("flowhose-test-%d", time.Now().UnixNano())
			// The file holds what every earlier run sent: read what follows.
			var offset int64
			if fi, err := os.Stat(out); err == nil {
				offset = fi.Size()
			}
			cfg := DefaultConfig()
			cfg.URLs = []string{url}
			cfg.Token = "00000000-0000-0000-0000-000000000000" // the receiver checks none
			cfg.Shape, cfg.Ack = tc.shape, tc.ack
			cfg.Source, cfg.Index, cfg.Host = source, "aws_vpc", "flowhose-it"
			cfg.FlushEvents = 700
			cfg.AckPollInterval = 50 * time.Millisecond
			s, err := New(cfg, &sinktest.DeadLetter{}, nil, quiet)
			if err != nil {
				t.Fatal(err)
			}
			recs := makeRecords(t, 5000)
			enriched(recs)
			start := time.Now()
			var acks []*stream.Ack
			for i := 0; i < len(recs); i += 500 {
				acks = append(acks, sinktest.Accept(t, s, recs[i:i+500]))
			}
			for _, a := range acks {
				if err := sinktest.Wait(t, a, 20*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Logf("delivered in %s", time.Since(start))
			if tc.ack && testutil.ToFloat64(s.m.delivered) != 5000 {
				t.Fatalf("delivered %v", testutil.ToFloat64(s.m.delivered))
			}
			// The exporter flushes every 100 ms.
			var got []received
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if got = readReceived(t, out, offset, source); len(got) >= len(recs) {
					break
				}
			}
			byID := map[string]received{}
			for _, r := range got {
				id := r.attrs["flowhose_id"]
				if id.String == nil {
					t.Fatalf("event without flowhose_id: %+v", r)
				}
				if _, dup := byID[*id.String]; dup {
					t.Fatalf("event %s received twice", *id.String)
				}
				byID[*id.String] = r
			}
			wantST := map[string]string{ShapeLine: "aws:cloudwatchlogs:vpcflow", ShapeECS: DefaultECSSourcetype}[tc.shape]
			for i, id := range ids(recs) {
				r, ok := byID[id]
				if !ok {
					t.Fatalf("record %d (%s) not received (%d of %d received)", i, id, len(got), len(recs))
				}
				if want := strconv.FormatInt(recs[i].End, 10) + "000000000"; r.time != want {
					t.Fatalf("record %d: time %s, want %s", i, r.time, want)
				}
				if r.resource["com.splunk.sourcetype"] != wantST || r.resource["com.splunk.index"] != "aws_vpc" || r.resource["host.name"] != "flowhose-it" {
					t.Fatalf("record %d: metadata %v", i, r.resource)
				}
				switch tc.shape {
				case ShapeLine:
					if r.body.String == nil || *r.body.String != recs[i].Raw {
						t.Fatalf("record %d: body %+v, want the line", i, r.body)
					}
					if v := r.attrs["cost_class"]; v.String == nil || *v.String != "internet" {
						t.Fatalf("record %d: cost_class %+v", i, v)
					}
					if v := r.attrs["src_class"]; v.String == nil || *v.String != "private" {
						t.Fatalf("record %d: src_class %+v", i, v)
					}
					tags := r.attrs["tags"]
					if i%3 == 0 != (tags.Array != nil) {
						t.Fatalf("record %d: tags %+v", i, tags)
					}
					if i%3 == 0 {
						if len(tags.Array.Values) != 2 || *tags.Array.Values[1].String != `team=net "core"` {
							t.Fatalf("record %d: tags %+v", i, tags.Array.Values)
						}
						if v := r.attrs["vpc_id"]; v.String == nil || *v.String != "vpc-0abc" {
							t.Fatalf("record %d: vpc_id %+v", i, v)
						}
					}
				case ShapeECS:
					if r.body.KV == nil {
						t.Fatalf("record %d: body %+v, want the ECS document", i, r.body)
					}
					keys := map[string]bool{}
					for _, kv := range r.body.KV.Values {
						keys[kv.Key] = true
					}
					for _, k := range []string{"@timestamp", "source", "destination", "network", "event", "flowhose"} {
						if !keys[k] {
							t.Fatalf("record %d: document lacks %s: %v", i, k, keys)
						}
					}
				}
			}
		})
	}
}
