package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowhose/flowhose/internal/servicetest"
)

// esCount refreshes the data stream and counts its documents.
func esCount(t *testing.T, es, stream string) int {
	t.Helper()
	if resp, err := http.Post(es+"/"+stream+"/_refresh", "application/json", nil); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(es + "/" + stream + "/_count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Count int }
	if resp.StatusCode != http.StatusOK {
		return 0 // not created yet
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Count
}

// TestServeS3ToElasticsearch runs serve with the live S3 source against
// moto and Elasticsearch: the same 400 records in a text and a Parquet
// object are 400 documents; a redelivered notification adds none; serve
// stopped in the middle of an object and started again loses and
// duplicates nothing.
func TestServeS3ToElasticsearch(t *testing.T) {
	moto, es := servicetest.Env(t, "FLOWHOSE_TEST_MOTO_URL"), servicetest.Env(t, "FLOWHOSE_TEST_ES_URL")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	ctx := context.Background()
	ac, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	s3c := s3.NewFromConfig(ac, func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(moto), true })
	sqsc := sqs.NewFromConfig(ac, func(o *sqs.Options) { o.BaseEndpoint = aws.String(moto) })
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := "s3serve" + hex.EncodeToString(rnd[:])
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3c.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(name),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{
			{QueueArn: aws.String(qa.Attributes["QueueArn"]), Events: []s3types.Event{s3types.EventS3ObjectCreated}}}}}); err != nil {
		t.Fatal(err)
	}
	depth := func() int {
		a, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(a.Attributes["ApproximateNumberOfMessages"])
		nv, _ := strconv.Atoi(a.Attributes["ApproximateNumberOfMessagesNotVisible"])
		return v + nv
	}
	put := func(key string, data []byte) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(name), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	stream := "logs-aws.vpcflow-" + name
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if cond() {
				return
			}
		}
		t.Fatalf("timed out waiting for %s: %d documents, %d messages", what, esCount(t, es, stream), depth())
	}
	cfg := fmt.Sprintf(`sinks:
  ndjson: {enabled: false}
  dead_letter: {path: %q}
  elasticsearch: {enabled: true, urls: [%q], namespace: %q, flush_docs: 100}
sources:
  s3: {enabled: true, queue_url: %q, region: us-east-1, s3_endpoint: %q, sqs_endpoint: %q, path_style: true,
       wait_time: 1s, visibility_timeout: 10s, concurrency: 1, batch_size: 100, max_in_flight: 1}
`, t.TempDir()+"/dead.ndjson", es, name, *q.QueueUrl, moto, moto)

	srv := startServe(t, cfg, &bytes.Buffer{})
	day := "AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/"
	text, _ := os.ReadFile("../../testdata/flowlogs/sample-v2.log.gz")
	pq, _ := os.ReadFile("../../testdata/flowlogs/sample-v2.parquet")
	put(day+"a.log.gz", text)
	put("AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/b.log.parquet", pq)
	wait("400 documents and an empty queue", func() bool { return depth() == 0 && esCount(t, es, stream) == 400 })

	// The same notification again: the records again, no new document.
	event := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q}}}]}`, name, day+"a.log.gz")
	if _, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(event)}); err != nil {
		t.Fatal(err)
	}
	wait("the redelivery handled", func() bool { return depth() == 0 })
	if n := esCount(t, es, stream); n != 400 {
		t.Fatalf("%d documents after a redelivery, want 400", n)
	}

	// A large object, serve stopped once some of it is indexed.
	var big strings.Builder
	big.WriteString("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n")
	for i := range 20000 {
		fmt.Fprintf(&big, "2 123456789012 eni-0a1b2c3d4e5f60718 10.1.%d.%d 10.2.0.1 %d 443 6 10 840 1714521600 1714521660 ACCEPT OK\n", i>>8&255, i&255, 1024+i)
	}
	var gzBig bytes.Buffer
	zw := gzip.NewWriter(&gzBig)
	zw.Write([]byte(big.String()))
	zw.Close()
	put(day+"big.log.gz", gzBig.Bytes())
	wait("part of the large object indexed", func() bool { return esCount(t, es, stream) > 400 })
	srv.cancel()
	if err := srv.wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, srv.stderr.String())
	}
	if n := esCount(t, es, stream); n >= 20400 {
		t.Logf("the object was complete before serve stopped (%d documents): the restart proves less", n)
	}
	startServe(t, cfg, &bytes.Buffer{})
	wait("all 20400 documents and an empty queue", func() bool { return depth() == 0 && esCount(t, es, stream) == 20400 })
}
