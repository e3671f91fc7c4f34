package linefile

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// memFile is a File in memory whose writes and truncation can be made to fail.
type memFile struct {
	data        []byte
	off         int64
	failWrite   int // bytes a write takes before failing; <0 never fails
	truncateErr error
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.failWrite >= 0 && len(p) > f.failWrite {
		p = p[:f.failWrite]
		f.data, f.off = append(f.data[:f.off], p...), f.off+int64(len(p))
		return len(p), errors.New("no space")
	}
	f.data, f.off = append(f.data[:f.off], p...), f.off+int64(len(p))
	return len(p), nil
}

func (f *memFile) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		f.off = off
	}
	return f.off, nil
}

func (f *memFile) Truncate(n int64) error {
	if f.truncateErr != nil {
		return f.truncateErr
	}
	f.data = f.data[:n]
	return nil
}

func TestAbandon(t *testing.T) {
	tests := []struct {
		name        string
		truncateErr error
		want        string
		torn        bool
	}{
		{"truncated back to the last record", nil, "one\nthree\n", false},
		{"truncation fails: next record on a new line", errors.New("read-only"), "one\ntw\nthree\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &memFile{failWrite: -1, truncateErr: tt.truncateErr}
			w := New(f)
			if _, err := w.Write([]byte("one\n")); err != nil {
				t.Fatal(err)
			}
			w.Commit()
			f.failWrite = 2
			if _, err := w.Write([]byte("two\n")); err == nil {
				t.Fatal("write did not fail")
			}
			err := w.Abandon()
			if (err != nil) != tt.torn || tt.torn && !strings.Contains(err.Error(), "read-only") {
				t.Fatalf("Abandon() = %v, want a torn-line error: %v", err, tt.torn)
			}
			f.failWrite = -1
			if _, err := w.Write([]byte("three\n")); err != nil {
				t.Fatal(err)
			}
			w.Commit()
			if string(f.data) != tt.want {
				t.Fatalf("file holds %q, want %q", f.data, tt.want)
			}
		})
	}
}

// A record that failed after whole lines leaves nothing torn in a stream.
func TestAbandonAtLineEnd(t *testing.T) {
	var sb strings.Builder
	w := New(&sb)
	w.Write([]byte("one\n"))
	if err := w.Abandon(); err != nil {
		t.Fatalf("Abandon() = %v after a whole line", err)
	}
	w.Write([]byte("two\n"))
	if sb.String() != "one\ntwo\n" {
		t.Fatalf("stream holds %q", sb.String())
	}
}
