package ecs

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/flowhose/flowhose/stream"
)

// IDLen is the length of a document id written by AppendID.
const IDLen = 22

// AppendID appends r's deterministic document id to dst: the same record
// always gets the same id, so redeliveries do not duplicate documents.
//
// The id is the first 128 bits of SHA-256 over r.Raw with its ends trimmed
// and every run of spaces, tabs, CR or LF collapsed to one space, encoded
// as unpadded base64url (22 characters). The line is the record's identity:
// it names the ENI, the 5-tuple and the capture window, so NODATA records
// of two ENIs or one 5-tuple in two windows differ, while the same line
// redelivered (Firehose retry, Kafka redelivery, replay of a file, or the
// same line wrapped in JSON or a CloudWatch payload) maps to one id. Two
// byte-identical lines are one record by definition and share an id.
//
// A line without interface-id (a custom format that omits it) does not
// name its ENI, so the same flow seen by two ENIs would get one id and
// Elasticsearch would keep only the first. Such a record's origin is
// hashed before its line: for a CloudWatch Logs delivery the log stream
// names the ENI, and the owner and log group keep streams of different
// groups apart. A record with interface-id, or without an origin, is
// hashed exactly as before, so existing ids do not change.
//
// A record without Raw (built in code, not decoded) is hashed over its
// aws.vpcflow encoding instead, which holds every field it carries.
//
// dst's spare capacity is used as scratch space, so once dst has grown to
// fit a line the call does not allocate.
func AppendID(dst []byte, r *stream.Record) []byte {
	n := len(dst)
	if !r.Has(stream.FieldInterfaceID) && r.Origin != (stream.Origin{}) {
		dst = appendOrigin(dst, &r.Origin)
	}
	switch {
	case isCollapsed(r.Raw):
		dst = append(dst, r.Raw...)
	case r.Raw != "":
		dst = appendCollapsed(dst, r.Raw)
	default:
		var k int
		var tx texts
		tx.init(r)
		dst = appendVPCFlow(dst, &k, r, &tx)
	}
	sum := sha256.Sum256(dst[n:])
	return base64.RawURLEncoding.AppendEncode(dst[:n], sum[:16])
}

// appendOrigin appends o for AppendID: a newline, which no collapsed line
// holds, so no origin-prefixed input equals a bare line, then each part
// length-prefixed, so no two origins run into the same bytes.
func appendOrigin(dst []byte, o *stream.Origin) []byte {
	dst = append(dst, '\n')
	for _, s := range [...]string{o.Owner, o.LogGroup, o.LogStream} {
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, ':')
		dst = append(dst, s...)
	}
	return dst
}

// isSpace reports whether c separates flow-log fields.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// isCollapsed reports whether s is non-empty and already in the form
// appendCollapsed produces, as nearly every flow-log line is. It uses
// the vectorised byte searches, several times faster than a byte loop.
func isCollapsed(s string) bool {
	return s != "" && !isSpace(s[0]) && !isSpace(s[len(s)-1]) &&
		strings.IndexByte(s, '\t') < 0 && strings.IndexByte(s, '\r') < 0 &&
		strings.IndexByte(s, '\n') < 0 && !strings.Contains(s, "  ")
}

// appendCollapsed appends s trimmed, with whitespace runs as single spaces.
func appendCollapsed(dst []byte, s string) []byte {
	pending := false
	wrote := false
	start := 0
	for i := 0; i < len(s); i++ {
		if !isSpace(s[i]) {
			continue
		}
		if start < i {
			if pending && wrote {
				dst = append(dst, ' ')
			}
			dst = append(dst, s[start:i]...)
			wrote = true
		}
		pending = true
		start = i + 1
	}
	if start < len(s) {
		if pending && wrote {
			dst = append(dst, ' ')
		}
		dst = append(dst, s[start:]...)
	}
	return dst
}
