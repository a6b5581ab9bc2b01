package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/buildcache"
	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// testers are a worker's open testers, one per clone and spec, kept
// between steps so that builds stay warm in their worktrees, as they do
// for a session on one machine.
type testers struct {
	dir     string
	note    func(format string, args ...any)
	started func(commit string, p run.Started)
	// shared is the shared tier of the build caches, nil for none.
	shared buildcache.Shared
	mu     sync.Mutex
	open   map[string]*openTester
}

type openTester struct {
	t     bisect.ParallelTester
	users int
	used  time.Time
}

func newTesters(dir string, note func(string, ...any), started func(string, run.Started)) *testers {
	return &testers{dir: dir, note: note, started: started, open: map[string]*openTester{}}
}

// specKey names what a tester measures: the clone and the spec, but for
// the session's name, which does not change a measurement.
func specKey(repo string, spec bisect.Spec) string {
	spec.Name = ""
	data, _ := json.Marshal(spec)
	sum := sha256.Sum256(append([]byte(repo+"\x00"), data...))
	return hex.EncodeToString(sum[:12])
}

// get returns the tester for spec in the clone at repo, opening it when
// needed; put gives it back.
func (ts *testers) get(ctx context.Context, repo string, spec bisect.Spec) (bisect.ParallelTester, string, error) {
	key := specKey(repo, spec)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ot := ts.open[key]
	if ot == nil {
		pool, err := worktree.Open(repo, worktree.Options{})
		if err != nil {
			return nil, "", err
		}
		t, err := bisect.NewLocalTester(ctx, pool, spec, bisect.LocalOptions{
			Baselines: &fileBaselines{path: filepath.Join(ts.dir, "baselines", key+".json")},
			Note:      func(msg string) { ts.note("%s", msg) },
			Started:   ts.started,
			// The tier is shared by every clone: keys name the inputs'
			// git object ids, the same in every clone of a repository.
			SharedBuildCache: ts.shared,
		})
		if err != nil {
			return nil, "", err
		}
		ot = &openTester{t: t}
		ts.open[key] = ot
	}
	ot.users++
	ot.used = time.Now()
	return ot.t, key, nil
}

func (ts *testers) put(key string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ot := ts.open[key]; ot != nil {
		ot.users--
		ot.used = time.Now()
	}
}

// discard closes the tester, whose worktree was lost, once nobody uses it.
func (ts *testers) discard(key string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ot := ts.open[key]; ot != nil && ot.users == 0 {
		_ = ot.t.Close()
		delete(ts.open, key)
	}
}

// closeIdle closes the testers unused for longer than idle, giving their
// worktrees back to the pools.
func (ts *testers) closeIdle(idle time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for key, ot := range ts.open {
		if ot.users == 0 && time.Since(ot.used) > idle {
			_ = ot.t.Close()
			delete(ts.open, key)
		}
	}
}

func (ts *testers) closeAll() { ts.closeIdle(-1) }

// fileBaselines keeps a tester's baselines in a file of the worker's, so
// that a worker measures a baseline once per good commit and spec, and
// keeps it across restarts.
type fileBaselines struct {
	path string
	mu   sync.Mutex
}

type keptBaseline struct {
	Predicate string              `json:"predicate"`
	Worktree  string              `json:"worktree"`
	Time      time.Time           `json:"time"`
	Baseline  *predicate.Baseline `json:"baseline"`
}

func (f *fileBaselines) read() map[string]keptBaseline {
	kept := map[string]keptBaseline{}
	if data, err := os.ReadFile(f.path); err == nil {
		// A damaged file only costs measuring again.
		_ = json.Unmarshal(data, &kept)
	}
	return kept
}

func (f *fileBaselines) Baseline(i int) *predicate.Baseline {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.read()[strconv.Itoa(i)].Baseline
}

func (f *fileBaselines) KeepBaseline(i int, name, wt string, b *predicate.Baseline) error {
	if b == nil {
		return errors.New("no baseline to keep")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.read()
	kept[strconv.Itoa(i)] = keptBaseline{Predicate: name, Worktree: wt, Time: time.Now().UTC(), Baseline: b}
	data, err := json.MarshalIndent(kept, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	return journal.WriteFileAtomic(f.path, append(data, '\n'), 0o644)
}
