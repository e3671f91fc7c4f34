package decode

import (
	"slices"
	"strings"
	"testing"
)

// Blocks reserves each block before making it, keeps copies intact as the
// caller reuses its buffer, and sizes the first block after a Cut by what
// was kept before it.
func TestBlocks(t *testing.T) {
	var reserved []int64
	b := Blocks{Reserve: func(n int64) error { reserved = append(reserved, n); return nil }}
	buf := []byte(strings.Repeat("a", 20<<10))
	first, _ := b.Keep(buf)
	copy(buf, strings.Repeat("b", 20<<10))
	second, _ := b.Keep(buf) // does not fit the rest of the first block
	big, _ := b.Keep(make([]byte, 3<<20))
	if first != strings.Repeat("a", 20<<10) || second != strings.Repeat("b", 20<<10) || len(big) != 3<<20 {
		t.Fatal("a copy changed")
	}
	if want := []int64{minBlock, 2 * minBlock, 3 << 20}; !slices.Equal(reserved, want) {
		t.Fatalf("reserved %v, want %v", reserved, want)
	}
	b.Cut()
	reserved = nil
	if _, err := b.Keep([]byte("x")); err != nil || !slices.Equal(reserved, []int64{maxBlock}) {
		t.Fatalf("after a Cut: reserved %v, %v; want one block of %d", reserved, err, maxBlock)
	}
}
