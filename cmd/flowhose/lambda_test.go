package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowhose/flowhose/stream/sinktest"
)

// lambdaResponse is the part of a transformation response the test reads.
type lambdaResponse struct {
	Records []struct {
		RecordID string `json:"recordId"`
		Result   string `json:"result"`
		Data     []byte `json:"data"`
	} `json:"records"`
}

// startRIE runs the built flowhose as the bootstrap of the AWS Lambda
// Runtime Interface Emulator (scripts/lambda-rie) with the default
// configuration and returns the emulator's invocation URL. flowhose sees
// AWS_LAMBDA_RUNTIME_API exactly as inside AWS Lambda.
func startRIE(t *testing.T) (string, *sinktest.Buffer) {
	t.Helper()
	rie := os.Getenv("FLOWHOSE_TEST_LAMBDA_RIE")
	if rie == "" {
		if os.Getenv("FLOWHOSE_REQUIRE_SERVICES") == "1" {
			t.Fatal("FLOWHOSE_TEST_LAMBDA_RIE is not set: run scripts/test, or export FLOWHOSE_TEST_LAMBDA_RIE=$(scripts/lambda-rie)")
		}
		t.Skip("FLOWHOSE_TEST_LAMBDA_RIE not set (export FLOWHOSE_TEST_LAMBDA_RIE=$(scripts/lambda-rie))")
	}
	bin, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	// Both ports are chosen here: the emulator's runtime API otherwise
	// takes 9001, which parallel runs would share.
	addr, apiAddr := freeAddr(t), freeAddr(t)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bin)
	// The emulator passes its environment on to the function: keep the
	// test's own FLOWHOSE_ settings away from it, so the function runs on
	// the defaults as a fresh deployment does.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOWHOSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Dir = t.TempDir()
	out := &sinktest.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("emulator and function output:\n%s", out)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator not listening on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr + "/2015-03-31/functions/function/invocations", out
}

// invoke sends a Firehose transformation event to the function and returns
// the raw response with its decoding.
func invoke(t *testing.T, url string, payloads ...[]byte) ([]byte, lambdaResponse) {
	t.Helper()
	type record struct {
		RecordID string `json:"recordId"`
		Arrival  int64  `json:"approximateArrivalTimestamp"`
		Data     []byte `json:"data"`
	}
	event := struct {
		InvocationID      string   `json:"invocationId"`
		DeliveryStreamArn string   `json:"deliveryStreamArn"`
		Region            string   `json:"region"`
		Records           []record `json:"records"`
	}{"inv-1", "arn:aws:firehose:us-east-1:123456789012:deliverystream/flows", "us-east-1", nil}
	for i, p := range payloads {
		event.Records = append(event.Records, record{fmt.Sprintf("r%d", i), 1700000050000, p})
	}
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invocation: %s: %.500s", resp.Status, raw)
	}
	var r lambdaResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("response is not a transformation response: %v: %.500s", err, raw)
	}
	if len(r.Records) != len(payloads) {
		t.Fatalf("%d records answered, sent %d: %.500s", len(r.Records), len(payloads), raw)
	}
	for i, rec := range r.Records {
		if want := fmt.Sprintf("r%d", i); rec.RecordID != want {
			t.Fatalf("record %d answered as %q, want %q in input order", i, rec.RecordID, want)
		}
	}
	return raw, r
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

const lambdaLine = "2 123456789012 eni-0a1b2c3d4e5f60718 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1700000002 1700000050 ACCEPT OK"

