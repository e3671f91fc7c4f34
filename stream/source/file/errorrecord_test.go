package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// errorRecordJSON is one Firehose error record as Firehose writes it to S3.
func errorRecordJSON(raw, code string) string {
	return fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":1700000000000,"errorCode":%q,"errorMessage":"failed","attemptEndingTimestamp":1700000060000,"rawData":%q,"subsequenceNumber":0,"dataId":"1"}`,
		code, base64.StdEncoding.EncodeToString([]byte(raw)))
}

// TestErrorRecords replays the original records of Firehose's
// processing-failed and http-endpoint-failed objects: plain lines and
// {"message"} wrappers, objects one per line or back to back, gzip or not.
func TestErrorRecords(t *testing.T) {
	objects := errorRecordJSON(lineAccept, "Lambda.FunctionError") + "\n" +
		errorRecordJSON(`{"message":"`+lineReject+`"}`, "HttpEndpoint.DestinationException") +
		errorRecordJSON("garbage", "HttpEndpoint.DestinationException") + "\n"
	for _, data := range [][]byte{[]byte(objects), gz(objects)} {
		e := newEnv(t, func(c *Config) { c.BatchSize = 1 })
		path := write(t, "processing-failed", data)
		sum, err := e.r.Run(context.Background(), []string{path})
		if err != nil {
			t.Fatal(err)
		}
		if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
			t.Errorf("records = %q", got)
		}
		fs := e.dl.Failures()
		if len(fs) != 1 || fs[0].Line != 3 || fs[0].Ref != path || sum.Lines != 3 {
			t.Errorf("failures = %+v, summary %+v: want the third error record's payload", fs, sum)
		}
	}

	// A truncated object keeps the records before the cut.
	e := newEnv(t, nil)
	path := write(t, "cut", []byte(objects[:len(objects)-40]))
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	fs := e.dl.Failures()
	if got := raws(e.sink.Records()); len(got) != 2 || len(fs) != 1 || !strings.Contains(fs[0].Reason, "unreadable") || fs[0].Line != 3 {
		t.Errorf("records %q, failures %+v", got, fs)
	}
}

// TestErrorRecordLongMessage replays an http-endpoint-failed object whose
// errorMessage, which holds the endpoint's response body, puts rawData
// beyond the bytes looked at to recognise error records.
func TestErrorRecordLongMessage(t *testing.T) {
	body := strings.Repeat("<p>proxy error</p>", 500) // 9 KB of response body
	obj := fmt.Sprintf(`{"attemptsMade":4,"arrivalTimestamp":1700000000000,"errorCode":"HttpEndpoint.InvalidResponseFromDestination","errorMessage":%q,"attemptEndingTimestamp":1700000060000,"rawData":%q}`+"\n",
		body, base64.StdEncoding.EncodeToString([]byte(lineAccept)))
	e := newEnv(t, nil)
	path := write(t, "http-endpoint-failed", []byte(obj))
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); len(got) != 1 || got[0] != lineAccept || len(e.dl.Failures()) != 0 {
		t.Errorf("records %q, %d failures: want the original record replayed", got, len(e.dl.Failures()))
	}
}

// xs is what endless repeats.
var xs = bytes.Repeat([]byte("x"), 32<<10)

// endless is an error record whose errorMessage never ends: left bytes of
// it, counted as read.
type endless struct {
	head []byte
	left int64
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	n := 0
	if len(e.head) > 0 {
		n = copy(p, e.head)
		e.head = e.head[n:]
	}
	for int64(n) < e.left && n < len(p) {
		n += copy(p[n:min(len(p), n+int(min(e.left-int64(n), int64(len(xs)))))], xs)
	}
	e.left -= int64(n)
	e.read += int64(n)
	return n, nil
}

func (e *endless) Close() error { return nil }

