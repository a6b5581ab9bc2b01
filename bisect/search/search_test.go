package search

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// history builds small graphs by name; commit ids are the SHA-1 of the name.
type history struct {
	t     *testing.T
	graph MemGraph
	names map[Hash]string
}

func newHistory(t *testing.T) *history {
	return &history{t: t, graph: MemGraph{}, names: map[Hash]string{}}
}

func id(name string) Hash { return Hash(sha1.Sum([]byte(name))) }

// add adds a commit made at time with the given parents; content is what
// the bisection's paths hold there ("" when they do not exist).
func (h *history) add(name string, time int64, content string, parents ...string) {
	h.t.Helper()
	n := MemNode{CommitTime: time}
	if content != "" {
		n.PathKey = id("content:" + content)
	}
	for _, p := range parents {
		_, ok := h.graph[id(p)]
		require.True(h.t, ok, "parent %s of %s is not added yet", p, name)
		n.Parents = append(n.Parents, id(p))
	}
	h.graph[id(name)] = n
	h.names[id(name)] = name
}

// linear adds c0..c(n-1), a minute apart, each the parent of the next.
func (h *history) linear(n int) {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("c%d", i)
		if i == 0 {
			h.add(name, 60, "")
		} else {
			h.add(name, int64(60*(i+1)), "", fmt.Sprintf("c%d", i-1))
		}
	}
}

func (h *history) name(c Hash) string {
	if n, ok := h.names[c]; ok {
		return n
	}
	return c.String()
}

func (h *history) namesOf(cs []Hash) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = h.name(c)
	}
	return out
}

func state(bad string, goods []string, skips ...string) State {
	st := State{Bad: id(bad)}
	for _, g := range goods {
		st.Good = append(st.Good, id(g))
	}
	for _, s := range skips {
		st.Skip = append(st.Skip, id(s))
	}
	return st
}

// bisect runs Next until the end, taking verdicts from verdict, and
// returns the names of the commits tested and the last step.
func (h *history) bisect(st State, opt Options, verdict func(name string) string) ([]string, Step) {
	h.t.Helper()
	var tested []string
	for i := 0; i < 100; i++ {
		step, err := Next(h.graph, st, opt)
		require.NoError(h.t, err)
		if step.Kind != Test {
			return tested, step
		}
		name := h.name(step.Commit)
		tested = append(tested, name)
		switch verdict(name) {
		case "good":
			st.Good = append(st.Good, step.Commit)
		case "bad":
			st.Bad = step.Commit
		case "skip":
			st.Skip = append(st.Skip, step.Commit)
		default:
			h.t.Fatalf("no verdict for %s", name)
		}
	}
	h.t.Fatal("the bisection does not end")
	return nil, Step{}
}

func lessID(a, b string) bool {
	x, y := id(a), id(b)
	return bytes.Compare(x[:], y[:]) < 0
}

