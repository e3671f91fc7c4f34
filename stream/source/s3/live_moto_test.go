package s3

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newQueue creates a queue and returns its URL and ARN.
func newQueue(t *testing.T, c Clients) (string, string) {
	t.Helper()
	ctx := context.Background()
	q, err := c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(unique("flowlogs"))})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	return *q.QueueUrl, attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
}

// notifyQueue makes the bucket send its object-created events to the queue.
func notifyQueue(t *testing.T, c Clients, bucket, queueARN string) {
	t.Helper()
	_, err := c.S3.PutBucketNotificationConfiguration(context.Background(), &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(bucket),
		NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{
			{QueueArn: aws.String(queueARN), Events: []s3types.Event{s3types.EventS3ObjectCreated}}}}})
	if err != nil {
		t.Fatal(err)
	}
}

// queueDepth is the queue's visible plus in-flight messages.
func queueDepth(t *testing.T, c Clients, url string) int {
	t.Helper()
	attrs, err := c.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}

// consumer runs a Consumer of url until the test ends.
func consumer(t *testing.T, cfg Config, c Clients, e *env, url string) *Consumer {
	t.Helper()
	cfg.QueueURL, cfg.WaitTime = url, time.Second
	reg := prometheus.NewRegistry()
	con, err := NewConsumer(cfg, c, e.r, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- con.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return con
}

// eventually polls cond for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// liveWorld is a bucket and a queue in moto, with the source's
// configuration and clients for them.
func liveWorld(t *testing.T) (cfg Config, c Clients, bucket, queueURL, queueARN string) {
	t.Helper()
	cfg = motoConfig(t)
	c = motoClients(t, cfg)
	bucket = newBucket(t, c)
	queueURL, queueARN = newQueue(t, c)
	return cfg, c, bucket, queueURL, queueARN
}

// TestLiveS3ToSQS: objects written to a bucket whose notifications go to
// the queue are delivered, and their messages deleted.
func TestLiveS3ToSQS(t *testing.T) {
	cfg, c, bucket, url, arn := liveWorld(t)
	notifyQueue(t, c, bucket, arn)
	e := newEnv(t)
	con := consumer(t, cfg, c, e, url)
	put(t, c, bucket, plainDay+"a b.log.gz", gz(lines(header, lineAccept, lineReject)))
	put(t, c, bucket, hiveHour+"b.log.parquet", readFile(t, "../../../testdata/flowlogs/sample-v2.parquet"))
	// Not a flow log, and not where VPC writes them: its lines are dead
	// letters naming the object, and its message is deleted.
	put(t, c, bucket, "uploads/notes.txt", []byte("meeting notes\n"))
	eventually(t, "402 records, a dead letter and an empty queue", func() bool {
		return len(e.sink.Records()) == 402 && len(e.dl.Failures()) == 1 && queueDepth(t, c, url) == 0
	})
	if f := e.dl.Failures()[0]; f.Ref != "s3://"+bucket+"/uploads/notes.txt" || f.Line != 1 || !strings.Contains(f.Reason, "fields") {
		t.Errorf("dead letter = %+v", f)
	}
	if n := testutil.ToFloat64(con.m.messages.WithLabelValues("deleted")); n < 3 {
		t.Errorf("%v messages deleted, want the 3 notifications (and the test event)", n)
	}
	if n := testutil.ToFloat64(con.m.objects); n != 3 {
		t.Errorf("%v objects counted, want 3", n)
	}
}

// TestLiveSNSEnvelope reads notifications that reach the queue through an
// SNS topic, wrapped in SNS's envelope.
func TestLiveSNSEnvelope(t *testing.T) {
	cfg, c, bucket, url, arn := liveWorld(t)
	ac, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")))
	if err != nil {
		t.Fatal(err)
	}
	sc := sns.NewFromConfig(ac, func(o *sns.Options) { o.BaseEndpoint = aws.String(cfg.SQSEndpoint) })
	topic, err := sc.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(unique("flowlogs"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Subscribe(context.Background(), &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	key := plainDay + "sns.log.gz"
	put(t, c, bucket, key, gz(lines(header, lineAccept)))
	event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
		"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": key, "size": 1}}}}})
	if _, err := sc.Publish(context.Background(), &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(string(event))}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	consumer(t, cfg, c, e, url)
	eventually(t, "the record and an empty queue", func() bool { return len(e.sink.Records()) == 1 && queueDepth(t, c, url) == 0 })
}

