// Command esbench measures the Elasticsearch sink against the client
// library's esutil.BulkIndexer with default settings on a real node: the
// same ECS documents, the same index template and settings, in one run.
// It reports indexed documents per second, client CPU time and allocated
// bytes per document. scripts/bench-es runs it against the test node.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/sinks/elasticsearch"
	"github.com/flowhose/flowhose/sinks/internal/sinkbench"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
)

func main() {
	url := flag.String("url", os.Getenv("FLOWHOSE_TEST_ES_URL"), "Elasticsearch URL")
	docs := flag.Int("docs", 200_000, "documents per run")
	batch := flag.Int("batch", 500, "records per batch handed to the sink")
	rounds := flag.Int("rounds", 2, "rounds of each contender, interleaved")
	// The node's JIT and the first indices' segment merges make whichever
	// contender runs first look slow, so the first rounds are not reported.
	warmup := flag.Int("warmup", 1, "unreported rounds run first")
	flag.Parse()
	if *url == "" {
		log.Fatal("no -url and FLOWHOSE_TEST_ES_URL unset")
	}
	// Only the sink's errors: retries are counted instead. SetDefault also
	// routes the log package into the handler at info level, which would
	// hide this program's own failures, hence SetOutput after it.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	log.SetOutput(os.Stderr)

	recs, err := sinkbench.Records(*docs)
	check(err)
	tag := time.Now().Unix()
	cfg := elasticsearch.DefaultConfig()
	cfg.URLs = []string{*url}
	cfg.Replicas = 0
	cfg.TemplateOverwrite = true

	// One template for every contender, installed once.
	setup, err := elasticsearch.New(cfg, sinkbench.DiscardDL{}, nil)
	check(err)
	check(setup.Setup(context.Background()))
	check(setup.Close(context.Background()))

	fmt.Printf("%d documents per run, %d-record batches, GOMAXPROCS=%d\n", *docs, *batch, runtime.GOMAXPROCS(0))
	fmt.Printf("%-34s %10s %12s %12s %12s\n", "contender", "seconds", "docs/s", "cpu µs/doc", "alloc B/doc")
	for round := range *warmup + *rounds {
		for i, c := range []struct {
			name string
			run  func(ns string) int
		}{
			{"flowhose sink (no compression)", func(ns string) int { return runSink(cfg, ns, false, recs, *batch) }},
			{"flowhose sink (gzip level 1)", func(ns string) int { return runSink(cfg, ns, true, recs, *batch) }},
			{"esutil.BulkIndexer (defaults)", func(ns string) int { return runBulkIndexer(cfg, ns, recs) }},
		} {
			ns := fmt.Sprintf("bench_%d_%d_%d", tag, round, i)
			runtime.GC()
			m := sinkbench.Measure()
			n := c.run(ns)
			r := m.Since()
			if got := count(*url, "logs-aws.vpcflow-"+ns); got != len(recs) || n != len(recs) {
				log.Fatalf("%s: reported %d, index holds %d, want %d", c.name, n, got, len(recs))
			}
			if round < *warmup {
				continue
			}
			fmt.Printf("%-34s %10.2f %12.0f %12.2f %12.0f\n", c.name, r.Wall.Seconds(),
				float64(n)/r.Wall.Seconds(), float64(r.CPU.Microseconds())/float64(n), float64(r.Alloc)/float64(n))
		}
	}
}

// runSink indexes recs through the flowhose sink and waits for every ack.
func runSink(base elasticsearch.Config, ns string, compress bool, recs []stream.Record, batch int) int {
	cfg := base
	cfg.Namespace = ns
	cfg.Compress = compress
	cfg.Template = false
	reg := prometheus.NewRegistry()
	s, err := elasticsearch.New(cfg, sinkbench.DiscardDL{}, reg)
	check(err)
	check(sinkbench.Send(s, recs, batch))
	if n := retried(reg); n > 0 {
		fmt.Printf("  (%d document sends retried after 429/5xx)\n", n)
	}
	return len(recs)
}

// runBulkIndexer indexes the same documents (encoded by the same encoder,
// with the same ids) through esutil.BulkIndexer with its defaults.
func runBulkIndexer(base elasticsearch.Config, ns string, recs []stream.Record) int {
	client, err := es.NewClient(es.Config{Addresses: base.URLs})
	check(err)
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{Client: client, Index: "logs-aws.vpcflow-" + ns})
	check(err)
	enc := ecs.Encoder{Dataset: base.Dataset, Namespace: ns}
	var ok, failed atomic.Int64
	for i := range recs {
		r := &recs[i]
		err := bi.Add(context.Background(), esutil.BulkIndexerItem{
			Action:     "create",
			DocumentID: string(ecs.AppendID(nil, r)),
			Body:       bytes.NewReader(enc.Append(nil, r)),
			OnSuccess:  func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) { ok.Add(1) },
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				failed.Add(1)
				log.Printf("bulk indexer item failed: %v %s", err, res.Error.Reason)
			},
		})
		check(err)
	}
	check(bi.Close(context.Background()))
	if failed.Load() > 0 {
		log.Fatalf("bulk indexer: %d failures", failed.Load())
	}
	return int(ok.Load())
}

// retried reads the sink's retry counter.
func retried(g prometheus.Gatherer) int {
	mfs, err := g.Gather()
	check(err)
	for _, mf := range mfs {
		if mf.GetName() == "flowhose_elasticsearch_docs_retried_total" {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return 0
}

func count(url, index string) int {
	post(url + "/" + index + "/_refresh")
	res, err := http.Get(url + "/" + index + "/_count")
	check(err)
	defer res.Body.Close()
	var c struct{ Count int }
	check(json.NewDecoder(res.Body).Decode(&c))
	return c.Count
}

func post(url string) {
	res, err := http.Post(url, "application/json", nil)
	check(err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
