package s3

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// objectRef is an object a notification names.
type objectRef struct {
	bucket, key string
	size        int64
}

// bucketObject is how S3 events and EventBridge events name an object.
type bucketObject struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	} `json:"object"`
}

// s3Event is the part of an S3 event notification the source reads; keys
// are URL-encoded in it, spaces as '+'.
type s3Event struct {
	Records []struct {
		EventSource string       `json:"eventSource"`
		EventName   string       `json:"eventName"`
		S3          bucketObject `json:"s3"`
	} `json:"Records"`
	// Event is "s3:TestEvent" in the message S3 sends when notifications
	// are configured.
	Event string `json:"Event"`
}

// envelope holds the outer fields of the other shapes: an SNS
// notification (Type, Message) and an EventBridge event (detail-type,
// source, detail; keys URL-encoded too, see decodeKey).
type envelope struct {
	Type       string       `json:"Type"`
	Message    string       `json:"Message"`
	DetailType string       `json:"detail-type"`
	Source     string       `json:"source"`
	Detail     bucketObject `json:"detail"`
}

// parseNotification returns the created objects an SQS message names: an
// S3 event notification sent to the queue directly, the same wrapped in an
// SNS notification (raw delivery off), or an EventBridge "Object Created"
// event. Test events and other event types name none; anything else is an
// error.
func parseNotification(body []byte) ([]objectRef, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	switch {
	case env.Type == "Notification" && env.Message != "":
		return parseS3Event([]byte(env.Message))
	case env.Source == "aws.s3":
		if env.DetailType != "Object Created" {
			return nil, nil
		}
		key, err := decodeKey(env.Detail.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("EventBridge event: %w", err)
		}
		if env.Detail.Bucket.Name == "" || key == "" {
			return nil, errors.New("EventBridge event without bucket or key")
		}
		return []objectRef{{env.Detail.Bucket.Name, key, env.Detail.Object.Size}}, nil
	}
	return parseS3Event(body)
}

func parseS3Event(body []byte) ([]objectRef, error) {
	var ev s3Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if ev.Event == "s3:TestEvent" {
		return nil, nil
	}
	if ev.Records == nil {
		return nil, errors.New("neither an S3 event notification, an SNS notification of one, nor an EventBridge S3 event")
	}
	var refs []objectRef
	seen := map[[2]string]bool{}
	for i, r := range ev.Records {
		if r.EventSource != "aws:s3" || !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			continue
		}
		key, err := decodeKey(r.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		if r.S3.Bucket.Name == "" || key == "" {
			return nil, fmt.Errorf("record %d: no bucket or key", i)
		}
		ref := objectRef{r.S3.Bucket.Name, key, r.S3.Object.Size}
		// An object named twice (two events for one key, its key encoded
		// two ways) is read once: every read delivers its records again.
		if !seen[[2]string{ref.bucket, ref.key}] {
			seen[[2]string{ref.bucket, ref.key}] = true
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// decodeKey decodes an object key as notifications carry it: URL-encoded
// as a form value, a space as '+' and a '+' as %2B. S3's own event
// notifications are documented so. For EventBridge events AWS documents
// no encoding, but captured events leave characters S3's notifications
// escape (':') as they are while AWS's Lambda Powertools and OpenSearch
// Data Prepper form-decode the key: decoding reads either form correctly
// as long as '+' and '%' are escaped, which taking the key as received
// would not (a key with a space would name an object that does not exist).
func decodeKey(key string) (string, error) {
	k, err := url.QueryUnescape(key)
	if err != nil {
		return "", fmt.Errorf("key %q: %w", key, err)
	}
	return k, nil
}
