// Package deadletter stores inputs that could not be decoded or delivered
// as NDJSON lines in a local, size-capped, rotated file, so they can be
// inspected and replayed.
package deadletter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/flowhose/flowhose/sinks/internal/linefile"
	"github.com/flowhose/flowhose/stream"
	"github.com/flowhose/flowhose/stream/jsonenc"
)

// Stderr is the Path value that selects standard error (no rotation).
const Stderr = "-"

// Config configures the dead-letter file.
type Config struct {
	// Path is the file to append to, or "-" for standard error.
	Path string `yaml:"path"`
	// Fsync syncs the file before WriteFailures returns, so a crash cannot
	// lose failures whose batch was already acknowledged.
	Fsync bool `yaml:"fsync"`
	// MaxFileBytes rotates the file before a write would take it past
	// this size.
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxFiles is how many rotated files (path.1 … path.N) are kept; the
	// oldest is deleted at each rotation once there are this many.
	MaxFiles int `yaml:"max_files"`
	// MaxInputBytes truncates each stored input; truncated entries carry
	// "truncated":true.
	MaxInputBytes int `yaml:"max_input_bytes"`
}

// Limits of the settings.
const (
	minFileBytes  = 4 << 10
	maxFileBytes  = 1 << 40
	maxFiles      = 1000
	maxInputBytes = 64 << 20
)

// DefaultConfig returns a synced, rotated file in the working directory:
// 100 MiB per file, five old files kept, inputs of at most 1 MiB.
func DefaultConfig() Config {
	return Config{
		Path:          "./flowhose-deadletter.ndjson",
		Fsync:         true,
		MaxFileBytes:  100 << 20,
		MaxFiles:      5,
		MaxInputBytes: 1 << 20,
	}
}

// Validate reports every invalid setting, naming its key.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New(`path: must be a file path or "-" for standard error, got ""`))
	}
	if c.MaxFileBytes < minFileBytes || c.MaxFileBytes > maxFileBytes {
		errs = append(errs, fmt.Errorf("max_file_bytes: must be between %d and %d, got %d", minFileBytes, int64(maxFileBytes), c.MaxFileBytes))
	}
	if c.MaxFiles < 1 || c.MaxFiles > maxFiles {
		errs = append(errs, fmt.Errorf("max_files: must be between 1 and %d rotated files kept (0 would delete the current file, acknowledged dead letters and all, at every rotation), got %d", maxFiles, c.MaxFiles))
	}
	if c.MaxInputBytes < 1 || c.MaxInputBytes > maxInputBytes {
		errs = append(errs, fmt.Errorf("max_input_bytes: must be between 1 and %d, got %d", maxInputBytes, c.MaxInputBytes))
	}
	return errors.Join(errs...)
}

// Writer is a stream.DeadLetterWriter. It is safe for concurrent use.
type Writer struct {
	cfg Config
	now func() time.Time

	mu     sync.Mutex
	w      *linefile.Writer
	file   *os.File // nil when writing to standard error
	size   int64
	buf    []byte
	closed bool

	records      *prometheus.CounterVec
	torn         prometheus.Counter
	filesDeleted prometheus.Counter
	bytesDeleted prometheus.Counter
}

// New opens cfg.Path for appending (stderr, or os.Stderr when it is nil, for
// "-") and registers the flowhose_deadletter_* metrics on reg unless nil.
func New(cfg Config, stderr io.Writer, reg prometheus.Registerer) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("dead letter: %w", err)
	}
	w := &Writer{cfg: cfg, now: time.Now}
	// Registered only once the file is open: a writer that failed to open
	// must leave reg as it was.
	f := promauto.With(nil)
	w.records = f.NewCounterVec(prometheus.CounterOpts{
		Name: "flowhose_deadletter_records_total",
		Help: "Inputs written to the dead-letter file, by source.",
	}, []string{"source"})
	w.torn = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_deadletter_torn_lines_total",
		Help: "Partial lines left behind: by a failed write that could not be truncated away (standard error), or found at the end of the file when it was opened (a crash mid-write); the next entry starts on a new line.",
	})
	w.filesDeleted = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_deadletter_files_deleted_total",
		Help: "Rotated dead-letter files deleted because max_files were already kept.",
	})
	w.bytesDeleted = f.NewCounter(prometheus.CounterOpts{
		Name: "flowhose_deadletter_deleted_bytes_total",
		Help: "Bytes of dead letters deleted with rotated files.",
	})
	if cfg.Path == Stderr {
		if stderr == nil {
			stderr = os.Stderr
		}
		w.w = linefile.New(stderr)
	} else if err := w.open(); err != nil {
		return nil, err
	}
	if reg != nil {
		if err := registerAll(reg, w.records, w.torn, w.filesDeleted, w.bytesDeleted); err != nil {
			w.Close()
			return nil, fmt.Errorf("dead letter: %w", err)
		}
	}
	return w, nil
}

