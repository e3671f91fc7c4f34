package s3

import (
	"testing"
	"time"
)

func TestKeyPeriod(t *testing.T) {
	day := func(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		key        string
		start, end time.Time
		ok         bool
	}{
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/123456789012_vpcflowlogs_us-east-1_fl-1_20240501T0005Z_ab.log.gz", day(2024, 5, 1), day(2024, 5, 2), true},
		{"p/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/13/f.log.parquet", day(2024, 5, 1).Add(13 * time.Hour), day(2024, 5, 1).Add(14 * time.Hour), true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/", day(2024, 1, 1), day(2025, 1, 1), true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/12/", day(2024, 12, 1), day(2025, 1, 1), true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/1", day(2024, 1, 1), day(2025, 1, 1), true}, // incomplete month
		{"AWSLogs/aws-account-id=123456789012/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=02/day=29/f.log.gz", day(2024, 2, 29), day(2024, 3, 1), true},
		{"AWSLogs/aws-account-id=1/aws-service=vpcflowlogs/aws-region=eu-west-1/year=2024/month=02/day=29/hour=23/f", day(2024, 2, 29).Add(23 * time.Hour), day(2024, 3, 1), true},
		{"AWSLogs/123456789012/vpcflowlogs/us-east-1/", time.Time{}, time.Time{}, false},
		{"elsewhere/2024/05/01/f.log.gz", time.Time{}, time.Time{}, false},
		{"AWSLogs/1/vpcflowlogs/us-east-1/2024/13/01/f", time.Time{}, time.Time{}, false},
		// Firehose's error objects, dated as Firehose dates what it writes.
		{"fh/processing-failed/2024/05/01/13/delivery-1-2024-05-01-13-00-00-ab", day(2024, 5, 1).Add(13 * time.Hour), day(2024, 5, 1).Add(14 * time.Hour), true},
		{"http-endpoint-failed/2024/05/01/", day(2024, 5, 1), day(2024, 5, 2), true},
		// The destination's own prefix may be named vpcflowlogs too.
		{"vpcflowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/05/01/f.log.gz", day(2024, 5, 1), day(2024, 5, 2), true},
		{"vpcflowlogs/AWSLogs/123456789012/vpcflowlogs/us-east-1/2024/", day(2024, 1, 1), day(2025, 1, 1), true},
	}
	for _, tt := range tests {
		p, ok := keyPeriod(tt.key)
		if ok != tt.ok || !p.start.Equal(tt.start) || !p.end.Equal(tt.end) {
			t.Errorf("keyPeriod(%q) = %v %v %v, want %v %v %v", tt.key, p.start, p.end, ok, tt.start, tt.end, tt.ok)
		}
	}
	p, _ := keyPeriod(tests[0].key)
	if !p.overlaps(day(2024, 5, 1), day(2024, 5, 2)) || p.overlaps(day(2024, 5, 2), time.Time{}) || p.overlaps(time.Time{}, day(2024, 5, 1)) || !p.overlaps(time.Time{}, time.Time{}) {
		t.Error("overlaps: since is inclusive, until exclusive, zero unbounded")
	}
}

func TestParseURL(t *testing.T) {
	if b, p, err := ParseURL("s3://logs/AWSLogs/1/"); b != "logs" || p != "AWSLogs/1/" || err != nil {
		t.Errorf("got %q %q %v", b, p, err)
	}
	if b, p, err := ParseURL("s3://logs"); b != "logs" || p != "" || err != nil {
		t.Errorf("got %q %q %v", b, p, err)
	}
	for _, bad := range []string{"logs/x", "s3:///x", "/tmp/f"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}
