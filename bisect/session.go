package bisect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/sxbisect/sxbisect/bisect/journal"
	"github.com/sxbisect/sxbisect/bisect/repograph"
	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// Options say how a session runs, as opposed to what it tests (Spec).
type Options struct {
	// Progress receives events; nil means none.
	Progress Progress
	// NewTester replaces the scratch-worktree tester; prefer names the
	// worktree the session used last. Tests of the session use it.
	NewTester func(ctx context.Context, spec Spec, prefer string) (Tester, error)
	// Ask judges the commits of a session without a test
	// (Spec.Interactive): a person, at a terminal, once each commit is
	// checked out and built. Without it, such a session cannot run.
	Ask predicate.Predicate
	// CPUs are the cores the session's benches share out between
	// measured runs and builds (see "Cores of their own" in the package
	// documentation); nil means every core sxbisect may run on. Tests use
	// it to stand for machines of other sizes.
	CPUs []int
	// Parallel, when above 0, replaces the session's Spec.Parallel on
	// Resume, for this run only: a session started on a small machine
	// goes on with more benches on a larger one (or with one, to get
	// git's order back from here). The verdicts recorded so far hold
	// whatever K tested them, so the search goes on from them.
	Parallel int
}

// session is one bisection being driven.
type session struct {
	spec    Spec
	dir     string
	repo    *repograph.Repo
	graph   search.Graph
	journal *journal.Journal
	lock    *journal.Lock
	hist    *history
	tester  Tester
	// pool is the scratch worktrees' pool once opened (Start opens it
	// to check it before the session exists; nil until then on Resume).
	pool *worktree.Pool
	// shownIn is the worktree showFirstBad left the first bad commit in,
	// which the result names ("" before: the tester's own).
	shownIn  string
	opts     Options
	subjects map[string]string
	// search follows the bisection as git would (see searchRun).
	search *search.Run
	// flaky is the flake-aware search, once the session needs it.
	flaky *search.Flaky
	// flakyTold is set once the switch to the flake-aware search was told.
	flakyTold bool
	// toldCachedInstead is set once a step of --prefer-cached that is not
	// git's choice was told.
	toldCachedInstead bool
	// toldFlakyCached is set once it was told that --prefer-cached leaves
	// the flake-aware search's commits as they are.
	toldFlakyCached bool
	// steps counts the steps begun, across resumes, for log names and
	// progress.
	steps int
	// mu serialises journal appends: benches running at once journal the
	// process trees they start.
	mu sync.Mutex
	// notes are warnings that end up in the result's message;
	// mergeBaseNote is the one git gives once, when a merge base is skipped.
	notes         []string
	mergeBaseNote string
	asked         *askedAt
	// memo keeps the search's answers about the graph, which does not
	// change while the session runs.
	memo searchMemo
	// runNotes are what the tester said while running (a submodule that
	// could not be had, say); they belong in the result too.
	runNotes []string
}

// Files of a session directory.
const (
	journalFile = "journal.jsonl"
	lockFile    = "lock"
	resultFile  = "result.json"
	summaryFile = "summary.md"
	logsDir     = "logs"
)

// StateDir is where sxbisect keeps its state in a repository: sessions and
// the worktree pool live below it, inside the common git directory, never
// in the user's work tree.
func StateDir(commonDir string) string { return filepath.Join(commonDir, "sxbisect") }

// SessionDir is the directory of the named session.
func SessionDir(commonDir, name string) string {
	return filepath.Join(StateDir(commonDir), "sessions", name)
}

