package search

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The differential test builds random histories as real repositories,
// bisects them with `git bisect run`, and checks that the search tests the
// same commits in the same order and ends with the same answer.
//
// SXBISECT_DIFF_GRAPHS=N compares N graphs instead of the default 40, and
// SXBISECT_DIFF_SEED=S starts from another seed.

const defaultDiffGraphs = 40

// Exit codes of the test script, as git bisect run reads them.
const (
	exitGood = 0
	exitBad  = 1
	exitSkip = 125
)

// diffCase is one random bisection.
type diffCase struct {
	commits     []gitfixture.Commit
	bad         int
	goods       []int
	verdicts    []int // exit code of the test script at each commit
	firstParent bool
	paths       []string
	shape       string // what the generator chose, for failure messages
}

// outcome is how a bisection ended.
type outcome struct {
	kind    string // "found", "only-skipped", "merge-base-bad", "no-testable", "bad-is-good"
	commits []string
}

func (o outcome) String() string { return o.kind + " " + strings.Join(o.commits, " ") }

func TestMatchesGitBisectRun(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed; the differential test needs it")
	}
	if testing.Short() {
		t.Skip("the differential test runs git; skipped with -short")
	}
	graphs := defaultDiffGraphs
	if v := os.Getenv("SXBISECT_DIFF_GRAPHS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("SXBISECT_DIFF_GRAPHS=%q is not a positive number", v)
		}
		graphs = n
	}
	seed := uint64(20240607)
	if v := os.Getenv("SXBISECT_DIFF_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SXBISECT_DIFF_SEED=%q is not a number", v)
		}
		seed = n
	}
	isolateGit(t)

	var (
		mu    sync.Mutex
		stats = map[string]int{}
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rng := rand.New(rand.NewPCG(seed, uint64(i)))
				dc := randomCase(rng)
				dir := filepath.Join(t.TempDir(), "repo")
				_, _, tags, err := compareWithGit(dir, dc)
				if err != nil {
					t.Errorf("graph %d (seed %d, %s): %v", i, seed, dc.shape, err)
				}
				mu.Lock()
				for _, tag := range tags {
					stats[tag]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < graphs; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("compared %d graphs with git bisect run (seed %d): %v", graphs, seed, stats)
}

// isolateGit keeps the user's and the system's git configuration out.
func isolateGit(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, "gitconfig"))
	t.Setenv("LC_ALL", "C")
	t.Setenv("LANGUAGE", "C")
	t.Setenv("GIT_TERMINAL_PROMPT", "0")
	for _, v := range []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
}

// fileState is one file of the generator's worktree.
type fileState struct {
	content string
	exec    bool
}

var (
	genFiles = []string{"top.txt", "d0/a", "d0/b", "d1/a", "d1/sub/c", "d2/b"}
	// genPathspecs are the path sets a bisection may be limited to; none
	// contains another.
	genPathspecs = [][]string{{"d0"}, {"d1/sub"}, {"top.txt"}, {"d1"}, {"d2/b"}, {"d0", "d2"}, {"top.txt", "d1/sub/c"}}
)

// randomCase makes a random history (branches, merges, octopus merges,
// several roots, clock skew, equal dates, mode changes, merges that take
// one side's files) and a random bisection of it.
func randomCase(rng *rand.Rand) diffCase {
	for {
		dc, ok := tryRandomCase(rng)
		if ok {
			return dc
		}
	}
}

