package s3

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/flowhose/flowhose/stream/source/file"
)

// Backfill replays the objects under s3:// URLs: `flowhose replay
// s3://bucket/prefix`.
type Backfill struct {
	// Since and Until select objects by the dates of their key's
	// partitions, [Since, Until); zero is unbounded. With either set,
	// objects whose key has no date are skipped.
	Since, Until time.Time
	// Checkpoint, when set, is a file listing the objects already replayed
	// completely, one s3:// name a line: they are skipped, and each object
	// is appended once all its records are acknowledged, so a stopped
	// backfill resumes where it was. Names are quoted (Go syntax): keys
	// may hold newlines.
	Checkpoint string
	// Progress, when set, receives a progress line every ProgressEvery
	// (meant for a terminal: the line is redrawn in place).
	Progress      io.Writer
	ProgressEvery time.Duration

	cfg      Config
	client   *s3.Client
	replayer *file.Replayer
	log      *slog.Logger
}

// NewBackfill returns a Backfill reading with client through replayer.
func NewBackfill(cfg Config, client *s3.Client, replayer *file.Replayer, log *slog.Logger) *Backfill {
	if log == nil {
		log = slog.Default()
	}
	return &Backfill{cfg: cfg, client: client, replayer: replayer, log: log, ProgressEvery: time.Second}
}

// BackfillSummary is a replay summary plus what the backfill skipped.
type BackfillSummary struct {
	file.Summary
	Objects  int   // objects listed and selected
	Bytes    int64 // their size
	Done     int   // objects replayed completely
	Resumed  int   // objects skipped: already in the checkpoint
	Undated  int   // objects skipped: no date in the key while a range is set
	Unlisted int   // listing calls that failed
}

// object is one listed object.
type object struct {
	bucket, key string
	size        int64
}

// Run lists the URLs' objects and replays them, Config.Concurrency at a
// time, and returns once every submitted batch is acknowledged. When ctx
// ends, listing and reading stop.
func (b *Backfill) Run(ctx context.Context, urls []string) (BackfillSummary, error) {
	type target struct{ bucket, prefix string }
	var targets []target
	for _, u := range urls {
		bucket, prefix, err := ParseURL(u)
		if err != nil {
			return BackfillSummary{}, err
		}
		targets = append(targets, target{bucket, prefix})
	}
	cp, err := openCheckpoint(b.Checkpoint, func(name string) bool {
		return slices.ContainsFunc(targets, func(t target) bool { return strings.HasPrefix(name, objectName(t.bucket, t.prefix)) })
	})
	if err != nil {
		return BackfillSummary{}, err
	}
	defer cp.close()

	st := &backfillState{b: b, start: time.Now()}
	objects := make(chan object, b.cfg.Concurrency)
	var listed sync.WaitGroup
	listed.Add(1)
	go func() {
		defer listed.Done()
		defer close(objects)
		for _, t := range targets {
			if err := b.list(ctx, t.bucket, t.prefix, func(o object) bool {
				if cp.has(objectName(o.bucket, o.key)) {
					st.add(func(s *BackfillSummary) { s.Resumed++ })
					return true
				}
				st.add(func(s *BackfillSummary) { s.Objects++; s.Bytes += o.size })
				select {
				case objects <- o:
					return true
				case <-ctx.Done():
					return false
				}
			}, st); err != nil {
				if ctx.Err() != nil {
					return // the interruption is reported once, by Run
				}
				st.errs.Add(fmt.Errorf("list %s: %w", objectName(t.bucket, t.prefix), err))
				st.add(func(s *BackfillSummary) { s.Unlisted++ })
			}
		}
		st.add(func(*BackfillSummary) { st.listed = true })
	}()

	stopProgress := st.progress()
	var workers sync.WaitGroup
	for range b.cfg.Concurrency {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for o := range objects {
				if ctx.Err() != nil {
					continue // drain: the lister stops too
				}
				name := objectName(o.bucket, o.key)
				sum, err := b.replayer.RunInputs(ctx, []file.Input{objectInput(b.client, o.bucket, o.key, nil)})
				complete := err == nil && sum.Errors == 0
				if complete {
					if cerr := cp.add(name); cerr != nil {
						err = cerr
					}
				}
				st.add(func(s *BackfillSummary) {
					s.Summary.Add(sum)
					st.doneBytes += o.size
					if complete {
						s.Done++
					}
				})
				if err != nil {
					st.errs.Add(err)
				}
			}
		}()
	}
	workers.Wait()
	listed.Wait()
	stopProgress()
	var stopped error
	if ctx.Err() != nil {
		stopped = fmt.Errorf("backfill interrupted: %w", context.Cause(ctx))
	}
	return st.sum, st.errs.Err(stopped)
}

// backfillState is what a Run's goroutines share.
type backfillState struct {
	b         *Backfill
	start     time.Time
	mu        sync.Mutex
	sum       BackfillSummary
	doneBytes int64
	listed    bool
	errs      file.ErrorList
}

func (st *backfillState) add(f func(*BackfillSummary)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	f(&st.sum)
}