// Start begins a new session and runs it until it ends or stops. A
// finished session of the same name is replaced, and so is one that has
// recorded nothing yet (no verdict, no baseline: it stopped before its
// first test ended); another unfinished one is left alone and the error
// points to resume and reset.
func Start(ctx context.Context, spec Spec, opts Options) (*Result, error) {
	spec = spec.WithDefaults()
	spec.asker = opts.Ask
	if err := CheckName(spec.Name); err != nil {
		return nil, err
	}
	if err := spec.checkFindFix(); err != nil {
		return nil, err
	}
	if opts.NewTester == nil {
		if _, err := spec.predicates(); err != nil {
			return nil, err
		}
	}
	if err := CheckBuildCache(spec); err != nil {
		return nil, err
	}
	if spec.CoresPerRun < 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("--cores-per-run %d cannot be negative: give the cores each measured run has to itself, such as 2", spec.CoresPerRun)}
	}
	if spec.Bad == "" || len(spec.Good) == 0 {
		return nil, &UsageError{Msg: "give a good and a bad revision: sxbisect start [flags] <good> <bad>"}
	}
	repo, graph, err := openRange(&spec)
	if err != nil {
		return nil, err
	}
	pool, err := checkPool(spec)
	if err != nil {
		return nil, err
	}
	ensureCommitGraph(ctx, repo, spec, opts)

	dir := SessionDir(repo.CommonDir(), spec.Name)
	lock, err := lockSession(dir, spec.Name)
	if err != nil {
		return nil, err
	}
	s := &session{spec: spec, dir: dir, repo: repo, graph: graph, lock: lock, opts: opts, pool: pool}
	defer s.close()
	if h, err := readHistory(dir); err != nil {
		return nil, damaged(spec.Name, err)
	} else if h != nil && h.end == nil && (len(h.verdicts) > 0 || len(h.baselines) > 0) {
		return nil, &UsageError{Msg: fmt.Sprintf("session %q is unfinished (%d steps done): continue it with 'sxbisect resume --name %s', or discard it with 'sxbisect reset --name %s'", spec.Name, len(h.verdicts), spec.Name, spec.Name)}
	}
	if err := clearSession(dir); err != nil {
		return nil, err
	}
	j, entries, err := journal.Open(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, err
	}
	s.journal = j
	if len(entries) != 0 {
		return nil, fmt.Errorf("session %q: journal not empty after clearing", spec.Name)
	}
	start := StartRecord{Type: RecStart, Time: now(), Version: JournalVersion, Spec: spec}
	if err := s.append(start); err != nil {
		return nil, err
	}
	s.hist = &history{start: start}
	return s.run(ctx)
}

// Resume continues an unfinished session where it stopped. Commits with a
// recorded verdict are not tested again; the step that was in flight is.
func Resume(ctx context.Context, repoPath, name string, opts Options) (*Result, error) {
	repo, dir, name, err := locate(repoPath, name)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, journalFile)); err != nil {
		return nil, noSession(name)
	}
	lock, err := lockSession(dir, name)
	if err != nil {
		return nil, err
	}
	s := &session{dir: dir, repo: repo, lock: lock, opts: opts}
	defer s.close()
	j, entries, err := journal.Open(filepath.Join(dir, journalFile))
	if err != nil {
		var damagedErr *journal.DamagedError
		if errors.As(err, &damagedErr) {
			return nil, damaged(name, err)
		}
		return nil, err
	}
	s.journal = j
	h, err := decodeHistory(j.Path(), entries)
	if err != nil {
		return nil, damaged(name, err)
	}
	s.hist, s.spec = h, h.start.Spec
	s.spec.asker = opts.Ask
	if opts.Parallel > 0 {
		s.spec.Parallel = opts.Parallel
	}
	if h.end != nil {
		res := s.result(h.end.Outcome, h.end.FirstBad, h.end.Candidates, h.end.Message)
		if _, err := os.Stat(filepath.Join(dir, summaryFile)); errors.Is(err, os.ErrNotExist) {
			// A full disk kept the session from writing them when it ended.
			return res, s.writeResult(res)
		}
		return res, nil
	}
	if s.graph, err = searchGraph(repo, s.spec.Paths); err != nil {
		return nil, err
	}
	s.killLeftovers()
	return s.run(ctx)
}

// locate finds the named session ("default" when empty) of the repository
// at repoPath: the repository and the session's directory, which may not
// exist yet.
func locate(repoPath, name string) (*repograph.Repo, string, string, error) {
	if name == "" {
		name = "default"
	}
	if err := CheckName(name); err != nil {
		return nil, "", "", err
	}
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, "", "", err
	}
	return repo, SessionDir(repo.CommonDir(), name), name, nil
}

// readHistory reads and decodes the journal of the session in dir: nil
// when there is none (or it has no record yet), the history before the
// damage with the error when it is damaged.
func readHistory(dir string) (*history, error) {
	path := filepath.Join(dir, journalFile)
	entries, err := journal.Read(path)
	var damagedErr *journal.DamagedError
	if err != nil && !errors.As(err, &damagedErr) {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, err
	}
	h, herr := decodeHistory(path, entries)
	if herr != nil {
		return h, herr
	}
	return h, err
}

// damaged is the error for a journal that cannot be read, with the way
// out; a journal of a newer sxbisect is no damage, and needs no reset.
func damaged(name string, err error) error {
	var damagedErr *journal.DamagedError
	if !errors.As(err, &damagedErr) {
		return &UsageError{Msg: fmt.Sprintf("session %q: %v", name, err)}
	}
	return &UsageError{Msg: fmt.Sprintf("session %q: %s", name, damageAndWayOut(name, damagedErr)), Err: err}
}

