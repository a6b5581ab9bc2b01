package search

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pass(name string) Observation { return Observation{Commit: id(name), Outcome: Passed, Weight: 1} }
func fail(name string) Observation { return Observation{Commit: id(name), Outcome: Failed, Weight: 1} }

// newFlaky prepares a flake-aware search of the history by names.
func (h *history) newFlaky(bad string, goods []string, opt FlakyOptions) *Flaky {
	h.t.Helper()
	var gs []Hash
	for _, g := range goods {
		gs = append(gs, id(g))
	}
	f, err := NewFlaky(h.graph, gs, id(bad), opt)
	require.NoError(h.t, err)
	return f
}

// flakySession runs the search with the verdicts verdict gives, one commit
// at a time, and returns the names tested and the last decision.
func (h *history) flakySession(f *Flaky, verdict func(name string) Outcome) ([]string, Decision) {
	h.t.Helper()
	var obs []Observation
	var tested []string
	for range 500 {
		d, err := f.Next(obs, 1)
		require.NoError(h.t, err)
		if d.Kind != Test {
			return tested, d
		}
		require.Len(h.t, d.Commits, 1)
		name := h.name(d.Commits[0])
		tested = append(tested, name)
		obs = append(obs, Observation{Commit: d.Commits[0], Outcome: verdict(name), Weight: 1})
	}
	h.t.Fatal("the search does not end")
	return nil, Decision{}
}

