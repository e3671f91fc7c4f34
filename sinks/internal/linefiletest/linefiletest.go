// Package linefiletest has outputs that fail part-way through a write, for
// testing that sinks never leave a partial line behind.
package linefiletest

import (
	"bytes"
	"os"
	"syscall"
)

// FullDisk is a real file that runs out of space: once Left bytes have been
// written it writes no more and fails with ENOSPC, after writing what fit,
// as a full file system does. A negative Left never fails.
type FullDisk struct {
	*os.File
	Left int64
}

// Write implements io.Writer.
func (f *FullDisk) Write(p []byte) (int, error) {
	if f.Left < 0 || int64(len(p)) <= f.Left {
		n, err := f.File.Write(p)
		if f.Left >= 0 {
			f.Left -= int64(n)
		}
		return n, err
	}
	n, err := f.File.Write(p[:f.Left])
	f.Left -= int64(n)
	if err != nil {
		return n, err
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

// Pipe is a stream that cannot be truncated: it takes Left bytes, then
// fails with Err after a short write. A negative Left never fails.
type Pipe struct {
	bytes.Buffer
	Left int
	Err  error
}

// Write implements io.Writer.
func (p *Pipe) Write(b []byte) (int, error) {
	if p.Left < 0 || len(b) <= p.Left {
		if p.Left >= 0 {
			p.Left -= len(b)
		}
		return p.Buffer.Write(b)
	}
	n, _ := p.Buffer.Write(b[:p.Left])
	p.Left = 0
	return n, p.Err
}
