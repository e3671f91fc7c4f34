package firehose

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
)

// seedBodies adds sample bodies in Firehose's own shape and in others.
func seedBodies(f *testing.F) {
	sample, err := os.ReadFile("../../../testdata/firehose/request.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(body(requestID, lineAccept, lineBad)))
	f.Add([]byte(body(requestID, strings.Repeat(lineAccept+"\n", 4), gz(lineReject), `{"message":"`+lineAccept+`"}`)))
	f.Add([]byte(` { "requestId" : "x" , "timestamp" : -0 , "records" : [ { "data" : "MiAt" } , {"data":""} ] } `))
	f.Add([]byte(`{"requestId":"x","records":[{"data":null},{"data":""},{}]}`))
	f.Add([]byte(`{"requestId":"x","records":[{"data":"H4sI"}]}`))
	f.Add([]byte(`{"requestId":"x","records":[{"data":"MiAt\n"}],"other":{"a":[1]}}`))
	f.Add([]byte(`{"requestId":"x","records":[{"data":"MiAt\/"}],"timestamp":1.5e3}`))
	f.Add([]byte("{\"requestId\":\"x\",\"records\":[{\"data\":\"MiAt\"},{\"data\":\"Mi\tAt!\xff\"}]}"))
	f.Add([]byte(`{"records":[],"requestId":1}`))
	f.Add([]byte(`{"requestId":"x","records":{}}`))
}

// newTestCollector is a collector without a budget, as a Handler with cfg
// makes it.
func newTestCollector(t *testing.T, cfg Config) *collector {
	t.Helper()
	var scratch int64
	return (&Handler{cfg: cfg}).newCollector(nil, &scratch)
}

func newTestDecoder(t *testing.T) *decode.Decoder {
	t.Helper()
	dec, err := decode.New(decode.Options{Source: "firehose"})
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// FuzzParse feeds arbitrary bodies to the body reader and parser: they must
// never panic, must name the request on success, and must honour the
// decompressed size limit.
func FuzzParse(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		body, err := readAll(bytes.NewReader(data), 0, limit, func(int64) error { return nil })
		if len(data) > limit {
			if !errors.Is(err, errDecompressedTooLarge) {
				t.Fatalf("body of %d bytes over the %d limit: err = %v", len(data), limit, err)
			}
			return
		}
		if err != nil || !bytes.Equal(body, data) {
			t.Fatalf("read %q, %v; want the body", body, err)
		}
		cfg := DefaultConfig()
		cfg.BatchSize = 3
		c := newTestCollector(t, cfg)
		id, err := c.parse(body, newTestDecoder(t))
		if err == nil && id == "" {
			t.Fatal("success without a requestId")
		}
	})
}

// parsed is what a parser made of a body.
type parsed struct {
	id       string
	err      error
	records  []stream.Record
	failures []stream.Failure
}

func parseWith(t *testing.T, body []byte, fast bool) parsed {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BatchSize, cfg.MaxRecords = 3, 20
	c := newTestCollector(t, cfg)
	var p parsed
	if fast {
		p.id, p.err = c.parse(body, newTestDecoder(t))
	} else {
		p.id, p.err = parseJSON(bytes.NewReader(body), newTestDecoder(t), c)
	}
	c.cut()
	for _, ch := range c.chunks {
		p.records = append(p.records, ch.records...)
	}
	p.failures = c.out.Failures
	return p
}

// Data strings the fast path takes although they are not base64 fail on
// both paths with the same status.
func TestNotBase64FailsAlike(t *testing.T) {
	for _, data := range []string{"Mi\tAt", "MiAt!", "MiAté", "Mi\x00At", "Mi\xffAt", "MiA=t"} {
		b := []byte(`{"requestId":"x","records":[{"data":"MiAt"},{"data":"` + data + `"}]}`)
		if _, _, ok, _ := scan(b, nil, noGrow); !ok {
			t.Fatalf("%q: not on the fast path", b)
		}
		fast, general := parseWith(t, b, true), parseWith(t, b, false)
		if fast.err == nil || general.err == nil || failureStatus(fast.err) != failureStatus(general.err) {
			t.Errorf("%q: fast path err %v, encoding/json err %v", data, fast.err, general.err)
		}
	}
}

// FuzzFastPath checks the fast path against encoding/json: for every body
// both accept they find the same requestId, records and failures, and
// whatever one refuses the other refuses too.
func FuzzFastPath(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, _, ok, _ := scan(body, nil, noGrow); !ok {
			return // parse is parseJSON
		}
		fast, general := parseWith(t, body, true), parseWith(t, body, false)
		if (fast.err == nil) != (general.err == nil) {
			t.Fatalf("fast path err %v, encoding/json err %v", fast.err, general.err)
		}
		if fast.err != nil {
			if failureStatus(fast.err) != failureStatus(general.err) {
				t.Fatalf("fast path err %v (%d), encoding/json err %v (%d)", fast.err, failureStatus(fast.err), general.err, failureStatus(general.err))
			}
			return
		}
		if fast.id != general.id {
			t.Fatalf("requestId %q, encoding/json %q", fast.id, general.id)
		}
		if !reflect.DeepEqual(fast.records, general.records) {
			t.Fatalf("records differ:\n%+v\nencoding/json:\n%+v", fast.records, general.records)
		}
		if !reflect.DeepEqual(fast.failures, general.failures) {
			t.Fatalf("failures differ:\n%+v\nencoding/json:\n%+v", fast.failures, general.failures)
		}
	})
}