// counted is how often x is in xs.
func counted(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// candidateNames names the candidates of a posterior, in its order.
func (h *history) candidateNames(post Posterior) []string {
	var names []string
	for _, c := range post.Commits {
		names = append(names, h.name(c.Commit))
	}
	return names
}

// linearVerdicts is a deterministic test on h.linear's commits: c<i> is
// bad from firstBad on.
func linearVerdicts(firstBad int) func(string) Outcome {
	return func(name string) Outcome {
		var i int
		fmt.Sscanf(name, "c%d", &i)
		if i >= firstBad {
			return Failed
		}
		return Passed
	}
}

func TestFlakyFindsLikeBisection(t *testing.T) {
	h := newHistory(t)
	h.linear(64)
	for _, firstBad := range []int{1, 2, 31, 32, 50, 63} {
		tested, d := h.flakySession(h.newFlaky("c63", []string{"c0"}, FlakyOptions{}), linearVerdicts(firstBad))
		assert.Equal(t, Found, d.Kind, "first bad c%d", firstBad)
		assert.Equal(t, fmt.Sprintf("c%d", firstBad), h.name(d.Commit))
		assert.GreaterOrEqual(t, d.Confidence, DefaultConfidence)
		assert.Equal(t, []string{"c0", "c63"}, tested[:2], "the good end, then the bad end")
		// Bisection takes 6 runs among 63 candidates; being sure of
		// them takes a few more, as does testing the ends.
		assert.LessOrEqual(t, len(tested), 16, "first bad c%d: tested %v", firstBad, tested)
		assert.Less(t, d.NoRegressionProbability, 0.05)
		// No run contradicted another: the rates learned are below
		// the prior's mean, 0.16.
		assert.Less(t, d.BadPasses, 0.155)
		assert.Less(t, d.GoodFails, 0.155)
		assert.Equal(t, len(tested), d.Runs)
	}
}

func TestFlakyAsksForTheEndsFirst(t *testing.T) {
	h := newHistory(t)
	h.linear(10)
	h.add("g2", 5, "", "c3")
	f := h.newFlaky("c9", []string{"c2", "g2", "c2"}, FlakyOptions{})

	d, err := f.Next(nil, 1)
	require.NoError(t, err)
	assert.Equal(t, Test, d.Kind)
	assert.Equal(t, []string{"c2"}, h.namesOf(d.Commits), "the good ends as given, without repeats")

	d, err = f.Next([]Observation{pass("c2")}, 5)
	require.NoError(t, err)
	require.Len(t, d.Commits, 5)
	assert.Equal(t, []string{"g2", "c9"}, h.namesOf(d.Commits[:2]), "the other ends, then probes")
	assert.NotContains(t, h.namesOf(d.Commits[2:]), "c2")

	// A skipped end counts as seen.
	d, err = f.Next([]Observation{pass("c2"), {Commit: id("g2"), Outcome: Skipped}, fail("c9")}, 1)
	require.NoError(t, err)
	assert.Equal(t, Test, d.Kind)
	assert.NotContains(t, []string{"c2", "g2", "c9"}, h.name(d.Commits[0]))

	f = h.newFlaky("c9", []string{"c2"}, FlakyOptions{NoVerify: true})
	d, err = f.Next(nil, 1)
	require.NoError(t, err)
	assert.Equal(t, Test, d.Kind)
	assert.NotEqual(t, "c2", h.name(d.Commits[0]), "no run at the good end with NoVerify")
}

// One wrong verdict does not name a wrong commit: the search re-tests
// until the flake shows.
func TestFlakyRetestsExposeAFlake(t *testing.T) {
	h := newHistory(t)
	h.linear(32)
	truth := linearVerdicts(20)
	lied := map[string]bool{}
	tested, d := h.flakySession(h.newFlaky("c31", []string{"c0"}, FlakyOptions{}), func(name string) Outcome {
		// c20 passes the first time it runs.
		if name == "c20" && !lied[name] {
			lied[name] = true
			return Passed
		}
		return truth(name)
	})
	require.True(t, lied["c20"], "c20 was tested: %v", tested)
	assert.Equal(t, Found, d.Kind)
	assert.Equal(t, "c20", h.name(d.Commit), "tested %v", tested)
	counts := map[string]int{}
	for _, name := range tested {
		counts[name]++
	}
	assert.GreaterOrEqual(t, counts["c20"], 2, "c20 was tested again: %v", tested)
}

func TestFlakyNoRegression(t *testing.T) {
	h := newHistory(t)
	h.linear(40)
	// The bad end only failed for the user: everything passes.
	tested, d := h.flakySession(h.newFlaky("c39", []string{"c0"}, FlakyOptions{}), func(string) Outcome { return Passed })
	assert.Equal(t, NoRegression, d.Kind, "tested %v", tested)
	assert.True(t, d.Commit.IsZero())
	assert.GreaterOrEqual(t, d.Confidence, DefaultConfidence)
	assert.InDelta(t, d.Confidence, d.NoRegressionProbability+d.OlderProbability, 1e-12)
	assert.Greater(t, d.NoRegressionProbability, d.OlderProbability, "the good end passed")
	assert.LessOrEqual(t, len(tested), 6, "a passing bad end settles it quickly: %v", tested)
}

// A test that fails everywhere, the good end included, finds no
// regression in the range rather than blaming its oldest commit: the good
// end is tested again once it could be bad too.
func TestFlakyGoodEndIsBadToo(t *testing.T) {
	h := newHistory(t)
	h.linear(40)
	tested, d := h.flakySession(h.newFlaky("c39", []string{"c0"}, FlakyOptions{}), func(string) Outcome { return Failed })
	assert.Equal(t, NoRegression, d.Kind, "tested %v", tested)
	assert.Greater(t, d.OlderProbability, d.NoRegressionProbability)
	assert.GreaterOrEqual(t, counted(tested, "c0"), 2, "the good end was tested again: %v", tested)
}

func TestFlakyBudgetEndsInconclusive(t *testing.T) {
	h := newHistory(t)
	h.linear(40)
	f := h.newFlaky("c39", []string{"c0"}, FlakyOptions{MaxRuns: 7})
	assert.Equal(t, 7, f.MaxRuns())
	rng := rand.New(rand.NewPCG(1, 1))
	tested, d := h.flakySession(f, func(string) Outcome {
		return []Outcome{Passed, Failed}[rng.IntN(2)]
	})
	assert.Equal(t, Inconclusive, d.Kind)
	assert.Len(t, tested, 7)
	assert.Equal(t, 7, d.Runs)
	assert.Equal(t, 7, d.MaxRuns)
	assert.Len(t, d.Top, 5)
	for i := 1; i < len(d.Top); i++ {
		assert.GreaterOrEqual(t, d.Top[i-1].Probability, d.Top[i].Probability)
	}
	assert.Less(t, d.Confidence, DefaultConfidence)

	want := int(math.Ceil(8 * (math.Log2(39) + 2)))
	assert.Equal(t, want, h.newFlaky("c39", []string{"c0"}, FlakyOptions{}).MaxRuns(), "the default budget")
}

func TestFlakySkippedCommitsAreNotProposedAgain(t *testing.T) {
	h := newHistory(t)
	h.linear(10)
	skipped := map[string]int{}
	tested, d := h.flakySession(h.newFlaky("c9", []string{"c0"}, FlakyOptions{}), func(name string) Outcome {
		if name == "c9" || name == "c0" {
			return linearVerdicts(5)(name)
		}
		skipped[name]++
		return Skipped
	})
	assert.Equal(t, Inconclusive, d.Kind, "every commit that could tell was skipped: %v", tested)
	assert.Len(t, skipped, 8, "every candidate but the bad end was tried: %v", tested)
	for name, n := range skipped {
		assert.Equal(t, 1, n, "%s was tried once", name)
	}
	assert.Less(t, len(tested), 20, "the bad end is not tested for ever: %v", tested)
	assert.Equal(t, len(tested)-len(skipped), d.Runs)
	assert.Less(t, d.NoRegressionProbability, 0.01)
}

// A weak verdict moves the posterior less than an ordinary one, and a
// verdict of weight w counts as w verdicts.
func TestFlakyWeakEvidence(t *testing.T) {
	h := newHistory(t)
	h.linear(20)
	f := h.newFlaky("c19", []string{"c0"}, FlakyOptions{})
	base := []Observation{pass("c0"), fail("c19")}
	weak := Observation{Commit: id("c10"), Outcome: Failed, Weight: 0.25}
	strong := fail("c10")

	bad := func(obs []Observation, name string) float64 {
		post, err := f.Posterior(obs)
		require.NoError(t, err)
		for _, c := range post.Commits {
			if c.Commit == id(name) {
				return c.Bad
			}
		}
		t.Fatalf("%s is not a candidate", name)
		return 0
	}
	before := bad(base, "c10")
	withWeak := bad(append(slices.Clone(base), weak), "c10")
	withStrong := bad(append(slices.Clone(base), strong), "c10")
	assert.Greater(t, withWeak, before)
	assert.Greater(t, withStrong, withWeak)

	four := append(slices.Clone(base), weak, weak, weak, weak)
	assert.InDelta(t, withStrong, bad(four, "c10"), 1e-9, "four runs of weight 1/4 count as one")
}

func TestFlakyBadObservations(t *testing.T) {
	h := newHistory(t)
	h.linear(5)
	f := h.newFlaky("c4", []string{"c0"}, FlakyOptions{})
	for _, o := range []Observation{
		{Commit: id("c2"), Outcome: Failed},
		{Commit: id("c2"), Outcome: Passed, Weight: 1.5},
		{Commit: id("c2"), Outcome: Passed, Weight: -1},
		{Commit: id("c2"), Weight: 1},
	} {
		_, err := f.Next([]Observation{pass("c0"), o}, 1)
		assert.ErrorContains(t, err, "observation 1 at "+id("c2").String())
		_, err = f.Posterior([]Observation{o})
		assert.Error(t, err)
	}
	_, err := f.Next([]Observation{{Commit: id("c2"), Outcome: Skipped}}, 1)
	assert.NoError(t, err, "a skip needs no weight")

	_, err = f.Next([]Observation{pass("gone")}, 1)
	var missing *MissingCommitError
	assert.ErrorAs(t, err, &missing)
}

func TestFlakyRangeErrors(t *testing.T) {
	h := newHistory(t)
	h.linear(3)
	_, err := NewFlaky(h.graph, []Hash{id("c2")}, id("c1"), FlakyOptions{})
	assert.ErrorIs(t, err, ErrBadIsGood)
	_, err = NewFlaky(h.graph, []Hash{id("c0")}, Hash{}, FlakyOptions{})
	assert.Error(t, err)

	h = newHistory(t)
	h.add("A", 1, "v0")
	h.add("B", 2, "v1", "A")
	h.add("C", 3, "v1", "B")
	_, err = NewFlaky(h.graph, []Hash{id("B")}, id("C"), FlakyOptions{Options: Options{Paths: true}})
	assert.ErrorIs(t, err, ErrNoTestableCommit)
	_, err = NewFlaky(struct{ Graph }{h.graph}, []Hash{id("A")}, id("C"), FlakyOptions{Options: Options{Paths: true}})
	assert.ErrorIs(t, err, errNoPathKeys)

	for _, opt := range []FlakyOptions{
		{Confidence: 0.5}, {Confidence: 1}, {FlakeRate: 0.5}, {FlakeRate: -0.1},
		{NoRegressionPrior: 1}, {NoRegressionPrior: -1}, {MaxRuns: -1},
	} {
		_, err := NewFlaky(h.graph, []Hash{id("A")}, id("C"), opt)
		assert.Error(t, err, "%+v", opt)
	}
}

// With paths, the candidates are git's: the commits that change the paths,
// and bad, even when it does not.
func TestFlakyPathsCandidates(t *testing.T) {
	h := treesameHistory(t)
	f := h.newFlaky("E", []string{"A"}, FlakyOptions{Options: Options{Paths: true}})
	post, err := f.Posterior(nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"C", "E"}, h.candidateNames(post))
	assert.Equal(t, 2, f.Candidates())

	// A run at D, TREESAME and no candidate, still counts: D is bad
	// exactly when C is the first bad commit.
	post, err = f.Posterior([]Observation{fail("D"), fail("D"), fail("D")})
	require.NoError(t, err)
	assert.Greater(t, post.Commits[0].FirstBad, post.Commits[1].FirstBad)
}