func TestLinearBisection(t *testing.T) {
	h := newHistory(t)
	h.linear(10)

	step, err := Next(h.graph, state("c9", []string{"c0"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, Test, step.Kind)
	assert.Equal(t, "c4", h.name(step.Commit), "c4 reaches 4 of the 9 candidates, the first halfway")
	assert.Equal(t, 9, step.Remaining)
	assert.Equal(t, 4, step.Reaches)
	assert.Equal(t, 2, step.StepsLeft)

	firstBad := 6
	tested, end := h.bisect(state("c9", []string{"c0"}), Options{}, func(name string) string {
		var i int
		fmt.Sscanf(name, "c%d", &i)
		if i >= firstBad {
			return "bad"
		}
		return "good"
	})
	assert.Equal(t, []string{"c4", "c6", "c5"}, tested)
	assert.Equal(t, Found, end.Kind)
	assert.Equal(t, "c6", h.name(end.Commit))
}

func TestBadRightAfterGoodIsFound(t *testing.T) {
	h := newHistory(t)
	h.linear(2)
	step, err := Next(h.graph, state("c1", []string{"c0"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, Found, step.Kind)
	assert.Equal(t, "c1", h.name(step.Commit))
}

func TestBadReachableFromGood(t *testing.T) {
	h := newHistory(t)
	h.linear(3)
	_, err := Next(h.graph, state("c1", []string{"c2"}), Options{})
	assert.ErrorIs(t, err, ErrBadIsGood)
}

// A merge inside the range: the side commits are older than the merge, and
// git takes the first commit, in the order its walk found them reversed,
// with the best distance.
func TestMergeInRange(t *testing.T) {
	h := newHistory(t)
	h.add("A", 100, "")
	h.add("B", 200, "", "A")
	h.add("C", 300, "", "A")
	h.add("M", 400, "", "B", "C")
	h.add("D", 500, "", "M")

	step, err := Next(h.graph, state("D", []string{"A"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, "B", h.name(step.Commit), "B, C and M each settle one of four; B comes first")
	assert.Equal(t, 4, step.Remaining)

	// With C older than B, the walk pops B first, so C comes first in the list.
	h.add("C", 150, "", "A")
	step, err = Next(h.graph, state("D", []string{"A"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, "C", h.name(step.Commit))
}

// firstParentHistory is A-B-M-D with a side branch A-S1-S2 merged by M.
func firstParentHistory(t *testing.T) *history {
	h := newHistory(t)
	h.add("A", 1, "")
	h.add("B", 2, "", "A")
	h.add("S1", 3, "", "A")
	h.add("S2", 4, "", "S1")
	h.add("M", 5, "", "B", "S2")
	h.add("D", 6, "", "M")
	return h
}

func TestFirstParent(t *testing.T) {
	h := firstParentHistory(t)
	st := state("D", []string{"A"})

	step, err := Next(h.graph, st, Options{})
	require.NoError(t, err)
	assert.Equal(t, "S2", h.name(step.Commit), "M reaches 4 of 5; S2, reaching 2, is the first halfway")
	assert.Equal(t, 5, step.Remaining)

	step, err = Next(h.graph, st, Options{FirstParent: true})
	require.NoError(t, err)
	assert.Equal(t, "M", h.name(step.Commit), "only B, M and D are candidates")
	assert.Equal(t, 3, step.Remaining)

	// The merge found bad on the first-parent line is the answer, though
	// the side branch brought the change.
	tested, end := h.bisect(st, Options{FirstParent: true}, func(name string) string {
		if name == "M" || name == "D" {
			return "bad"
		}
		return "good"
	})
	assert.Equal(t, []string{"M", "B"}, tested)
	assert.Equal(t, "M", h.name(end.Commit))
}

func TestSkippedBestMovesAway(t *testing.T) {
	h := newHistory(t)
	h.linear(10)
	// c4 and c5 both settle 4 of 9; with a skip git sorts them by object
	// id. Skipping the better one, git takes index 0 of the others
	// (get_prn(8) = 3634), which is the other one.
	first, second := "c4", "c5"
	if lessID("c5", "c4") {
		first, second = "c5", "c4"
	}
	step, err := Next(h.graph, state("c9", []string{"c0"}, first), Options{})
	require.NoError(t, err)
	assert.Equal(t, Test, step.Kind)
	assert.Equal(t, second, h.name(step.Commit))
	assert.Equal(t, 9, step.Remaining)
}

func TestSkipOutsideTheRangeSortsByID(t *testing.T) {
	h := newHistory(t)
	h.linear(10)
	h.add("side", 1000, "", "c2")

	step, err := Next(h.graph, state("c9", []string{"c0"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, "c4", h.name(step.Commit), "without skips the first halfway commit")

	// Any skipped commit, even one outside the range, makes git compute
	// all weights and sort ties by object id.
	want := "c4"
	if lessID("c5", "c4") {
		want = "c5"
	}
	step, err = Next(h.graph, state("c9", []string{"c0"}, "side"), Options{})
	require.NoError(t, err)
	assert.Equal(t, want, h.name(step.Commit))
}

func TestOnlySkippedLeft(t *testing.T) {
	h := newHistory(t)
	h.linear(4)
	step, err := Next(h.graph, state("c3", []string{"c0"}, "c1", "c2"), Options{})
	require.NoError(t, err)
	assert.Equal(t, OnlySkipped, step.Kind)
	want := []string{"c1", "c2", "c3"}
	if lessID("c2", "c1") {
		want = []string{"c2", "c1", "c3"}
	}
	assert.Equal(t, want, h.namesOf(step.Candidates), "the skipped commits by object id, then bad")

	h = newHistory(t)
	h.linear(10)
	tested, end := h.bisect(state("c9", []string{"c0"}), Options{}, func(name string) string {
		switch name {
		case "c4", "c5", "c6":
			return "skip"
		case "c7", "c8", "c9":
			return "bad"
		}
		return "good"
	})
	assert.Equal(t, OnlySkipped, end.Kind)
	assert.Equal(t, "c7", h.name(end.Candidates[len(end.Candidates)-1]), "bad comes last")
	assert.ElementsMatch(t, []string{"c4", "c5", "c6", "c7"}, h.namesOf(end.Candidates))
	assert.Contains(t, tested, "c4")
}

// treesameHistory is A-B-C-D-E where only C changes the paths.
func treesameHistory(t *testing.T) *history {
	h := newHistory(t)
	h.add("A", 1, "v0")
	h.add("B", 2, "v0", "A")
	h.add("C", 3, "v1", "B")
	h.add("D", 4, "v1", "C")
	h.add("E", 5, "v1", "D")
	return h
}

func TestPathsSkipTreesameCommits(t *testing.T) {
	h := treesameHistory(t)
	opt := Options{Paths: true}

	step, err := Next(h.graph, state("E", []string{"A"}), opt)
	require.NoError(t, err)
	assert.Equal(t, "C", h.name(step.Commit), "C is the only commit that changes the paths")
	assert.Equal(t, 1, step.Remaining)

	step, err = Next(h.graph, state("C", []string{"A"}), opt)
	require.NoError(t, err)
	assert.Equal(t, Found, step.Kind)
	assert.Equal(t, "C", h.name(step.Commit))

	_, err = Next(h.graph, state("E", []string{"C"}), opt)
	assert.ErrorIs(t, err, ErrNoTestableCommit)
}

// A merge whose paths are those of one parent follows only that parent,
// so the other side is no candidate.
func TestPathsSimplifyMerges(t *testing.T) {
	h := newHistory(t)
	h.add("A", 1, "v0")
	h.add("X1", 2, "v1", "A")
	h.add("Y1", 3, "v2", "A")
	h.add("M", 4, "v2", "X1", "Y1")
	h.add("D", 5, "v3", "M")

	step, err := Next(h.graph, state("D", []string{"A"}), Options{Paths: true})
	require.NoError(t, err)
	assert.Equal(t, "Y1", h.name(step.Commit))
	assert.Equal(t, 2, step.Remaining, "Y1 and D; M is TREESAME and X1 is not walked")

	step, err = Next(h.graph, state("D", []string{"A"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, 4, step.Remaining, "without paths X1, Y1, M and D")
}

func TestRootCommitsCompareWithEmptyTree(t *testing.T) {
	h := newHistory(t)
	h.add("R", 1, "")
	h.add("S", 2, "v1")
	h.add("M", 3, "v1", "R", "S")
	h.add("D", 4, "v2", "M")
	step, err := Next(h.graph, state("D", nil), Options{Paths: true})
	require.NoError(t, err)
	// M is TREESAME to S (its paths), so R is not walked; S is not
	// TREESAME to the empty tree.
	assert.Equal(t, 2, step.Remaining)
	assert.Equal(t, "S", h.name(step.Commit))
}

// skewHistory has a good commit G merged into the bad one, B, whose
// ancestry joins the range at D through a chain of commits with old dates:
//
//	R - E - D - C - B
//	         \     /
//	          H1 - ... - Hn - G
//
// git's walk looks at five more commits once nothing interesting is left,
// so it only finds out that D, E and R are good when the chain is at most
// five long.
func skewHistory(t *testing.T, chain int) *history {
	h := newHistory(t)
	h.add("R", 60, "")
	h.add("E", 70, "", "R")
	h.add("D", 80, "", "E")
	prev := "D"
	for i := 1; i <= chain; i++ {
		name := fmt.Sprintf("H%d", i)
		h.add(name, int64(10-i), "", prev)
		prev = name
	}
	h.add("G", 10, "", prev)
	h.add("C", 90, "", "D")
	h.add("B", 100, "", "C", "G")
	return h
}

func TestWalkStopsAfterSlop(t *testing.T) {
	h := skewHistory(t, 5)
	step, err := Next(h.graph, state("B", []string{"G"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, step.Remaining, "the walk reaches D through the chain: only B and C are left")
	assert.Equal(t, "C", h.name(step.Commit))

	h = skewHistory(t, 6)
	ok, err := IsAncestor(h.graph, id("D"), id("G"))
	require.NoError(t, err)
	require.True(t, ok)
	step, err = Next(h.graph, state("B", []string{"G"}), Options{})
	require.NoError(t, err)
	assert.Equal(t, 5, step.Remaining, "git stops walking before the chain reaches D, so D, E and R stay candidates")
	assert.Equal(t, "E", h.name(step.Commit))
}

func TestMissingCommit(t *testing.T) {
	h := newHistory(t)
	h.linear(3)
	_, err := Next(h.graph, state("c2", []string{"gone"}), Options{})
	var missing *MissingCommitError
	require.True(t, errors.As(err, &missing), "got %v", err)
	assert.Equal(t, id("gone"), missing.Hash)
}

// sideBranchHistory is A-B-C-D (bad D) with a side branch A-S-T and a
// criss-cross X, Y under A for the merge base tests.
func sideBranchHistory(t *testing.T) *history {
	h := newHistory(t)
	h.add("A", 1, "")
	h.add("B", 2, "", "A")
	h.add("C", 3, "", "B")
	h.add("D", 4, "", "C")
	h.add("S", 5, "", "A")
	h.add("T", 6, "", "S")
	return h
}

func TestCheckMergeBases(t *testing.T) {
	h := sideBranchHistory(t)
	for _, tc := range []struct {
		name   string
		st     State
		kind   MergeBaseKind
		commit string
	}{
		{"goods are ancestors", state("D", []string{"B", "A"}), MergeBaseOK, ""},
		{"no good", state("D", nil), MergeBaseOK, ""},
		{"merge base untested", state("D", []string{"T"}), MergeBaseTest, "A"},
		{"merge base good", state("D", []string{"T", "A"}), MergeBaseOK, ""},
		{"merge base skipped", state("D", []string{"T"}, "A"), MergeBaseSkipped, "A"},
		{"merge base bad", state("A", []string{"T"}), MergeBaseBad, "A"},
		{"good descends from bad", state("B", []string{"D"}), MergeBaseBad, "B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := CheckMergeBases(h.graph, tc.st)
			require.NoError(t, err)
			assert.Equal(t, tc.kind, res.Kind, res.Kind.String())
			if tc.commit != "" {
				assert.Equal(t, tc.commit, h.name(res.Commit))
			}
		})
	}

	res, err := CheckMergeBases(h.graph, state("D", []string{"T"}, "A"))
	require.NoError(t, err)
	assert.Equal(t, []Hash{id("A")}, res.Skipped)
	assert.Contains(t, res.Message(state("D", []string{"T"})), "the merge base between "+id("D").String()+" and ["+id("T").String()+"] must be skipped")
	res, err = CheckMergeBases(h.graph, state("A", []string{"T"}))
	require.NoError(t, err)
	assert.Contains(t, res.Message(state("A", []string{"T"})), "The merge base "+id("A").String()+" is bad.")
}

func TestMergeBasesCrissCross(t *testing.T) {
	h := newHistory(t)
	h.add("A", 1, "")
	h.add("X", 2, "", "A")
	h.add("Y", 3, "", "A")
	h.add("P", 4, "", "X", "Y")
	h.add("Q", 5, "", "Y", "X")
	bases, err := MergeBases(h.graph, id("P"), id("Q"))
	require.NoError(t, err)
	assert.Equal(t, []string{"Y", "X"}, h.namesOf(bases), "both, newest first")

	res, err := CheckMergeBases(h.graph, state("P", []string{"Q", "Y"}))
	require.NoError(t, err)
	assert.Equal(t, MergeBaseTest, res.Kind)
	assert.Equal(t, "X", h.name(res.Commit), "Y is good, so X is next")
}

func TestIsAncestor(t *testing.T) {
	h := sideBranchHistory(t)
	for _, tc := range []struct {
		a, d string
		want bool
	}{{"A", "D", true}, {"D", "D", true}, {"B", "T", false}, {"D", "A", false}} {
		got, err := IsAncestor(h.graph, id(tc.a), id(tc.d))
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "%s ancestor of %s", tc.a, tc.d)
	}
}

// Run keeps what git keeps between the steps of one process; on a history
// without clock skew it answers as Next does.
func TestRunAgreesWithNextWithoutSkew(t *testing.T) {
	h := firstParentHistory(t)
	st := state("D", []string{"A"})
	run := NewRun(h.graph, Options{})
	mb, err := run.CheckMergeBases(st)
	require.NoError(t, err)
	require.Equal(t, MergeBaseOK, mb.Kind)
	for {
		want, err := Next(h.graph, st, Options{})
		require.NoError(t, err)
		got, err := run.Next(st)
		require.NoError(t, err)
		require.Equal(t, want, got)
		if got.Kind != Test {
			break
		}
		if h.name(got.Commit) == "S1" {
			st.Bad = got.Commit
		} else {
			st.Good = append(st.Good, got.Commit)
		}
	}
}

func TestEstimateSteps(t *testing.T) {
	// Values of git's estimate_bisect_steps.
	for n, want := range map[int]int{0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 2, 9: 2, 11: 3, 16: 3, 1024: 9, 1400: 10} {
		assert.Equal(t, want, EstimateSteps(n), "EstimateSteps(%d)", n)
	}
}

func TestGitPseudoRandom(t *testing.T) {
	assert.Equal(t, uint32(3634), gitPRN(8))
	assert.Equal(t, uint32(12662), gitPRN(100))
	for v, want := range map[int32]int32{0: 0, 1: 1, 2: 1, 4: 2, 15: 3, 12662: 112, 32768: 181} {
		assert.Equal(t, want, sqrti(v), "sqrti(%d)", v)
	}
	// skip_away over 100 commits: (100*12662/32768) * 112 / 181 = 23.
	list := make([]*commit, 100)
	for i := range list {
		list[i] = &commit{id: id(fmt.Sprint(i))}
	}
	assert.Same(t, list[23], skipAway(list, Hash{}))
	assert.Same(t, list[22], skipAway(list, list[23].id), "never the bad commit: the one before it")
}

// A Run lets the commits of git bisect start's process go once it has
// answered, and of a process that checked out a merge base: the next
// process reads its own.
func TestRunLetsEachProcessGo(t *testing.T) {
	h := newHistory(t)
	h.add("a", 1, "")
	h.add("b", 2, "", "a")
	h.add("c", 3, "", "b")
	h.add("d", 4, "", "c")
	r := NewRun(h.graph, Options{})
	st := state("d", []string{"a"})
	mb, err := r.CheckMergeBases(st)
	require.NoError(t, err)
	require.Equal(t, MergeBaseOK, mb.Kind)
	require.NotNil(t, r.pool, "git bisect start checks the merge bases and answers in one process")
	_, err = r.Next(st)
	require.NoError(t, err)
	assert.Nil(t, r.pool, "git bisect start's process has ended")
	_, err = r.Next(state("d", []string{"b"}))
	require.NoError(t, err)
	assert.NotNil(t, r.pool, "git bisect run's process goes on")
}
