package decode

import (
	"slices"
	"strings"
	"testing"
)

// TestSplit compares the word-at-a-time tokenizer with a byte-by-byte
// reference, placing separators and look-alike bytes (other control
// characters, '!', bytes above 0x7f) at every offset of a word.
func TestSplit(t *testing.T) {
	d := newDecoder(t)
	lookAlikes := []string{" ", "\t", "\r", "  ", " \t\r ", "\x00", "\x1f", "\v", "\n", "!", "\x80", "\xff", "\xa0", "é"}
	var lines []string
	for _, sep := range lookAlikes {
		for pos := range 20 {
			base := "abcdefghijklmnopqrstuvwxyz0123456789"
			lines = append(lines, base[:pos]+sep+base[pos:], sep+base[:pos], base[:pos]+sep)
		}
	}
	lines = append(lines, "", " ", "2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 3 4 5 6 ACCEPT OK")
	for _, line := range lines {
		n := d.split(line)
		want := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
		if got := d.toks[:n]; !slices.Equal(got, want) {
			t.Errorf("split(%q) = %q, want %q", line, got, want)
		}
	}
}
