package decode

import "unsafe"

// Blocks is an Output.Keep that copies payloads into blocks of its own:
// one allocation for many small payloads, so allocations follow the
// blocks, not the payloads. Blocks are never reused: a record's string may
// outlive its batch (an enrichment cache key, say), so they are left to
// the garbage collector. The zero value is ready to use.
type Blocks struct {
	// Reserve, when set, is asked for each block's size before it is
	// made; its error is Keep's.
	Reserve func(bytes int64) error

	block []byte
	next  int // the next block's size
	kept  int // what was copied since the last Cut
}

// Block sizes: the first block after a Cut is what was kept before it and
// an eighth (the parts of one input are alike), later ones double; all
// between minBlock and maxBlock, except that a larger payload gets a block
// of its own size.
const (
	minBlock = 32 << 10
	maxBlock = 1 << 20
)

// Keep copies data into the current block, starting a new one when it
// does not fit, and returns the copy.
func (b *Blocks) Keep(data []byte) (string, error) {
	if len(data) == 0 {
		return "", nil
	}
	if len(data) > cap(b.block)-len(b.block) {
		next := max(b.next, minBlock)
		size := max(len(data), next)
		if b.Reserve != nil {
			if err := b.Reserve(int64(size)); err != nil {
				return "", err
			}
		}
		b.block = make([]byte, 0, size)
		b.next = min(2*next, maxBlock)
	}
	start := len(b.block)
	b.block = append(b.block, data...)
	b.kept += len(data)
	return unsafe.String(&b.block[start], len(data)), nil
}

// Cut makes the next Keep start a block of its own, sized by what was
// kept since the last Cut: the current block's rest was reserved by
// whoever holds what was kept so far, which may give it back first.
func (b *Blocks) Cut() {
	b.block = nil
	b.next = max(minBlock, min(b.kept+b.kept/8, maxBlock))
	b.kept = 0
}