// Runs outside the range count by what the commit reaches in the graph:
// with --first-parent, the side branch merged by M reaches no candidate,
// a branch forked from B reaches B, and a commit after bad reaches all.
func TestFlakyObservationsOutsideTheRange(t *testing.T) {
	h := firstParentHistory(t)
	h.add("F", 7, "", "B")
	h.add("N", 8, "", "D")
	f := h.newFlaky("D", []string{"A"}, FlakyOptions{Options: Options{FirstParent: true}})
	post, err := f.Posterior(nil)
	require.NoError(t, err)
	require.Equal(t, []string{"B", "M", "D"}, h.candidateNames(post))

	for name, want := range map[string][]string{
		"S2": nil,
		"F":  {"B"},
		"N":  {"B", "M", "D"},
		"A":  nil,
		"M":  {"B", "M"},
	} {
		spans, err := f.reach(id(name))
		require.NoError(t, err)
		var got []string
		for _, s := range spans {
			for q := s.lo; q <= s.hi; q++ {
				if f.candidate[q] {
					got = append(got, h.name(f.hashes[q]))
				}
			}
		}
		assert.Equal(t, want, got, "what %s reaches", name)
	}
}

func TestFlakyKProbes(t *testing.T) {
	h := newHistory(t)
	h.linear(100)
	f := h.newFlaky("c99", []string{"c0"}, FlakyOptions{})
	obs := []Observation{pass("c0"), fail("c99")}
	d, err := f.Next(obs, 3)
	require.NoError(t, err)
	require.Len(t, d.Commits, 3)
	// The middle first, then a quarter and three quarters of the way,
	// by the probability of being bad.
	post, err := f.Posterior(obs)
	require.NoError(t, err)
	bad := map[Hash]float64{}
	for _, c := range post.Commits {
		bad[c.Commit] = c.Bad
	}
	for i, q := range []float64{0.5, 0.25, 0.75} {
		assert.InDelta(t, q, bad[d.Commits[i]], 0.01, "probe %d", i)
	}

	one, err := f.Next(obs, 1)
	require.NoError(t, err)
	zero, err := f.Next(obs, 0)
	require.NoError(t, err)
	assert.Equal(t, one, zero, "k below 1 counts as 1")

	// On a small range k can exceed the commits worth testing.
	h = newHistory(t)
	h.linear(3)
	d, err = h.newFlaky("c2", []string{"c0"}, FlakyOptions{}).Next([]Observation{pass("c0"), fail("c2")}, 10)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"c1", "c2", "c0"}, h.namesOf(d.Commits), "the good end may be bad too")
}