func tryRandomCase(rng *rand.Rand) (diffCase, bool) {
	n := 6 + rng.IntN(50)
	big := rng.Float64() < 0.02
	if big {
		// Above 2048 commits git takes a commit within 0.1% of the
		// middle as halfway (approx_halfway).
		n = 2100 + rng.IntN(1000)
	}
	timeMode := []string{"monotone", "equal", "skew", "chaos"}[rng.IntN(4)]
	parents := make([][]int, n)
	states := make([]map[string]fileState, n)
	times := make([]int64, n)
	heads := []int{0}
	const base = 1_600_000_000

	change := func(st map[string]fileState) {
		for k := 1 + rng.IntN(2); k > 0; k-- {
			f := genFiles[rng.IntN(len(genFiles))]
			cur, exists := st[f]
			switch r := rng.Float64(); {
			case r < 0.12 && exists:
				delete(st, f)
			case r < 0.2 && exists:
				st[f] = fileState{content: cur.content, exec: !cur.exec}
			default:
				st[f] = fileState{content: []string{"x", "y", "z", "w"}[rng.IntN(4)]}
			}
		}
	}

	for i := 0; i < n; i++ {
		var ps []int
		switch r := rng.Float64(); {
		case i == 0:
		case r < 0.05:
			heads = append(heads, i) // a new root
		case r < 0.27 && len(heads) >= 2:
			k := 2
			if len(heads) >= 3 && rng.Float64() < 0.15 {
				k = 3
			}
			pick := rng.Perm(len(heads))[:k]
			for _, h := range pick {
				ps = append(ps, heads[h])
			}
			heads[pick[0]] = i
			var rest []int
			for j, h := range heads {
				if !slices.Contains(pick[1:], j) {
					rest = append(rest, h)
				}
			}
			heads = rest
		case r < 0.42:
			ps = []int{i - 1 - rng.IntN(min(i, 20))}
			heads = append(heads, i)
		default:
			h := rng.IntN(len(heads))
			ps = []int{heads[h]}
			heads[h] = i
		}
		parents[i] = ps

		st := map[string]fileState{}
		if len(ps) > 0 {
			for f, s := range states[ps[0]] {
				st[f] = s
			}
		}
		switch {
		case len(ps) == 0:
			if i == 0 || rng.Float64() < 0.5 {
				change(st)
			}
		case len(ps) == 1:
			change(st)
		default:
			// A merge: take each other parent's files wholesale, or
			// some of them, and sometimes change more (an evil merge).
			for _, p := range ps[1:] {
				wholesale := rng.Float64() < 0.35
				for _, f := range genFiles {
					if wholesale || rng.Float64() < 0.5 {
						if s, ok := states[p][f]; ok {
							st[f] = s
						} else {
							delete(st, f)
						}
					}
				}
			}
			if rng.Float64() < 0.2 {
				change(st)
			}
		}
		states[i] = st

		switch timeMode {
		case "monotone":
			times[i] = base + int64(i)*60
		case "equal":
			times[i] = base + int64(i/3)*60
		case "skew":
			times[i] = base + int64(i)*60 + int64(rng.IntN(801)) - 400
		case "chaos":
			times[i] = base + int64(rng.IntN(n))*60
		}
		if len(ps) > 0 && rng.Float64() < 0.1 {
			times[i] = times[ps[0]]
		}
	}

	commits := make([]gitfixture.Commit, n)
	for i := range commits {
		c := gitfixture.Commit{Parents: parents[i], Time: times[i], Files: map[string]string{}, Exec: map[string]bool{}}
		var from map[string]fileState
		if len(parents[i]) > 0 {
			from = states[parents[i][0]]
		}
		for f, s := range states[i] {
			if old, ok := from[f]; !ok || old != s {
				c.Files[f] = s.content
				c.Exec[f] = s.exec
			}
		}
		for f := range from {
			if _, ok := states[i][f]; !ok {
				c.Delete = append(c.Delete, f)
			}
		}
		sort.Strings(c.Delete)
		commits[i] = c
	}

	ancestors := make([]bitset, n) // ancestors and self
	for i := 0; i < n; i++ {
		ancestors[i] = newBitset(n)
		ancestors[i].set(i)
		for _, p := range parents[i] {
			ancestors[i].or(ancestors[p])
		}
	}
	var bads []int
	for i := n / 2; i < n; i++ {
		if ancestors[i].count() >= 4 {
			bads = append(bads, i)
		}
	}
	if len(bads) == 0 {
		return diffCase{}, false
	}
	bad := bads[rng.IntN(len(bads))]
	var inRange []int
	for a := 0; a < n; a++ {
		if ancestors[bad].has(a) {
			inRange = append(inRange, a)
		}
	}
	first := inRange[rng.IntN(len(inRange))]
	descends := func(c int) bool { return ancestors[c].has(first) }

	var goodPool, outsideGood, outsideBad []int
	for c := 0; c < n; c++ {
		switch {
		case ancestors[bad].has(c) && !descends(c):
			goodPool = append(goodPool, c)
		case !ancestors[bad].has(c) && !ancestors[c].has(bad) && !descends(c):
			outsideGood = append(outsideGood, c)
		case !ancestors[bad].has(c) && !ancestors[c].has(bad):
			outsideBad = append(outsideBad, c)
		}
	}
	if len(goodPool) == 0 {
		return diffCase{}, false
	}
	var goods []int
	for k := 1 + rng.IntN(3); k > 0; k-- {
		goods = append(goods, goodPool[rng.IntN(len(goodPool))])
	}
	shape := []string{timeMode}
	if len(outsideGood) > 0 && rng.Float64() < 0.15 {
		goods = append(goods, outsideGood[rng.IntN(len(outsideGood))])
		shape = append(shape, "good-off-range")
	}
	if len(outsideBad) > 0 && rng.Float64() < 0.05 {
		goods = append(goods, outsideBad[rng.IntN(len(outsideBad))])
		shape = append(shape, "good-descends-from-first-bad")
	}
	slices.Sort(goods)
	goods = slices.Compact(goods)

	verdicts := make([]int, n)
	random := rng.Float64() < 0.2
	skipRate := []float64{0, 0, 0.1, 0.3, 0.6}[rng.IntN(5)]
	for c := range verdicts {
		switch {
		case rng.Float64() < skipRate:
			verdicts[c] = exitSkip
		case random:
			verdicts[c] = []int{exitGood, exitBad}[rng.IntN(2)]
		case descends(c):
			verdicts[c] = exitBad
		default:
			verdicts[c] = exitGood
		}
	}
	if random {
		shape = append(shape, "random-verdicts")
	}
	if skipRate > 0 {
		shape = append(shape, fmt.Sprintf("skip=%.1f", skipRate))
	}
	dc := diffCase{commits: commits, bad: bad, goods: goods, verdicts: verdicts}
	if rng.Float64() < 0.25 {
		dc.firstParent = true
		shape = append(shape, "first-parent")
	}
	if rng.Float64() < 0.3 && !big {
		dc.paths = genPathspecs[rng.IntN(len(genPathspecs))]
		shape = append(shape, "paths="+strings.Join(dc.paths, ","))
	}
	dc.shape = fmt.Sprintf("%d commits, %s", n, strings.Join(shape, " "))
	return dc, true
}

