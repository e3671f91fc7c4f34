package membudget

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// Buffers come in power-of-two classes from minBuffer to maxPooledBuffer,
// so that a buffer taken from the pool is never more than twice what it is
// needed for: it is reserved from the caller's lease in full. Larger ones
// are allocated and left to the collector.
const (
	minBufferShift  = 15 // 32 KiB
	maxBufferShift  = 25 // 32 MiB
	maxPooledBuffer = 1 << maxBufferShift
)

// pool holds byte buffers by size class, shared by every source that reads
// request bodies and payloads.
var pool [maxBufferShift - minBufferShift + 1]sync.Pool // of *[]byte

// class returns the class index whose buffers hold n bytes, or false when
// n is over maxPooledBuffer.
func class(n int) (int, bool) {
	shift := max(bits.Len(uint(max(n, 1)-1)), minBufferShift)
	return shift - minBufferShift, shift <= maxBufferShift
}

// GetBuffer returns an empty buffer of at least n bytes, reserving its
// whole capacity with grow first.
func GetBuffer(n int, grow func(int64) error) ([]byte, error) {
	c, ok := class(n)
	size := n
	if ok {
		size = 1 << (c + minBufferShift)
	}
	if err := grow(int64(size)); err != nil {
		return nil, err
	}
	if ok {
		if bp, _ := pool[c].Get().(*[]byte); bp != nil {
			return (*bp)[:0], nil
		}
	}
	return make([]byte, 0, size), nil
}

// PutBuffer hands b back for reuse; b must not be used afterwards.
func PutBuffer(b []byte) {
	if c, ok := class(cap(b)); ok && cap(b) == 1<<(c+minBufferShift) {
		pool[c].Put(&b)
	}
}

// ErrOverLimit is returned by ReadAll for input past its limit.
var ErrOverLimit = errors.New("over the limit")

// ReadAll reads rd to its end into a pooled buffer starting at hint bytes,
// refusing more than limit bytes (an error wrapping ErrOverLimit). Every
// buffer it takes is reserved with grow first; outgrown ones go back to
// the pool but stay reserved, since a lease only grows. Hand the result
// back with PutBuffer.
func ReadAll(rd io.Reader, hint, limit int64, grow func(int64) error) ([]byte, error) {
	buf, err := GetBuffer(int(min(hint, limit)+1), grow)
	if err != nil {
		return nil, err
	}
	buf, err = Append(buf, rd, limit, grow)
	if err != nil {
		PutBuffer(buf)
		return nil, err
	}
	return buf, nil
}

// Append is ReadAll into buf, a buffer from GetBuffer (or nil) that is
// already reserved, so that a caller reading many small inputs reserves
// one buffer, not one per input. The limit counts buf's bytes too. It
// returns the buffer it ended in even with an error: the caller still owns
// it and hands it back with PutBuffer.
func Append(buf []byte, rd io.Reader, limit int64, grow func(int64) error) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			bigger, err := GetBuffer(int(min(2*int64(cap(buf)), limit+1)), grow)
			if err != nil {
				return buf, err
			}
			bigger = append(bigger, buf...)
			PutBuffer(buf)
			buf = bigger
		}
		// One byte past the limit is enough to know it is passed.
		n, err := rd.Read(buf[len(buf):int(min(int64(cap(buf)), limit+1))])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, fmt.Errorf("%w: over %d bytes", ErrOverLimit, limit)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