func registerAll(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) open() error {
	// Read as well as written: endTornLine reads the last byte through it.
	f, err := os.OpenFile(w.cfg.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("dead letter: open: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("dead letter: stat: %w", err)
	}
	size := st.Size()
	if size > 0 {
		torn, err := w.endTornLine(f, size)
		if err != nil {
			f.Close()
			return err
		}
		if torn {
			size++
		}
	}
	// A created or rotated file's directory entry must be durable too, or
	// a crash loses the whole file with the entries fsynced into it.
	if w.cfg.Fsync {
		if err := linefile.SyncDir(w.cfg.Path); err != nil {
			f.Close()
			return fmt.Errorf("dead letter: %w", err)
		}
	}
	w.w, w.file, w.size = linefile.New(f), f, size
	return nil
}

// endTornLine ends the file's last line if a crash cut it short, so that
// the next entry is not glued to it and lost to line-by-line readers too.
// It reports whether it wrote the newline.
func (w *Writer) endTornLine(f *os.File, size int64) (bool, error) {
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return false, fmt.Errorf("dead letter: check last line: %w", err)
	}
	if last[0] == '\n' {
		return false, nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return false, fmt.Errorf("dead letter: end torn last line: %w", err)
	}
	w.torn.Inc()
	return true, nil
}

// WriteFailures appends one line per failure and returns once they are
// written (and synced, when configured). Failures of one call are never
// split across two files.
func (w *Writer) WriteFailures(_ context.Context, fs []stream.Failure) error {
	if len(fs) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("dead letter: writer closed")
	}
	if w.w == nil {
		// A failed rotation left no file open: try again, so that the
		// writer recovers once the cause is gone instead of failing every
		// later batch until a restart.
		if err := w.open(); err != nil {
			return err
		}
	}
	now := w.now().UTC()
	w.buf = w.buf[:0]
	for i := range fs {
		w.buf = w.appendLine(w.buf, now, &fs[i])
	}
	if w.file != nil && w.size > 0 && w.size+int64(len(w.buf)) > w.cfg.MaxFileBytes {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return w.abandon(fmt.Errorf("dead letter: write: %w", err))
	}
	if w.cfg.Fsync && w.file != nil {
		if err := w.file.Sync(); err != nil {
			return w.abandon(fmt.Errorf("dead letter: fsync: %w", err))
		}
	}
	w.w.Commit()
	w.size += int64(len(w.buf))
	for i := range fs {
		w.records.WithLabelValues(fs[i].Source).Inc()
	}
	return nil
}

// abandon takes a failed write back out of the file, so that it holds
// only whole entries, and returns err with what could not be repaired.
func (w *Writer) abandon(err error) error {
	if terr := w.w.Abandon(); terr != nil {
		w.torn.Inc()
		return fmt.Errorf("%w; %w", err, terr)
	}
	return err
}

func (w *Writer) appendLine(dst []byte, now time.Time, f *stream.Failure) []byte {
	dst = append(dst, `{"time":"`...)
	dst = now.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","source":`...)
	dst = jsonenc.AppendString(dst, f.Source)
	if f.Ref != "" {
		dst = append(dst, `,"ref":`...)
		dst = jsonenc.AppendString(dst, f.Ref)
	}
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendInt(dst, int64(f.Line), 10)
	dst = append(dst, `,"field":`...)
	dst = jsonenc.AppendString(dst, f.Field)
	dst = append(dst, `,"reason":`...)
	dst = jsonenc.AppendString(dst, f.Reason)
	dst = append(dst, `,"input":`...)
	input := f.Input
	truncated := len(input) > w.cfg.MaxInputBytes
	if truncated {
		input = input[:w.cfg.MaxInputBytes]
	}
	dst = jsonenc.AppendString(dst, input)
	if truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	return append(dst, "}\n"...)
}

// rotate shifts path.N-1 to path.N … path to path.1, deleting the oldest,
// and starts a fresh file.
func (w *Writer) rotate() error {
	if err := w.file.Close(); err != nil {
		return fmt.Errorf("dead letter: close for rotation: %w", err)
	}
	w.w, w.file = nil, nil
	path := w.cfg.Path
	if err := w.deleteOldest(path + "." + strconv.Itoa(w.cfg.MaxFiles)); err != nil {
		return err
	}
	for i := w.cfg.MaxFiles - 1; i >= 1; i-- {
		from := path + "." + strconv.Itoa(i)
		if err := os.Rename(from, path+"."+strconv.Itoa(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dead letter: rotate: %w", err)
		}
	}
	// The file may have been moved or deleted from under us: then there is
	// nothing to rotate and a fresh file is what is wanted.
	if err := os.Rename(path, path+".1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dead letter: rotate: %w", err)
	}
	return w.open()
}

// deleteOldest deletes the oldest rotated file. Its entries were
// acknowledged, and anyone sending bad input can cause rotations, so the
// loss is counted and logged rather than silent.
func (w *Writer) deleteOldest(oldest string) error {
	st, err := os.Stat(oldest)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := os.Remove(oldest); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dead letter: rotate: %w", err)
	}
	var size int64
	if err == nil {
		size = st.Size()
	}
	w.filesDeleted.Inc()
	w.bytesDeleted.Add(float64(size))
	slog.Warn("dead letter: deleted the oldest rotated file, max_files were already kept; its entries are lost",
		"file", oldest, "bytes", size, "max_files", w.cfg.MaxFiles, "max_file_bytes", w.cfg.MaxFileBytes)
	return nil
}

// Close closes the file; later writes fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.file
	w.w, w.file, w.closed = nil, nil, true
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dead letter: close: %w", err)
	}
	return nil
}
