// Command flowhose-load sends Firehose HTTP-endpoint delivery requests built
// from a flow-log file to a flowhose server (or anything speaking the
// protocol) and reports throughput, latency and, given the server's process
// id, the server's CPU time per flow-log line.
//
// Usage:
//
//	flowhose-load [flags] FILE
//
// Requests are sent like Firehose sends them: a JSON body of base64
// records, optionally gzip, with X-Amz-Firehose-Request-Id and
// X-Amz-Firehose-Access-Key headers, retried with backoff until the server
// answers 200. The access key is -key or FLOWHOSE_LOAD_ACCESS_KEY.
//
// With -header every record is shaped like a flow-log object in S3: the
// file's header line first and no newline after the last line. That is
// what decoders which take each record for a whole file need (the
// OpenTelemetry collector's vpcflow encoding); flowhose takes either shape.
// With -cwlogs every record is a CloudWatch Logs subscription delivery
// instead, the shape of flow logs published to CloudWatch Logs.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowhose/flowhose/stream/decode/decodetest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flowhose-load:", err)
		os.Exit(1)
	}
}

// config is what the flags set.
type config struct {
	url         string
	key         string
	records     int // Firehose records per request
	lines       int // flow-log lines per record
	header      bool
	cwlogs      bool
	gzip        bool
	concurrency int
	duration    time.Duration
	requests    int // total; 0: until duration
	bodies      int // distinct requests prepared
	attempts    int // per request, the first included
	timeout     time.Duration
	pid         int
	file        string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("flowhose-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080/firehose", "Firehose endpoint")
	fs.StringVar(&c.key, "key", os.Getenv("FLOWHOSE_LOAD_ACCESS_KEY"), "X-Amz-Firehose-Access-Key (default $FLOWHOSE_LOAD_ACCESS_KEY)")
	fs.IntVar(&c.records, "records", 500, "Firehose records per request")
	fs.IntVar(&c.lines, "lines", 5, "flow-log lines per record")
	fs.BoolVar(&c.header, "header", false, "start every record with the file's header line and end it without a newline, like an S3 object")
	fs.BoolVar(&c.cwlogs, "cwlogs", false, "send every record as a CloudWatch Logs subscription delivery (gzip JSON, one log event per line)")
	fs.BoolVar(&c.gzip, "gzip", true, "send gzip bodies (Content-Encoding: gzip)")
	fs.IntVar(&c.concurrency, "c", 4, "requests in flight")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to send (ignored with -requests)")
	fs.IntVar(&c.requests, "requests", 0, "requests to send, then stop (0: send for -duration)")
	fs.IntVar(&c.bodies, "bodies", 16, "distinct requests prepared up front and sent in turn")
	fs.IntVar(&c.attempts, "attempts", 5, "attempts per request before it counts as failed")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "timeout of one attempt")
	fs.IntVar(&c.pid, "pid", 0, "server process id: report its CPU time per line from /proc/PID/stat")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 1 {
		return c, errors.New("usage: flowhose-load [flags] FILE (a plain or gzip flow-log file)")
	}
	c.file = fs.Arg(0)
	for _, v := range []struct {
		name string
		n    int
	}{{"records", c.records}, {"lines", c.lines}, {"c", c.concurrency}, {"bodies", c.bodies}, {"attempts", c.attempts}} {
		if v.n < 1 {
			return c, fmt.Errorf("-%s must be at least 1, got %d", v.name, v.n)
		}
	}
	if c.header && c.cwlogs {
		return c, errors.New("-header and -cwlogs are two shapes of record: give one")
	}
	if c.requests < 0 || c.requests == 0 && c.duration <= 0 {
		return c, errors.New("give a positive -requests or -duration")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	c, err := parseFlags(args, os.Stderr)
	if err != nil {
		return err
	}
	f, err := readLines(c.file)
	if err != nil {
		return err
	}
	reqs, err := buildRequests(f, c)
	if err != nil {
		return err
	}
	var cpuBefore time.Duration
	if c.pid > 0 {
		if cpuBefore, err = processCPU(c.pid); err != nil {
			return err
		}
	}
	res := send(ctx, c, reqs)
	if c.pid > 0 {
		cpuAfter, err := processCPU(c.pid)
		if err != nil {
			return err
		}
		res.serverCPU = cpuAfter - cpuBefore
	}
	res.print(stdout, c, reqs)
	if res.failed > 0 {
		return fmt.Errorf("%d requests failed", res.failed)
	}
	return nil
}

