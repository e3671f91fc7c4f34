package firehose

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/flowhose/flowhose/stream/membudget"
)

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

// readAll is membudget.ReadAll with the first buffer bounded by
// maxInitialBody and the endpoint's own error past the limit.
func readAll(rd io.Reader, hint, limit int64, grow func(int64) error) ([]byte, error) {
	buf, err := membudget.ReadAll(rd, min(hint, maxInitialBody), limit, grow)
	if errors.Is(err, membudget.ErrOverLimit) {
		return nil, fmt.Errorf("%w: over %d bytes", errDecompressedTooLarge, limit)
	}
	return buf, err
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
