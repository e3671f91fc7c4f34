package sns

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/flowhose/flowhose/sinks/alert/alerttest"
	"github.com/flowhose/flowhose/stream/detect"
)

var creds = config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", ""))

// TestPublishReachesSubscribedQueue publishes through moto's SNS and reads
// the alert back from an SQS queue subscribed to the topic.
func TestPublishReachesSubscribedQueue(t *testing.T) {
	url := alerttest.ServiceURL(t, "FLOWHOSE_TEST_MOTO_URL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ac, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"), creds)
	if err != nil {
		t.Fatal(err)
	}
	snsc := awssns.NewFromConfig(ac, func(o *awssns.Options) { o.BaseEndpoint = aws.String(url) })
	sqsc := sqs.NewFromConfig(ac, func(o *sqs.Options) { o.BaseEndpoint = aws.String(url) })
	name := "flowhose-alerts-" + strings.ReplaceAll(t.Name(), "/", "-") + time.Now().Format("150405.000000")
	name = strings.ReplaceAll(name, ".", "")
	topic, err := snsc.CreateTopic(ctx, &awssns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snsc.Subscribe(ctx, &awssns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(qa.Attributes["QueueArn"])}); err != nil {
		t.Fatal(err)
	}
	d, err := OpenWith(ctx, Config{TopicARN: *topic.TopicArn, Endpoint: url}, creds)
	if err != nil {
		t.Fatal(err)
	}
	big := alerttest.Sample()
	for len(big.SampleIDs) < 20000 { // 500 KB of sample ids: shed to fit
		big.SampleIDs = append(big.SampleIDs, "CCCCCCCCCCCCCCCCCCCCCC")
	}
	big.ID = "ffffffffffffffffffffffffffffffff"
	huge := alerttest.Sample()
	huge.ID, huge.Summary = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", strings.Repeat("x", MaxMessageBytes)
	dl := alerttest.Deliver(t, d, alerttest.Sample(), big, huge)
	if len(dl) != 1 || dl[0].Ref != huge.ID || !strings.Contains(dl[0].Reason, "exceeds") {
		t.Fatalf("dead letters %+v, want only the alert too large for SNS", dl)
	}
	got := map[string]detect.Alert{}
	for len(got) < 2 && ctx.Err() == nil {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var env struct{ Message, Subject string }
			var a detect.Alert
			if err := json.Unmarshal([]byte(*m.Body), &env); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(env.Message), &a); err != nil {
				t.Fatal(err)
			}
			if env.Subject != "reject_burst (high) 91.240.118.5" {
				t.Errorf("subject %q", env.Subject)
			}
			got[a.ID] = a
		}
	}
	if a := got[alerttest.Sample().ID]; len(a.SampleIDs) != 2 || a.NetworkACLEntry == nil || a.Asset.Tags["env"] != "prod" {
		t.Errorf("alert through SNS and SQS: %+v", a)
	}
	if a, ok := got[big.ID]; !ok || a.SampleIDs != nil || a.Asset.Tags != nil || a.Rule != "reject_burst" {
		t.Errorf("oversized alert: %v, samples %d", ok, len(a.SampleIDs))
	}
}
