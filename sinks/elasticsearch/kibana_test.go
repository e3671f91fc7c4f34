package elasticsearch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/firehose"
)

const savedObjectsFile = "../../deploy/kibana/vpcflow.ndjson"

// The two questions the saved objects answer, as the tests below ask them.
const (
	acceptedKQL    = `event.action : "accept"`
	rejectedTCPKQL = `event.action : "reject" and network.transport : "tcp"`
)

type savedObject struct {
	Type       string `json:"type"`
	ID         string `json:"id"`
	Attributes struct {
		Title              string `json:"title"`
		TimeFieldName      string `json:"timeFieldName"`
		RuntimeFieldMap    string `json:"runtimeFieldMap"`
		VisState           string `json:"visState"`
		PanelsJSON         string `json:"panelsJSON"`
		Columns            []string
		SavedSearchRefName string `json:"savedSearchRefName"`
		Meta               struct {
			SearchSourceJSON string `json:"searchSourceJSON"`
		} `json:"kibanaSavedObjectMeta"`
	} `json:"attributes"`
	References []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"references"`
}

type visState struct {
	Type string `json:"type"`
	Aggs []struct {
		Type   string `json:"type"`
		Schema string `json:"schema"`
		Params struct {
			Field   string   `json:"field"`
			Fields  []string `json:"fields"`
			OrderBy string   `json:"orderBy"`
			Size    int      `json:"size"`
		} `json:"params"`
	} `json:"aggs"`
}

func loadSavedObjects(t *testing.T) map[string]savedObject {
	t.Helper()
	f, err := os.Open(savedObjectsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs := map[string]savedObject{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var o savedObject
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if o.Type == "" || o.ID == "" || o.Attributes.Title == "" {
			t.Fatalf("line %d: type, id and title are required: %+v", line, o)
		}
		if _, dup := objs[o.ID]; dup {
			t.Fatalf("line %d: duplicate id %s", line, o.ID)
		}
		objs[o.ID] = o
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return objs
}

// kql returns the KQL query of a saved object's search source.
func kql(t *testing.T, o savedObject) string {
	t.Helper()
	var src struct {
		Query struct{ Query, Language string }
	}
	if err := json.Unmarshal([]byte(o.Attributes.Meta.SearchSourceJSON), &src); err != nil {
		t.Fatalf("%s: searchSourceJSON: %v", o.ID, err)
	}
	if src.Query.Language != "kuery" {
		t.Errorf("%s: query language %q, want kuery", o.ID, src.Query.Language)
	}
	return src.Query.Query
}

// TestSavedObjects checks that the Kibana file is well formed, that every
// reference resolves within it, and that its questions are the ones the
// integration test below answers from Elasticsearch.
func TestSavedObjects(t *testing.T) {
	objs := loadSavedObjects(t)
	for _, o := range objs {
		for _, r := range o.References {
			target, ok := objs[r.ID]
			if !ok || target.Type != r.Type {
				t.Errorf("%s: reference %s to %s %s does not resolve in the file", o.ID, r.Name, r.Type, r.ID)
			}
		}
		for name, s := range map[string]string{"visState": o.Attributes.VisState, "panelsJSON": o.Attributes.PanelsJSON,
			"runtimeFieldMap": o.Attributes.RuntimeFieldMap, "searchSourceJSON": o.Attributes.Meta.SearchSourceJSON} {
			if s != "" && !json.Valid([]byte(s)) {
				t.Errorf("%s: %s is not valid JSON", o.ID, name)
			}
		}
	}

	dv := objs["flowhose-vpcflow-data-view"]
	if dv.Type != "index-pattern" || dv.Attributes.Title != "logs-aws.vpcflow-*" || dv.Attributes.TimeFieldName != "@timestamp" {
		t.Errorf("data view: %+v", dv)
	}
	if !strings.Contains(dv.Attributes.RuntimeFieldMap, "day_of_week") {
		t.Error("data view lacks the day_of_week runtime field")
	}

	search := objs["flowhose-rejected-tcp"]
	if got := kql(t, search); got != rejectedTCPKQL {
		t.Errorf("saved search query %q, want %q", got, rejectedTCPKQL)
	}
	for _, col := range []string{"day_of_week", "aws.vpcflow.interface_id", "source.ip"} {
		if !slices.Contains(search.Attributes.Columns, col) {
			t.Errorf("saved search lacks column %s", col)
		}
	}

	top := objs["flowhose-top-pairs-accepted-bytes"]
	if got := kql(t, top); got != acceptedKQL {
		t.Errorf("top pairs query %q, want %q", got, acceptedKQL)
	}
	var vs visState
	if err := json.Unmarshal([]byte(top.Attributes.VisState), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs.Aggs) != 2 || vs.Aggs[0].Type != "sum" || vs.Aggs[0].Params.Field != "network.bytes" ||
		vs.Aggs[1].Type != "multi_terms" || !slices.Equal(vs.Aggs[1].Params.Fields, []string{"source.ip", "destination.ip"}) ||
		vs.Aggs[1].Params.Size != 10 || vs.Aggs[1].Params.OrderBy != "1" {
		t.Errorf("top pairs visualisation is not top 10 (source.ip, destination.ip) by sum of network.bytes: %s", top.Attributes.VisState)
	}

	rej := objs["flowhose-rejected-tcp-by-day-interface-source"]
	if rej.Attributes.SavedSearchRefName == "" {
		t.Error("rejected TCP visualisation is not built on the saved search")
	}
	vs = visState{}
	if err := json.Unmarshal([]byte(rej.Attributes.VisState), &vs); err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, a := range vs.Aggs {
		if a.Schema == "bucket" {
			fields = append(fields, a.Params.Field)
		}
	}
	if !slices.Equal(fields, []string{"day_of_week", "aws.vpcflow.interface_id", "source.ip"}) {
		t.Errorf("rejected TCP visualisation splits by %v", fields)
	}
}

// corpus makes distinct version 2 lines over two weeks from Monday
// 2024-03-04 UTC: six interfaces, fifteen sources and destinations, a
// quarter rejected, TCP, UDP and ICMP, and some NODATA records.
func corpus(n int) []string {
	rng := rand.New(rand.NewPCG(7, 11))
	base := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC).Unix()
	seen := map[string]bool{}
	var lines []string
	for len(lines) < n {
		eni := fmt.Sprintf("eni-%017x", 0xa0+rng.IntN(6))
		start := base + rng.Int64N(14*86400)
		end := start + 1 + rng.Int64N(60)
		var line string
		if rng.IntN(40) == 0 {
			line = fmt.Sprintf("2 123456789012 %s - - - - - - - %d %d - NODATA", eni, start, end)
		} else {
			action := "ACCEPT"
			if rng.IntN(4) == 0 {
				action = "REJECT"
			}
			proto := []int{6, 6, 6, 6, 6, 6, 6, 17, 17, 1}[rng.IntN(10)]
			src := fmt.Sprintf("10.0.%d.%d", rng.IntN(3), 10+rng.IntN(5))
			dst := []string{"172.31.0.5", "172.31.0.6", "172.31.7.9", "52.94.1.10", "198.51.100.7"}[rng.IntN(5)]
			dst = fmt.Sprintf("%s%d", dst[:len(dst)-1], rng.IntN(3))
			line = fmt.Sprintf("2 123456789012 %s %s %s %d %d %d %d %d %d %d %s OK",
				eni, src, dst, 1024+rng.IntN(60000), []int{443, 22, 3389, 53}[rng.IntN(4)], proto,
				1+rng.IntN(1000), 40+rng.IntN(5_000_000), start, end, action)
		}
		if !seen[line] {
			seen[line] = true
			lines = append(lines, line)
		}
	}
	return lines
}

type pairBytes struct {
	pair  string // "src dst"
	bytes int64
}

// topPairs answers question 1 from the raw lines.
func topPairs(lines []string) []pairBytes {
	sums := map[string]int64{}
	for _, l := range lines {
		f := strings.Fields(l)
		if f[12] != "ACCEPT" {
			continue
		}
		b, _ := strconv.ParseInt(f[9], 10, 64)
		sums[f[3]+" "+f[4]] += b
	}
	return top10(sums)
}

func top10(sums map[string]int64) []pairBytes {
	var all []pairBytes
	for p, b := range sums {
		all = append(all, pairBytes{p, b})
	}
	slices.SortFunc(all, func(a, b pairBytes) int {
		if a.bytes != b.bytes {
			return int(b.bytes - a.bytes)
		}
		return strings.Compare(a.pair, b.pair)
	})
	return all[:min(10, len(all))]
}

// rejectedTCP answers question 2 from the raw lines: rejected TCP flows
// per (day of week of the end time, interface, source address).
func rejectedTCP(lines []string) map[string]int {
	out := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		if f[12] != "REJECT" || f[7] != "6" {
			continue
		}
		end, _ := strconv.ParseInt(f[11], 10, 64)
		out[time.Unix(end, 0).UTC().Weekday().String()+" "+f[2]+" "+f[3]]++
	}
	return out
}

// postFirehose sends lines as one Firehose HTTP-endpoint request, one line
// per Firehose record, and fails unless it is acknowledged.
func postFirehose(t *testing.T, url, requestID string, lines []string) {
	t.Helper()
	type rec struct {
		Data string `json:"data"`
	}
	body := struct {
		RequestID string `json:"requestId"`
		Timestamp int64  `json:"timestamp"`
		Records   []rec  `json:"records"`
	}{RequestID: requestID, Timestamp: time.Now().UnixMilli()}
	for _, l := range lines {
		body.Records = append(body.Records, rec{base64.StdEncoding.EncodeToString([]byte(l + "\n"))})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Firehose-Request-Id", requestID)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("firehose request %s: %s: %s", requestID, res.Status, msg)
	}
}

// TestIntegrationKibanaQuestions ingests a corpus through the Firehose
// HTTP endpoint, the pipeline and this sink into the real node, then asks
// the two questions of the saved objects with core aggregations (this
// distribution has neither multi_terms nor Painless, which Kibana's
// objects use; the answers must be the same) and compares them with the
// answers computed from the input lines.
func TestIntegrationKibanaQuestions(t *testing.T) {
	base := esURL(t)
	cfg := integrationConfig(t, base)
	dl := &sinktest.DeadLetter{}
	sink := setupSink(t, cfg, dl)
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 8, Sinks: []stream.Sink{sink}, DeadLetter: dl})
	if err != nil {
		t.Fatal(err)
	}
	fcfg := firehose.DefaultConfig()
	h, err := firehose.New(fcfg, decode.Options{Source: "firehose"}, firehose.Deps{Pipeline: p, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	lines := corpus(3000)
	for i := 0; i < len(lines); i += 250 {
		postFirehose(t, srv.URL, fmt.Sprintf("req-%d", i), lines[i:min(i+250, len(lines))])
	}
	// Firehose retries a request whose answer it missed: same records again.
	postFirehose(t, srv.URL, "req-0-retry", lines[:250])
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if fs := dl.Failures(); len(fs) > 0 {
		t.Fatalf("%d dead letters, first: %+v", len(fs), fs[0])
	}
	ds := cfg.dataStream()
	if got := esCount(t, base, ds); got != len(lines) {
		t.Fatalf("count %d, want %d (one document per distinct line)", got, len(lines))
	}

	t.Run("top 10 pairs by bytes, accepted", func(t *testing.T) {
		want := topPairs(lines)
		var res struct {
			Aggregations struct {
				Src struct {
					Buckets []struct {
						Key string
						Dst struct {
							Buckets []struct {
								Key   string
								Bytes struct{ Value float64 }
							}
						}
					}
				}
			}
		}
		esJSON(t, "POST", base+"/"+ds+"/_search", map[string]any{
			"size":  0,
			"query": map[string]any{"bool": map[string]any{"filter": []any{map[string]any{"term": map[string]any{"event.action": "accept"}}}}},
			"aggs": map[string]any{"src": map[string]any{
				"terms": map[string]any{"field": "source.ip", "size": 1000},
				"aggs": map[string]any{"dst": map[string]any{
					"terms": map[string]any{"field": "destination.ip", "size": 1000},
					"aggs":  map[string]any{"bytes": map[string]any{"sum": map[string]any{"field": "network.bytes"}}},
				}},
			}},
		}, &res)
		sums := map[string]int64{}
		for _, s := range res.Aggregations.Src.Buckets {
			for _, d := range s.Dst.Buckets {
				sums[s.Key+" "+d.Key] = int64(d.Bytes.Value)
			}
		}
		got := top10(sums)
		if !slices.Equal(got, want) {
			t.Errorf("top pairs from Elasticsearch\n got %v\nwant %v", got, want)
		}
		if len(want) < 10 {
			t.Fatalf("corpus has only %d pairs", len(want))
		}
	})

	t.Run("rejected TCP by day of week, interface and source", func(t *testing.T) {
		want := rejectedTCP(lines)
		var res struct {
			Aggregations struct {
				ENI struct {
					Buckets []struct {
						Key string
						Src struct {
							Buckets []struct {
								Key string
								Day struct {
									Buckets []struct {
										Key      int64
										DocCount int `json:"doc_count"`
									}
								}
							}
						}
					}
				}
			}
		}
		esJSON(t, "POST", base+"/"+ds+"/_search", map[string]any{
			"size": 0,
			"query": map[string]any{"bool": map[string]any{"filter": []any{
				map[string]any{"term": map[string]any{"event.action": "reject"}},
				map[string]any{"term": map[string]any{"network.transport": "tcp"}},
			}}},
			"aggs": map[string]any{"eni": map[string]any{
				"terms": map[string]any{"field": "aws.vpcflow.interface_id", "size": 100},
				"aggs": map[string]any{"src": map[string]any{
					"terms": map[string]any{"field": "source.ip", "size": 1000},
					"aggs": map[string]any{"day": map[string]any{
						"date_histogram": map[string]any{"field": "@timestamp", "calendar_interval": "day", "time_zone": "UTC", "min_doc_count": 1},
					}},
				}},
			}},
		}, &res)
		got := map[string]int{}
		for _, e := range res.Aggregations.ENI.Buckets {
			for _, s := range e.Src.Buckets {
				for _, d := range s.Day.Buckets {
					day := time.UnixMilli(d.Key).UTC().Weekday().String()
					got[day+" "+e.Key+" "+s.Key] += d.DocCount
				}
			}
		}
		if len(want) < 20 {
			t.Fatalf("corpus has only %d rejected TCP groups", len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %d rejected TCP flows in Elasticsearch, %d in the input", k, got[k], w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d groups in Elasticsearch, %d in the input", len(got), len(want))
		}
	})
}
