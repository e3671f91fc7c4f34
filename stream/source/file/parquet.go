package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
	"github.com/parquet-go/parquet-go/format"

	"github.com/flowhose/flowhose/stream/decode"
)

// parquetMagic starts (and ends) every Parquet file.
const parquetMagic = "PAR1"

// parquetValuesPerRead is how many values one ReadValues call decodes, for
// the kinds without a typed path: enough to amortise the call.
const parquetValuesPerRead = 256

// parquetRows decodes the rows of a flow-log Parquet file as the lines an
// S3 text file of the same flow log holds: a header line of the column
// names, then one line per row with the values in column order and `-` for
// nulls. The decoder adopts the header line as the format, so a column
// name maps to the same field as the same word in a header line, and a
// record read from Parquet has the same raw line, and so the same document
// id, as the record read from the text file of the same flow log.
//
// Rows are read one row group at a time, and each column page by page, all
// columns in step: the file is never held in memory whole. A row's values
// are formatted straight from the pages' typed data: the library's generic
// row reconstruction, and even its per-value reader, cost more than the
// rest of the reading together. The decoder is handed each row's values
// with its line (decode.Decoder.Values), so it neither splits the line nor
// parses the integer columns again.
type parquetRows struct {
	groups   []parquet.RowGroup
	optional []bool      // per column: it has definition levels (nulls)
	group    int         // row groups opened so far
	cols     []columnRun // of groups[group-1]; nil between groups
	left     int         // rows every column can give without a new page
	header   string      // the column names as a header line, until decoded
	unread   int64       // rows not formatted yet, as the footer says

	// text is where rows are formatted, append only: the records' strings
	// point into it, so no byte of a line is ever written again. A row is
	// formatted straight into it, and a new block started when the rest of
	// this one might not hold a row: blocks are left to the garbage
	// collector once no record points into them.
	text    []byte
	lastRow int // the length of the last row formatted, with a space

	// The row formatted last: text[row:], and its values.
	row  int
	vals []decode.Value
	// spaced says a value of the row holds whitespace: the row is decoded
	// from its line, which then splits it differently from its columns.
	spaced bool
	// pending says the row did not fit into the last run of lines: it
	// starts the next.
	pending bool

	maxBytes int64
	maxLines int
}

// openParquet reads the footer of a Parquet file of size bytes and checks
// that its schema is flat, as flow-log schemas are.
func openParquet(r io.ReaderAt, size int64, maxBytes int64, maxLines int) (p *parquetRows, err error) {
	defer recoverParquet(&err)
	// The library allocates the footer's stated length before reading it:
	// a corrupt length would cost up to 4 GiB.
	var tail [8]byte
	if size < 12 {
		return nil, fmt.Errorf("parquet: file of %d bytes is too short", size)
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return nil, fmt.Errorf("parquet: reading footer: %w", err)
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 {
		return nil, fmt.Errorf("parquet: footer of %d bytes in a file of %d: corrupt or truncated", footer, size)
	}
	f, err := parquet.OpenFile(r, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("parquet: %w", err)
	}
	// The library's LZ4 decoder doubles its buffer for as long as a page
	// does not decode: one corrupt page would take the process down out of
	// memory, which no recover catches. Flow logs are not written with LZ4.
	for _, rg := range f.Metadata().RowGroups {
		for _, ch := range rg.Columns {
			if c := ch.MetaData.Codec; c == format.Lz4 || c == format.Lz4Raw {
				return nil, fmt.Errorf("parquet: column %q is compressed with %s, which is not read (its decoder has no bound on corrupt data)",
					strings.Join(ch.MetaData.PathInSchema, "."), c)
			}
		}
	}
	var names []string
	var optional []bool
	for _, fl := range f.Schema().Fields() {
		if !fl.Leaf() || fl.Repeated() {
			return nil, fmt.Errorf("parquet: column %q is nested or repeated: not a flow-log schema", fl.Name())
		}
		if strings.ContainsAny(fl.Name(), " \t\r\n") {
			return nil, fmt.Errorf("parquet: column name %q has whitespace: not a flow-log schema", fl.Name())
		}
		names = append(names, fl.Name())
		optional = append(optional, fl.Optional())
	}
	if len(names) == 0 {
		return nil, errors.New("parquet: no columns")
	}
	return &parquetRows{groups: f.RowGroups(), optional: optional, header: strings.Join(names, " "), unread: f.NumRows(),
		vals: make([]decode.Value, len(names)), maxBytes: maxBytes, maxLines: maxLines}, nil
}

// recoverParquet turns a panic of the Parquet library on a corrupt file
// into an error: bad input must not stop the process.
func recoverParquet(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("parquet: corrupt file: %v", v)
	}
}