// bitset is a set of commit indexes.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// compareWithGit bisects the case with git and with the search, under
// both process models. It returns the commits' ids, the ones git tested,
// and tags describing what was covered.
func compareWithGit(dir string, dc diffCase) (shas, gitTested, tags []string, err error) {
	shas, err = gitfixture.Build(dir, dc.commits)
	if err != nil {
		return nil, nil, nil, err
	}
	g, err := graphFromRepo(dir, shas, dc.paths)
	if err != nil {
		return nil, nil, nil, err
	}
	gitTested, gitEnd, err := bisectWithGit(dir, shas, dc)
	if err != nil {
		return nil, nil, nil, err
	}
	verdictOf := map[Hash]int{}
	for i, s := range shas {
		verdictOf[plumbing.NewHash(s)] = dc.verdicts[i]
	}
	st := State{Bad: plumbing.NewHash(shas[dc.bad])}
	for _, i := range dc.goods {
		st.Good = append(st.Good, plumbing.NewHash(shas[i]))
	}
	opt := Options{FirstParent: dc.firstParent, Paths: len(dc.paths) > 0}

	tested, end, err := bisectWithSearch(g, st, opt, verdictOf, true)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("search: %v", err)
	}
	if !slices.Equal(tested, gitTested) || end.String() != gitEnd.String() {
		return nil, nil, nil, fmt.Errorf("git bisect run tested\n  %v\nand ended %v; the search tested\n  %v\nand ended %v",
			gitTested, gitEnd, tested, end)
	}
	tags = []string{"agree", gitEnd.kind}
	if len(dc.paths) > 0 {
		tags = append(tags, "paths")
	}
	if dc.firstParent {
		tags = append(tags, "first-parent")
	}
	for _, c := range dc.commits {
		if len(c.Parents) > 1 {
			tags = append(tags, "merges")
			break
		}
	}
	for _, c := range gitTested {
		if verdictOf[plumbing.NewHash(c)] == exitSkip {
			tags = append(tags, "skips")
			break
		}
	}
	fresh, freshEnd, err := bisectWithSearch(g, st, opt, verdictOf, false)
	if err == nil && (!slices.Equal(fresh, gitTested) || freshEnd.String() != gitEnd.String()) {
		tags = append(tags, "fresh-process-differs")
	}
	return shas, gitTested, tags, nil
}

