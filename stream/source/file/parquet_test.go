package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/decode"
	"github.com/flowhose/flowhose/stream/ecs"
)

// textRecords replays path and returns the raw lines of its records.
func textRecords(t *testing.T, path string) []string {
	t.Helper()
	e := newEnv(t, nil)
	if _, err := e.r.Run(context.Background(), []string{path}); err != nil {
		t.Fatal(err)
	}
	return raws(e.sink.Records())
}

// TestParquetMatchesText reads the pyarrow-written Parquet copy of the
// sample file: every record must come out as the text file's line, so its
// document id is the same whichever format VPC wrote. Small batches cut
// through the row groups of 100 rows.
func TestParquetMatchesText(t *testing.T) {
	want := textRecords(t, "../../../testdata/flowlogs/sample-v2.log.gz")
	for _, batch := range []int{1000, 7} {
		e := newEnv(t, func(c *Config) { c.BatchSize = batch })
		sum, err := e.r.Run(context.Background(), []string{"../../../testdata/flowlogs/sample-v2.parquet"})
		if err != nil {
			t.Fatal(err)
		}
		got := raws(e.sink.Records())
		if !slices.Equal(got, want) {
			t.Fatalf("batch %d: %d records differ from the text file's %d; first %q, want %q", batch, len(got), len(want), got[:min(1, len(got))], want[0])
		}
		if sum.Skipped != 1 || sum.Failures != 0 || sum.Lines != 401 {
			t.Errorf("batch %d: summary %+v, want 1 header and 400 lines", batch, sum)
		}
	}
}

// TestParquetSameDocuments replays flow logs written both as text and, by
// pyarrow, as Parquet: every field of versions 2 to 8 and two unmodelled
// ones (plain pages), a custom subset of fields in another order
// (dictionaries), the 400-record sample (gzip pages, row groups of 100),
// with absent values and values the decoder rejects. Every record must get
// the same document id and the same ECS document (with event.original)
// from both, every rejected line the same dead letter. Runs of 3 lines cut
// through pages and row groups.
func TestParquetSameDocuments(t *testing.T) {
	for _, tt := range []struct {
		name              string
		records, failures int
	}{{"sample-v2", 400, 0}, {"sample-v8", 6, 5}, {"sample-custom", 4, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			base := "../../../testdata/flowlogs/" + tt.name
			wantDocs, wantFails, wantSum := documents(t, base+".log")
			docs, fails, sum := documents(t, base+".parquet")
			if len(wantDocs) != tt.records || len(wantFails) != tt.failures {
				t.Fatalf("text: %d records and %d failures, want %d and %d: %+v", len(wantDocs), len(wantFails), tt.records, tt.failures, wantFails)
			}
			if sum != wantSum {
				t.Errorf("summary %+v, text %+v", sum, wantSum)
			}
			if len(docs) != len(wantDocs) {
				t.Fatalf("%d records, text %d", len(docs), len(wantDocs))
			}
			for i := range docs {
				if docs[i] != wantDocs[i] {
					t.Errorf("record %d:\n%s\ntext:\n%s", i, docs[i], wantDocs[i])
				}
			}
			if !slices.Equal(fails, wantFails) {
				t.Errorf("failures:\n%+v\ntext:\n%+v", fails, wantFails)
			}
		})
	}
}

// TestParquetWhitespaceValues: a string value holding a space, a tab or a
// line break splits the row's line differently from its columns; such a
// row is decoded from its line, as the text file holding that line is
// (dead-lettered for its token count, or split into two lines).
func TestParquetWhitespaceValues(t *testing.T) {
	type row struct {
		Version int32  `parquet:"version"`
		Action  string `parquet:"action,dict"`
		Status  string `parquet:"log_status"`
	}
	rows := []row{{2, "ACCEPT", "OK"}, {2, "ACC EPT", "OK"}, {3, "REJECT", "O\tK"}, {2, "ACCEPT", "OK"}, {4, "ACCEPT", "OK\n5 REJECT NODATA"}}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	text := "version action log_status\n"
	for _, r := range rows {
		text += strconv.Itoa(int(r.Version)) + " " + r.Action + " " + r.Status + "\n"
	}
	wantDocs, wantFails, _ := documents(t, write(t, "flows.log", []byte(text)))
	docs, fails, _ := documents(t, write(t, "flows.parquet", buf.Bytes()))
	if len(wantDocs) != 4 || len(wantFails) != 2 {
		t.Fatalf("text: %d records and %d failures, want 4 and 2: %+v", len(wantDocs), len(wantFails), wantFails)
	}
	if !slices.Equal(docs, wantDocs) || !slices.Equal(fails, wantFails) {
		t.Errorf("Parquet:\n%q\n%+v\ntext:\n%q\n%+v", docs, fails, wantDocs, wantFails)
	}
}

