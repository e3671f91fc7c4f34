package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowhose/flowhose/internal/servicetest"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/sinktest"
	"github.com/flowhose/flowhose/stream/source/file"
)

const (
	header     = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
	lineAccept = "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	lineReject = "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK"
	region     = "us-east-1"
	plainDay   = "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/"
	hiveHour   = "AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/hour=13/"
)

// motoURL returns the moto server's URL (see servicetest.Env).
func motoURL(t testing.TB) string {
	t.Helper()
	return servicetest.Env(t, "FLOWHOSE_TEST_MOTO_URL")
}

// motoConfig is the source configuration against moto.
func motoConfig(t testing.TB) Config {
	u := motoURL(t)
	cfg := DefaultConfig()
	cfg.Region, cfg.S3Endpoint, cfg.SQSEndpoint, cfg.PathStyle = region, u, u, true
	return cfg
}

func motoClients(t testing.TB, cfg Config) Clients {
	t.Helper()
	c, err := NewClients(context.Background(), cfg, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unique returns name with a random suffix: moto is shared by every test
// run on the machine, and is never reset.
func unique(name string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

func newBucket(t testing.TB, c Clients) string {
	t.Helper()
	bucket := unique("flowlogs")
	if _, err := c.S3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return bucket
}

func put(t testing.TB, c Clients, bucket, key string, data []byte) {
	t.Helper()
	if _, err := c.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
}

func gz(s string) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return buf.Bytes()
}

func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// env is a pipeline with a recording sink and dead-letter store.
type env struct {
	p    *stream.Pipeline
	sink *sinktest.Sink
	dl   *sinktest.DeadLetter
	r    *file.Replayer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{sink: sinktest.NewSink("rec"), dl: &sinktest.DeadLetter{}}
	p, err := stream.New(stream.Options{Workers: 2, QueueDepth: 8, Sinks: []stream.Sink{e.sink}, DeadLetter: e.dl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.sink.Release()
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	e.p = p
	e.r, err = file.New(file.DefaultConfig(), decode.Options{Source: "s3"}, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func raws(recs []stream.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Raw)
	}
	return out
}
