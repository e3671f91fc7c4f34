package s3

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseURL splits s3://bucket/prefix.
func ParseURL(u string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix URL", u)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket", u)
	}
	return bucket, prefix, nil
}

// period is the time span a key or key prefix covers by its dated path
// segments: [start, end).
type period struct{ start, end time.Time }

func (p period) overlaps(since, until time.Time) bool {
	return (until.IsZero() || p.start.Before(until)) && (since.IsZero() || p.end.After(since))
}

// firehoseFailed are the prefixes under which Firehose writes the error
// records `flowhose replay` recovers (processing_failed: older spelling).
var firehoseFailed = map[string]bool{"processing-failed": true, "processing_failed": true, "http-endpoint-failed": true}

// keyPeriod reads the date partitions of a key or key prefix as VPC writes
// them: .../vpcflowlogs/<region>/<yyyy>/<mm>/<dd>[/<hh>]/… or, with
// Hive-compatible prefixes, .../year=<yyyy>/month=<mm>/day=<dd>[/hour=<hh>]/…,
// and as Firehose writes its error records: .../processing-failed/<yyyy>/<MM>/<dd>/<HH>/….
// Only complete segments (followed by '/') count, so a prefix ending in the
// middle of one is not misread. ok is false when no year is found.
func keyPeriod(key string) (p period, ok bool) {
	segs := strings.Split(key, "/")
	segs = segs[:len(segs)-1] // the last one is a file name or incomplete
	var parts []int           // year, month, day, hour as far as found
	plain := -1               // index of the year in the plain layout
	for i, s := range segs {
		// The destination's own prefix may hold a segment named
		// vpcflowlogs too: the one VPC writes is followed by the region
		// and a year.
		if s == "vpcflowlogs" && i+2 < len(segs) && isYear(segs[i+2]) {
			plain = i + 2
			break
		}
		// Firehose writes the records it failed under the error type,
		// then yyyy/MM/dd/HH (UTC).
		if firehoseFailed[s] && i+1 < len(segs) && isYear(segs[i+1]) {
			plain = i + 1
			break
		}
	}
	if plain >= 0 {
		for _, s := range segs[plain:min(plain+4, len(segs))] {
			width := 2 // month, day, hour
			if len(parts) == 0 {
				width = 4 // year
			}
			n, err := strconv.Atoi(s)
			if err != nil || len(s) != width {
				break
			}
			parts = append(parts, n)
		}
	} else {
		for _, name := range []string{"year=", "month=", "day=", "hour="} {
			found := false
			for _, s := range segs {
				if v, ok := strings.CutPrefix(s, name); ok {
					if n, err := strconv.Atoi(v); err == nil {
						parts, found = append(parts, n), true
					}
					break
				}
			}
			if !found {
				break
			}
		}
	}
	if len(parts) == 0 {
		return period{}, false
	}
	year, month, day, hour := parts[0], 1, 1, 0
	if len(parts) > 1 {
		month = parts[1]
	}
	if len(parts) > 2 {
		day = parts[2]
	}
	if len(parts) > 3 {
		hour = parts[3]
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 {
		return period{}, false
	}
	start := time.Date(year, time.Month(month), day, hour, 0, 0, 0, time.UTC)
	switch len(parts) {
	case 1:
		return period{start, start.AddDate(1, 0, 0)}, true
	case 2:
		return period{start, start.AddDate(0, 1, 0)}, true
	case 3:
		return period{start, start.AddDate(0, 0, 1)}, true
	}
	return period{start, start.Add(time.Hour)}, true
}

func isYear(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && len(s) == 4
}

// ParseTime reads a --since/--until value: a date (2024-05-01), a date and
// hour (2024-05-01T13) or an RFC 3339 time, in UTC unless it says otherwise.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "2006-01-02T15", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2024-05-01), date and hour (2024-05-01T13) or RFC 3339 time", s)
}