// damageAndWayOut says where a session's journal is damaged and how to
// discard the session.
func damageAndWayOut(name string, err *journal.DamagedError) string {
	return fmt.Sprintf("%s: discard the session with 'sxbisect reset --name %s'", text.OneLine(err.Error()), name)
}

// noSession is the error for a name that has no session.
func noSession(name string) error {
	return &UsageError{Msg: fmt.Sprintf("there is no session %q in this repository: start one with 'sxbisect start' ('sxbisect status --all' lists them)", name)}
}

func openRepo(path string) (*repograph.Repo, error) {
	if path == "" {
		path = "."
	}
	repo, err := repograph.Open(path)
	switch {
	case errors.Is(err, repograph.ErrNotRepository) || errors.Is(err, repograph.ErrUnsupportedObjectFormat):
		return nil, &UsageError{Msg: err.Error()}
	case err != nil:
		// Reading the repository failed (permissions, I/O): not the
		// user's usage.
		return nil, fmt.Errorf("opening the repository %s: %w", path, err)
	}
	return repo, nil
}

func absOr(path string) string {
	if path == "" {
		path = "."
	}
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// resolveEnds turns the revisions the user gave into commits.
func resolveEnds(repo *repograph.Repo, spec *Spec) error {
	bad, err := repo.Resolve(spec.Bad)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	spec.BadCommit = bad.String()
	spec.GoodCommits = spec.GoodCommits[:0]
	for _, g := range spec.Good {
		h, err := repo.Resolve(g)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		if h == bad {
			return &UsageError{Msg: fmt.Sprintf("good %s and bad %s are the same commit %s: give a good commit from before the regression", g, spec.Bad, text.ShortID(h.String()))}
		}
		spec.GoodCommits = append(spec.GoodCommits, h.String())
	}
	return nil
}

// checkEnds refuses ranges that cannot be bisected. It looks only at the
// commits between the ends (search.ReachesCheaply), not at the whole
// history below the good ones: where clock skew hides that bad is an
// ancestor of good from a history without generation numbers, the
// search's merge-base check stops the session instead, as git does.
func checkEnds(g search.Graph, spec Spec) error {
	bad := search.Hash(hashOf(spec.BadCommit))
	for i, gc := range spec.GoodCommits {
		good := hashOf(gc)
		ok, err := search.ReachesCheaply(g, good, bad)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		if ok {
			return &UsageError{Msg: fmt.Sprintf("bad %s is an ancestor of good %s, so nothing between them can have regressed: sxbisect start takes <good> <bad>, in that order", spec.Bad, spec.Good[i])}
		}
	}
	return nil
}

// checkPool refuses, before anything is written, a pool directory that
// cannot be one (the root, the checkout, a directory of other files, a
// symlink), which the first step would otherwise find only after the
// session was made; the pool it opened is the session's.
func checkPool(spec Spec) (*worktree.Pool, error) {
	pool, err := worktree.Open(spec.Repo, worktree.Options{Dir: spec.PoolDir})
	var placement *worktree.PlacementError
	switch {
	case err == nil:
		return pool, nil
	case !errors.As(err, &placement):
		return nil, err
	case spec.PoolDir == "" || (placement.Link != "" && placement.Link != placement.Dir):
		return nil, &UsageError{Msg: err.Error()}
	case placement.Link != "":
		target, _ := filepath.EvalSymlinks(placement.Link)
		return nil, &UsageError{Msg: fmt.Sprintf("--pool %s is a symlink, which sxbisect does not follow: give the directory itself (--pool %s)", spec.PoolDir, target)}
	}
	return nil, &UsageError{Msg: fmt.Sprintf("--pool %s: %v: give a new or empty directory outside the repository's checkouts and git directory, or leave --pool out", spec.PoolDir, err)}
}

// searchGraph is the repository's history as git bisect sees it. In a
// shallow clone, git takes the commits of the shallow file for roots, as
// their parents were not fetched (the file acts as grafts); the search,
// whose walks are git's, sees them so too, and does not stop at parents
// it was never going to need (see checkShallowRange for the range that
// does need them).
func searchGraph(repo *repograph.Repo, paths []string) (search.Graph, error) {
	g, err := repo.Graph(paths)
	if err != nil {
		return nil, err
	}
	if !repo.IsShallow() {
		return g, nil
	}
	return shallowHistory{Graph: g, repo: repo}, nil
}

// shallowHistory is a shallow clone's graph with its boundary commits
// as roots. Embedding keeps the graph's PathKey, which the search asks
// for with paths.
type shallowHistory struct {
	*repograph.Graph
	repo *repograph.Repo
}

func (g shallowHistory) Node(h search.Hash) (search.Node, error) {
	n, err := g.Graph.Node(h)
	if err == nil && g.repo.IsShallowBoundary(h) {
		n.Parents = nil
	}
	return n, err
}

// checkShallowRange refuses a range that reaches a shallow clone's
// boundary: a boundary commit that is not below a good commit is in the
// range, and the first bad commit may be among its parents, which were
// not fetched. git, taking it for a root, would bisect such a range and
// could blame the boundary commit; a range that stays above the boundary
// (the good commits between it and the bad one) is bisected as git does.
func checkShallowRange(repo *repograph.Repo, g search.Graph, spec Spec) error {
	below := map[search.Hash]bool{}
	var goods []search.Hash
	for _, gc := range spec.GoodCommits {
		goods = append(goods, hashOf(gc))
	}
	if err := walkAncestors(g, goods, func(h search.Hash) bool { below[h] = true; return true }); err != nil {
		return err
	}
	var cut search.Hash
	err := walkAncestors(g, []search.Hash{hashOf(spec.BadCommit)}, func(h search.Hash) bool {
		if below[h] || !cut.IsZero() {
			return false
		}
		if repo.IsShallowBoundary(h) {
			cut = h
			return false
		}
		return true
	})
	if err != nil || cut.IsZero() {
		return err
	}
	return &UsageError{Msg: fmt.Sprintf("this shallow clone lacks history that the range from %s to %s needs (the parents of %s, which the range reaches, were not fetched): deepen it with 'git fetch --unshallow' (or 'git fetch --deepen=N'), then start again",
		shortList(spec.GoodCommits), text.ShortID(spec.BadCommit), text.ShortID(cut.String()))}
}

// walkAncestors visits from and their ancestors once each, going on past
// a commit only while visit returns true.
func walkAncestors(g search.Graph, from []search.Hash, visit func(search.Hash) bool) error {
	seen := map[search.Hash]bool{}
	stack := append([]search.Hash(nil), from...)
	for len(stack) > 0 {
		h := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[h] {
			continue
		}
		seen[h] = true
		if !visit(h) {
			continue
		}
		n, err := g.Node(h)
		if err != nil {
			return err
		}
		stack = append(stack, n.Parents...)
	}
	return nil
}

func lockSession(dir, name string) (*journal.Lock, error) {
	lock, err := journal.TryLock(filepath.Join(dir, lockFile))
	var held *journal.HeldError
	if errors.As(err, &held) {
		return nil, &UsageError{Msg: fmt.Sprintf("session %q is already running (%s): wait for it, or stop that process and run 'sxbisect resume --name %s'", name, held.Holder, name)}
	}
	return lock, err
}

// clearSession removes a finished session's files, keeping the lock we hold.
func clearSession(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == lockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) close() {
	if s.tester != nil {
		_ = s.tester.Close()
	}
	if s.journal != nil {
		_ = s.journal.Close()
	}
	_ = s.lock.Unlock()
}

func (s *session) append(rec any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.journal.Append(rec); err != nil {
		return s.writeFailed(err)
	}
	return nil
}

func (s *session) event(e Event) {
	if s.opts.Progress == nil {
		return
	}
	e.Session = s.spec.Name
	e.Terms = s.spec.Terms()
	s.opts.Progress.Event(e)
}

// action is what the session does next: test a commit, or end.
type action struct {
	commit string
	kind   StepKind
	// remaining and stepsLeft are the search's counts, for progress (for
	// the flake-aware search, the candidates and the runs left in its
	// budget); stepsLeft counts the confirmation runs to come too.
	remaining, stepsLeft int
	// confirmRun is the number of this confirmation run (from 1) and
	// confirmRuns the number of them in all; 0 for other steps.
	confirmRun, confirmRuns int
	end                     *EndRecord
	// abort stops the session without ending it, with this message.
	abort string
	// instead is git's choice when commit is tested in its place: a
	// probe running already that splits almost as well (see standIn), or
	// with --prefer-cached one whose build is cached (see cachedChoice);
	// "" otherwise.
	instead string
}

// run tests commits until the session ends or stops: one at a time, or
// with Spec.Parallel benches at once (see runParallel).
func (s *session) run(ctx context.Context) (*Result, error) {
	s.steps = len(s.hist.verdicts)
	if s.spec.benches() > 1 {
		return s.runParallel(ctx)
	}
	lost := 0
	for {
		act, err := s.decide()
		if err != nil {
			return nil, err
		}
		if act.end != nil {
			return s.end(ctx, act.end)
		}
		if act.abort != "" {
			return s.stop(Aborted, act.commit, act.abort)
		}
		if err := ctx.Err(); err != nil {
			return s.stop(Interrupted, act.commit, "interrupted before testing "+text.ShortID(act.commit))
		}
		if err := s.ensureTester(ctx); err != nil {
			return s.failed(ctx, act, err, lost)
		}
		act = s.preferCached(ctx, act)
		if err := s.step(ctx, act); err != nil {
			if retry := s.lostWorktree(ctx, act, err, &lost); retry {
				s.dropTester()
				continue
			}
			return s.failed(ctx, act, err, lost)
		}
	}
}

// end records the session's end and its result.
func (s *session) end(ctx context.Context, end *EndRecord) (*Result, error) {
	if end.Outcome == Found {
		s.showFirstBad(ctx, end)
		s.flagUnchangedBuild(ctx, end)
	}
	end.Type, end.Time = RecEnd, now()
	if err := s.append(*end); err != nil {
		return nil, err
	}
	s.hist.end = end
	res := s.result(end.Outcome, end.FirstBad, end.Candidates, end.Message)
	return res, s.writeResult(res)
}

// lostWorktree reports whether err says that the step's worktree was lost
// under its test, and the step is to be done again in a new one: no
// verdict comes from a worktree that vanished or moved. lost counts the
// times in this run.
func (s *session) lostWorktree(ctx context.Context, act action, err error, lost *int) bool {
	var lostErr *worktree.LostError
	if !errors.As(err, &lostErr) || ctx.Err() != nil || *lost >= maxLostWorktrees {
		return false
	}
	*lost++
	s.note(fmt.Sprintf("%v; the step at %s was not counted and is done again", lostErr, text.ShortID(act.commit)))
	return true
}

// failed stops the session after a step that gave no verdict, saying why
// in the terms the user can act on.
func (s *session) failed(ctx context.Context, act action, err error, lost int) (*Result, error) {
	var abort *predicate.AbortError
	var lostErr *worktree.LostError
	switch {
	case errors.As(err, &lostErr) && ctx.Err() == nil:
		return s.stop(Aborted, act.commit, fmt.Sprintf("aborted at %s: %v, %d times in one run; something removes sxbisect's worktrees (see 'git worktree list'): stop it, then 'sxbisect resume --name %s'", text.ShortID(act.commit), lostErr, lost+1, s.spec.Name))
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return s.stop(Interrupted, act.commit, fmt.Sprintf("interrupted while testing %s; 'sxbisect resume --name %s' tests it again", text.ShortID(act.commit), s.spec.Name))
	case errors.As(err, &abort) && abort.Crash:
		return s.stop(Aborted, act.commit, fmt.Sprintf("aborted at %s: %s; to go on, 'sxbisect mark bad' (or skip) that commit and 'sxbisect resume --name %s', or start again with --on-crash=bad|skip",
			text.ShortID(act.commit), abort.Reason, s.spec.Name))
	case errors.As(err, &abort):
		return s.stop(Aborted, act.commit, fmt.Sprintf("aborted at %s: %s", text.ShortID(act.commit), abort.Reason))
	case isJournalError(err):
		return nil, err
	default:
		return s.stop(Aborted, act.commit, fmt.Sprintf("aborted at %s: %v", text.ShortID(act.commit), err))
	}
}

// maxLostWorktrees is how many times one run of a session takes a new
// worktree after one was lost under a test, before it stops.
const maxLostWorktrees = 3

// dropTester gives up the session's tester, whose worktree can no longer
// be trusted; the next step takes a new one.
func (s *session) dropTester() {
	if s.tester != nil {
		_ = s.tester.Close()
		s.tester = nil
	}
}

// ensureTester takes the session's tester if it has none: the scratch
// worktrees, preferring the one the session used last.
func (s *session) ensureTester(ctx context.Context) error {
	if s.tester != nil {
		return nil
	}
	prefer := ""
	for _, v := range s.hist.verdicts {
		prefer = v.Worktree
	}
	newTester := s.newWorktreeTester
	if s.opts.NewTester != nil {
		newTester = func(ctx context.Context, prefer string) (Tester, error) {
			return s.opts.NewTester(ctx, s.spec, prefer)
		}
	}
	t, err := newTester(ctx, prefer)
	if err != nil {
		return err
	}
	s.tester = t
	return nil
}

// shower is a Tester that can leave a commit checked out and built for
// people to look at.
type shower interface {
	Show(ctx context.Context, commit, buildLog string) (string, error)
}

// showFirstBad leaves the first bad commit checked out, and built with
// --build, in the worktree the result names, rather than whatever commit
// was tested last; the end's message says where, or why not.
func (s *session) showFirstBad(ctx context.Context, end *EndRecord) {
	if err := s.ensureTester(ctx); err != nil {
		end.Message += fmt.Sprintf(s.words("\nNote: no worktree was left at the first bad commit: %s"), text.OneLine(err.Error()))
		return
	}
	sh, ok := s.tester.(shower)
	if !ok {
		return
	}
	log := filepath.Join(s.dir, logsDir, "first-bad-build.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return
	}
	dir, err := sh.Show(ctx, end.FirstBad, log)
	if err != nil {
		end.Message += fmt.Sprintf(s.words("\nNote: the worktree %s holds the first bad commit, but it could not be prepared there: %s"), dir, text.OneLine(err.Error()))
		return
	}
	what := "checked out"
	if s.spec.Build != "" {
		what = "checked out and built"
	}
	s.shownIn = dir
	end.Message += fmt.Sprintf(s.words("\nThe first bad commit is %s in %s."), what, dir)
}

type journalError struct{ error }

func (e journalError) Unwrap() error { return e.error }

func isJournalError(err error) bool {
	var je journalError
	return errors.As(err, &je)
}

// step tests one commit and records its verdict.
func (s *session) step(ctx context.Context, act action) error {
	if err := s.ensureTester(ctx); err != nil {
		return err
	}
	fl, err := s.begin(ctx, act, s.tester.Worktree())
	if err != nil || fl == nil {
		return err
	}
	rep, err := testStep(s.withPhases(ctx, fl), s.tester, 0, fl)
	if err != nil {
		return err
	}
	return s.finishStep(fl, rep)
}

// withPhases is ctx for testing fl's commit: the bench's phases and the
// test's runs are told to progress as events of fl's step.
func (s *session) withPhases(ctx context.Context, fl *flight) context.Context {
	return withPhaseHook(ctx, func(p Phase, r predicate.RunInfo) {
		e := fl.ev
		e.Type, e.Phase, e.Run, e.Runs, e.RunsMax = EventPhase, p, r.N, r.Of, r.Max
		s.event(e)
	})
}

// flight is a step under way: journaled as started, not yet judged.
type flight struct {
	act     action
	rec     StepRecord
	ref     StepRef
	logs    LogPaths
	ev      Event
	started time.Time
	// reverts is the first bad commit that act.commit reverts, for a
	// --validate step.
	reverts string
}

// begin journals that a step starts in the worktree wt and tells
// progress; nil when there is nothing to test (a revert that did not
// apply is journaled as the step's verdict).
func (s *session) begin(ctx context.Context, act action, wt string) (*flight, error) {
	fl := &flight{}
	if act.kind == KindValidate {
		// The commit tested is the first bad one's revert on the bad end.
		revert, ok, err := s.revertFor(ctx, act.commit)
		if err != nil || !ok {
			return nil, err
		}
		fl.reverts, act.commit = act.commit, revert
	}
	s.tellCachedInstead(act)
	fl.act, fl.started = act, now()
	fl.ref = s.stepRef(act.commit, act.kind)
	fl.rec = StepRecord{Type: RecStep, Time: fl.started, Commit: act.commit, Kind: act.kind, Worktree: worktreeName(wt), ID: fl.ref.ID}
	if err := s.append(fl.rec); err != nil {
		return nil, journalError{err}
	}
	s.hist.stepRecorded(fl.rec)
	s.steps++
	n := s.steps
	fl.ev = Event{Type: EventTest, Step: n, StepsEstimate: n + act.stepsLeft, Remaining: act.remaining,
		Commit: act.commit, Subject: s.subject(act.commit), Kind: act.kind,
		Elapsed: secs(s.hist.elapsed()), ETA: s.eta(act.stepsLeft + 1)}
	if act.kind == KindVerify {
		// The search has not started: there is no estimate yet.
		fl.ev.StepsEstimate, fl.ev.ETA = 0, 0
	}
	fl.ev.Confirmation, fl.ev.Confirmations = act.confirmRun, act.confirmRuns
	s.event(fl.ev)
	fl.logs = LogPaths{
		Build: filepath.Join(s.dir, logsDir, fmt.Sprintf("%03d-%s-build.log", n, text.ShortID(act.commit))),
		Test:  filepath.Join(s.dir, logsDir, fmt.Sprintf("%03d-%s-test.log", n, text.ShortID(act.commit))),
	}
	if err := os.MkdirAll(filepath.Dir(fl.logs.Build), 0o755); err != nil {
		return nil, s.writeFailed(err)
	}
	return fl, nil
}

// finishStep journals a step's verdict, once its files could be written:
// a verdict from a full disk is no verdict (see checkRoom).
func (s *session) finishStep(fl *flight, rep Report) error {
	act := fl.act
	if err := s.checkRoom(act.commit); err != nil {
		return err
	}
	if s.hist.judged(fl.ref.ID) {
		// Its result came twice (a step run again elsewhere while the
		// first run's result was on its way): the first one counts.
		return nil
	}
	rep.Verdict, rep.Reason = s.spec.oriented(rep.Verdict), s.spec.orientedReason(rep.Verdict, rep.Reason)
	v := VerdictRecord{
		Type: RecVerdict, Time: now(), Commit: act.commit, Kind: act.kind, Reverts: fl.reverts,
		Verdict: rep.Verdict, Reason: rep.Reason,
		Duration: time.Since(fl.started).Seconds(), Build: rep.Build.Seconds(), Test: rep.Test.Seconds(),
		Worktree: fl.rec.Worktree, BuildTail: rep.BuildTail, OutputTail: rep.OutputTail, BuildFrom: rep.BuildFrom, Metrics: rep.Metrics,
		CPUs: rep.CPUs, Samples: rep.Samples, BaselineSamples: rep.BaselineSamples, ID: fl.ref.ID, Worker: rep.Worker,
	}
	switch rep.Verdict {
	case predicate.Good, predicate.Bad, predicate.Skip:
	default:
		return &predicate.AbortError{Reason: fmt.Sprintf("the test gave no verdict (%q)", rep.Verdict)}
	}
	if err := s.append(v); err != nil {
		return journalError{err}
	}
	s.hist.verdictRecorded(v)
	ev := fl.ev
	ev.Type, ev.Verdict, ev.Reason, ev.Elapsed = EventVerdict, v.Verdict, v.Reason, secs(s.hist.elapsed())
	s.event(ev)
	return nil
}

func (s *session) newWorktreeTester(ctx context.Context, prefer string) (Tester, error) {
	if s.pool == nil {
		pool, err := worktree.Open(s.spec.Repo, worktree.Options{Dir: s.spec.PoolDir})
		if err != nil {
			return nil, err
		}
		s.pool = pool
	}
	t, err := newWorktreeTester(ctx, s.pool, prefer, s.spec, s, s.opts.CPUs)
	if err != nil {
		// Not t: a nil *worktreeTester in a Tester is not a nil Tester.
		return nil, err
	}
	return t, nil
}

// The session is the tester's baselineBook: baselines live in the journal.

func (s *session) recorded(i int) *predicate.Baseline {
	for _, b := range s.hist.baselines {
		if b.Index == i {
			return b.Baseline
		}
	}
	return nil
}

func (s *session) record(i int, name, wt string, b *predicate.Baseline) error {
	rec := BaselineRecord{Type: RecBaseline, Time: now(), Index: i, Predicate: name, Worktree: wt, Baseline: b}
	if err := s.append(rec); err != nil {
		return err
	}
	s.hist.baselines = append(s.hist.baselines, rec)
	return nil
}

func (s *session) preferredBaselineWorktree() string {
	for _, b := range s.hist.baselines {
		return b.Worktree
	}
	return ""
}

// started journals a process tree as it starts. A record that cannot be
// written costs only the chance to kill the tree after a kill -9; the
// step's verdict, which must be written, will stop the session then.
func (s *session) started(commit string, p run.Started) {
	// Written for a kill -9 of this process, which the kernel's copy
	// survives; after a reboot nothing is left to kill. Each run of a
	// step writes one or two, and an fsync each would be on every step.
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.journal.AppendUnsynced(ProcessRecord{Type: RecProcess, Time: now(), Commit: commit, Process: p})
}

// killLeftovers kills what a run that died without a word (kill -9, a
// crash) left running of its builds and tests, before their worktrees
// are used again: a test left running goes on past its own timeout, and
// beside the same test started again it would corrupt both.
func (s *session) killLeftovers() {
	killed, errs := killRunning(s.hist.running)
	for _, err := range errs {
		s.note(err.Error())
	}
	if killed > 0 {
		s.say(fmt.Sprintf("killed %d processes left running by the run that died", killed))
	}
	s.hist.running = nil
}

func (s *session) say(msg string) { s.event(Event{Type: EventNote, Message: msg}) }

func (s *session) note(msg string) {
	s.runNotes = append(s.runNotes, msg)
	s.event(Event{Type: EventNote, Message: msg})
}

// stop records that the session stopped without ending, and returns its
// result so far.
func (s *session) stop(outcome Outcome, commit, msg string) (*Result, error) {
	rec := StopRecord{Type: RecStop, Time: now(), Outcome: outcome, Commit: commit, Message: msg}
	if err := s.append(rec); err != nil {
		return nil, err
	}
	s.hist.stop = &rec
	res := s.result(outcome, "", nil, msg)
	return res, s.writeResult(res)
}

// eta estimates the time for n more of git's steps from the mean step so
// far. K benches at once go about log2(K+1) of them per round of steps
// (see runParallel), so the time is that of the rounds.
func (s *session) eta(n int) time.Duration {
	if len(s.hist.verdicts) == 0 {
		return 0
	}
	rounds := float64(n)
	if k := s.spec.benches(); k > 1 && !s.spec.BuildAhead {
		rounds = math.Ceil(float64(n) / math.Log2(float64(k+1)))
	}
	return secs(s.hist.stepTime / float64(len(s.hist.verdicts)) * rounds)
}

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func now() time.Time { return time.Now().UTC() }

// hashOf reads a full object id as the journal keeps it.
func hashOf(s string) search.Hash { return plumbing.NewHash(s) }

func (s *session) subject(commit string) string {
	if sub, ok := s.subjects[commit]; ok {
		return sub
	}
	if s.subjects == nil {
		s.subjects = map[string]string{}
	}
	info, err := s.repo.Info(hashOf(commit))
	if err != nil {
		return ""
	}
	s.subjects[commit] = info.Subject
	return info.Subject
}

// writeResult records the result as JSON and as a Markdown summary.
func (s *session) writeResult(res *Result) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := journal.WriteFileAtomic(filepath.Join(s.dir, resultFile), append(data, '\n'), 0o644); err != nil {
		return s.writeFailed(err)
	}
	if err := journal.WriteFileAtomic(filepath.Join(s.dir, summaryFile), []byte(res.Markdown()), 0o644); err != nil {
		return s.writeFailed(err)
	}
	return nil
}

