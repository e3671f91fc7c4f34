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
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/sinks/elasticsearch"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
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

	recs := records(*docs)
	tag := time.Now().Unix()
	cfg := elasticsearch.DefaultConfig()
	cfg.URLs = []string{*url}
	cfg.Replicas = 0
	cfg.TemplateOverwrite = true

	// One template for every contender, installed once.
	dl := discardDL{}
	setup, err := elasticsearch.New(cfg, dl, nil)
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
			m := measure()
			n := c.run(ns)
			r := m.since()
			if got := count(*url, "logs-aws.vpcflow-"+ns); got != len(recs) || n != len(recs) {
				log.Fatalf("%s: reported %d, index holds %d, want %d", c.name, n, got, len(recs))
			}
			if round < *warmup {
				continue
			}
			fmt.Printf("%-34s %10.2f %12.0f %12.2f %12.0f\n", c.name, r.wall.Seconds(),
				float64(n)/r.wall.Seconds(), float64(r.cpu.Microseconds())/float64(n), float64(r.alloc)/float64(n))
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
	s, err := elasticsearch.New(cfg, discardDL{}, reg)
	check(err)
	var acks []*stream.Ack
	for i := 0; i < len(recs); i += batch {
		ack := stream.NewAck()
		ack.Add(1)
		check(s.Accept(context.Background(), &stream.Batch{Records: recs[i:min(i+batch, len(recs))], Ack: ack}))
		ack.Done(nil)
		acks = append(acks, ack)
	}
	check(s.Close(context.Background()))
	for _, a := range acks {
		check(a.Wait(context.Background()))
	}
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

type sample struct {
	t     time.Time
	cpu   time.Duration
	alloc uint64
}

type result struct {
	wall, cpu time.Duration
	alloc     uint64
}

func measure() sample {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{t: time.Now(), cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), alloc: ms.TotalAlloc}
}

func (s sample) since() result {
	e := measure()
	return result{wall: e.t.Sub(s.t), cpu: e.cpu - s.cpu, alloc: e.alloc - s.alloc}
}

// records makes n distinct version 2 records spread over a week.
func records(n int) []stream.Record {
	var b strings.Builder
	for i := range n {
		start := 1700000000 + i*3
		action := "ACCEPT"
		if i%7 == 0 {
			action = "REJECT"
		}
		fmt.Fprintf(&b, "2 123456789012 eni-%017x 10.%d.%d.%d 172.16.%d.%d %d %d %d %d %d %d %d %s OK\n",
			i%97, i%250, (i/250)%250, i%200+1, i%13, i%251, 1024+i%60000, []int{443, 22, 53, 80}[i%4],
			[]int{6, 6, 17, 1}[i%4], 1+i%100, 40+i%150000, start, start+60, action)
	}
	d, err := decode.New(decode.Options{Source: "bench"})
	check(err)
	var out decode.Output
	d.Text(b.String(), &out)
	if len(out.Failures) > 0 || len(out.Records) != n {
		log.Fatalf("generated %d records, %d failures: %+v", len(out.Records), len(out.Failures), out.Failures)
	}
	return out.Records
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

type discardDL struct{}

func (discardDL) WriteFailures(context.Context, []stream.Failure) error { return nil }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
