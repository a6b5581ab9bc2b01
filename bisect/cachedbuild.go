package bisect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sxbisect/sxbisect/bisect/buildcache"
	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/run"
	"github.com/sxbisect/sxbisect/worktree"
)

// Metrics of a step whose build came from the build cache.
const (
	// buildCachedMetric is 1 when the build was not run because the build
	// cache held one with the same inputs (Report.BuildFrom names whose).
	buildCachedMetric = "build_cached"
	// buildSavedMetric is the wall time, in seconds, that the reused
	// build took when it ran.
	buildSavedMetric = "build_saved_s"
	// buildSharedMetric is 1 when the cached build came from the shared
	// tier of the build cache (another machine built it), with
	// buildCachedMetric.
	buildSharedMetric = "build_shared"
	// buildSharedDamagedMetric is 1 when the shared tier's copy of the
	// build was damaged: the build ran instead.
	buildSharedDamagedMetric = "build_shared_damaged"
)

// defaultBuildCacheSize is the build cache's limit unless
// Spec.BuildCacheSize says otherwise.
const defaultBuildCacheSize = 5 << 30

// buildCacheDir is the build cache's default directory: one per
// repository, beside the worktree pool, shared by all its sessions.
func buildCacheDir(commonDir string) string { return filepath.Join(StateDir(commonDir), "build-cache") }