// documents replays path and returns each record's document id and ECS
// document, the failures (the field named as in a text header) and the
// summary.
func documents(t *testing.T, path string) (docs []string, fails []stream.Failure, sum Summary) {
	t.Helper()
	e := newEnv(t, func(c *Config) { c.BatchSize = 3 })
	sum, err := e.r.Run(context.Background(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	enc := ecs.Encoder{Original: true}
	for _, r := range e.sink.Records() {
		docs = append(docs, string(ecs.AppendID(nil, &r))+" "+string(enc.Append(nil, &r)))
	}
	for _, f := range e.dl.Failures() {
		f.Ref, f.Field = "", strings.ReplaceAll(f.Field, "_", "-")
		fails = append(fails, f)
	}
	return docs, fails, sum
}

// TestParquetCustomFormat reads a version-5 file with nulls: the column
// names set the format as a header line would.
func TestParquetCustomFormat(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.r.Run(context.Background(), []string{"../../../testdata/flowlogs/sample-v5.parquet"}); err != nil {
		t.Fatal(err)
	}
	recs := e.sink.Records()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	r := recs[1]
	if r.Version != 5 || r.FlowDirection != "egress" || r.PktDstAWSService != "S3" || r.TrafficPath != 8 || r.TCPFlags != 3 || r.Bytes != 471 || r.PktSrcAWSService != "" {
		t.Errorf("record = %+v", r)
	}
}

// TestParquetStreams reads Parquet that is not a local file (gzip, standard
// input): it is spooled, and bounded by max_spool_bytes.
func TestParquetStreams(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/flowlogs/sample-v2.parquet")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	e.r.Stdin = bytes.NewReader(gz(string(data)))
	sum, err := e.r.Run(context.Background(), []string{Stdin})
	if err != nil || sum.Records != 400 {
		t.Fatalf("gzip Parquet on stdin: summary %+v, err %v", sum, err)
	}

	e = newEnv(t, func(c *Config) { c.MaxSpoolBytes = int64(len(data)) - 1 })
	e.r.Stdin = bytes.NewReader(data)
	sum, err = e.r.Run(context.Background(), []string{Stdin})
	fs := e.dl.Failures()
	if err != nil || sum.Records != 0 || len(fs) != 1 || !strings.Contains(fs[0].Reason, "max_spool_bytes") {
		t.Fatalf("too large: summary %+v, err %v, failures %+v", sum, err, fs)
	}
}

// TestUnreadableInputs dead-letters corrupt content with the input's name
// and the reason, keeps what was read before, and goes on with the next
// input.
func TestUnreadableInputs(t *testing.T) {
	pq, err := os.ReadFile("../../../testdata/flowlogs/sample-v2.parquet")
	if err != nil {
		t.Fatal(err)
	}
	full := gz(lines(header, lineAccept, lineReject))
	corrupt := slices.Clone(pq)
	for i := 200; i < len(corrupt)-2000; i += 7 {
		corrupt[i] ^= 0x5a
	}
	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"truncated gzip", full[:len(full)-10], "unexpected EOF"},
		{"gzip bad checksum", append(full[:len(full)-8:len(full)-8], 0, 0, 0, 0, 0, 0, 0, 0), "gzip"},
		{"not gzip after the magic", []byte{0x1f, 0x8b, 0, 0, 0}, "gzip"},
		{"Parquet cut short", pq[:len(pq)/2], "parquet"},
		{"Parquet pages corrupt", corrupt, "parquet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			bad := write(t, "bad", tt.data)
			good := write(t, "good.log", []byte(lines(header, lineAccept)))
			sum, err := e.r.Run(context.Background(), []string{bad, good})
			if err != nil || sum.Errors != 0 {
				t.Fatalf("summary %+v, err %v: unreadable content is a dead letter, not an error", sum, err)
			}
			fs := e.dl.Failures()
			if len(fs) != 1 || fs[0].Ref != bad || !strings.Contains(strings.ToLower(fs[0].Reason), strings.ToLower(tt.reason)) {
				t.Fatalf("failures = %+v, want one naming %s and %q", fs, bad, tt.reason)
			}
			if got := raws(e.sink.Records()); len(got) == 0 || got[len(got)-1] != lineAccept {
				t.Errorf("records = %q, want the next file's line last", got)
			}
		})
	}
}

