package ecs

import "testing"

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct{ name, format, line string }{
		{"v2", fmtV2, lineV2Accept},
		{"v5", fmtV5, lineV5In},
	} {
		r := testRecord(b, bc.format, bc.line)
		var e Encoder
		buf := make([]byte, 0, 4096)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = e.Append(buf[:0], r)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkAppendID(b *testing.B) {
	r := testRecord(b, fmtV5, lineV5In)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendID(buf[:0], r)
	}
}

func BenchmarkAppendCommunityID(b *testing.B) {
	r := testRecord(b, fmtV2, lineV2Accept)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendCommunityID(buf[:0], r)
	}
}