// result assembles a Result from the history.
func (s *session) result(outcome Outcome, firstBad string, candidates []string, msg string) *Result {
	if notes := append(append([]string(nil), s.notes...), s.runNotes...); len(notes) > 0 {
		msg += "\nNote: " + strings.Join(notes, "\nNote: ")
	}
	res := &Result{
		Terms: s.spec.Terms(), Schema: JSONSchema, Session: s.spec.Name, Outcome: outcome, Candidates: candidates, Message: msg,
		Good: s.spec.GoodCommits, Bad: s.spec.BadCommit,
		Steps: s.hist.steps(s.subject), Elapsed: s.hist.elapsed(), Dir: s.dir,
	}
	if res.Candidates == nil {
		res.Candidates = []string{}
	}
	switch {
	case s.shownIn != "":
		res.Worktree = s.shownIn
	case s.tester != nil:
		res.Worktree = s.tester.Worktree()
	}
	if firstBad != "" {
		res.FirstBad = &firstBad
		res.FirstBadCommit = s.describe(firstBad)
	}
	if e := s.hist.end; e != nil {
		res.Confirmed, res.Beliefs, res.Validated = e.Confirmed, e.Beliefs, e.Validated
		res.BuildUnchanged = e.BuildUnchanged
	}
	return res
}

// describe summarises the first bad commit and its parents.
func (s *session) describe(commit string) *CommitSummary {
	info, err := s.repo.Info(hashOf(commit))
	if err != nil {
		return &CommitSummary{Commit: commit}
	}
	tested := map[string]string{}
	for _, v := range s.hist.verdicts {
		tested[v.Commit] = string(v.Verdict)
	}
	for _, g := range s.spec.GoodCommits {
		if _, ok := tested[g]; !ok {
			tested[g] = "good (given)"
		}
	}
	cs := &CommitSummary{Commit: commit, Subject: info.Subject, Author: info.Author, Date: info.AuthorDate}
	for _, p := range info.Parents {
		ps := ParentSummary{Commit: p.String(), Subject: s.subject(p.String()), Verdict: tested[p.String()]}
		cs.Parents = append(cs.Parents, ps)
	}
	return cs
}