// FuzzParquet feeds arbitrary bytes to the Parquet reader: an error or
// lines, never a panic or a hang. Every record must be what the text
// decoder makes of its line under the file's header line: the typed path
// may skip parsing, never change the outcome.
func FuzzParquet(f *testing.F) {
	// The small sample only: the fuzzer minimises every new input by
	// re-running it, which takes minutes from a 400-row seed.
	data, err := os.ReadFile("../../../testdata/flowlogs/sample-v5.parquet")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := openParquet(bytes.NewReader(data), int64(len(data)), 64<<10, 100)
		if err != nil {
			return
		}
		defer p.close()
		dec := newDecoder(t)
		text := newDecoder(t)
		var hdr decode.Output
		text.Text(p.header, &hdr)
		line := 1
		for range 1 << 16 {
			var out decode.Output
			n, err := p.next(dec, line, &out)
			if err != nil {
				return
			}
			if n < 1 || n > 100 {
				t.Fatalf("run of %d lines", n)
			}
			if out.Skipped > 0 && line > 1 || out.Skipped > 1 || hdr.Skipped == 0 {
				return // a row taken for a header line changes the format: no longer comparable
			}
			for i := range out.Records {
				checkAsText(t, text, &out.Records[i])
			}
			line += n
		}
		t.Fatal("no end after 65536 runs")
	})
}