// TestLiveFailingSink: while the sink fails, the message stays in the
// queue and comes back after the visibility timeout; once the sink
// recovers it is delivered and deleted. An object deleted before it is
// read and a message that is not a notification are dead-lettered, and
// their messages deleted.
func TestLiveFailingSink(t *testing.T) {
	cfg, c, bucket, url, _ := liveWorld(t)
	cfg.VisibilityTimeout = 2 * time.Second
	key := plainDay + "f.log.gz"
	put(t, c, bucket, key, gz(lines(header, lineAccept)))
	send := func(body string) {
		if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	event := func(key string) string {
		b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"bucket": map[string]any{"name": bucket}, "object": map[string]any{"key": key}}}}})
		return string(b)
	}
	send(event(key))
	e := newEnv(t)
	e.sink.SetErr(errors.New("cluster down"))
	con := consumer(t, cfg, c, e, url)
	eventually(t, "a second delivery of the message", func() bool { return testutil.ToFloat64(con.m.messages.WithLabelValues("received")) >= 2 })
	if n := testutil.ToFloat64(con.m.messages.WithLabelValues("deleted")); n != 0 || queueDepth(t, c, url) != 1 {
		t.Fatalf("%v messages deleted while the sink failed", n)
	}
	e.sink.SetErr(nil)
	eventually(t, "delivery and deletion", func() bool {
		return testutil.ToFloat64(con.m.messages.WithLabelValues("deleted")) == 1 && queueDepth(t, c, url) == 0
	})

	send(event(plainDay + "never-written.log.gz"))
	send("not a notification")
	eventually(t, "two dead letters and an empty queue", func() bool { return len(e.dl.Failures()) == 2 && queueDepth(t, c, url) == 0 })
	var reasons []string
	for _, f := range e.dl.Failures() {
		reasons = append(reasons, f.Ref+": "+f.Reason)
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "never-written.log.gz: unreadable input") || !strings.Contains(all, "NoSuchKey") || !strings.Contains(all, "not JSON") {
		t.Errorf("dead letters:\n%s", all)
	}
}

// TestLiveExtendsVisibility holds an object's batch longer than the
// visibility timeout: the consumer extends it, so a second consumer of the
// queue does not get the message, and the records arrive once.
func TestLiveExtendsVisibility(t *testing.T) {
	cfg, c, bucket, url, arn := liveWorld(t)
	cfg.VisibilityTimeout = 2 * time.Second
	notifyQueue(t, c, bucket, arn)
	e := newEnv(t)
	e.sink.SetDelay(5 * time.Second)
	con := consumer(t, cfg, c, e, url)
	other := consumer(t, cfg, c, e, url)
	put(t, c, bucket, plainDay+"slow.log.gz", gz(lines(header, lineAccept)))
	eventually(t, "delivery and deletion", func() bool { return len(e.sink.Records()) >= 1 && queueDepth(t, c, url) == 0 })
	if n := len(e.sink.Records()); n != 1 {
		t.Errorf("%d records delivered, want 1", n)
	}
	if n := testutil.ToFloat64(con.m.messages.WithLabelValues("extended")) + testutil.ToFloat64(other.m.messages.WithLabelValues("extended")); n < 2 {
		t.Errorf("visibility extended %v times, want at least 2 over 5 s", n)
	}
}

// TestLiveEncodedKeys: keys that S3's notifications URL-encode (a literal
// '+', spaces, a literal '%', non-ASCII) name the objects that were
// written, and a message naming one object twice delivers its records once.
func TestLiveEncodedKeys(t *testing.T) {
	cfg, c, bucket, url, arn := liveWorld(t)
	notifyQueue(t, c, bucket, arn)
	e := newEnv(t)
	consumer(t, cfg, c, e, url)
	for _, name := range []string{"c++ x.log.gz", "100%20.log.gz", "Zürich €.log.gz"} {
		put(t, c, bucket, plainDay+name, gz(lines(header, lineAccept)))
	}
	eventually(t, "3 records and an empty queue", func() bool { return len(e.sink.Records()) == 3 && queueDepth(t, c, url) == 0 })
	if fs := e.dl.Failures(); len(fs) != 0 {
		t.Errorf("dead letters: %+v", fs)
	}

	rec := func(key string) string {
		return `{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `"}}}`
	}
	twice := `{"Records":[` + rec(plainDay+"c%2B%2B+x.log.gz") + `,` + rec(plainDay+"c%2B%2B%20x.log.gz") + `]}`
	if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(twice)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the message deleted", func() bool { return queueDepth(t, c, url) == 0 })
	time.Sleep(200 * time.Millisecond)
	if n := len(e.sink.Records()); n != 4 {
		t.Errorf("%d records after a message naming one object twice, want 4: the object read once", n)
	}
}

