package s3

import (
	"encoding/json"
	"fmt"
	"testing"
)

const s3EventBody = `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put",
"s3":{"bucket":{"name":"logs"},"object":{"key":"AWSLogs/1/vpcflowlogs/us-east-1/2024/05/01/a+b%3Dc.log.gz","size":42}}},
{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"logs"},"object":{"key":"gone"}}}]}`

func dupRecord(key string) string {
	return `{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"logs"},"object":{"key":"` + key + `"}}}`
}

func TestParseNotification(t *testing.T) {
	sns, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": s3EventBody})
	eb := `{"version":"0","detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"logs"},"object":{"key":"a+b%2B%3Dc%C3%BC:1.log.gz","size":7}}}`
	want := "[{logs AWSLogs/1/vpcflowlogs/us-east-1/2024/05/01/a b=c.log.gz 42}]"
	tests := []struct {
		name, body, want string
		err              bool
	}{
		{"S3 to SQS", s3EventBody, want, false},
		{"S3 to SNS to SQS", string(sns), want, false},
		{"EventBridge", eb, "[{logs a b+=cü:1.log.gz 7}]", false},
		{"EventBridge bad key encoding", `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"logs"},"object":{"key":"100%.log"}}}`, "", true},
		{"EventBridge deletion", `{"detail-type":"Object Deleted","source":"aws.s3","detail":{}}`, "[]", false},
		{"test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T00:00:00.000Z","Bucket":"logs"}`, "[]", false},
		{"not JSON", `hello`, "", true},
		{"other JSON", `{"hello":"world"}`, "", true},
		{"object named twice", `{"Records":[` + dupRecord("a+b.log.gz") + `,` + dupRecord("a%20b.log.gz") + `,` + dupRecord("c.log.gz") + `]}`, "[{logs a b.log.gz 0} {logs c.log.gz 0}]", false},
		{"bad key encoding", `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"%zz"}}}]}`, "", true},
	}
	for _, tt := range tests {
		refs, err := parseNotification([]byte(tt.body))
		if (err != nil) != tt.err {
			t.Errorf("%s: err = %v", tt.name, err)
			continue
		}
		if got := fmt.Sprint(refs); !tt.err && got != tt.want && !(tt.want == "[]" && len(refs) == 0) {
			t.Errorf("%s: refs = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func FuzzParseNotification(f *testing.F) {
	f.Add([]byte(s3EventBody))
	f.Add([]byte(`{"Type":"Notification","Message":"{\"Records\":[]}"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		refs, err := parseNotification(body)
		for _, r := range refs {
			if err != nil || r.bucket == "" || r.key == "" {
				t.Fatalf("ref %+v with err %v", r, err)
			}
		}
	})
}
