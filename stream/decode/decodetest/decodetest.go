// Package decodetest holds the wire shapes the decoder reads but never
// builds, so that tests and the load generator write them one way.
package decodetest

import (
	"encoding/json"
	"strconv"
)

// CloudWatchDocument is a CloudWatch Logs subscription document: what a
// subscription filter delivers, gzip-compressed, to Firehose or Lambda.
type CloudWatchDocument struct {
	MessageType         string            `json:"messageType"` // DATA_MESSAGE or CONTROL_MESSAGE
	Owner               string            `json:"owner"`
	LogGroup            string            `json:"logGroup"`
	LogStream           string            `json:"logStream"`
	SubscriptionFilters []string          `json:"subscriptionFilters"`
	LogEvents           []CloudWatchEvent `json:"logEvents"`
}

// CloudWatchEvent is one log event of a CloudWatchDocument; for flow logs,
// one flow-log line.
type CloudWatchEvent struct {
	ID        string `json:"id"`
	Timestamp int64  `json:"timestamp"` // milliseconds since the epoch
	Message   string `json:"message"`
}

// CloudWatchJSON is the JSON of a CloudWatch Logs document of one log event
// per message, from the log group "vpc-flow-logs", stream
// "eni-0a1b2c3d4e5f60718-all" and account 123456789010, as tests expect.
func CloudWatchJSON(messageType string, messages ...string) string {
	doc := CloudWatchDocument{
		MessageType: messageType, Owner: "123456789010", LogGroup: "vpc-flow-logs",
		LogStream: "eni-0a1b2c3d4e5f60718-all", SubscriptionFilters: []string{"to-firehose"},
	}
	for i, m := range messages {
		doc.LogEvents = append(doc.LogEvents, CloudWatchEvent{ID: strconv.Itoa(i), Timestamp: 1418530010000, Message: m})
	}
	// Strings, numbers and slices of them always marshal.
	b, _ := json.Marshal(doc)
	return string(b)
}