// Replaying the same observations gives the same decision; reordering
// runs of weight 1 changes nothing either.
func TestFlakyIsAFunctionOfTheObservations(t *testing.T) {
	g, main := largeHistory(3000)
	f, err := NewFlaky(g, []Hash{main[len(main)-60]}, main[len(main)-1], FlakyOptions{})
	require.NoError(t, err)
	post, err := f.Posterior(nil)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	var obs []Observation
	for range 40 {
		c := post.Commits[rng.IntN(len(post.Commits))].Commit
		obs = append(obs, Observation{Commit: c, Outcome: Outcome(1 + rng.IntN(2)), Weight: 1})
	}
	first, err := f.Next(obs, 3)
	require.NoError(t, err)
	again, err := f.Next(slices.Clone(obs), 3)
	require.NoError(t, err)
	assert.Equal(t, first, again)

	g2, _ := largeHistory(3000)
	fresh, err := NewFlaky(g2, []Hash{main[len(main)-60]}, main[len(main)-1], FlakyOptions{})
	require.NoError(t, err)
	replayed, err := fresh.Next(obs, 3)
	require.NoError(t, err)
	assert.Equal(t, first, replayed, "a new search over the same graph answers the same")

	rng.Shuffle(len(obs), func(i, j int) { obs[i], obs[j] = obs[j], obs[i] })
	shuffled, err := f.Next(obs, 3)
	require.NoError(t, err)
	assert.Equal(t, first, shuffled)
}

