package file

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding"
)

// parquetMagic starts (and ends) every Parquet file.
const parquetMagic = "PAR1"

// parquetRowsPerRead is how many rows one ReadRows call decodes: enough to
// amortise the call, few enough that a chunk's rows stay small next to the
// row group the library holds page by page.
const parquetRowsPerRead = 256

// parquetLines turns the rows of a flow-log Parquet file into the text lines
// an S3 text file of the same flow log holds: a header line of the column
// names, then one line per row with the values in column order and `-` for
// nulls. The decoder then reads them exactly as it reads text files, so a
// column name maps to the same field as the same word in a header line,
// and a record read from Parquet has the same raw line, and so the same
// document id, as the record read from the text file of the same flow log.
//
// Rows are read one row group at a time, and each column page by page, all
// columns in step: the file is never held in memory whole. Each column
// formats its next values as tokens first, column by column, and a row is
// then its columns' tokens joined: the library's generic row
// reconstruction, and even its per-value reader, cost more than the rest
// of the reading together.
type parquetLines struct {
	groups   []parquet.RowGroup
	optional []bool      // per column: it has definition levels (nulls)
	group    int         // row groups opened so far
	cols     []columnRun // of groups[group-1]; nil between groups
	next0    int         // first unused row of the columns' tokens
	n        int         // rows in the columns' tokens
	header   string
	out      []byte // the chunk being built, reused: its text is copied out
	maxBytes int64
	maxLines int
}

// openParquet reads the footer of a Parquet file of size bytes and checks
// that its schema is flat, as flow-log schemas are.
func openParquet(r io.ReaderAt, size int64, maxBytes int64, maxLines int) (p *parquetLines, err error) {
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
	return &parquetLines{groups: f.RowGroups(), optional: optional, header: strings.Join(names, " ") + "\n",
		maxBytes: maxBytes, maxLines: maxLines}, nil
}

// recoverParquet turns a panic of the Parquet library on a corrupt file
// into an error: bad input must not stop the process.
func recoverParquet(err *error) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("parquet: corrupt file: %v", v)
	}
}

// next returns the next run of lines, the header first, or io.EOF after
// the last row.
func (p *parquetLines) next() (c chunk, err error) {
	defer recoverParquet(&err)
	out := p.out[:0]
	if p.header != "" {
		out = append(out, p.header...)
		c.lines++
		p.header = ""
	}
	for c.lines < p.maxLines {
		if p.next0 == p.n {
			if err := p.fill(); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return chunk{}, err
			}
		}
		start := len(out)
		for i := range p.cols {
			c := &p.cols[i]
			out = append(out, c.toks[p.next0]...)
			out = append(out, ' ')
		}
		out[len(out)-1] = '\n'
		if c.lines > 0 && int64(len(out)) > p.maxBytes {
			out = out[:start] // the row goes into the next chunk
			break
		}
		p.next0++
		c.lines++
	}
	p.out = out
	if c.lines == 0 {
		return chunk{}, io.EOF
	}
	c.text = string(out)
	return c, nil
}

// fill formats up to parquetRowsPerRead more rows of every column, moving
// on to the next row group when one is done.
func (p *parquetLines) fill() error {
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
		n := -1
		for i := range p.cols {
			m, err := p.cols[i].read(parquetRowsPerRead)
			if err != nil {
				return fmt.Errorf("parquet: row group %d, column %d: %w", p.group, i+1, err)
			}
			if n >= 0 && m != n {
				return fmt.Errorf("parquet: row group %d: column %d has %d values where column 1 has %d: corrupt, or not a flat schema", p.group, i+1, m, n)
			}
			n = m
		}
		p.next0, p.n = 0, n
		if n > 0 {
			return nil
		}
		p.close()
	}
}

// close ends the row group being read.
func (p *parquetLines) close() {
	for i := range p.cols {
		c := &p.cols[i]
		if c.page != nil {
			c.done = append(c.done, c.page)
		}
		c.releaseDone()
		c.pages.Close()
	}
	p.cols = nil
}