// lines is how many lines the next run will hold at most.
func (p *parquetRows) lines() int {
	n := min(int64(p.maxLines), max(p.unread, 0))
	if p.header != "" || p.pending {
		n = min(n+1, int64(p.maxLines))
	}
	return int(n)
}

// next decodes the next run of lines into out, the header first, and
// returns how many it read, or io.EOF after the last row. A run holds at
// most maxLines lines and, unless it is a single row, maxBytes bytes of
// text.
func (p *parquetRows) next(dec *decode.Decoder, firstLine int, out *decode.Output) (lines int, err error) {
	defer recoverParquet(&err)
	used := int64(0)
	if p.header != "" {
		dec.TextAt(p.header, firstLine, out)
		used += int64(len(p.header)) + 1
		lines++
		p.header = ""
	}
	for lines < p.maxLines {
		if !p.pending {
			if p.left == 0 {
				if err := p.fill(); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					return 0, err
				}
			}
			p.format()
		}
		row := p.text[p.row:]
		// A line counts its newline, as in a text file.
		if used += int64(len(row)) + 1; lines > 0 && used > p.maxBytes {
			p.pending = true // the row starts the next run
			break
		}
		p.pending = false
		// The row is never written again (see text).
		line := unsafe.String(unsafe.SliceData(row), len(row))
		if p.spaced {
			dec.TextAt(line, firstLine+lines, out)
		} else {
			dec.Values(line, p.vals, firstLine+lines, out)
		}
		lines++
	}
	if lines == 0 {
		return 0, io.EOF
	}
	return lines, nil
}

// format formats the next row at the end of p.text: fill said there is
// one.
func (p *parquetRows) format() {
	// Room for a row half as long again as the last, a run's worth in a
	// new block. A longer row still fits: append then moves the block's
	// rows to a new array, which the strings of the rows before do not
	// point into.
	need := int(min(int64(max(p.lastRow*3/2, 64)), p.maxBytes))
	if cap(p.text)-len(p.text) < need {
		p.text = make([]byte, 0, max(need, int(min(p.maxBytes, int64(p.lines()*need)))))
	}
	b := p.text
	p.row = len(b)
	p.spaced = false
	for i := range p.cols {
		var clean bool
		b, clean = p.cols[i].appendNext(b, &p.vals[i])
		p.spaced = p.spaced || !clean
		p.vals[i].End = len(b) - 1 - p.row // the token's space follows
	}
	p.lastRow = len(b) - p.row
	p.text = b[:len(b)-1]
	p.left--
	p.unread--
}

// fill makes every column ready to give rows, reading pages where one is
// done and moving on to the next row group when all are, and sets how many
// rows they can all give.
func (p *parquetRows) fill() error {
	for {
		if p.cols == nil {
			if p.group == len(p.groups) {
				return io.EOF
			}
			chunks := p.groups[p.group].ColumnChunks()
			if len(chunks) != len(p.optional) {
				return fmt.Errorf("parquet: row group %d has %d columns, the schema %d: corrupt", p.group+1, len(chunks), len(p.optional))
			}
			p.group++
			p.cols = make([]columnRun, len(chunks))
			for i, ch := range chunks {
				p.cols[i] = columnRun{pages: ch.Pages(), optional: p.optional[i]}
			}
		}
		left, ended := -1, 0
		for i := range p.cols {
			n, err := p.cols[i].ready()
			if errors.Is(err, io.EOF) {
				ended++
				continue
			}
			if err != nil {
				return fmt.Errorf("parquet: row group %d, column %d: %w", p.group, i+1, err)
			}
			if left < 0 || n < left {
				left = n
			}
		}
		switch {
		case ended == len(p.cols):
			p.close()
		case ended > 0:
			return fmt.Errorf("parquet: row group %d: %d of %d columns end before the others: corrupt, or not a flat schema", p.group, ended, len(p.cols))
		case left > 0:
			p.left = left
			return nil
		}
	}
}