// TestErrorRecordTooLong: an error record longer than
// max_error_record_bytes is dead-lettered, naming the input and why, and
// the records after it are replayed; one that never ends is read to the
// input's end without being held (the heap stays far below its size).
func TestErrorRecordTooLong(t *testing.T) {
	big := fmt.Sprintf(`{"errorCode":"HttpEndpoint.InvalidResponseFromDestination","errorMessage":%q,"rawData":%q}`,
		strings.Repeat("y", 8<<10), base64.StdEncoding.EncodeToString([]byte(lineReject)))
	obj := errorRecordJSON(lineAccept, "Lambda.FunctionError") + "\n" + big + "\n" + errorRecordJSON(lineReject, "Lambda.FunctionError") + "\n"
	e := newEnv(t, func(c *Config) { c.MaxErrorRecordBytes = 4 << 10 })
	path := write(t, "processing-failed", gz(obj))
	sum, err := e.r.Run(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
		t.Errorf("records = %q, want the first and third error records' payloads", got)
	}
	fs := e.dl.Failures()
	if len(fs) != 1 || fs[0].Ref != path || fs[0].Line != 2 || !strings.Contains(fs[0].Reason, "longer than max_error_record_bytes (4096)") ||
		len(fs[0].Input) != 1<<10 || !strings.HasPrefix(fs[0].Input, `{"errorCode"`) || sum.Lines != 3 {
		t.Errorf("failures = %+v, summary %+v", fs, sum)
	}

	// 128 MiB of one endless JSON string, after a record that is replayed.
	const size = 128 << 20
	e = newEnv(t, nil)
	in := &endless{head: []byte(errorRecordJSON(lineAccept, "Lambda.FunctionError") + "\n" + `{"errorCode":"x","errorMessage":"`), left: size}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	sum, err = e.r.RunInputs(context.Background(), []Input{{Name: "s3://b/endless", Open: func(context.Context) (io.ReadCloser, error) { return in, nil }}})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if in.read != size {
		t.Errorf("read %d of %d bytes", in.read, size)
	}
	fs = e.dl.Failures()
	if got := raws(e.sink.Records()); len(got) != 1 || len(fs) != 1 || fs[0].Ref != "s3://b/endless" || fs[0].Line != 2 ||
		!strings.Contains(fs[0].Reason, "longer than max_error_record_bytes") {
		t.Errorf("records %q, failures %+v", got, fs)
	}
	if p := peak.Load(); p > 32<<20 {
		t.Errorf("heap peaked at %d MiB reading one endless error record", p>>20)
	}
}

// TestErrorRecordMalformed: an object that is JSON but not an error record
// is dead-lettered, and the error records after it are replayed.
func TestErrorRecordMalformed(t *testing.T) {
	obj := errorRecordJSON(lineAccept, "Lambda.FunctionError") + `{"errorCode":"x","rawData":"not base64!"}` + "\n" +
		`[1,2]` + `{"errorCode":"x","rawData":{"a":"}]"}}` + errorRecordJSON(lineReject, "Lambda.FunctionError")
	e := newEnv(t, nil)
	path := write(t, "processing-failed", []byte(obj))
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
		t.Errorf("records = %q", got)
	}
	var lines []int
	for _, f := range e.dl.Failures() {
		if !strings.Contains(f.Reason, "not a Firehose error record") {
			t.Errorf("failure %+v", f)
		}
		lines = append(lines, f.Line)
	}
	if fmt.Sprint(lines) != "[2 3 4]" {
		t.Errorf("failed lines %v, want [2 3 4]", lines)
	}
}