// graphFromRepo reads the commits back from the repository: parents and
// committer dates from git log, and for path limiting a PathKey folded
// from the mode and object id at each path (git ls-tree).
func graphFromRepo(dir string, shas []string, paths []string) (MemGraph, error) {
	out, err := gitfixture.Git(dir, append([]string{"log", "--no-walk=unsorted", "--format=%H %ct %P"}, shas...)...)
	if err != nil {
		return nil, err
	}
	g := MemGraph{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("git log line %q", line)
		}
		ct, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, err
		}
		n := MemNode{CommitTime: ct}
		for _, p := range f[2:] {
			n.Parents = append(n.Parents, plumbing.NewHash(p))
		}
		g[plumbing.NewHash(f[0])] = n
	}
	if len(g) != len(shas) {
		return nil, fmt.Errorf("git log gave %d commits, want %d", len(g), len(shas))
	}
	if len(paths) == 0 {
		return g, nil
	}
	for h, n := range g {
		// ls-tree names the entry at each path (a tree for a directory)
		// with its mode and object id; equal listings are TREESAME.
		out, err := gitfixture.Git(dir, append([]string{"ls-tree", h.String(), "--"}, paths...)...)
		if err != nil {
			return nil, err
		}
		if out != "" {
			n.PathKey = plumbing.Hash(sha1.Sum([]byte(out)))
		}
		g[h] = n
	}
	return g, nil
}

var (
	foundRE   = regexp.MustCompile(`(?m)^([0-9a-f]{40}) is the first bad commit`)
	skippedRE = regexp.MustCompile(`(?s)There are only 'skip'ped commits left to test\.\nThe first bad commit could be any of:\n(.*?)We cannot bisect more!`)
)

// bisectWithGit runs git bisect start and git bisect run (again when git
// 2.39's bisect run stops after checking out a merge base) and returns
// the commits the script tested and how git ended.
func bisectWithGit(dir string, shas []string, dc diffCase) ([]string, outcome, error) {
	aux := filepath.Dir(dir)
	logFile := filepath.Join(aux, "tested")
	verdictFile := filepath.Join(aux, "verdicts")
	script := filepath.Join(aux, "test.sh")
	var verdicts strings.Builder
	for i, s := range shas {
		fmt.Fprintf(&verdicts, "%s %d\n", s, dc.verdicts[i])
	}
	if err := os.WriteFile(verdictFile, []byte(verdicts.String()), 0o644); err != nil {
		return nil, outcome{}, err
	}
	body := fmt.Sprintf("#!/bin/sh\nh=$(git rev-parse HEAD)\necho \"$h\" >> '%s'\ncode=$(sed -n \"s/^$h //p\" '%s')\nexit ${code:-0}\n", logFile, verdictFile)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return nil, outcome{}, err
	}

	args := []string{"bisect", "start"}
	if dc.firstParent {
		args = append(args, "--first-parent")
	}
	args = append(args, shas[dc.bad])
	for _, i := range dc.goods {
		args = append(args, shas[i])
	}
	args = append(args, "--")
	args = append(args, dc.paths...)
	out := runGit(dir, args...)
	transcript := out
	for round := 0; ; round++ {
		if end, ok := parseEnd(out); ok {
			var tested []string
			if b, err := os.ReadFile(logFile); err == nil {
				tested = strings.Fields(string(b))
			}
			return tested, end, nil
		}
		if round > 0 && !strings.Contains(out, "bisect run success") || round > 20 {
			return nil, outcome{}, fmt.Errorf("cannot read how git bisect ended:\n%s", transcript)
		}
		out = runGit(dir, "bisect", "run", script)
		transcript += out
	}
}

