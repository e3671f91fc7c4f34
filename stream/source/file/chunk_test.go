package file

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzChunker checks that chunks are whole lines within both bounds, that
// every line is counted once, and that nothing but overlong lines is lost.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), uint8(4), uint8(2))
	f.Add([]byte("a\n\n\nlast"), uint8(2), uint8(1))
	f.Add([]byte("short\nthis line is far too long\nx\n"), uint8(8), uint8(3))
	f.Add([]byte(""), uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, size, maxLines uint8) {
		bufSize, ml := int64(size%64)+1, int(maxLines%8)+1
		// One byte per Read exercises refills at every position.
		c := newChunker(iotest.OneByteReader(bytes.NewReader(data)), bufSize, ml)
		var text bytes.Buffer
		lines, overlong := 0, false
		for {
			ch, err := c.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if ch.lines < 1 || ch.lines > ml || int64(len(ch.text)) > bufSize {
				t.Fatalf("chunk of %d lines, %d bytes (limits %d, %d)", ch.lines, len(ch.text), ml, bufSize)
			}
			if ch.overlong != nil {
				overlong = true
			} else if got := bytes.Count([]byte(ch.text), []byte("\n")); got != ch.lines && got != ch.lines-1 {
				t.Fatalf("chunk %q counted as %d lines", ch.text, ch.lines)
			}
			text.WriteString(ch.text)
			lines += ch.lines
		}
		want := bytes.Count(data, []byte("\n"))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			want++
		}
		if lines != want {
			t.Fatalf("%d lines counted, input has %d", lines, want)
		}
		if !overlong && !bytes.Equal(text.Bytes(), data) {
			t.Fatalf("chunks %q differ from input %q", text.Bytes(), data)
		}
	})
}
