package s3

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/source/file"
)

// Clients are the AWS clients the source uses.
type Clients struct {
	S3  *s3.Client
	SQS *sqs.Client
}

// NewClients builds the S3 and SQS clients of cfg with the standard
// credential chain. opts are passed to config.LoadDefaultConfig (tests use
// them for static credentials).
func NewClients(ctx context.Context, cfg Config, opts ...func(*config.LoadOptions) error) (Clients, error) {
	if err := cfg.ValidateBackfill(); err != nil {
		return Clients{}, fmt.Errorf("s3 source: %w", err)
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	// Checksums only where the API requires them: S3-compatible stores and
	// emulators do not all know the newer algorithms.
	opts = append(opts, config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	ac, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return Clients{}, fmt.Errorf("s3 source: load AWS config: %w", err)
	}
	return Clients{
		S3: s3.NewFromConfig(ac, func(o *s3.Options) {
			o.UsePathStyle = cfg.PathStyle
			if cfg.S3Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.S3Endpoint)
			}
		}),
		SQS: sqs.NewFromConfig(ac, func(o *sqs.Options) {
			if cfg.SQSEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.SQSEndpoint)
			}
		}),
	}, nil
}

// objectName is how an object is named in failures, errors and checkpoints.
func objectName(bucket, key string) string { return "s3://" + bucket + "/" + key }

// objectInput is the replay input of one object, read with one GetObject
// streamed as it is decoded. bytes, when set, counts what is read.
func objectInput(client *s3.Client, bucket, key string, bytes prometheus.Counter) file.Input {
	return file.Input{Name: objectName(bucket, key), Open: func(ctx context.Context) (io.ReadCloser, error) {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			if gone(err) {
				return nil, stream.Permanent(err)
			}
			return nil, err
		}
		if bytes == nil {
			return out.Body, nil
		}
		return countingBody{out.Body, bytes}, nil
	}}
}

// countingBody counts the bytes read from an object.
type countingBody struct {
	io.ReadCloser
	n prometheus.Counter
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(float64(n))
	return n, err
}

// gone reports errors that no retry will cure: the object or bucket does
// not exist (deleted before it was read, a notification for another
// bucket) or may not be read.
func gone(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NoSuchKey", "NoSuchBucket", "NotFound", "AccessDenied", "Forbidden", "InvalidObjectState":
		return true
	}
	return false
}
