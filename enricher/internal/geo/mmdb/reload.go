package mmdb

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

// Config says which files make up the local database and how often to look
// for new builds of them.
type Config struct {
	// Paths are the .mmdb files, asked in this order. None: no local
	// database (lookups find nothing).
	Paths []string
	// ReloadInterval is how often the files are checked for a new build
	// (size, mtime, inode; then content). 0 turns periodic checks off.
	ReloadInterval time.Duration
}

// DefaultConfig has no files and checks every minute: databases are rebuilt
// weekly at most, and a check that finds nothing new costs one stat per file.
func DefaultConfig() Config {
	return Config{ReloadInterval: time.Minute}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	seen := make(map[string]int, len(c.Paths))
	for i, p := range c.Paths {
		if p == "" {
			return fmt.Errorf("Paths[%d]: empty path", i)
		}
		if j, dup := seen[p]; dup {
			return fmt.Errorf("Paths[%d] %q: already listed as Paths[%d]", i, p, j)
		}
		seen[p] = i
	}
	if c.ReloadInterval < 0 {
		return fmt.Errorf("ReloadInterval %v: want 0 (no periodic checks) or more", c.ReloadInterval)
	}
	return nil
}

// Reloader owns the loaded Set and replaces it when a file changes. Lookups
// read the current Set through an atomic pointer, so they never wait for a
// check or a reload, and a lookup that started on the old Set finishes on it.
// A new build that fails to open (truncated, corrupt, half-copied) is logged
// and not used; the old one keeps serving and the next check tries again.
type Reloader struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[Set]

	mu    sync.Mutex // serialises checks; guards files
	files []loaded
	seed  maphash.Seed

	life    sync.Mutex // guards cancel, done
	cancel  context.CancelFunc
	done    chan struct{}
	stopped bool
}

var _ geo.Local = (*Reloader)(nil)

// loaded is what a check compares a file with.
type loaded struct {
	path string
	info os.FileInfo // nil: never loaded
	sum  uint64      // content hash, so a touched or re-copied identical file is no reload
	db   *DB
}

// NewReloader validates cfg and opens the files. It fails when one does not
// open: a configured database that is missing at start is a mistake to report,
// not to paper over (leave Paths empty to run without one).
func NewReloader(cfg Config, log *slog.Logger) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("local geo database config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{cfg: cfg, log: log, seed: maphash.MakeSeed()}
	r.files = make([]loaded, len(cfg.Paths))
	for i, p := range cfg.Paths {
		r.files[i].path = p
	}
	if _, err := r.check(); err != nil {
		return nil, err
	}
	if len(cfg.Paths) > 0 {
		log.Info("local geo database loaded", "database", r.Database())
	}
	return r, nil
}

// Lookup asks the current Set.
func (r *Reloader) Lookup(ip netip.Addr) (geo.Location, bool, error) {
	return r.cur.Load().Lookup(ip)
}

// Database names the current Set's files; "" when none are configured.
func (r *Reloader) Database() string { return r.cur.Load().Database() }

// Start checks the files every ReloadInterval until ctx ends or Close is
// called. Without files or with periodic checks off it starts nothing.
func (r *Reloader) Start(ctx context.Context) error {
	r.life.Lock()
	defer r.life.Unlock()
	if r.done != nil || r.stopped {
		return errors.New("local geo database reloader: already started or closed")
	}
	if len(r.cfg.Paths) == 0 || r.cfg.ReloadInterval == 0 {
		return nil
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.done = make(chan struct{})
	go r.loop(ctx, r.done)
	return nil
}

// Close stops the periodic checks and waits for a check in progress. The
// loaded databases keep answering, so lookups still in flight during shutdown
// get real answers. Close is safe without Start and more than once.
func (r *Reloader) Close() error {
	r.life.Lock()
	r.stopped = true
	cancel, done := r.cancel, r.done
	r.life.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (r *Reloader) loop(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Check()
		}
	}
}

// Check looks at the files now, as a periodic check does, reloading what
// changed; it logs the outcome and also returns it. reloaded is false when
// nothing changed or the new build was refused (err says why).
func (r *Reloader) Check() (reloaded bool, err error) {
	old := r.Database()
	reloaded, err = r.check()
	switch {
	case err != nil:
		r.log.Error("local geo database not reloaded; keeping the loaded one",
			"database", old, "err", err)
	case reloaded:
		r.log.Info("local geo database reloaded", "database", r.Database(), "previous", old)
	}
	return reloaded, err
}

func (r *Reloader) check() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make([]loaded, len(r.files))
	changed := r.cur.Load() == nil
	for i, f := range r.files {
		info, err := os.Stat(f.path)
		if err != nil {
			return false, fmt.Errorf("check geo database: %w", err)
		}
		if f.info != nil && os.SameFile(f.info, info) && f.info.Size() == info.Size() && f.info.ModTime().Equal(info.ModTime()) {
			next[i] = f
			continue
		}
		b, info, err := readSettled(f.path)
		if err != nil {
			return false, err
		}
		sum := maphash.Bytes(r.seed, b)
		if f.db != nil && sum == f.sum {
			next[i] = loaded{path: f.path, info: info, sum: sum, db: f.db}
			continue
		}
		db, err := openBytes(f.path, b)
		if err != nil {
			return false, fmt.Errorf("open geo database %s: %w", f.path, err)
		}
		next[i] = loaded{path: f.path, info: info, sum: sum, db: db}
		changed = true
	}
	// Stamps are stored only once every file passed, so a refused build is
	// tried again on the next check even if the file has not changed since.
	r.files = next
	if changed {
		dbs := make([]*DB, len(next))
		for i, f := range next {
			dbs[i] = f.db
		}
		r.cur.Store(NewSet(dbs...))
	}
	return changed && len(next) > 0, nil
}

// readSettled reads a whole file and refuses it when it changed while being
// read: an updater still writing it in place. Updaters that write a new file
// and rename it over the old one never trip this.
func readSettled(path string) ([]byte, os.FileInfo, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read geo database: %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read geo database: %w", err)
	}
	after, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read geo database: %w", err)
	}
	if !os.SameFile(before, after) || before.Size() != after.Size() || !before.ModTime().Equal(after.ModTime()) ||
		int64(len(b)) != after.Size() {
		return nil, nil, fmt.Errorf("read geo database %s: file changed while being read", path)
	}
	return b, after, nil
}
