// Command hecbench measures the Splunk sink on a HEC receiver: events
// per second and the client's CPU time and allocations per event, for
// both event shapes with indexer acknowledgement on and off. With -dump
// it writes the events of one shape, as the sink encodes them, one per
// line, for the OpenTelemetry Collector's splunkhecexporter to send the
// same (scripts/bench-splunk runs both).
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/sinks/internal/sinkbench"
	"github.com/flowhose/flowhose/sinks/splunk"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/ecs"
	"github.com/flowhose/flowhose/stream/hec"
)

func main() {
	url := flag.String("url", "", "HEC base URL")
	events := flag.Int("events", 200_000, "events per run")
	batch := flag.Int("batch", 500, "records per batch handed to the sink")
	shape := flag.String("shape", "line", "event shape: line or ecs")
	ack := flag.Bool("ack", true, "indexer acknowledgement")
	dump := flag.String("dump", "", "write the shape's events to this file and exit")
	workers := flag.Int("workers", splunk.DefaultConfig().Workers, "concurrent requests")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	log.SetOutput(os.Stderr)

	recs, err := sinkbench.Records(*events)
	check(err)
	enrich(recs)
	if *dump != "" {
		check(dumpEvents(*dump, *shape, recs))
		return
	}
	if *url == "" {
		log.Fatal("no -url")
	}
	cfg := splunk.DefaultConfig()
	cfg.URLs = []string{*url}
	cfg.Token = "00000000-0000-0000-0000-000000000000"
	cfg.Shape, cfg.Ack, cfg.Workers = *shape, *ack, *workers
	cfg.AckPollInterval = 100 * time.Millisecond
	// A run ends with Close, which sends what is buffered at once.
	cfg.FlushInterval = time.Minute
	reg := prometheus.NewRegistry()
	s, err := splunk.New(cfg, sinkbench.DiscardDL{}, reg, nil)
	check(err)
	runtime.GC()
	m := sinkbench.Measure()
	check(sinkbench.Send(s, recs, *batch))
	r := m.Since()
	if n := delivered(reg); n != len(recs) {
		log.Fatalf("delivered %d events, want %d", n, len(recs))
	}
	// Parsed by scripts/bench-splunk.
	fmt.Printf("result events=%d seconds=%.3f cpu_us=%d alloc=%d\n", len(recs), r.Wall.Seconds(), r.CPU.Microseconds(), r.Alloc)
}

// enrich gives every record what the enrichment typically adds, so the
// line shape carries indexed fields and the ECS documents their
// flowhose object.
func enrich(recs []stream.Record) {
	ifc := &stream.Interface{ID: "eni-0", VPCID: "vpc-0abc", SubnetID: "subnet-0abc", AvailabilityZone: "eu-west-1a",
		Tags: []stream.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "network"}}}
	for i := range recs {
		e := &recs[i].Enrichment
		e.Interface = ifc
		e.Cost = stream.CostSameAZ
		e.Perimeter = "internal"
		e.Direction = "egress"
		e.Src.Class, e.Dst.Class = stream.AddrPrivate, stream.AddrPrivate
	}
}

// dumpEvents writes recs as the sink encodes them for shape.
func dumpEvents(path, shape string, recs []stream.Record) error {
	s := hec.LineFields
	st := hec.DefaultSourcetype
	if shape == splunk.ShapeECS {
		s, st = hec.Document, splunk.DefaultECSSourcetype
	}
	enc, err := hec.NewShaped(hec.Config{Sourcetype: st}, s, ecs.Encoder{})
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var buf []byte
	for i := range recs {
		buf = append(enc.Append(buf[:0], &recs[i]), '\n')
		w.Write(buf)
	}
	return errors.Join(w.Flush(), f.Close())
}

// delivered reads the sink's delivered counter.
func delivered(g prometheus.Gatherer) int {
	mfs, err := g.Gather()
	check(err)
	for _, mf := range mfs {
		if mf.GetName() == "flowhose_splunk_events_delivered_total" {
			return int(mf.GetMetric()[0].GetCounter().GetValue())
		}
	}
	return 0
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