func newDecoder(t testing.TB) *decode.Decoder {
	t.Helper()
	dec, err := decode.New(decode.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dec
}

// checkAsText checks that r is what dec decodes from r.Raw.
func checkAsText(t *testing.T, dec *decode.Decoder, r *stream.Record) {
	t.Helper()
	var want stream.Record
	if err := dec.Line(r.Raw, &want); err != nil {
		t.Fatalf("%q: decoded as a record from Parquet, as text: %v", r.Raw, err)
	}
	if !reflect.DeepEqual(*r, want) {
		t.Fatalf("%q: decoded from Parquet as\n%+v\nas text\n%+v", r.Raw, *r, want)
	}
}

// TestParquetFooterLength refuses a footer length beyond the file before
// the library allocates it (up to 4 GiB per file).
func TestParquetFooterLength(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/flowlogs/sample-v5.parquet")
	if err != nil {
		t.Fatal(err)
	}
	data = slices.Clone(data)
	binary.LittleEndian.PutUint32(data[len(data)-8:], 0xfffffff0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = openParquet(bytes.NewReader(data), int64(len(data)), 1<<20, 100)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "footer of 4294967280 bytes") {
		t.Fatalf("err = %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("%d bytes allocated for a corrupt footer", grew)
	}
}

// pageKinds has a column of every way a page's values are read: plain and
// dictionary-encoded, required and optional, and kinds without a typed path.
type pageKinds struct {
	Version  int32    `parquet:"version"`
	Bytes    int64    `parquet:"bytes"`
	Port     *int32   `parquet:"srcport,optional"`
	Packets  *int64   `parquet:"packets,optional"`
	Addr     string   `parquet:"srcaddr"`
	Action   *string  `parquet:"action,optional,dict"`
	Account  string   `parquet:"account_id,dict"`
	Status   *string  `parquet:"log_status,optional"`
	Sampled  bool     `parquet:"sampled"`
	Ratio    *float64 `parquet:"ratio,optional"`
	Fraction float32  `parquet:"fraction"`
}

// TestParquetPageKinds reads every kind of page the typed path reads, over
// several pages and row groups, and checks each line against the
// library's own row reader formatted value by value.
func TestParquetPageKinds(t *testing.T) {
	var rows []pageKinds
	for i := range 3000 {
		r := pageKinds{Version: int32(2 + i/1000), Bytes: int64(i) << 33, Addr: "10.0.0." + strconv.Itoa(i%256),
			Account: "12345678901" + strconv.Itoa(i%3), Sampled: i%2 == 0, Fraction: float32(i) / 8}
		if i%5 != 0 {
			port, packets, ratio := int32(i-1500), int64(i%7), float64(i)/3
			r.Port, r.Packets, r.Ratio = &port, &packets, &ratio
		}
		if i%3 != 0 {
			action := [2]string{"ACCEPT", "REJECT"}[i%2]
			r.Action = &action
		}
		if i%7 != 0 {
			status := [2]string{"OK", ""}[i%11/10]
			r.Status = &status
		}
		rows = append(rows, r)
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[pageKinds](&buf, parquet.PageBufferSize(512), parquet.MaxRowsPerRowGroup(1100))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()

	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, fl := range f.Schema().Fields() {
		want.WriteString(fl.Name() + " ")
	}
	want.WriteString("\n")
	rr := parquet.NewReader(f)
	defer rr.Close()
	for {
		row := make([]parquet.Row, 1)
		n, err := rr.ReadRows(row)
		if n == 1 {
			var b []byte
			for _, v := range row[0] {
				b = append(appendValue(b, v), ' ')
			}
			want.Write(b)
			want.WriteString("\n")
		}
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}

	wantLines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(want.String(), " \n", "\n"), "\n"), "\n")
	// Runs cut by lines and by bytes (a row that does not fit starts the
	// next run).
	for _, maxBytes := range []int64{1 << 20, 200} {
		p, err := openParquet(bytes.NewReader(data), int64(len(data)), maxBytes, 333)
		if err != nil {
			t.Fatal(err)
		}
		dec, text := newDecoder(t), newDecoder(t)
		gotLines := []string{p.header}
		text.Text(p.header, &decode.Output{})
		for line := 1; ; {
			var out decode.Output
			n, err := p.next(dec, line, &out)
			if errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			// The header line is the first run's first line.
			got := runLines(t, line+out.Skipped, n-out.Skipped, &out)
			line += n
			if size := len(strings.Join(got, "\n")) + 1; n > 1 && int64(size) > maxBytes {
				t.Fatalf("run of %d lines and %d bytes, limit %d", n, size, maxBytes)
			}
			for i := range out.Records {
				checkAsText(t, text, &out.Records[i])
			}
			gotLines = append(gotLines, got...)
		}
		p.close()
		if len(gotLines) != len(wantLines) {
			t.Fatalf("max %d bytes: %d lines, want %d", maxBytes, len(gotLines), len(wantLines))
		}
		for i := range wantLines {
			if gotLines[i] != wantLines[i] {
				t.Fatalf("max %d bytes: line %d: %q, want %q", maxBytes, i+1, gotLines[i], wantLines[i])
			}
		}
	}
}

// runLines returns the lines of a run of n from line first on, from what
// they decoded to: the failures at their lines, the records in the others
// in order. Not for runs with a header line.
func runLines(t *testing.T, first, n int, out *decode.Output) []string {
	t.Helper()
	got := make([]string, n)
	for _, f := range out.Failures {
		got[f.Line-first] = f.Input
	}
	recs := out.Records
	for i := range got {
		if got[i] == "" {
			if len(recs) == 0 {
				t.Fatalf("run of %d lines from %d: %d records, %d failures", n, first, len(out.Records), len(out.Failures))
			}
			got[i], recs = recs[0].Raw, recs[1:]
		}
	}
	if len(recs) != 0 {
		t.Fatalf("run of %d lines from %d: %d records, %d failures", n, first, len(out.Records), len(out.Failures))
	}
	return got
}

// TestParquetLZ4Refused: a file whose column claims LZ4_RAW compression
// (here one codec byte of the sample changed, its pages still Snappy) is
// refused. The library's LZ4 decoder doubles its buffer for as long as the
// data does not decode, until the process dies out of memory.
func TestParquetLZ4Refused(t *testing.T) {
	data, err := os.ReadFile("../../../testdata/flowlogs/sample-v5.parquet")
	if err != nil {
		t.Fatal(err)
	}
	data = slices.Clone(data)
	// The region column's codec in the footer: SNAPPY (1, zigzag 2) becomes
	// LZ4_RAW (7, zigzag 14).
	const codecAt = 4860
	if data[codecAt] != 2 {
		t.Fatalf("byte %d of the sample is %d, not SNAPPY's codec: the fixture changed", codecAt, data[codecAt])
	}
	data[codecAt] = 14
	done := make(chan error, 1)
	dec := newDecoder(t)
	go func() {
		p, err := openParquet(bytes.NewReader(data), int64(len(data)), 64<<10, 100)
		if err != nil {
			done <- err
			return
		}
		defer p.close()
		for {
			if _, err := p.next(dec, 1, &decode.Output{}); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !strings.Contains(err.Error(), "LZ4") {
			t.Errorf("err = %v, want LZ4 refused", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still reading after 10 s: the LZ4 decoder is growing its buffer")
	}
}
