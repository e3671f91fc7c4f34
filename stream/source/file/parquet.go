package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
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
// columns in step: the file is never held in memory whole, and rows are
// assembled from the columns' values directly rather than through the
// library's generic row reconstruction, which cost more than the rest of
// the reading together.
type parquetLines struct {
	groups   []parquet.RowGroup
	group    int         // row groups opened so far
	cols     []columnRun // of groups[group-1]; nil between groups
	next0    int         // first unused row of the columns' values
	n        int         // rows in the columns' values
	header   string
	out      []byte // the chunk being built, reused: its text is copied out
	maxBytes int64
	maxLines int
}

// columnRun reads one column chunk's values, page after page.
type columnRun struct {
	pages parquet.Pages
	vals  parquet.ValueReader // of the current page; nil before the first and after the last
	buf   []parquet.Value
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
	for _, fl := range f.Schema().Fields() {
		if !fl.Leaf() || fl.Repeated() {
			return nil, fmt.Errorf("parquet: column %q is nested or repeated: not a flow-log schema", fl.Name())
		}
		if strings.ContainsAny(fl.Name(), " \t\r\n") {
			return nil, fmt.Errorf("parquet: column name %q has whitespace: not a flow-log schema", fl.Name())
		}
		names = append(names, fl.Name())
	}
	if len(names) == 0 {
		return nil, errors.New("parquet: no columns")
	}
	return &parquetLines{groups: f.RowGroups(), header: strings.Join(names, " ") + "\n",
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
			if i > 0 {
				out = append(out, ' ')
			}
			out = appendValue(out, p.cols[i].buf[p.next0])
		}
		out = append(out, '\n')
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

// fill reads up to parquetRowsPerRead more values of every column, moving
// on to the next row group when one is done. The values of a page stay
// valid until the next fill: pages are left to the collector rather than
// released to the library's pools.
func (p *parquetLines) fill() error {
	for {
		if p.cols == nil {
			if p.group == len(p.groups) {
				return io.EOF
			}
			chunks := p.groups[p.group].ColumnChunks()
			p.group++
			p.cols = make([]columnRun, len(chunks))
			for i, ch := range chunks {
				p.cols[i] = columnRun{pages: ch.Pages(), buf: make([]parquet.Value, parquetRowsPerRead)}
			}
		}
		n := -1
		for i := range p.cols {
			m, err := p.cols[i].read()
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

// read fills buf with the column's next values, across pages; it returns
// fewer only at the end of the column chunk.
func (r *columnRun) read() (int, error) {
	n := 0
	for n < len(r.buf) {
		if r.vals == nil {
			page, err := r.pages.ReadPage()
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			r.vals = page.Values()
		}
		m, err := r.vals.ReadValues(r.buf[n:])
		n += m
		if errors.Is(err, io.EOF) {
			r.vals = nil
		} else if err != nil {
			return n, err
		} else if m == 0 {
			return n, errors.New("page yields no values")
		}
	}
	return n, nil
}

// close ends the row group being read.
func (p *parquetLines) close() {
	for _, c := range p.cols {
		c.pages.Close()
	}
	p.cols = nil
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
