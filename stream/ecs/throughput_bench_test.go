package ecs

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/enrich"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// BenchmarkDecodeEncode measures the hot path the product promises figures
// for: decoding flow-log lines and encoding each record as an ECS document.
// Each op decodes and encodes the whole sample file; the custom case re-renders
// the same flows in a 29-field version-5 format, and the enriched case runs
// the enrichment chain (file inventory, ip-ranges, derived fields, GeoIP off)
// between the two. Run with -cpu=1 for the one-core figures quoted in the
// README.
func BenchmarkDecodeEncode(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/flowlogs/sample-v2.log")
	if err != nil {
		b.Fatal(err)
	}
	text := string(raw)
	for _, bc := range []struct {
		name, format, text string
		enricher           stream.Enricher
	}{
		{"default", "", text, nil},
		{"custom-v5", fmtV5, toV5(b, text), nil},
		{"enriched", "", text, fileEnricher(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := decode.Options{}
			if bc.format != "" {
				f, err := decode.ParseFormat(bc.format)
				if err != nil {
					b.Fatal(err)
				}
				opts.Formats = []*decode.Format{f}
			}
			var (
				enc  Encoder
				out  decode.Output
				buf  = make([]byte, 0, 1<<20)
				recs int
			)
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.text)))
			start := time.Now()
			for b.Loop() {
				d, err := decode.New(opts)
				if err != nil {
					b.Fatal(err)
				}
				out.Records, out.Failures = out.Records[:0], out.Failures[:0]
				d.Text(bc.text, &out)
				if len(out.Failures) > 0 {
					b.Fatalf("sample failed to decode: %+v", out.Failures[0])
				}
				if bc.enricher != nil {
					bc.enricher.Enrich(context.Background(), out.Records)
				}
				buf = buf[:0]
				for i := range out.Records {
					buf = enc.Append(buf, &out.Records[i])
					buf = append(buf, '\n')
				}
				recs += len(out.Records)
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(recs)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(recs), "ns/record")
		})
	}
}

// fileEnricher returns the enrichment chain with the enrich package's test
// inventory loaded, as a warm cache is what the hot path sees.
func fileEnricher(b testing.TB) *enrich.Enricher {
	b.Helper()
	cfg := enrich.DefaultConfig()
	cfg.Inventory = enrich.InventoryFile
	cfg.InventoryFile = "../../enrich/testdata/inventory.yaml"
	e, err := enrich.New(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done; e.Close() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		recs := []stream.Record{{InterfaceID: "eni-1235b8ca123456789", Present: 1 << stream.FieldInterfaceID}}
		e.Enrich(context.Background(), recs)
		if recs[0].Enrichment.Interface != nil {
			return e
		}
		if time.Now().After(deadline) {
			b.Fatal("inventory file not loaded")
		}
	}
}

// toV5 rewrites default-format lines (after the header) into fmtV5 order so
// both cases carry the same flows.
func toV5(b *testing.B, text string) string {
	b.Helper()
	f, err := decode.ParseFormat(fmtV5)
	if err != nil {
		b.Fatal(err)
	}
	names := strings.Fields(strings.NewReplacer("${", "", "}", "").Replace(f.String()))
	var sb strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if i == 0 {
			continue // header
		}
		tok := strings.Fields(line)
		v2 := map[string]string{}
		for j, n := range strings.Fields("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status") {
			v2[n] = tok[j]
		}
		v2["version"] = "5"
		for j, n := range names {
			if j > 0 {
				sb.WriteByte(' ')
			}
			if v, ok := v2[n]; ok {
				sb.WriteString(v)
			} else {
				sb.WriteByte('-')
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