// flowLog is what readLines found in a file.
type flowLog struct {
	header string   // the first header line; "" if there is none
	lines  []string // the flow-log lines, without headers
	// mixed reports headers that differ: the lines then have several
	// formats, and no one header describes them all.
	mixed bool
}

// readLines returns the flow-log lines and the header of a plain or gzip
// file.
func readLines(path string) (flowLog, error) {
	var fl flowLog
	f, err := os.Open(path)
	if err != nil {
		return fl, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fl, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// A header starts with a field name; records with a version
		// number or "-".
		if line == "" {
			continue
		}
		if line[0] >= 'a' && line[0] <= 'z' {
			if fl.header == "" {
				fl.header = line
			} else if line != fl.header {
				fl.mixed = true
			}
			continue
		}
		fl.lines = append(fl.lines, line)
	}
	if err := sc.Err(); err != nil {
		return fl, fmt.Errorf("%s: %w", path, err)
	}
	if len(fl.lines) == 0 {
		return fl, fmt.Errorf("%s: no flow-log lines", path)
	}
	return fl, nil
}

// request is one prepared delivery request.
type request struct {
	id   string
	body []byte
	json int // size of the body before gzip
}

// buildRequests prepares c.bodies requests of c.records records of c.lines
// lines each, taking the file's lines in turn.
func buildRequests(f flowLog, c config) ([]request, error) {
	type record struct {
		Data []byte `json:"data"`
	}
	switch {
	case c.header && f.header == "":
		return nil, fmt.Errorf("-header: %s has no header line", c.file)
	case c.header && f.mixed:
		return nil, fmt.Errorf("-header: %s has lines of several formats", c.file)
	}
	reqs := make([]request, c.bodies)
	next := 0
	chunk := make([]string, c.lines)
	for i := range reqs {
		id := newRequestID()
		body := struct {
			RequestID string   `json:"requestId"`
			Timestamp int64    `json:"timestamp"`
			Records   []record `json:"records"`
		}{RequestID: id, Timestamp: time.Now().UnixMilli(), Records: make([]record, c.records)}
		for j := range body.Records {
			for k := range chunk {
				chunk[k] = f.lines[next%len(f.lines)]
				next++
			}
			data, err := recordData(f.header, chunk, c)
			if err != nil {
				return nil, err
			}
			body.Records[j].Data = data
		}
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		reqs[i].json = len(b)
		if c.gzip {
			if b, err = gzipBytes(b); err != nil {
				return nil, err
			}
		}
		reqs[i].id, reqs[i].body = id, b
	}
	return reqs, nil
}

// recordData is the data of one Firehose record holding lines, in the
// shape c asks for.
func recordData(header string, lines []string, c config) ([]byte, error) {
	switch {
	case c.cwlogs:
		return cloudWatchRecord(lines)
	case c.header:
		return []byte(header + "\n" + strings.Join(lines, "\n")), nil
	default:
		return []byte(strings.Join(lines, "\n") + "\n"), nil
	}
}