// progress draws the progress line until the returned function is called,
// which ends it with a newline.
func (st *backfillState) progress() (stop func()) {
	w := st.b.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(st.b.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintf(w, "\r\033[K%s\n", st.line())
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", st.line())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// line is the progress line: objects, bytes, records/s and, once the
// listing is complete, an ETA from the byte rate.
func (st *backfillState) line() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, elapsed := st.sum, time.Since(st.start).Seconds()
	total := "?"
	if st.listed {
		total = fmt.Sprint(s.Objects)
	}
	line := fmt.Sprintf("objects %d/%s, %s/%s, %.0f records/s", s.Done, total, mib(st.doneBytes), mib(s.Bytes), float64(s.Records)/max(elapsed, 1e-3))
	if st.listed && st.doneBytes > 0 && s.Bytes > st.doneBytes {
		eta := time.Duration(float64(s.Bytes-st.doneBytes) / (float64(st.doneBytes) / elapsed) * float64(time.Second))
		line += ", ETA " + eta.Round(time.Second).String()
	}
	return line
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// listPage is the most keys and prefixes one listing call returns: S3's
// own maximum, smaller in tests.
var listPage int32 = 1000

// list calls yield with every object under prefix whose key dates overlap
// [Since, Until), until yield returns false. Without a range the listing
// is flat; with one it walks the prefixes level by level and does not
// descend into dated prefixes outside the range, so a day of a year-old
// bucket costs a few listing calls, not a listing of the whole bucket.
// It descends into a page's prefixes before it asks for the next page: a
// level may hold millions of prefixes, and this way each level being
// walked holds one page of them (keys are at most 1 KiB, so the levels
// are bounded too).
func (b *Backfill) list(ctx context.Context, bucket, prefix string, yield func(object) bool, st *backfillState) error {
	ranged := !b.Since.IsZero() || !b.Until.IsZero()
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(listPage)}
	if ranged {
		in.Delimiter = aws.String("/")
	}
	p := s3.NewListObjectsV2Paginator(b.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") {
				continue // a folder marker
			}
			if ranged {
				per, ok := keyPeriod(key)
				if !ok {
					st.add(func(s *BackfillSummary) { s.Undated++ })
					continue
				}
				if !per.overlaps(b.Since, b.Until) {
					continue
				}
			}
			if !yield(object{bucket, key, aws.ToInt64(o.Size)}) {
				return ctx.Err()
			}
		}
		for _, cp := range page.CommonPrefixes {
			sub := aws.ToString(cp.Prefix)
			if per, ok := keyPeriod(sub); ok && !per.overlaps(b.Since, b.Until) {
				continue
			}
			if err := b.list(ctx, bucket, sub, yield, st); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkpoint is the set of objects replayed completely, and the file it
// is kept in. A backfill of millions of objects names millions in its
// file, so the file is read a line at a time, only the names under the
// URLs being replayed are kept, and each as a 16-byte digest rather than
// the name: about 40 bytes an object, 400 MB for 10 million.
type checkpoint struct {
	mu   sync.Mutex
	done map[nameDigest]struct{}
	f    *os.File
}

// nameDigest stands for an object name in a checkpoint: the first half of
// its SHA-256: the chance that two of a billion names share one is below
// 10^-20.
type nameDigest [16]byte

func digest(name string) nameDigest {
	sum := sha256.Sum256([]byte(name))
	return nameDigest(sum[:16])
}

// maxCheckpointLine bounds a line of a checkpoint: a quoted s3:// name of
// a 63-byte bucket and a 1024-byte key, every byte escaped, is shorter.
// A longer line is no name the backfill wrote and is skipped.
const maxCheckpointLine = 8 << 10

// openCheckpoint reads path (which may not exist yet), keeping the names
// keep accepts, and opens it for appending. An empty path keeps no
// checkpoint.
func openCheckpoint(path string, keep func(name string) bool) (*checkpoint, error) {
	cp := &checkpoint{done: map[nameDigest]struct{}{}}
	if path == "" {
		return cp, nil
	}
	torn, err := cp.read(path, keep)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if torn {
		if _, err := cp.f.WriteString("\n"); err != nil {
			cp.f.Close()
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return cp, nil
}

// read adds the names of path's complete lines that keep accepts, and
// reports whether the last line has no newline.
func (cp *checkpoint) read(path string, keep func(name string) bool) (torn bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxCheckpointLine)
	skipping := false // the rest of an overlong line
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			skipping = true
			continue
		case errors.Is(err, io.EOF):
			// A line without its newline was being written when the
			// process stopped: that object is read again.
			return len(line) > 0 || skipping, nil
		case err != nil:
			return false, err
		}
		if skipping {
			skipping = false
			continue
		}
		if name, err := strconv.Unquote(string(line[:len(line)-1])); err == nil && keep(name) {
			cp.done[digest(name)] = struct{}{}
		}
	}
}

func (cp *checkpoint) has(name string) bool {
	_, ok := cp.done[digest(name)]
	return ok
}

// add records name as done, on disk before it returns.
func (cp *checkpoint) add(name string) error {
	if cp.f == nil {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if _, err := cp.f.WriteString(strconv.Quote(name) + "\n"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := cp.f.Sync(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (cp *checkpoint) close() {
	if cp.f != nil {
		cp.f.Close()
	}
}
