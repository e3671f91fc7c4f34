package firehose

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/flowhose/flowhose/stream/membudget"
)

// Buffers come in power-of-two classes from minBuffer to maxPooledBuffer,
// so that a buffer taken from the pool is never more than twice what it is
// needed for: it is reserved from the request's lease in full. Larger ones
// are allocated and left to the collector.
const (
	minBufferShift  = 15 // 32 KiB
	maxBufferShift  = 25 // 32 MiB
	maxPooledBuffer = 1 << maxBufferShift
)

// bufferPool holds byte buffers by size class.
type bufferPool struct {
	classes [maxBufferShift - minBufferShift + 1]sync.Pool // of *[]byte
}

// class returns the class index whose buffers hold n bytes, or false when
// n is over maxPooledBuffer.
func class(n int) (int, bool) {
	shift := max(bits.Len(uint(max(n, 1)-1)), minBufferShift)
	return shift - minBufferShift, shift <= maxBufferShift
}

// get returns an empty buffer of at least n bytes, reserving its whole
// capacity with grow first.
func (p *bufferPool) get(n int, grow func(int64) error) ([]byte, error) {
	c, ok := class(n)
	size := n
	if ok {
		size = 1 << (c + minBufferShift)
	}
	if err := grow(int64(size)); err != nil {
		return nil, err
	}
	if ok {
		if bp, _ := p.classes[c].Get().(*[]byte); bp != nil {
			return (*bp)[:0], nil
		}
	}
	return make([]byte, 0, size), nil
}

// put hands b back for reuse; b must not be used afterwards.
func (p *bufferPool) put(b []byte) {
	if c, ok := class(cap(b)); ok && cap(b) == 1<<(c+minBufferShift) {
		p.classes[c].Put(&b)
	}
}

// buffers are shared by all handlers: request bodies and decoded record
// data of every size class.
var buffers bufferPool

// gzipReaders are pooled: each holds tens of KiB of inflate state.
var gzipReaders sync.Pool // of *gzip.Reader

// readBody reads the request body, gunzipped when the request says so,
// into a pooled buffer (hand it back to buffers when done) and enforces
// max_body_bytes and max_decompressed_bytes while reading. Every buffer it
// takes is reserved with grow first.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, grow func(int64) error) ([]byte, error) {
	wire := http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	hint := int64(0)
	if r.ContentLength > 0 {
		hint = min(r.ContentLength, h.cfg.MaxBodyBytes)
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return readAll(wire, hint, h.cfg.MaxDecompressedBytes, grow)
	case "gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer gzipReaders.Put(zr)
		// Flow-log JSON compresses about tenfold.
		return readAll(&gunzipper{r: wire, zr: zr}, 8*hint, h.cfg.MaxDecompressedBytes, grow)
	default:
		return nil, fmt.Errorf("%w: unsupported Content-Encoding %q: use gzip or none", errUnsupportedEncoding, enc)
	}
}

// maxInitialBody bounds the first buffer: it follows Content-Length, but
// not so far that a client could have large buffers taken by announcing a
// body it does not send.
const maxInitialBody = 8 << 20

// errUnsupportedEncoding is answered 415.
var errUnsupportedEncoding = errors.New("unsupported media type")

// gunzipper opens the gzip stream on its first read, so that the error of
// a bad header comes from reading the body like every other one.
type gunzipper struct {
	r    io.Reader
	zr   *gzip.Reader
	open bool
}

func (g *gunzipper) Read(p []byte) (int, error) {
	if !g.open {
		if err := g.zr.Reset(g.r); err != nil {
			return 0, fmt.Errorf("gzip: %w", err)
		}
		g.open = true
	}
	n, err := g.zr.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("gzip: %w", err)
	}
	return n, err
}

// readAll reads rd to its end into a pooled buffer starting at hint bytes,
// refusing more than limit bytes. Outgrown buffers go back to the pool but
// stay reserved: the request's lease only grows.
func readAll(rd io.Reader, hint, limit int64, grow func(int64) error) ([]byte, error) {
	buf, err := buffers.get(int(min(hint, limit, maxInitialBody)+1), grow)
	if err != nil {
		return nil, err
	}
	for {
		if len(buf) == cap(buf) {
			bigger, err := buffers.get(int(min(2*int64(cap(buf)), limit+1)), grow)
			if err != nil {
				buffers.put(buf)
				return nil, err
			}
			bigger = append(bigger, buf...)
			buffers.put(buf)
			buf = bigger
		}
		// One byte past the limit is enough to know it is passed.
		n, err := rd.Read(buf[len(buf):int(min(int64(cap(buf)), limit+1))])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			buffers.put(buf)
			return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			buffers.put(buf)
			return nil, err
		}
	}
}

// budgetGrow returns lease.Grow adding what it grants to *n.
func budgetGrow(lease *membudget.Lease, n *int64) func(int64) error {
	return func(b int64) error {
		if err := lease.Grow(b); err != nil {
			return err
		}
		*n += b
		return nil
	}
}
