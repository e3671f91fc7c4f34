package jsonenc

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestAppendString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"q\"b\\", "q\"b\\"},
		{"\x00\x01\x1f\x7f", "\x00\x01\x1f\x7f"},
		{"\n\r\t", "\n\r\t"},
		{"héllo ✓ 𝄞", "héllo ✓ 𝄞"},
		{"\xff", "\uFFFD"},
		{"a\xc3", "a\uFFFD"},                   // truncated sequence
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate half is invalid UTF-8
		{"\u2028</script>", "\u2028</script>"},
	}
	for _, tc := range tests {
		out := AppendString(nil, tc.in)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("AppendString(%q) = %s: %v", tc.in, out, err)
			continue
		}
		if got != tc.want {
			t.Errorf("AppendString(%q) round trip = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestIsPlain compares the word-at-a-time test with a byte-wise reference
// for strings of every length up to 24 with one special byte at each
// position.
func TestIsPlain(t *testing.T) {
	ref := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
				return false
			}
		}
		return true
	}
	const base = "abcdefghijklmnopqrstuvwx"
	for n := 0; n <= len(base); n++ {
		if !isPlain(base[:n]) {
			t.Errorf("isPlain(%q) = false", base[:n])
		}
		for pos := range n {
			for _, c := range []byte{0, 0x1f, '"', '\\', 0x7f, 0x80, 0xff, ' ', '!', '#', '[', ']'} {
				s := base[:pos] + string([]byte{c}) + base[pos+1:n]
				if got, want := isPlain(s), ref(s); got != want {
					t.Errorf("isPlain(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

// TestPlain8 compares the word test with a byte-by-byte definition.
func TestPlain8(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\' }
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			w := load64(string(b), 0)
			if got := Plain8(w); got != plain(byte(c)) {
				t.Fatalf("Plain8(%q) = %v", b, got)
			}
		}
	}
	// Mixed words, where borrows between bytes could matter.
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 0x1f, 0x20, '!', '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xc3, 0xff, 'a'}
	for range 200000 {
		var b [8]byte
		want := true
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
			want = want && plain(b[i])
		}
		if got := Plain8(load64(string(b[:]), 0)); got != want {
			t.Fatalf("Plain8(%q) = %v, want %v", b, got, want)
		}
	}
}

// FuzzAppendString checks that any input, valid UTF-8 or not, encodes to a
// JSON string that decodes back to the input (with invalid bytes replaced).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t", "\x00\x7f\x1f", "\xff\xfe", "\u2028\u2029", "é漢字🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := AppendString(nil, s)
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("%q encoded to invalid JSON %q: %v", s, enc, err)
		}
		// Ranging over a string yields U+FFFD for each invalid byte.
		var want strings.Builder
		for _, r := range s {
			want.WriteRune(r)
		}
		if got != want.String() {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}