// columnRun formats one column chunk's values as tokens, page after page.
// Strings are not copied: their tokens point into the page or the
// formatted dictionary, so a corrupt file's long strings cost no more
// memory than the page that holds them. The pages a read finished are
// handed back to the library's buffer pools at the next read, once the
// rows have been copied out.
type columnRun struct {
	pages    parquet.Pages
	optional bool
	toks     [][]byte       // the tokens of the rows of the last read, reused
	num      []byte         // numbers formatted by the last read, reused
	last     int64          // the last number formatted by this read...
	lastTok  []byte         // ...and its token; nil if none
	done     []parquet.Page // finished by the last read

	page   parquet.Page // being read; nil before the first and between pages
	rows   int          // of page
	row    int          // rows of page formatted so far
	val    int          // non-null values of page formatted so far
	levels []byte       // definition levels of page; 0 is null. Nil: no nulls
	kind   valueKind
	ints32 []int32 // int32 values or dictionary indexes
	ints64 []int64
	bytes  []byte              // byte array values: value i is bytes[offs[i]:offs[i+1]]
	offs   []uint32            //
	values parquet.ValueReader // of page, for kinds without a typed path
	vbuf   []parquet.Value

	dict     parquet.Dictionary // formatted into dictToks
	dictToks [][]byte
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

// read formats the column's next n values (fewer only at the end of the
// column chunk) and returns how many it formatted.
func (r *columnRun) read(n int) (int, error) {
	r.releaseDone()
	r.toks, r.num, r.lastTok = r.toks[:0], r.num[:0], nil
	got := 0
	for got < n {
		if r.page == nil || r.row == r.rows {
			if r.page != nil {
				r.done = append(r.done, r.page)
				r.page = nil
			}
			page, err := r.pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return got, err
			}
			if err := r.start(page); err != nil {
				return got, err
			}
			continue
		}
		m := min(n-got, r.rows-r.row)
		if err := r.format(m); err != nil {
			return got, err
		}
		got += m
	}
	return got, nil
}

// start sets the column up to read page, checking that its values are
// as many as its levels say.
func (r *columnRun) start(page parquet.Page) error {
	r.page, r.rows, r.row, r.val = page, int(page.NumValues()), 0, 0
	r.levels, r.values = nil, nil
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
	case data.Kind() == encoding.Int32:
		r.kind, r.ints32 = kindInt32, data.Int32()
		have = len(r.ints32)
	case data.Kind() == encoding.Int64:
		r.kind, r.ints64 = kindInt64, data.Int64()
		have = len(r.ints64)
	case data.Kind() == encoding.ByteArray:
		r.kind = kindBytes
		r.bytes, r.offs = data.ByteArray()
		have = len(r.offs) - 1
	default:
		r.kind, r.values = kindGeneric, page.Values()
		if r.vbuf == nil {
			r.vbuf = make([]parquet.Value, parquetRowsPerRead)
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
	r.dict, r.dictToks = dict, r.dictToks[:0]
	var b []byte
	for i := range dict.Len() {
		start := len(b)
		b = appendValue(b, dict.Index(int32(i)))
		r.dictToks = append(r.dictToks, b[start:len(b):len(b)])
	}
}

// format adds the tokens of the page's next m rows.
func (r *columnRun) format(m int) error {
	if r.kind == kindGeneric {
		for k := 0; k < m; {
			n, err := r.values.ReadValues(r.vbuf[k:m])
			if n == 0 {
				return fmt.Errorf("page of %d values yields %d: %v", r.rows, r.row+k, err)
			}
			for _, v := range r.vbuf[k : k+n] {
				r.addNumber(appendValue(r.num, v))
			}
			k += n
		}
		r.row += m
		return nil
	}
	for range m {
		switch {
		case r.levels != nil && r.levels[r.row] == 0:
			r.toks = append(r.toks, dash)
		case r.kind == kindIndex:
			i := r.ints32[r.val]
			if uint(i) >= uint(len(r.dictToks)) {
				return fmt.Errorf("dictionary index %d of a dictionary of %d", i, len(r.dictToks))
			}
			r.toks = append(r.toks, r.dictToks[i])
			r.val++
		case r.kind == kindInt32:
			r.addInt(int64(r.ints32[r.val]))
			r.val++
		case r.kind == kindInt64:
			r.addInt(r.ints64[r.val])
			r.val++
		default: // kindBytes
			if s := r.bytes[r.offs[r.val]:r.offs[r.val+1]]; len(s) > 0 {
				r.toks = append(r.toks, s)
			} else {
				r.toks = append(r.toks, dash)
			}
			r.val++
		}
		r.row++
	}
	return nil
}

// releaseDone hands the pages the last read finished back to the
// library: no token points into them any more.
func (r *columnRun) releaseDone() {
	for i, page := range r.done {
		parquet.Release(page)
		r.done[i] = nil
	}
	r.done = r.done[:0]
}

// dash is the token of a null or empty value.
var dash = []byte{'-'}

// addInt adds the token of v. Flow logs repeat numbers from row to row
// (version, protocol, start and end times of a capture window), so a value
// equal to the last one reuses its token.
func (r *columnRun) addInt(v int64) {
	if r.lastTok != nil && v == r.last {
		r.toks = append(r.toks, r.lastTok)
		return
	}
	r.addNumber(strconv.AppendInt(r.num, v, 10))
	r.last, r.lastTok = v, r.toks[len(r.toks)-1]
}

// addNumber adds the token that num ends with. Tokens taken before num
// grew keep its old array: nothing writes there again within the read.
func (r *columnRun) addNumber(num []byte) {
	start := len(r.num)
	r.num = num
	r.toks = append(r.toks, num[start:len(num):len(num)])
}

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