// close ends the row group being read.
func (p *parquetRows) close() {
	for i := range p.cols {
		p.cols[i].release()
		p.cols[i].pages.Close()
	}
	p.cols, p.left = nil, 0
}

// columnRun formats one column chunk's values, page after page.
type columnRun struct {
	pages    parquet.Pages
	optional bool

	page   parquet.Page // being read; nil before the first and between pages
	rows   int          // of page
	row    int          // rows of page formatted so far
	val    int          // non-null values of page formatted so far
	levels []byte       // definition levels of page; 0 is null. Nil: no nulls
	kind   valueKind
	ints32 []int32 // int32 values or dictionary indexes
	ints64 []int64
	bytes  []byte // byte array values: value i is bytes[offs[i]:offs[i+1]]
	offs   []uint32
	spaced bool                // some byte array value of page holds whitespace
	values parquet.ValueReader // of page, for kinds without a typed path...
	vbuf   []parquet.Value     // ...read ahead into vbuf[vnext:vlen]
	vnext  int
	vlen   int

	last    int64  // the last number formatted...
	lastTok []byte // ...and its token; empty if none

	dict     parquet.Dictionary // formatted into dictToks, each with its space
	dictToks [][]byte
	dictInts []int64 // the entries' values, when dictIsInt
	// dictIsInt says the dictionary holds integers, dictSpaced that some
	// entry holds whitespace.
	dictIsInt, dictSpaced bool
}

// valueKind is how a page's values are read.
type valueKind int

const (
	kindGeneric valueKind = iota // through the library's ValueReader
	kindIndex                    // dictionary indexes, tokens formatted once per dictionary
	kindInt32
	kindInt64
	kindBytes
)

// ready reads the next page if the current one is done, and returns how
// many rows the column can give before it needs another, or io.EOF at the
// end of the column chunk.
func (r *columnRun) ready() (int, error) {
	for r.page == nil || r.row == r.rows {
		r.release()
		page, err := r.pages.ReadPage()
		if err != nil {
			return 0, err
		}
		if err := r.start(page); err != nil {
			return 0, err
		}
	}
	if r.kind != kindGeneric {
		return r.rows - r.row, nil
	}
	if r.vnext == r.vlen {
		n, err := r.values.ReadValues(r.vbuf[:min(len(r.vbuf), r.rows-r.row)])
		if n == 0 {
			return 0, fmt.Errorf("page of %d values yields %d: %v", r.rows, r.row, err)
		}
		r.vnext, r.vlen = 0, n
	}
	return r.vlen - r.vnext, nil
}

// start sets the column up to read page, checking that its values are as
// many as its levels say and its dictionary indexes in range, so that
// formatting a value cannot fail.
func (r *columnRun) start(page parquet.Page) error {
	r.page, r.rows, r.row, r.val = page, int(page.NumValues()), 0, 0
	want := r.rows
	if r.optional {
		r.levels = page.DefinitionLevels()
		if len(r.levels) != r.rows {
			return fmt.Errorf("page of %d values has %d definition levels", r.rows, len(r.levels))
		}
		want = r.rows - bytes.Count(r.levels, []byte{0})
	}
	data := page.Data()
	have := -1
	switch dict := page.Dictionary(); {
	case dict != nil:
		if dict != r.dict {
			r.formatDictionary(dict)
		}
		r.kind, r.ints32 = kindIndex, data.Int32()
		have = len(r.ints32)
		for _, i := range r.ints32 {
			if uint(i) >= uint(len(r.dictToks)) {
				return fmt.Errorf("dictionary index %d of a dictionary of %d", i, len(r.dictToks))
			}
		}
	case data.Kind() == encoding.Int32:
		r.kind, r.ints32 = kindInt32, data.Int32()
		have = len(r.ints32)
	case data.Kind() == encoding.Int64:
		r.kind, r.ints64 = kindInt64, data.Int64()
		have = len(r.ints64)
	case data.Kind() == encoding.ByteArray:
		r.kind = kindBytes
		r.bytes, r.offs = data.ByteArray()
		r.spaced = hasSpace(r.bytes) // one pass over the page, not one per value
		have = len(r.offs) - 1
	default:
		r.kind, r.values, r.levels = kindGeneric, page.Values(), nil // the reader yields the nulls
		r.vnext, r.vlen = 0, 0
		if r.vbuf == nil {
			r.vbuf = make([]parquet.Value, parquetValuesPerRead)
		}
		return nil
	}
	if have != want {
		return fmt.Errorf("page has %d values where its levels say %d", have, want)
	}
	return nil
}