// flowhose in AWS Lambda mode, under the Runtime Interface Emulator,
// answers each kind of record as Firehose expects: ECS documents for flow
// logs (a bad line among them dead-lettered to standard error, the
// default there), Dropped for a CloudWatch Logs control message,
// ProcessingFailed for nothing decodable (Firehose keeps that record
// itself), in input order.
func TestLambdaUnderRIE(t *testing.T) {
	url, out := startRIE(t)
	control := gzipped(t, `{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"",`+
		`"subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1700000050000,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}`)
	cwl := gzipped(t, `{"messageType":"DATA_MESSAGE","owner":"123456789012","logGroup":"flows","logStream":"eni-0a1b2c3d4e5f60718-all",`+
		`"subscriptionFilters":["to-firehose"],"logEvents":[{"id":"1","timestamp":1700000050000,"message":"`+lambdaLine+`"},`+
		`{"id":"2","timestamp":1700000050000,"message":"`+strings.Replace(lambdaLine, "ACCEPT", "REJECT", 1)+`"}]}`)
	_, resp := invoke(t, url,
		[]byte(lambdaLine+"\n2 bad line among good ones\n"),
		[]byte(`{"message":"`+lambdaLine+`"}`),
		cwl,
		control,
		[]byte("this is no flow log\n"),
	)
	want := []struct {
		result string
		docs   int
	}{{"Ok", 1}, {"Ok", 1}, {"Ok", 2}, {"Dropped", 0}, {"ProcessingFailed", 0}}
	for i, w := range want {
		rec := resp.Records[i]
		if rec.Result != w.result {
			t.Errorf("%s: result %s, want %s", rec.RecordID, rec.Result, w.result)
			continue
		}
		if w.docs == 0 {
			if len(rec.Data) != 0 {
				t.Errorf("%s (%s) carries data %q", rec.RecordID, rec.Result, rec.Data)
			}
			continue
		}
		docs := strings.Split(strings.TrimSuffix(string(rec.Data), "\n"), "\n")
		if len(docs) != w.docs {
			t.Errorf("%s: %d documents, want %d: %s", rec.RecordID, len(docs), w.docs, rec.Data)
			continue
		}
		for _, d := range docs {
			var doc struct {
				Timestamp string         `json:"@timestamp"`
				Source    map[string]any `json:"source"`
			}
			if err := json.Unmarshal([]byte(d), &doc); err != nil {
				t.Errorf("%s: not a JSON document: %v: %s", rec.RecordID, err, d)
				continue
			}
			if doc.Timestamp != "2023-11-14T22:14:10Z" || doc.Source["ip"] != "172.31.16.139" || doc.Source["port"] != 20641.0 {
				t.Errorf("%s: wrong ECS document: %s", rec.RecordID, d)
			}
		}
	}
	// The dead-letter entry is written before the response is sent, but
	// reaches this test through the emulator's relay of the function's
	// standard error, which may lag behind the response.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "2 bad line among good ones") {
		if time.Now().After(deadline) {
			t.Fatalf("the bad line of r0 was not dead-lettered to standard error:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lambda refuses a response over 6 MB. An invocation whose output would
// pass max_response_bytes (6,000,000 by default) gets the records that fit
// Ok and every later one ProcessingFailed, in a response that Lambda
// accepts.
func TestLambdaUnderRIEResponseLimit(t *testing.T) {
	url, _ := startRIE(t)
	// 60 records of 100 lines: about 0.7 MB in, about 8.5 MB of ECS out.
	const records, lines = 60, 100
	payload := []byte(strings.Repeat(lambdaLine+"\n", lines))
	payloads := make([][]byte, records)
	for i := range payloads {
		payloads[i] = payload
	}
	raw, resp := invoke(t, url, payloads...)
	if len(raw) >= 6_000_000 {
		t.Errorf("response is %d bytes, want under 6,000,000", len(raw))
	}
	ok := 0
	for ok < len(resp.Records) && resp.Records[ok].Result == "Ok" {
		ok++
	}
	if ok == 0 || ok == records {
		t.Fatalf("%d of %d records Ok: the test no longer reaches the response limit", ok, records)
	}
	for _, rec := range resp.Records[:ok] {
		if n := strings.Count(string(rec.Data), "\n"); n != lines {
			t.Errorf("%s: %d documents, want %d", rec.RecordID, n, lines)
		}
	}
	for _, rec := range resp.Records[ok:] {
		if rec.Result != "ProcessingFailed" || len(rec.Data) != 0 {
			t.Errorf("%s after the limit: %s with %d bytes, want ProcessingFailed without data", rec.RecordID, rec.Result, len(rec.Data))
		}
	}
	// The records that fit fill the response: one more would not have.
	perRecord := base64.StdEncoding.EncodedLen(len(resp.Records[0].Data))
	if len(raw)+perRecord < 6_000_000 {
		t.Errorf("response %d bytes with %d records Ok: record %d (%d bytes) would have fit", len(raw), ok, ok, perRecord)
	}
	t.Logf("%d of %d records Ok, response %d bytes", ok, records, len(raw))
}
