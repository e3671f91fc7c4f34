package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
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
// Rows are read one row group at a time, page by page: the file is never
// held in memory whole.
type parquetLines struct {
	groups   []parquet.RowGroup
	group    int
	rows     parquet.Rows // of groups[group-1], nil between groups
	drained  bool         // rows has returned its last row
	buf      []parquet.Row
	next0    int // first unused row in buf
	n        int // rows in buf
	header   string
	line     []byte
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
		buf: make([]parquet.Row, parquetRowsPerRead), maxBytes: maxBytes, maxLines: maxLines}, nil
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
		p.line = appendRow(p.line[:0], p.buf[p.next0])
		if c.lines > 0 && int64(len(out)+len(p.line)) > p.maxBytes {
			break
		}
		out = append(out, p.line...)
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

// fill reads the next rows into buf, moving on to the next row group when
// one is done. A finished row group is closed only here, once its rows
// have been used: their values may point into its page buffers.
func (p *parquetLines) fill() error {
	for {
		if p.rows != nil && p.drained {
			p.close()
		}
		if p.rows == nil {
			if p.group == len(p.groups) {
				return io.EOF
			}
			p.rows = p.groups[p.group].Rows()
			p.group++
		}
		n, err := p.rows.ReadRows(p.buf)
		p.next0, p.n = 0, n
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("parquet: row group %d: %w", p.group, err)
		}
		p.drained = err != nil || n == 0
		if n > 0 {
			return nil
		}
	}
}

// close releases the row group being read.
func (p *parquetLines) close() {
	if p.rows != nil {
		p.rows.Close()
		p.rows, p.drained = nil, false
	}
}

// appendRow appends a row as a flow-log line: values in column order,
// separated by single spaces, `-` for nulls and empty strings.
func appendRow(b []byte, row parquet.Row) []byte {
	for i, v := range row {
		if i > 0 {
			b = append(b, ' ')
		}
		if v.IsNull() {
			b = append(b, '-')
			continue
		}
		switch v.Kind() {
		case parquet.Boolean:
			b = strconv.AppendBool(b, v.Boolean())
		case parquet.Int32:
			b = strconv.AppendInt(b, int64(v.Int32()), 10)
		case parquet.Int64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case parquet.Float:
			b = strconv.AppendFloat(b, float64(v.Float()), 'g', -1, 32)
		case parquet.Double:
			b = strconv.AppendFloat(b, v.Double(), 'g', -1, 64)
		default: // byte arrays: the flow log's strings
			if s := v.ByteArray(); len(s) > 0 {
				b = append(b, s...)
			} else {
				b = append(b, '-')
			}
		}
	}
	return append(b, '\n')
}