// cloudWatchRecord is a CloudWatch Logs subscription delivery of lines, as
// Firehose receives flow logs published to CloudWatch Logs: gzip JSON with
// one log event per line.
func cloudWatchRecord(lines []string) ([]byte, error) {
	doc := decodetest.CloudWatchDocument{
		MessageType: "DATA_MESSAGE", Owner: "123456789012", LogGroup: "flowhose-load",
		LogStream: "flowhose-load", SubscriptionFilters: []string{"flowhose-load"},
		LogEvents: make([]decodetest.CloudWatchEvent, len(lines)),
	}
	now := time.Now().UnixMilli()
	for i, l := range lines {
		doc.LogEvents[i] = decodetest.CloudWatchEvent{ID: strconv.Itoa(i), Timestamp: now, Message: l}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return gzipBytes(b)
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newRequestID returns a random UUID, the form of Firehose's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// result is what a run measured.
type result struct {
	sent, failed int64 // requests answered 200 / given up on
	retries      int64
	statuses     map[string]int64 // non-200 answers and transport errors
	latencies    []time.Duration  // of requests answered 200, retries included
	elapsed      time.Duration
	serverCPU    time.Duration
}

// send runs c.concurrency senders until c.requests are sent or c.duration
// has passed.
func send(ctx context.Context, c config, reqs []request) *result {
	if c.requests == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency}}
	res := &result{statuses: map[string]int64{}}
	var mu sync.Mutex
	var issued atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := issued.Add(1)
				if c.requests > 0 && n > int64(c.requests) {
					return
				}
				r := reqs[(n-1)%int64(len(reqs))]
				began := time.Now()
				ok, retries, fails := deliver(ctx, client, c, r)
				took := time.Since(began)
				mu.Lock()
				res.retries += int64(retries)
				for _, f := range fails {
					res.statuses[f]++
				}
				switch {
				case ok:
					res.sent++
					res.latencies = append(res.latencies, took)
				case ctx.Err() == nil:
					res.failed++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// deliver sends r until it is answered 200 or c.attempts are used,
// backing off between attempts as Firehose does. It returns the reasons of
// the attempts that failed.
func deliver(ctx context.Context, client *http.Client, c config, r request) (ok bool, retries int, fails []string) {
	backoff := 100 * time.Millisecond
	for attempt := range c.attempts {
		if attempt > 0 {
			retries++
			select {
			case <-ctx.Done():
				return false, retries, fails
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		status, err := post(ctx, client, c, r)
		if err == nil && status == http.StatusOK {
			return true, retries, fails
		}
		if ctx.Err() != nil {
			return false, retries, fails
		}
		if err != nil {
			fails = append(fails, "error")
		} else {
			fails = append(fails, strconv.Itoa(status))
		}
	}
	return false, retries, fails
}

func post(ctx context.Context, client *http.Client, c config, r request) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Firehose-Request-Id", r.id)
	req.Header.Set("X-Amz-Firehose-Protocol-Version", "1.0")
	if c.key != "" {
		req.Header.Set("X-Amz-Firehose-Access-Key", c.key)
	}
	if c.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// print writes the figures, one per line.
func (r *result) print(w io.Writer, c config, reqs []request) {
	lines := r.sent * int64(c.records*c.lines)
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "requests      %d ok, %d failed, %d retries in %.1fs (%d records x %d lines, gzip %v, concurrency %d)\n",
		r.sent, r.failed, r.retries, secs, c.records, c.lines, c.gzip, c.concurrency)
	var jsonBytes, sentBytes int
	for _, q := range reqs {
		jsonBytes += q.json
		sentBytes += len(q.body)
	}
	const mib = 1 << 20
	fmt.Fprintf(w, "body          %.2f MiB JSON, %.2f MiB sent (mean of %d)\n",
		float64(jsonBytes)/mib/float64(len(reqs)), float64(sentBytes)/mib/float64(len(reqs)), len(reqs))
	fmt.Fprintf(w, "lines/s       %.0f\n", float64(lines)/secs)
	if len(r.latencies) > 0 {
		slices.Sort(r.latencies)
		fmt.Fprintf(w, "latency       p50 %s, p99 %s\n", percentile(r.latencies, 50), percentile(r.latencies, 99))
	}
	if len(r.statuses) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.statuses)) {
			parts = append(parts, fmt.Sprintf("%s x%d", k, r.statuses[k]))
		}
		fmt.Fprintf(w, "errors        %s\n", strings.Join(parts, ", "))
	}
	if c.pid > 0 && lines > 0 {
		fmt.Fprintf(w, "server CPU    %.2fs, %.2f µs/line\n", r.serverCPU.Seconds(), float64(r.serverCPU.Microseconds())/float64(lines))
	}
}

// percentile returns the p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)].Round(time.Microsecond)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// processCPU returns the user plus system CPU time process pid has used,
// from /proc/PID/stat.
func processCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("server CPU time: %w", err)
	}
	return parseStat(string(data))
}

// parseStat reads utime and stime (fields 14 and 15) from a /proc/PID/stat
// line; the command name, field 2, may hold spaces and parentheses, so
// fields are counted from its closing parenthesis.
func parseStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("server CPU time: malformed /proc stat")
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state).
	if len(fields) < 13 {
		return 0, errors.New("server CPU time: short /proc stat")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("server CPU time: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
