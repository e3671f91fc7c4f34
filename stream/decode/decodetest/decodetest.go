// Package decodetest holds the wire shapes the decoder reads but never
// builds, so that tests and the load generator write them one way.
package decodetest

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