// TestErrorRecordStrayBytes: bytes between error records that cannot
// start an object (a stray byte, a brace too many, a line of something
// else, long or short) are dead-lettered with the object's name and their
// first KiB, and the error records after them are replayed.
func TestErrorRecordStrayBytes(t *testing.T) {
	long := strings.Repeat("#", 5000)
	obj := errorRecordJSON(lineAccept, "a") + "x" + errorRecordJSON(lineReject, "b") + "\n}" + long + "\n" +
		errorRecordJSON(lineAccept, "c") + "\ntrailing garbage\n"
	e := newEnv(t, nil)
	path := write(t, "http-endpoint-failed", []byte(obj))
	sum, err := e.r.Run(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject+"|"+lineAccept {
		t.Errorf("records = %q", got)
	}
	var lines []int
	var inputs []string
	for _, f := range e.dl.Failures() {
		if f.Ref != path || !strings.Contains(f.Reason, "skipped to the next {") {
			t.Errorf("failure %+v", f)
		}
		lines, inputs = append(lines, f.Line), append(inputs, f.Input)
	}
	want := []string{"x", ("}" + long)[:keptInput], "trailing garbage\n"}
	if fmt.Sprint(lines) != "[2 4 6]" || fmt.Sprintf("%q", inputs) != fmt.Sprintf("%q", want) || sum.Lines != 6 {
		t.Errorf("failed lines %v, inputs %q (summary %+v), want [2 4 6], %q", lines, inputs, sum, want)
	}
}

// TestStrayBraceDoesNotSwallowRecords: a '{' inside a stray line must not
// open a value that never closes and takes every later record with it.
func TestStrayBraceDoesNotSwallowRecords(t *testing.T) {
	var in strings.Builder
	in.WriteString(errorRecordJSON(lineAccept, "a") + "\nWARN got { here\n")
	for i := range 50 {
		in.WriteString(errorRecordJSON(lineReject, strconv.Itoa(i)) + "\n")
	}
	j := jsonValues{r: bufio.NewReader(strings.NewReader(in.String())), max: 2000}
	values, strays := 0, []string{}
	for {
		v, err := j.next()
		if err == io.EOF {
			break
		}
		switch {
		case errors.Is(err, errStray):
			strays = append(strays, string(v))
		case err != nil:
			t.Fatalf("after %d values: %v (%.40q)", values, err, v)
		default:
			if !json.Valid(v) {
				t.Fatalf("value %d is not JSON: %.60q", values, v)
			}
			values++
		}
	}
	if values != 51 || len(strays) != 1 || strays[0] != "WARN got { here\n" {
		t.Fatalf("%d values, strays %q; want 51 and the one stray line", values, strays)
	}
}

// FuzzJSONValues checks the bounded splitting of error-record files
// against encoding/json: on a stream json.Decoder reads as objects and
// arrays, the values are the same; on any input no value is longer than
// the bound and nothing panics.
func FuzzJSONValues(f *testing.F) {
	f.Add([]byte(errorRecordJSON(lineAccept, "x")+"\n"+errorRecordJSON(lineReject, "y")), 64)
	f.Add([]byte(`{"a":"\"}"} [1,{"b":[]}]`), 8)
	f.Add([]byte(`{"a":`), 1024)
	f.Add([]byte(`{"a":1}x}{"b":2} ]`), 16)
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max = 1 + int(uint(max)%4096)
		j := jsonValues{r: bufio.NewReader(bytes.NewReader(data)), max: max}
		var got []string
		skipped := false
		for {
			v, err := j.next()
			if len(v) > max {
				t.Fatalf("value of %d bytes, max %d", len(v), max)
			}
			if errors.Is(err, errStray) && (len(v) == 0 || v[0] == '{') {
				t.Fatalf("stray run %q: empty or starting a value", v)
			}
			if errors.Is(err, errTooLong) || errors.Is(err, errStray) {
				skipped = true
				continue
			}
			if err != nil {
				break
			}
			got = append(got, string(v))
		}
		if skipped {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		var want []string
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				if !errors.Is(err, io.EOF) {
					return // not a valid stream: only the bound is checked
				}
				break
			}
			if v[0] != '{' && v[0] != '[' {
				return
			}
			want = append(want, string(v))
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("values %q, encoding/json %q", got, want)
		}
	})
}

// TestErrorRecordWithoutRawData: an object with an error record's other
// fields but no rawData (or a null one) holds nothing to replay, and is no
// error record: it is dead-lettered like any other object of the wrong
// shape rather than dropped without a trace.
func TestErrorRecordWithoutRawData(t *testing.T) {
	obj := errorRecordJSON(lineAccept, "Lambda.FunctionError") + "\n" +
		`{"attemptsMade":4,"errorCode":"Lambda.FunctionError","errorMessage":"failed"}` + "\n" +
		`{"errorCode":"x","rawData":null}` + "\n" +
		errorRecordJSON("", "Lambda.FunctionError") + "\n" +
		errorRecordJSON(lineReject, "Lambda.FunctionError") + "\n"
	e := newEnv(t, nil)
	path := write(t, "processing-failed", []byte(obj))
	sum, err := e.r.Run(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := raws(e.sink.Records()); strings.Join(got, "|") != lineAccept+"|"+lineReject {
		t.Errorf("records = %q", got)
	}
	var lines []int
	for _, f := range e.dl.Failures() {
		if !strings.Contains(f.Reason, "not a Firehose error record: no rawData") || !strings.HasPrefix(f.Input, `{"`) {
			t.Errorf("failure %+v", f)
		}
		lines = append(lines, f.Line)
	}
	if fmt.Sprint(lines) != "[2 3]" || sum.Lines != 5 {
		t.Errorf("failed lines %v (summary %+v), want [2 3]: the objects without rawData", lines, sum)
	}
}