// The posterior lists the candidates parents first, and its
// probabilities add up with "no regression" to 1.
func TestFlakyPosterior(t *testing.T) {
	g, main := largeHistory(3000)
	for _, opt := range []Options{{}, {FirstParent: true}, {Paths: true}} {
		f, err := NewFlaky(g, []Hash{main[len(main)-80]}, main[len(main)-1], FlakyOptions{Options: opt})
		require.NoError(t, err)
		post, err := f.Posterior([]Observation{
			{Commit: main[len(main)-80], Outcome: Passed, Weight: 1},
			{Commit: main[len(main)-1], Outcome: Failed, Weight: 1},
			{Commit: main[len(main)-40], Outcome: Failed, Weight: 0.5},
		})
		require.NoError(t, err)
		require.Len(t, post.Commits, f.Candidates())
		seen := map[Hash]bool{}
		total := post.NoRegression + post.Older
		for _, c := range post.Commits {
			for _, p := range g[c.Commit].Parents {
				if opt.Paths {
					break // merges are simplified; TestFlakyReachSpans checks the order
				}
				if _, inRange := f.posOf[p]; inRange && f.candidate[f.posOf[p]] && (!opt.FirstParent || p == g[c.Commit].Parents[0]) {
					assert.True(t, seen[p], "a parent comes before its child")
				}
			}
			seen[c.Commit] = true
			total += c.FirstBad
			assert.GreaterOrEqual(t, c.Bad, c.FirstBad-1e-12)
		}
		assert.InDelta(t, 1, total, 1e-9)
		last := post.Commits[len(post.Commits)-1]
		assert.Equal(t, main[len(main)-1], last.Commit, "bad comes last")
		assert.InDelta(t, 1-post.NoRegression, last.Bad, 1e-9, "bad reaches every candidate")
		assert.GreaterOrEqual(t, post.Commits[0].Bad, post.Older)
	}
}

// What each commit reaches, as spans of the order, is what walking the
// range's parents finds, on random histories with skewed dates, several
// roots, octopus merges and paths.
func TestFlakyReachSpans(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 200; i++ {
		h, st, ok := tangledHistory(t, rng)
		if !ok {
			continue
		}
		opt := Options{Paths: rng.IntN(2) == 0, FirstParent: rng.IntN(3) == 0}
		f, err := NewFlaky(h.graph, st.Good, st.Bad, FlakyOptions{Options: opt})
		if err == ErrNoTestableCommit {
			continue
		}
		require.NoError(t, err)

		list := bisectionList(t, h.graph, st, opt)
		d, err := newRangeDAG(list, opt.FirstParent)
		require.NoError(t, err)
		require.Len(t, f.hashes, len(list))
		for li, c := range list {
			want := map[Hash]bool{}
			stack := []int32{int32(li)}
			for len(stack) > 0 {
				x := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if !want[list[x].id] {
					want[list[x].id] = true
					stack = append(stack, d.parentsOf(x)...)
				}
			}
			got := map[Hash]bool{}
			spans := f.index.spansAt(f.posOf[c.id])
			for j, s := range spans {
				require.LessOrEqual(t, s.lo, s.hi)
				if j > 0 {
					require.Greater(t, s.lo, spans[j-1].hi+1, "spans are disjoint and apart")
				}
				for q := s.lo; q <= s.hi; q++ {
					got[f.hashes[q]] = true
				}
			}
			require.Equal(t, want, got, "graph %d, commit %s (%+v)", i, h.name(c.id), opt)
		}
	}
}
