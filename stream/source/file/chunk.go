package file

import (
	"bytes"
	"io"
)

// chunker cuts a stream into runs of whole lines of bounded size and count.
type chunker struct {
	r        io.Reader
	buf      []byte
	n        int // valid bytes in buf
	eof      bool
	err      error // why the input ended, if not at its end
	maxLines int
}

func newChunker(r io.Reader, chunkBytes int64, maxLines int) *chunker {
	return &chunker{r: r, buf: make([]byte, chunkBytes), maxLines: maxLines}
}

// chunk is one run of lines; text is empty when overlong is set.
type chunk struct {
	text  string
	lines int
	// overlong is the start of a line that did not fit in the buffer; the
	// rest of the line has been skipped and is counted in lines.
	overlong []byte
}

// next returns the next chunk, or io.EOF after the last one.
func (c *chunker) next() (chunk, error) {
	c.fill()
	if c.n == 0 {
		if c.err != nil {
			return chunk{}, c.err
		}
		return chunk{}, io.EOF
	}
	pos, lines := 0, 0
	for lines < c.maxLines {
		i := bytes.IndexByte(c.buf[pos:c.n], '\n')
		if i < 0 {
			break
		}
		pos += i + 1
		lines++
	}
	if c.eof && c.err == nil && lines < c.maxLines && pos < c.n {
		// The input's last line has no newline.
		pos, lines = c.n, lines+1
	}
	if lines == 0 {
		if c.err != nil {
			// The whole lines before a read error are delivered; the
			// line it cut is not.
			return chunk{}, c.err
		}
		return c.skipLine()
	}
	// One string per chunk: records' strings point into it.
	ch := chunk{text: string(c.buf[:pos]), lines: lines}
	c.n = copy(c.buf, c.buf[pos:c.n])
	return ch, nil
}

// skipLine discards a line that fills the whole buffer.
func (c *chunker) skipLine() (chunk, error) {
	const keep = 1 << 10
	ch := chunk{lines: 1, overlong: bytes.Clone(c.buf[:min(keep, c.n)])}
	for {
		if i := bytes.IndexByte(c.buf[:c.n], '\n'); i >= 0 {
			c.n = copy(c.buf, c.buf[i+1:c.n])
			return ch, nil
		}
		c.n = 0
		if c.eof {
			return ch, nil
		}
		c.fill()
	}
}

// fill reads until the buffer is full or the input ends. A read error
// ends the input too; next returns it after the whole lines read before.
func (c *chunker) fill() {
	for c.n < len(c.buf) && !c.eof {
		m, err := c.r.Read(c.buf[c.n:])
		c.n += m
		if err != nil {
			c.eof = true
			if err != io.EOF {
				c.err = err
			}
		}
	}
}
