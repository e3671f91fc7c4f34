package jsonscan

import (
	"encoding/json"
	"testing"
)

// FuzzScan checks each function against encoding/json on what it accepts:
// a String decodes to its bytes as they are, a Value or Number is valid
// JSON, a Base64 string holds what encoding/json would decode it to.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`"plain ascii, longer than eight bytes"`, `"é ü"`, `"a\"b"`, "\"ctl\x01\"", `"\xff\xfe"`,
		` -12.5e+3 `, `01`, `[1,"a",[true,{"k":null}],{}]`, `{"a":{"b":[1,2]},"c":"d"}`,
		`"QUJD/+=="`, "\"QU\nJD\"", `[[[[[[[[[1]]]]]]]]]`, `{"a" 1}`, `[1,]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if sp, end, ok := String(data, 0); ok {
			var s string
			if err := json.Unmarshal(data[:end], &s); err != nil || s != string(data[sp.Start:sp.End]) {
				t.Fatalf("String(%q) = %q; encoding/json %q, %v", data[:end], data[sp.Start:sp.End], s, err)
			}
		}
		if sp, end, ok := Base64(data, 0); ok {
			var s string
			// Where they differ, both fail base64 decoding.
			raw := string(data[sp.Start:sp.End])
			if err := json.Unmarshal(data[:end], &s); err == nil && s != raw && (alphabet(s) || alphabet(raw)) {
				t.Fatalf("Base64(%q) = %q; encoding/json %q", data[:end], raw, s)
			}
		}
		for name, skip := range map[string]func([]byte, int) (int, bool){"Value": Value, "Scalars": Scalars, "Number": Number} {
			if end, ok := skip(data, 0); ok && !json.Valid(data[:end]) {
				t.Fatalf("%s(%q) took %q, not valid JSON", name, data, data[:end])
			}
		}
	})
}

func TestValueDepth(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{`[[[[[[[[1]]]]]]]]`, true},
		{`[[[[[[[[[1]]]]]]]]]`, false},
		{`{"a":[1,{"b":"c"}],"d":{}}`, true},
		{`{"a":"\u0041"}`, false},
		{`[1 2]`, false},
	} {
		if _, ok := Value([]byte(tt.in), 0); ok != tt.ok {
			t.Errorf("Value(%s) ok = %v, want %v", tt.in, ok, tt.ok)
		}
	}
}

// alphabet reports whether s is all base64 alphabet and padding.
func alphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}