func runGit(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func parseEnd(out string) (outcome, bool) {
	if m := skippedRE.FindStringSubmatch(out); m != nil {
		return outcome{kind: "only-skipped", commits: strings.Fields(m[1])}, true
	}
	if m := foundRE.FindStringSubmatch(out); m != nil {
		return outcome{kind: "found", commits: []string{m[1]}}, true
	}
	switch {
	case strings.Contains(out, "The merge base") && strings.Contains(out, "is bad."),
		strings.Contains(out, "Some good revs are not ancestors of the bad rev."):
		return outcome{kind: "merge-base-bad"}, true
	case strings.Contains(out, "No testable commit found"):
		return outcome{kind: "no-testable"}, true
	case strings.Contains(out, "was both good and bad"):
		return outcome{kind: "bad-is-good"}, true
	}
	return outcome{}, false
}

// bisectWithSearch drives the search as git bisect start and git bisect
// run drive bisect.c: the merge bases are checked until they pass once,
// then the next step is asked for, verdict after verdict. With runModel it
// uses a Run, which keeps git's process state; without, the package
// functions, which answer as a fresh git process.
func bisectWithSearch(g Graph, st State, opt Options, verdictOf map[Hash]int, runModel bool) ([]string, outcome, error) {
	run := NewRun(g, opt)
	ancestorsOK := false
	checkMergeBases := func(st State) (MergeBaseCheck, error) {
		if runModel {
			return run.CheckMergeBases(st)
		}
		if ancestorsOK {
			return MergeBaseCheck{Kind: MergeBaseOK}, nil
		}
		mb, err := CheckMergeBases(g, st)
		ancestorsOK = err == nil && (mb.Kind == MergeBaseOK || mb.Kind == MergeBaseSkipped)
		return mb, err
	}
	next := func(st State) (Step, error) {
		if runModel {
			return run.Next(st)
		}
		return Next(g, st, opt)
	}
	var tested []string
	apply := func(c Hash) {
		tested = append(tested, c.String())
		switch verdictOf[c] {
		case exitGood:
			st.Good = append(st.Good, c)
		case exitBad:
			st.Bad = c
		default:
			st.Skip = append(st.Skip, c)
		}
	}
	for step := 0; step < 500; step++ {
		mb, err := checkMergeBases(st)
		if err != nil {
			return nil, outcome{}, err
		}
		switch mb.Kind {
		case MergeBaseBad:
			return tested, outcome{kind: "merge-base-bad"}, nil
		case MergeBaseTest:
			apply(mb.Commit)
			continue
		}
		s, err := next(st)
		switch {
		case errors.Is(err, ErrNoTestableCommit):
			return tested, outcome{kind: "no-testable"}, nil
		case errors.Is(err, ErrBadIsGood):
			return tested, outcome{kind: "bad-is-good"}, nil
		case err != nil:
			return nil, outcome{}, err
		}
		switch s.Kind {
		case Found:
			return tested, outcome{kind: "found", commits: []string{s.Commit.String()}}, nil
		case OnlySkipped:
			var cs []string
			for _, c := range s.Candidates {
				cs = append(cs, c.String())
			}
			return tested, outcome{kind: "only-skipped", commits: cs}, nil
		}
		apply(s.Commit)
	}
	return nil, outcome{}, fmt.Errorf("no end after 500 steps")
}

// TestSlopMatchesGit pins the end of git's walk on the history of
// TestWalkStopsAfterSlop: git stops walking five commits (SLOP) into the
// chain of old commits, and so tests commits that are reachable from the
// good one when the chain is longer.
func TestSlopMatchesGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed; the test compares with it")
	}
	isolateGit(t)
	for _, chain := range []int{5, 6} {
		t.Run(fmt.Sprintf("chain of %d", chain), func(t *testing.T) {
			file := func(v string) map[string]string { return map[string]string{"f": v} }
			const r, e, d, c = 0, 1, 2, 3
			commits := []gitfixture.Commit{
				r: {Time: 60, Files: file("r")},
				e: {Time: 70, Parents: []int{r}, Files: file("e")},
				d: {Time: 80, Parents: []int{e}, Files: file("d")},
				c: {Time: 90, Parents: []int{d}, Files: file("c")},
			}
			prev := d
			for i := 1; i <= chain; i++ {
				commits = append(commits, gitfixture.Commit{Time: int64(10 - i), Parents: []int{prev}, Files: file(fmt.Sprint("h", i))})
				prev = len(commits) - 1
			}
			g := len(commits)
			commits = append(commits, gitfixture.Commit{Time: 10, Parents: []int{prev}, Files: file("g")})
			b := len(commits)
			commits = append(commits, gitfixture.Commit{Time: 100, Parents: []int{c, g}, Files: file("b")})
			verdicts := make([]int, len(commits))
			verdicts[c], verdicts[b] = exitBad, exitBad
			dc := diffCase{commits: commits, bad: b, goods: []int{g}, verdicts: verdicts, shape: "slop"}

			shas, gitTested, _, err := compareWithGit(filepath.Join(t.TempDir(), "repo"), dc)
			if err != nil {
				t.Fatal(err)
			}
			var tested []int
			for _, h := range gitTested {
				tested = append(tested, slices.Index(shas, h))
			}
			// When the walk reaches D, B and C are left and C is the
			// answer at once; when it stops before, git tests E (good),
			// then C and D.
			want := []int{c}
			if chain > 5 {
				want = []int{e, c, d}
			}
			if !slices.Equal(tested, want) {
				t.Errorf("git tested commits %v, want %v", tested, want)
			}
		})
	}
}
