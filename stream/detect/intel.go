package detect

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gaissmai/bart"
)

// listed is one threat-intel entry: the list (file base name) and the
// prefix as written.
type listed struct {
	List   string
	Prefix netip.Prefix
}

// Intel holds the threat-intel lists in one longest-prefix table (the
// library the enrichment's ip-ranges lookup uses) and swaps in a new table
// when a file changes.
type Intel struct {
	files []string
	table atomic.Pointer[bart.Table[listed]]
	stamp string // sizes and modification times of the loaded files
	// entries counts each loaded file's entries: a file that had some and
	// now has only bad lines is taken for a failed download, not a list.
	entries []int
}

// LoadIntel reads every file; a file that cannot be read is an error, an
// entry that is neither an address nor a prefix is skipped and counted.
func LoadIntel(files []string) (*Intel, int, error) {
	in := &Intel{files: files}
	skipped, err := in.load()
	return in, skipped, err
}

func (in *Intel) load() (int, error) {
	stamp, err := in.stat()
	if err != nil {
		return 0, err
	}
	t := new(bart.Table[listed])
	skipped := 0
	entries := make([]int, len(in.files))
	for i, f := range in.files {
		n, bad, err := readList(t, f)
		if err != nil {
			return 0, err
		}
		if n == 0 && bad > 0 && in.entries != nil && in.entries[i] > 0 {
			return 0, fmt.Errorf("threat-intel list %s: no valid entry in %d lines (it had %d)", f, bad, in.entries[i])
		}
		entries[i] = n
		skipped += bad
	}
	in.table.Store(t)
	in.stamp, in.entries = stamp, entries
	return skipped, nil
}

func (in *Intel) stat() (string, error) {
	var b strings.Builder
	for _, f := range in.files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("threat-intel list: %w", err)
		}
		fmt.Fprintf(&b, "%d.%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func readList(t *bart.Table[listed], path string) (entries, skipped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("threat-intel list: %w", err)
	}
	defer f.Close()
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		field, _, _ := strings.Cut(line, ",")
		field = strings.Trim(strings.TrimSpace(field), `"`)
		if field == "" {
			continue
		}
		p, err := netip.ParsePrefix(field)
		if err != nil {
			a, aerr := netip.ParseAddr(field)
			if aerr != nil {
				skipped++ // a CSV header, or a bad entry
				continue
			}
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		t.Insert(p, listed{List: name, Prefix: p})
		entries++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("threat-intel list %s: %w", path, err)
	}
	return entries, skipped, nil
}

// current is the table in use. The engine takes it once per batch, so
// that a rule's match and its alert's entry come from the same lists even
// when a reload lands in between.
func (in *Intel) current() *bart.Table[listed] {
	if in == nil {
		return nil
	}
	return in.table.Load()
}

// lookupIn finds a in the lists of t.
func lookupIn(t *bart.Table[listed], a netip.Addr) (listed, bool) {
	if t == nil || !a.IsValid() {
		return listed{}, false
	}
	return t.Lookup(a.Unmap())
}

// Watch reloads the lists whenever a file's size or modification time
// changes, checking every interval until ctx ends. A failed reload keeps
// the lists in use.
func (in *Intel) Watch(ctx context.Context, interval time.Duration, log *slog.Logger, reloads func(ok bool)) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		stamp, err := in.stat()
		if err == nil && stamp == in.stamp {
			continue
		}
		skipped := 0
		if err == nil {
			skipped, err = in.load()
		}
		if err != nil {
			log.Error("threat-intel lists not reloaded; keeping the loaded ones", "err", err)
			reloads(false)
			continue
		}
		log.Info("threat-intel lists reloaded", "files", len(in.files), "skipped_entries", skipped)
		reloads(true)
	}
}