// formatDictionary formats every entry of a column chunk's dictionary once:
// the chunk's pages then refer to them by index.
func (r *columnRun) formatDictionary(dict parquet.Dictionary) {
	r.dict, r.dictToks, r.dictInts, r.dictSpaced = dict, r.dictToks[:0], r.dictInts[:0], false
	kind := dict.Type().Kind()
	r.dictIsInt = kind == parquet.Int32 || kind == parquet.Int64
	var b []byte
	for i := range dict.Len() {
		v := dict.Index(int32(i))
		start := len(b)
		b = appendValue(b, v)
		r.dictSpaced = r.dictSpaced || hasSpace(b[start:])
		b = append(b, ' ')
		r.dictToks = append(r.dictToks, b[start:len(b):len(b)])
		switch kind {
		case parquet.Int32:
			r.dictInts = append(r.dictInts, int64(v.Int32()))
		case parquet.Int64:
			r.dictInts = append(r.dictInts, v.Int64())
		}
	}
}

// appendNext appends the token of the column's next row and a space, sets
// v to its value, and reports false if the token holds whitespace: ready
// said there is a row.
func (r *columnRun) appendNext(b []byte, v *decode.Value) ([]byte, bool) {
	row := r.row
	r.row++
	v.IsInt = false
	if r.levels != nil && r.levels[row] == 0 {
		return append(b, '-', ' '), true
	}
	i := r.val
	r.val++
	switch r.kind {
	case kindIndex:
		i := r.ints32[i]
		if r.dictIsInt {
			v.Int, v.IsInt = r.dictInts[i], true
		}
		tok := r.dictToks[i]
		return append(b, tok...), !r.dictSpaced || !hasSpace(tok[:len(tok)-1])
	case kindInt32:
		v.Int, v.IsInt = int64(r.ints32[i]), true
		return r.appendInt(b, v.Int), true
	case kindInt64:
		v.Int, v.IsInt = r.ints64[i], true
		return r.appendInt(b, v.Int), true
	case kindBytes:
		s := r.bytes[r.offs[i]:r.offs[i+1]]
		if len(s) == 0 {
			return append(b, '-', ' '), true
		}
		return append(append(b, s...), ' '), !r.spaced || !hasSpace(s)
	}
	// kindGeneric: the reader yields the nulls (levels is nil)
	r.vnext++
	start := len(b)
	b = appendValue(b, r.vbuf[r.vnext-1])
	clean := !hasSpace(b[start:])
	return append(b, ' '), clean
}

// appendInt appends v and a space. Flow logs repeat numbers from row to row (version,
// protocol, the start and end of a capture window), so a value equal to
// the last one copies its token rather than formatting it again.
func (r *columnRun) appendInt(b []byte, v int64) []byte {
	if v == r.last && len(r.lastTok) > 0 {
		return append(b, r.lastTok...)
	}
	start := len(b)
	b = append(strconv.AppendInt(b, v, 10), ' ')
	r.last, r.lastTok = v, append(r.lastTok[:0], b[start:]...)
	return b
}

// release hands the page being read back to the library's buffer pools:
// its values have been copied out.
func (r *columnRun) release() {
	if r.page != nil {
		parquet.Release(r.page)
	}
	r.page, r.levels, r.ints32, r.ints64, r.bytes, r.offs, r.values = nil, nil, nil, nil, nil, nil, nil
}

// hasSpace reports whether b holds a byte that separates the tokens or
// lines of a flow log.
func hasSpace(b []byte) bool { return bytes.ContainsAny(b, " \t\r\n") }

// appendValue appends a value as a flow-log token: `-` for nulls and
// empty strings.
func appendValue(b []byte, v parquet.Value) []byte {
	if v.IsNull() {
		return append(b, '-')
	}
	switch v.Kind() {
	case parquet.Boolean:
		return strconv.AppendBool(b, v.Boolean())
	case parquet.Int32:
		return strconv.AppendInt(b, int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case parquet.Float:
		return strconv.AppendFloat(b, float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		return strconv.AppendFloat(b, v.Double(), 'g', -1, 64)
	}
	// Byte arrays: the flow log's strings.
	if s := v.ByteArray(); len(s) > 0 {
		return append(b, s...)
	}
	return append(b, '-')
}
