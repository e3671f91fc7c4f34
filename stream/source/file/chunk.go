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
	if err := c.fill(); err != nil {
		return chunk{}, err
	}
	if c.n == 0 {
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
	if c.eof && lines < c.maxLines && pos < c.n {
		// The input's last line has no newline.
		pos, lines = c.n, lines+1
	}
	if lines == 0 {
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
		if err := c.fill(); err != nil {
			return chunk{}, err
		}
	}
}

// fill reads until the buffer is full or the input ends.
func (c *chunker) fill() error {
	for c.n < len(c.buf) && !c.eof {
		m, err := c.r.Read(c.buf[c.n:])
		c.n += m
		if err == io.EOF {
			c.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}