// countingTransport counts the HTTP requests a client makes.
type countingTransport struct {
	n  atomic.Int64
	rt http.RoundTripper
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// TestLiveShortPollingPaces: with wait_time 0 (short polling) an empty
// queue is asked about at most once a second, not in a loop as fast as
// SQS answers (every request is billed).
func TestLiveShortPollingPaces(t *testing.T) {
	cfg, c, _, url, _ := liveWorld(t)
	calls := &countingTransport{rt: http.DefaultTransport}
	c.SQS = sqs.New(c.SQS.Options(), func(o *sqs.Options) { o.HTTPClient = &http.Client{Transport: calls} })
	cfg.QueueURL, cfg.WaitTime = url, 0
	con, err := NewConsumer(cfg, c, newEnv(t).r, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := con.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := calls.n.Load(); n > 4 {
		t.Errorf("%d receive calls in 2 s on an empty queue", n)
	}
}

// TestLiveEventBridgeKeys: EventBridge "Object Created" events name
// objects by URL-encoded keys (a space as '+', a '+' as %2B, '=' and
// non-ASCII escaped; ':' left as captured events leave it), which are
// decoded to the keys the objects were written under. Moto's S3 does not
// send EventBridge events to a queue, so the message is shaped here, as
// EventBridge's SQS target delivers it.
func TestLiveEventBridgeKeys(t *testing.T) {
	cfg, c, bucket, url, _ := liveWorld(t)
	e := newEnv(t)
	keys := []string{plainDay + "a b+c=d.log.gz", plainDay + "Zürich €/ü 12:00.log.gz"}
	for i, key := range keys {
		put(t, c, bucket, key, gz(lines(header, []string{lineAccept, lineReject}[i])))
		encoded := strings.ReplaceAll(neturl.QueryEscape(key), "%3A", ":")
		encoded = strings.ReplaceAll(encoded, "%2F", "/")
		event, _ := json.Marshal(map[string]any{"version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103", "detail-type": "Object Created",
			"source": "aws.s3", "account": "123456789012", "region": region, "resources": []string{"arn:aws:s3:::" + bucket},
			"detail": map[string]any{"version": "0", "bucket": map[string]any{"name": bucket},
				"object": map[string]any{"key": encoded, "size": 100}, "reason": "PutObject"}})
		if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(event))}); err != nil {
			t.Fatal(err)
		}
	}
	consumer(t, cfg, c, e, url)
	eventually(t, "2 records and an empty queue", func() bool { return len(e.sink.Records()) == 2 && queueDepth(t, c, url) == 0 })
	if fs := e.dl.Failures(); len(fs) != 0 {
		t.Errorf("dead letters: %+v", fs)
	}
	if got := raws(e.sink.Records()); !slices.Contains(got, lineAccept) || !slices.Contains(got, lineReject) {
		t.Errorf("records %q, want one from each object", got)
	}
}

// TestLiveExtendsVisibilityWhileDraining: once the consumer begins to
// stop, a message whose batch a sink still holds keeps being extended, so
// another replica does not get it while this one still delivers it; it is
// deleted when the batch is acknowledged. With a drain limit, extending
// ends at the limit and the message comes back.
func TestLiveExtendsVisibilityWhileDraining(t *testing.T) {
	for _, limit := range []time.Duration{0, time.Second} {
		cfg, c, bucket, url, arn := liveWorld(t)
		cfg.VisibilityTimeout, cfg.QueueURL, cfg.WaitTime = 3*time.Second, url, time.Second
		notifyQueue(t, c, bucket, arn)
		e := newEnv(t)
		e.sink.Hold()
		con, err := NewConsumer(cfg, c, e.r, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		con.DrainLimit = limit
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- con.Run(ctx) }()
		put(t, c, bucket, plainDay+"draining.log.gz", gz(lines(header, lineAccept)))
		eventually(t, "the batch held by the sink", func() bool { return e.sink.Pending() == 1 })
		cancel()

		// Another replica polls for two visibility timeouts.
		var other []sqstypes.Message
		for deadline := time.Now().Add(2 * cfg.VisibilityTimeout); time.Now().Before(deadline) && len(other) == 0; {
			out, err := c.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
			if err != nil {
				t.Fatal(err)
			}
			other = out.Messages
		}
		e.sink.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if limit == 0 {
			if len(other) != 0 {
				t.Errorf("another consumer received the message while its batch was still being delivered: %s", aws.ToString(other[0].Body))
			}
			if n := queueDepth(t, c, url); n != 0 {
				t.Errorf("%d messages left after the drain delivered the batch", n)
			}
		} else if len(other) == 0 {
			t.Errorf("drain limit %s: the message never came back", limit)
		}
	}
}

