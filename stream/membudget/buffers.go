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
	classes         = maxBufferShift - minBufferShift + 1
)

// DefaultIdle is the most bytes of idle buffers kept for reuse until a
// Budget sets its own share (see New).
const DefaultIdle = 16 << 20

// idle holds the buffers handed back, by size class, shared by every source
// that reads request bodies and payloads. An idle buffer is reserved by
// nobody, so what the pool keeps is memory outside the budget: it is capped
// in bytes. A sync.Pool is not, and after a burst of large requests it held
// about as much again as the budget until two collections passed, taking a
// process with a 128 MiB budget past the 256 MiB container it is sized for.
var idle = idlePool{max: DefaultIdle}

type idlePool struct {
	mu    sync.Mutex
	bytes int64
	max   int64
	free  [classes][][]byte
}

// setIdleLimit caps the bytes of idle buffers; buffers over a lowered cap
// are dropped at once.
func setIdleLimit(n int64) {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	idle.max = n
	for c := classes - 1; c >= 0 && idle.bytes > n; c-- {
		for len(idle.free[c]) > 0 && idle.bytes > n {
			idle.free[c] = idle.free[c][:len(idle.free[c])-1]
			idle.bytes -= 1 << (c + minBufferShift)
		}
	}
}

// IdleBytes is what the pool keeps now.
func IdleBytes() int64 {
	idle.mu.Lock()
	defer idle.mu.Unlock()
	return idle.bytes
}

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
		idle.mu.Lock()
		if free := idle.free[c]; len(free) > 0 {
			b := free[len(free)-1]
			free[len(free)-1] = nil
			idle.free[c] = free[:len(free)-1]
			idle.bytes -= int64(size)
			idle.mu.Unlock()
			return b[:0], nil
		}
		idle.mu.Unlock()
	}
	return make([]byte, 0, size), nil
}

// PutBuffer hands b back for reuse; b must not be used afterwards. It is
// kept while the idle buffers stay within their cap, else left to the
// collector.
func PutBuffer(b []byte) {
	c, ok := class(cap(b))
	if !ok || cap(b) != 1<<(c+minBufferShift) {
		return
	}
	idle.mu.Lock()
	if idle.bytes+int64(cap(b)) <= idle.max {
		idle.free[c] = append(idle.free[c], b)
		idle.bytes += int64(cap(b))
	}
	idle.mu.Unlock()
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
