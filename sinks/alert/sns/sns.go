// Package sns publishes alerts to an Amazon SNS topic, as JSON with the
// rule and severity as message attributes (for subscription filters).
package sns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/flowhose/flowhose/sinks/alert"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/detect"
)

// Config is the SNS destination's settings.
type Config struct {
	// TopicARN is the topic alerts are published to; a FIFO topic
	// (.fifo) de-duplicates on the alert id.
	TopicARN string `yaml:"topic_arn"`
	// Region is the topic's region; empty takes it from the ARN.
	Region string `yaml:"region"`
	// Endpoint overrides the SNS endpoint (VPC interface endpoints, tests).
	Endpoint string `yaml:"endpoint"`
}

// DefaultConfig has no topic: one must be set.
func DefaultConfig() Config { return Config{} }

// Validate checks the ARN and the endpoint.
func (c Config) Validate() error {
	var errs []error
	if _, err := regionOf(c.TopicARN); err != nil {
		errs = append(errs, fmt.Errorf("topic_arn: %w", err))
	}
	if c.Endpoint != "" {
		if err := alert.CheckURL("endpoint", c.Endpoint); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func regionOf(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3] == "" || parts[5] == "" {
		return "", fmt.Errorf("must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), got %q", arn)
	}
	return parts[3], nil
}

// MaxMessageBytes is SNS's limit on a message with its attributes.
const MaxMessageBytes = 256 << 10

// maxSubject is SNS's limit on a subject.
const maxSubject = 100

type destination struct {
	cfg    Config
	client *sns.Client
	fifo   bool
}

// Open builds the client; opts go to config.LoadDefaultConfig (tests use
// them for static credentials).
func Open(ctx context.Context, cfg Config, _ alert.Deps) (alert.Destination, error) {
	return OpenWith(ctx, cfg)
}

// OpenWith is Open with options for the AWS configuration.
func OpenWith(ctx context.Context, cfg Config, opts ...func(*config.LoadOptions) error) (alert.Destination, error) {
	region := cfg.Region
	if region == "" {
		var err error
		if region, err = regionOf(cfg.TopicARN); err != nil {
			return nil, err
		}
	}
	ac, err := config.LoadDefaultConfig(ctx, append([]func(*config.LoadOptions) error{config.WithRegion(region)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	// The dispatcher retries with its own backoff; the SDK's retries would
	// multiply its attempts.
	ac.RetryMaxAttempts = 1
	client := sns.NewFromConfig(ac, func(o *sns.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &destination{cfg: cfg, client: client, fifo: strings.HasSuffix(cfg.TopicARN, ".fifo")}, nil
}

func (d *destination) Name() string { return "sns" }

func (d *destination) Send(ctx context.Context, a *detect.Alert) error {
	in, err := d.input(a)
	if err != nil {
		return stream.Permanent(err)
	}
	if _, err := d.client.Publish(ctx, in); err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && api.ErrorFault() == smithy.FaultClient && api.ErrorCode() != "Throttling" &&
			api.ErrorCode() != "ThrottledException" {
			return stream.Permanent(fmt.Errorf("sns publish: %w", err))
		}
		return fmt.Errorf("sns publish: %w", err)
	}
	return nil
}

// input builds the Publish call, shedding the sample ids and tags when the
// alert would exceed SNS's size limit.
func (d *destination) input(a *detect.Alert) (*sns.PublishInput, error) {
	attrs := map[string]types.MessageAttributeValue{
		"rule":     {DataType: aws.String("String"), StringValue: aws.String(a.Rule)},
		"severity": {DataType: aws.String("String"), StringValue: aws.String(a.Severity)},
	}
	attrBytes := 0
	for k, v := range attrs {
		attrBytes += len(k) + len(*v.DataType) + len(*v.StringValue)
	}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert: %w", err)
	}
	if len(body)+attrBytes > MaxMessageBytes {
		slim := *a
		slim.SampleIDs, slim.Asset.Tags = nil, nil
		if body, err = json.Marshal(&slim); err != nil {
			return nil, fmt.Errorf("encode alert: %w", err)
		}
	}
	if len(body)+attrBytes > MaxMessageBytes {
		return nil, fmt.Errorf("alert of %d bytes exceeds SNS's %d even without samples and tags", len(body), MaxMessageBytes)
	}
	subject := a.Rule + " (" + a.Severity + ")"
	if len(a.Key) > 0 {
		subject += " " + a.Key[0].Value
	}
	in := &sns.PublishInput{TopicArn: aws.String(d.cfg.TopicARN), Message: aws.String(string(body)),
		Subject: aws.String(subject[:min(len(subject), maxSubject)]), MessageAttributes: attrs}
	if d.fifo {
		in.MessageGroupId = aws.String(a.Rule)
		in.MessageDeduplicationId = aws.String(a.ID)
	}
	return in, nil
}