// TestLiveDeadLetterKeepsMessage: a message that can never be handled (it
// names more objects than max_objects_per_message, or is no notification)
// is deleted, and its dead letter holds the message itself, so that the
// objects it names can still be replayed.
func TestLiveDeadLetterKeepsMessage(t *testing.T) {
	cfg, c, bucket, url, _ := liveWorld(t)
	cfg.MaxObjectsPerMessage = 2
	var recs []string
	for i := range 3 {
		recs = append(recs, `{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"`+bucket+`"},"object":{"key":"`+plainDay+strconv.Itoa(i)+`.log.gz"}}}`)
	}
	bodies := []string{`{"Records":[` + strings.Join(recs, ",") + `]}`, "not a notification " + strings.Repeat("x", 1000)}
	for _, body := range bodies {
		if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	consumer(t, cfg, c, e, url)
	eventually(t, "two dead letters and an empty queue", func() bool { return len(e.dl.Failures()) == 2 && queueDepth(t, c, url) == 0 })
	got := map[string]string{}
	for _, f := range e.dl.Failures() {
		got[f.Input] = f.Reason
	}
	for _, body := range bodies {
		reason, ok := got[body]
		if !ok {
			t.Errorf("no dead letter holds the message %.60q…; dead letters %+v", body, e.dl.Failures())
		}
		if strings.Contains(reason, body) {
			t.Errorf("reason repeats the message: %.100q", reason)
		}
	}
}

// hungRenewals stands for an SQS endpoint whose ChangeMessageVisibility
// calls hang: each is held until its context ends, and how long is noted.
// Every other request goes through to moto.
type hungRenewals struct {
	rt   http.RoundTripper
	mu   sync.Mutex
	held []time.Duration
}

func (h *hungRenewals) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") != "AmazonSQS.ChangeMessageVisibility" {
		return h.rt.RoundTrip(r)
	}
	start := time.Now()
	<-r.Context().Done()
	h.mu.Lock()
	h.held = append(h.held, time.Since(start))
	h.mu.Unlock()
	return nil, r.Context().Err()
}

// TestLiveHungRenewalDelaysNothing: with ChangeMessageVisibility hanging,
// each renewal gives up after the renewal interval (half the visibility
// timeout) and the next one is tried, and the message is deleted as soon
// as its batch is acknowledged, not after the hung call's end.
func TestLiveHungRenewalDelaysNothing(t *testing.T) {
	cfg, c, bucket, url, _ := liveWorld(t)
	cfg.VisibilityTimeout, cfg.Concurrency = 2*time.Second, 1
	every := cfg.VisibilityTimeout / 2
	hung := &hungRenewals{rt: http.DefaultTransport}
	c.SQS = sqs.New(c.SQS.Options(), func(o *sqs.Options) { o.HTTPClient = &http.Client{Transport: hung} })
	e := newEnv(t)
	e.sink.SetDelay(3*every + every/2)
	con := consumer(t, cfg, c, e, url)
	// The notification is sent here, so that the queue holds this one
	// message only (moto also sends S3's test event to a notified queue).
	key := plainDay + "hung.log.gz"
	put(t, c, bucket, key, gz(lines(header, lineAccept)))
	body := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `"}}}]}`
	if _, err := c.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the batch taken", func() bool { return len(e.sink.Records()) == 1 })
	acked := time.Now()
	eventually(t, "the message deleted", func() bool { return testutil.ToFloat64(con.m.messages.WithLabelValues("deleted")) == 1 })
	if waited := time.Since(acked); waited > 3*every+3*time.Second {
		t.Errorf("deleted %s after the batch was taken, %s after its acknowledgement", waited, waited-(3*every+every/2))
	}
	hung.mu.Lock()
	defer hung.mu.Unlock()
	if len(hung.held) < 2 {
		t.Errorf("%d renewal calls, want at least 2: a hung one held up the next", len(hung.held))
	}
	for _, d := range hung.held {
		if d > every+every/2 {
			t.Errorf("a renewal call was held %s, more than the renewal interval %s", d, every)
		}
	}
}
