package b64dec

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestDecode(t *testing.T) {
	long := base64.StdEncoding.EncodeToString([]byte("2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n"))
	for _, s := range []string{
		"", "QQ==", "QUI=", "QUJD", "QUJDREVGR0g=", long, long[:len(long)-4],
		long[:40] + "\n" + long[40:], long[:40] + "\r\n" + long[40:],
		long[:16] + "*" + long[17:], long[:len(long)-2] + "=A", "QUJDREVGR0hJ====", "QUJDREVGR0hJSktM\n",
	} {
		check(t, []byte(s))
	}
}

// FuzzDecode checks Decode against encoding/base64 on any input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("QUJDREVGR0hJSktMTU5PUA=="))
	f.Add([]byte("QUJDREVG\nR0hJSktMTU5PUA=="))
	f.Add([]byte("QUJDREVGR0hJ=ktMTU5PUA=="))
	f.Fuzz(func(t *testing.T, src []byte) { check(t, src) })
}

func check(t *testing.T, src []byte) {
	t.Helper()
	want := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	got := make([]byte, len(want))
	wn, werr := base64.StdEncoding.Decode(want, src)
	gn, gerr := Decode(got, src)
	if gn != wn || werr != gerr || !bytes.Equal(got[:gn], want[:wn]) {
		t.Fatalf("Decode(%q) = %d, %v, %q; encoding/base64: %d, %v, %q", src, gn, gerr, got[:gn], wn, werr, want[:wn])
	}
}

func BenchmarkDecode(b *testing.B) {
	line := "2 123456789012 eni-0a1b2c3d 10.0.1.5 10.0.2.9 443 49152 6 10 840 1700000000 1700000060 ACCEPT OK\n"
	src := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(line), 5)))
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	for _, bc := range []struct {
		name   string
		decode func(dst, src []byte) (int, error)
	}{{"b64dec", Decode}, {"encoding-base64", base64.StdEncoding.Decode}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if _, err := bc.decode(dst, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