// cacheSettings are the build cache as a Spec asks for it.
type cacheSettings struct {
	dir     string // "" for the default
	limit   int64
	inputs  []string // nil: the whole tree
	outputs []string
	env     []string // names
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// cacheSettings checks the spec's build cache flags; nil means no cache
// (no build, or --no-build-cache).
func (s Spec) cacheSettings() (*cacheSettings, error) {
	if s.Build == "" {
		if len(s.BuildInputs)+len(s.BuildOutputs)+len(s.BuildEnv) > 0 || s.BuildCache != "" || s.BuildCacheSize != "" {
			return nil, &UsageError{Msg: "--build-input, --build-output, --build-env, --build-cache and --build-cache-size describe the build: give it with --build CMD"}
		}
		return nil, nil
	}
	if s.NoBuildCache {
		return nil, nil
	}
	c := &cacheSettings{dir: s.BuildCache, limit: defaultBuildCacheSize}
	var err error
	if c.inputs, err = buildcache.InputPaths(s.BuildInputs); err != nil {
		return nil, &UsageError{Msg: "--build-input: " + err.Error()}
	}
	if c.outputs, err = buildcache.OutputPaths(s.BuildOutputs); err != nil {
		return nil, &UsageError{Msg: "--build-output: " + err.Error()}
	}
	for _, name := range s.BuildEnv {
		switch {
		case !envName.MatchString(name):
			return nil, &UsageError{Msg: fmt.Sprintf("--build-env %q is not a variable name: give the name alone, e.g. --build-env CC", name)}
		case strings.HasPrefix(name, "SXBISECT_"):
			return nil, &UsageError{Msg: fmt.Sprintf("--build-env %s: sxbisect's own variables are never in the build cache's key (SXBISECT_COMMIT differs at every commit); a build that depends on them needs --no-build-cache", name)}
		}
		c.env = append(c.env, name)
	}
	if s.BuildCacheSize != "" {
		if c.limit, err = predicate.ParseSize(s.BuildCacheSize); err != nil {
			return nil, &UsageError{Msg: "--build-cache-size: " + err.Error()}
		}
		if c.limit <= 0 {
			return nil, &UsageError{Msg: "--build-cache-size must be more than 0: to do without the cache, give --no-build-cache"}
		}
	}
	return c, nil
}

// CheckBuildCache checks the spec's build cache flags, for a command line
// that wants to refuse them before anything runs.
func CheckBuildCache(spec Spec) error {
	if _, err := spec.cacheSettings(); err != nil {
		return err
	}
	return spec.checkPreferCached()
}

// checkPreferCached refuses --prefer-cached where no cache could say which
// builds it holds, rather than ignore it (with --nats, remote.CheckSpec
// refuses it: the workers' caches are theirs).
func (s Spec) checkPreferCached() error {
	switch {
	case !s.PreferCached:
		return nil
	case s.Build == "" || s.NoBuildCache:
		return &UsageError{Msg: "--prefer-cached tests commits whose build is cached, and this session caches none: give --build CMD without --no-build-cache, or drop --prefer-cached"}
	}
	return nil
}

// buildCache is the build cache as the benches of one session or
// comparison share it.
type buildCache struct {
	cache buildcache.Cache
	set   *cacheSettings
	// say shows progress; note tells of a trouble that the result must
	// mention, once each.
	say, note func(string)
	mu        sync.Mutex
	told      map[string]bool
	// inputIDs holds the object ids of the build inputs by commit (see
	// inputsOf): a commit's never change, and --prefer-cached asks for
	// those of many commits at every step.
	inputIDs map[string][]string
}

// openBuildCache opens the build cache the spec asks for, or returns nil
// when there is none. A cache that cannot be opened is noted, and the
// session builds every commit: the cache only saves time. shared, when
// not nil, is a tier behind the local cache (see buildcache.Tiered).
func openBuildCache(pool *worktree.Pool, spec Spec, shared buildcache.Shared, say, note func(string)) *buildCache {
	set, err := spec.cacheSettings()
	if err != nil || set == nil {
		// A Spec that Start checked has no error here; compare's is
		// checked by its command line.
		return nil
	}
	dir := set.dir
	if dir == "" {
		dir = buildCacheDir(pool.CommonDir())
	}
	c := &buildCache{set: set, say: say, note: note, told: map[string]bool{}, inputIDs: map[string][]string{}}
	d, err := buildcache.Open(dir, set.limit)
	if err != nil {
		c.once("open", fmt.Sprintf("the build cache cannot be used (%s): every commit is built", text.OneLine(err.Error())))
		return nil
	}
	c.cache = d
	if shared != nil {
		c.cache = &buildcache.Tiered{Local: d, Shared: shared, Note: note}
	}
	if len(set.outputs) == 0 {
		c.tell("the build cache keeps only failed builds: give --build-output PATH (the files the test needs) to have builds reused")
	}
	return c
}

// once notes msg, the first time it is called with what.
func (c *buildCache) once(what, msg string) {
	c.mu.Lock()
	first := !c.told[what]
	c.told[what] = true
	c.mu.Unlock()
	if first && c.note != nil {
		c.note(msg)
	}
}

func (c *buildCache) tell(msg string) {
	if c.say != nil {
		c.say(msg)
	}
}

// inputsOf returns the object ids of the build inputs at each of commits
// (see worktree.ObjectIDs). Those not asked for before in this session are
// read in one git process, and remembered.
func (c *buildCache) inputsOf(ctx context.Context, wt *worktree.Worktree, commits []string) ([][]string, error) {
	ids := make([][]string, len(commits))
	var unknown []string
	c.mu.Lock()
	for i, commit := range commits {
		if ids[i] = c.inputIDs[commit]; ids[i] == nil && !slices.Contains(unknown, commit) {
			unknown = append(unknown, commit)
		}
	}
	c.mu.Unlock()
	if len(unknown) == 0 {
		return ids, nil
	}
	read, err := wt.ObjectIDs(ctx, unknown, c.set.inputs)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for i, commit := range unknown {
		c.inputIDs[commit] = read[i]
	}
	for i, commit := range commits {
		ids[i] = c.inputIDs[commit]
	}
	c.mu.Unlock()
	return ids, nil
}

// key is the build cache's key of a build whose inputs have the object
// ids ids (see inputsOf).
func (c *buildCache) key(command string, ids []string, noSubmodules bool) buildcache.Key {
	in := buildcache.Inputs{Command: command, NoSubmodules: noSubmodules}
	if len(c.set.inputs) == 0 {
		in.Trees = []buildcache.Tree{{Path: ".", ID: ids[0]}}
	}
	for i, p := range c.set.inputs {
		in.Trees = append(in.Trees, buildcache.Tree{Path: p, ID: ids[i]})
	}
	for _, name := range c.set.env {
		if v, ok := os.LookupEnv(name); ok {
			in.Env = append(in.Env, name+"="+v)
		} else {
			in.Env = append(in.Env, name)
		}
	}
	return in.Key()
}

// restorable reports whether fromCache would restore e's outputs rather
// than build: e is a successful build of the outputs declared now. An
// entry of other outputs is built over, so that the worktree holds what
// the test expects.
func (c *buildCache) restorable(e *buildcache.Entry) bool {
	return e != nil && !e.Failed && sameOutputs(e.Outputs, c.set.outputs)
}

// cacheKey is the key of commit's build, "" when there is no cache or the
// key cannot be had (noted once; the commit is then built).
func (b *Bench) cacheKey(ctx context.Context, commit string) buildcache.Key {
	if b.cache == nil {
		return ""
	}
	ids, err := b.cache.inputsOf(ctx, b.wt, []string{commit})
	if err != nil {
		b.keyFailed(ctx, commit, err)
		return ""
	}
	return b.cache.key(b.spec.Build, ids[0], b.subs.skipping())
}

// keyFailed notes, once, that the build inputs could not be read.
func (b *Bench) keyFailed(ctx context.Context, commit string, err error) {
	if ctx.Err() == nil {
		b.cache.once("key", fmt.Sprintf("the build cache could not read the build inputs of %s (%s): commits are built", text.ShortID(commit), text.OneLine(err.Error())))
	}
}

// fromCache takes commit's build from the cache, when it holds one with
// key: the outputs are restored into the worktree, or a failure is
// reported as it was. hit is false when the commit must be built; then
// rep may hold what the build's report must say of the cache (a damaged
// copy in the shared tier).
func (b *Bench) fromCache(ctx context.Context, key buildcache.Key, commit, logPath string) (rep Report, ok, hit bool) {
	if key == "" {
		return rep, false, false
	}
	c := b.cache
	e, err := c.cache.Lookup(ctx, key)
	var damaged *buildcache.SharedDamagedError
	if errors.As(err, &damaged) {
		msg := fmt.Sprintf("the build of %s: %s; building it", text.ShortID(commit), text.OneLine(damaged.Error()))
		c.tell(msg)
		rep.Metrics = map[string]float64{buildSharedDamagedMetric: 1}
		rep.BuildTail = msg + "\n"
		return rep, false, false
	}
	if err != nil {
		c.once("lookup", "the build cache cannot be read ("+text.OneLine(err.Error())+"): commits are built")
		return rep, false, false
	}
	// A failure is reported whatever the outputs were; a build is
	// restored only when it is one of the outputs declared now.
	if e == nil || (!e.Failed && !c.restorable(e)) {
		return rep, false, false
	}
	same := ""
	if e.Commit != commit {
		same = ", which has the same build inputs"
	}
	rep.BuildFrom = e.Commit
	rep.Metrics = map[string]float64{buildCachedMetric: 1, buildSavedMetric: e.Seconds}
	which := "the build cache"
	if e.Tier == buildcache.TierShared {
		rep.Metrics[buildSharedMetric] = 1
		which = "the shared build cache"
	}
	if e.Failed {
		rep.Reason = e.Reason + " (" + which + " keeps this failure from " + text.ShortID(e.Commit) + ")"
		forget := ""
		if d := localDir(c.cache); d != nil {
			forget = fmt.Sprintf(" (delete %s to build it again)", d.ManifestPath(key))
		}
		rep.BuildTail = fmt.Sprintf("build reused from %s%s: it failed, and %s keeps the failure%s\n%s", e.Commit, same, which, forget, e.Tail)
		writeBuildLog(logPath, rep.BuildTail)
		c.tell(fmt.Sprintf("%s: the build failed at %s%s (%s)", text.ShortID(commit), text.ShortID(e.Commit), same, which))
		return rep, false, true
	}
	started := time.Now()
	if err := c.cache.Restore(ctx, e, b.Dir()); err != nil {
		if ctx.Err() != nil {
			return Report{}, false, false
		}
		msg := fmt.Sprintf("the build of %s could not be restored from the build cache (%s): building it", text.ShortID(e.Commit), text.OneLine(err.Error()))
		if errors.Is(err, buildcache.ErrDamaged) {
			c.tell(msg)
		} else {
			c.once("restore", msg)
		}
		return Report{}, false, false
	}
	rep.Build = time.Since(started)
	rep.BuildTail = fmt.Sprintf("build reused from %s%s: its outputs (%d files, %d bytes) were restored from %s; it took %.1fs to build",
		e.Commit, same, len(e.Files), e.Bytes(), which, e.Seconds)
	writeBuildLog(logPath, rep.BuildTail)
	c.tell(fmt.Sprintf("%s: build reused from %s (%s)", text.ShortID(commit), text.ShortID(e.Commit), which))
	// The worktree now holds the build, as if it had run here.
	_ = b.wt.SetBuildStamp(worktree.BuildKey(commit, b.spec.Build))
	return rep, true, true
}

// localDir is the local directory of a build cache, nil when it has
// none.
func localDir(c buildcache.Cache) *buildcache.Dir {
	switch c := c.(type) {
	case *buildcache.Dir:
		return c
	case *buildcache.Tiered:
		return c.Local
	}
	return nil
}

// writeBuildLog writes the step's build log when the build did not run,
// so that it says why rather than missing. Lost, it costs nothing.
func writeBuildLog(path, content string) {
	if path != "" {
		_ = os.WriteFile(path, []byte(strings.TrimRight(content, "\n")+"\n"), 0o644)
	}
}

func sameOutputs(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// toCache keeps the outcome of a build that ran: a failure by its exit
// status, or the declared outputs of a success. A timeout, a signal, and
// the shell's 126 and 127 (a command that cannot be run or is not there)
// say something about the machine, not about the inputs, and are not kept.
func (b *Bench) toCache(ctx context.Context, key buildcache.Key, commit string, m run.Measurement, failure string) {
	if key == "" {
		return
	}
	c := b.cache
	build := buildcache.Build{Commit: commit, Seconds: m.Wall.Seconds(), Tail: m.Tail}
	switch {
	case failure != "" && (m.TimedOut || m.Signal != "" || m.ExitCode == 126 || m.ExitCode == 127):
		return
	case failure != "":
		build.Failed, build.Reason = true, failure
	case len(c.set.outputs) == 0:
		return
	default:
		build.Dir, build.Outputs = b.Dir(), c.set.outputs
	}
	_, err := c.cache.Store(ctx, key, build)
	var missing *buildcache.MissingOutputError
	switch {
	case err == nil || ctx.Err() != nil:
	case errors.As(err, &missing):
		c.once("missing "+missing.Path, fmt.Sprintf("--build-output %s: the build of %s made no such file, so it was not kept in the build cache; check --build-output", missing.Path, text.ShortID(commit)))
	default:
		c.once("store", "builds cannot be kept in the build cache ("+text.OneLine(err.Error())+")")
	}
}

// sameBuild tells whether the builds of commit and parent are known to be
// the same: their keys are equal, or the cache keeps both builds' outputs
// and they are byte for byte the same. how says which.
func (b *Bench) sameBuild(ctx context.Context, commit, parent string) (how string, same bool) {
	k1, k2 := b.cacheKey(ctx, commit), b.cacheKey(ctx, parent)
	if k1 == "" || k2 == "" {
		return "", false
	}
	if k1 == k2 {
		return "has the same build inputs", true
	}
	e1, err1 := b.cache.cache.Lookup(ctx, k1)
	e2, err2 := b.cache.cache.Lookup(ctx, k2)
	if err1 != nil || err2 != nil || e1 == nil || e2 == nil {
		return "", false
	}
	if d := e1.Digest(); d != "" && d == e2.Digest() {
		return "builds the same outputs, byte for byte,", true
	}
	return "", false
}

// buildComparer is a Tester that can tell whether two commits' builds are
// the same (see Bench.sameBuild).
type buildComparer interface {
	sameBuild(ctx context.Context, commit, parent string) (how string, same bool)
}

// flagUnchangedBuild marks a found session's end when the first bad
// commit's build is known to be the same as a parent's, which is good: a
// test that judged one build twice, differently, is flaky, or changed
// itself. The parents are all good, or the search would not have ended
// there.
func (s *session) flagUnchangedBuild(ctx context.Context, end *EndRecord) {
	cmp, ok := s.tester.(buildComparer)
	if !ok {
		return
	}
	info, err := s.repo.Info(hashOf(end.FirstBad))
	if err != nil {
		return
	}
	for _, p := range info.Parents {
		if how, same := cmp.sameBuild(ctx, end.FirstBad, p.String()); same {
			end.BuildUnchanged = true
			end.Message += fmt.Sprintf("\nNote: the build did not change: %s %s as its good parent %s, so the verdict may come from a flaky test or from the test itself changing",
				text.ShortID(end.FirstBad), how, text.ShortID(p.String()))
			return
		}
	}
}

// keyBatch is how many commits' build inputs firstCachedBuild reads in one
// git process: the whole tolerance band of a range of about 10,000
// commits (see preferCachedTolerance), with the output of git (the trees
// above the inputs, for each commit) kept to some megabytes.
const keyBatch = 1024

// firstCachedBuild returns the index of the first of commits whose build
// the cache holds, which a step there would restore instead of building
// (see restorable), or -1. It reads the build inputs of keyBatch commits
// at a time, in one git process, and stops at the first batch that has
// one.
func (b *Bench) firstCachedBuild(ctx context.Context, commits []string) int {
	if b.cache == nil {
		return -1
	}
	skipping := b.subs.skipping()
	for start := 0; start < len(commits); start += keyBatch {
		batch := commits[start:min(start+keyBatch, len(commits))]
		ids, err := b.cache.inputsOf(ctx, b.wt, batch)
		if err != nil {
			b.keyFailed(ctx, batch[0], err)
			return -1
		}
		for i := range batch {
			e, err := b.cache.cache.Lookup(ctx, b.cache.key(b.spec.Build, ids[i], skipping))
			if err == nil && b.cache.restorable(e) {
				return start + i
			}
		}
	}
	return -1
}

// firstCachedBuild is the main bench's.
func (t *worktreeTester) firstCachedBuild(ctx context.Context, commits []string) int {
	return t.main.firstCachedBuild(ctx, commits)
}

// preferCachedTolerance is how much worse than git's best split a commit
// with a cached build may split the range and still be tested instead:
// a twentieth of the range's size.
const preferCachedTolerance = 0.05

// cachedBuilds is a tester that can tell which builds the cache holds:
// the index of the first of commits whose build is cached, or -1.
type cachedBuilds interface {
	firstCachedBuild(ctx context.Context, commits []string) int
}

// preferCached, with --prefer-cached, replaces git's choice of a bisect
// step by a commit that splits the range almost as well and whose build
// is cached (see cachedChoice). The sequence of commits then differs from
// git's, and the result says so.
func (s *session) preferCached(ctx context.Context, act action) action {
	if !s.spec.PreferCached || act.kind != KindBisect || s.testsMergeBase() {
		return act
	}
	return s.cachedChoice(ctx, s.state(len(s.searchVerdicts())), act, nil, nil)
}

// cachedChoice is the step a session with --prefer-cached takes in state
// st, where git would take act: act itself when its commit's build is
// cached or it is under test already (busy), else a commit that splits st
// almost as well (within preferCachedTolerance of the best split) and is
// busy, or else whose build is cached; never one that taken holds. The
// step it returns names git's choice in instead when it is another. busy
// and taken may be nil.
func (s *session) cachedChoice(ctx context.Context, st search.State, act action, busy, taken func(string) bool) action {
	cached, ok := s.tester.(cachedBuilds)
	if !ok {
		return act
	}
	is := func(f func(string) bool, c string) bool { return f != nil && f(c) }
	if is(busy, act.commit) {
		return act
	}
	near, err := search.NearHalfway(s.graph, st, s.searchOptions(), preferCachedTolerance)
	if err != nil {
		return act
	}
	var others []string
	for _, h := range near {
		if c := h.String(); c != act.commit && !is(taken, c) {
			others = append(others, c)
		}
	}
	// git's choice when its build is cached, else one under test already,
	// else the first cached one; git's choice is asked with the others,
	// in one batch, unless one is under test.
	take := func(c string) action {
		act.instead, act.commit = act.commit, c
		return act
	}
	for _, c := range others {
		if is(busy, c) {
			if cached.firstCachedBuild(ctx, []string{act.commit}) == 0 {
				return act
			}
			return take(c)
		}
	}
	if i := cached.firstCachedBuild(ctx, append([]string{act.commit}, others...)); i > 0 {
		return take(others[i-1])
	}
	return act
}

// testsMergeBase reports whether the step git takes now tests a merge
// base of the good and bad ends: that test is no split of the range, and
// only that commit can answer it.
func (s *session) testsMergeBase() bool {
	return s.asked != nil && s.asked.mb.Kind == search.MergeBaseTest
}

// tellCachedInstead says, once, that a step tests a commit whose build is
// cached instead of git's choice.
func (s *session) tellCachedInstead(act action) {
	if act.instead == "" || s.toldCachedInstead {
		return
	}
	s.toldCachedInstead = true
	s.note(fmt.Sprintf("--prefer-cached: some steps test a commit whose build is cached instead of git's choice (%s for %s), so the commits tested differ from git's", text.ShortID(act.commit), text.ShortID(act.instead)))
}
