// Package linefile appends records of whole lines to a file or a stream so
// that a failed write never leaves a partial line for the next record to be
// glued onto, which would make line-based tools lose that record too.
package linefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is what a Writer needs to take a failed record back out of a
// regular file; *os.File has it. Tests substitute files that fail part-way
// through a write.
type File interface {
	io.Writer
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
}

// Writer writes records, each one or more complete lines, possibly in
// several Write calls. It is not safe for concurrent use.
type Writer struct {
	w io.Writer
	// f is w when failed records can be truncated away: a regular file.
	f       File
	pending int64 // bytes written of the record not yet committed
	midLine bool  // the last byte written was not a newline
	torn    bool  // the output ends inside a line: the next record starts a new one
}

// New returns a Writer appending to w. Failed records are truncated away
// when w is a File whose Stat says it is a regular file, or a File without
// Stat (a test double); anything else (pipe, terminal, buffer) is a stream.
func New(w io.Writer) *Writer {
	lw := &Writer{w: w}
	if f, ok := w.(File); ok && regular(w) {
		lw.f = f
	}
	return lw
}

func regular(w io.Writer) bool {
	s, ok := w.(interface{ Stat() (fs.FileInfo, error) })
	if !ok {
		return true
	}
	st, err := s.Stat()
	return err == nil && st.Mode().IsRegular()
}

// Write writes part of the current record. After Abandon left a partial
// line in a stream, a newline goes first.
func (w *Writer) Write(p []byte) (int, error) {
	if w.torn {
		if _, err := w.w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		w.torn, w.midLine = false, false
	}
	n, err := w.w.Write(p)
	w.pending += int64(n)
	if n > 0 {
		w.midLine = p[n-1] != '\n'
	}
	return n, err
}

// Commit ends the current record: every byte of it was written (and
// synced, where the caller syncs), so Abandon will not take it back.
func (w *Writer) Commit() { w.pending = 0 }

// Abandon takes the current record back out after a failed write or sync:
// a regular file is truncated to where the record began, so a redelivery
// does not duplicate its complete lines either. Where that is impossible
// and the output was left inside a line, the next record starts on a new
// line and Abandon returns an error saying a torn line remains.
func (w *Writer) Abandon() error {
	pending := w.pending
	w.pending = 0
	var err error
	if w.f != nil && pending > 0 {
		if err = w.truncate(pending); err == nil {
			w.midLine = false
			return nil
		}
	}
	if !w.midLine {
		return nil
	}
	w.torn = true
	if err != nil {
		return fmt.Errorf("partial line left in the output (%w); the next record starts on a new line", err)
	}
	return errors.New("partial line left in the output; the next record starts on a new line")
}

// truncate cuts the last n bytes written. It seeks rather than trusting
// O_APPEND, so a file opened without it (a shell's "> file" as stdout) is
// written on from the cut too.
func (w *Writer) truncate(n int64) error {
	end, err := w.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("seek: %w", err)
	}
	start := end - n
	if start < 0 {
		return fmt.Errorf("truncate: record of %d bytes starts before the file (offset %d)", n, end)
	}
	if err := w.f.Truncate(start); err != nil {
		return fmt.Errorf("truncate: %w", err)
	}
	if _, err := w.f.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("seek: %w", err)
	}
	return nil
}

// SyncDir fsyncs the directory holding path, so that a file created or
// renamed there survives a crash: fsyncing the file alone does not make its
// directory entry durable.
func SyncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory: %w", err)
	}
	return nil
}
