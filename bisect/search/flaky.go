package search

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Outcome is what one run of the test at a commit said.
type Outcome int

const (
	// Passed: the run passed, git's good (or old).
	Passed Outcome = iota + 1
	// Failed: the run failed, git's bad (or new).
	Failed
	// Skipped: the run could not tell, git's skip. It is no evidence, and
	// the search does not propose the commit again.
	Skipped
)

func (o Outcome) String() string {
	switch o {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Observation is one run of the test at a commit.
type Observation struct {
	Commit  Hash
	Outcome Outcome
	// Weight is how much a passed or failed run counts, in (0, 1]: 1 for
	// an ordinary verdict, less for weak evidence, such as a measured
	// comparison still undecided at its cap, or a timeout or an OOM kill
	// on a busy machine. A run of weight w counts as w runs would: its
	// likelihood is raised to the power w. It is ignored for Skipped.
	Weight float64
}

// Candidate is a commit with its probability of being the first bad one.
type Candidate struct {
	Commit      Hash
	Probability float64
}

// Decision is what the flake-aware search says after some observations.
type Decision struct {
	Kind Kind
	// Commits are the commits to test next (Test): distinct, at most as
	// many as asked for; the ends not yet tested first, then the most
	// informative first.
	Commits []Hash
	// Commit is the first bad commit (Found); otherwise the leading
	// candidate, zero when "no regression in the range" leads.
	Commit Hash
	// Confidence is the probability of the answer: that Commit is the
	// first bad commit (Found) or that nothing in the range regressed
	// (NoRegression). For Test and Inconclusive it is that of the answer
	// leading so far.
	Confidence float64
	// NoRegressionProbability is the probability that nothing in the range
	// regressed and the failures seen were flakes; OlderProbability that
	// the good ends are bad too, so that whatever regressed is older than
	// the range (or the test fails for another reason everywhere). Either
	// way nothing in the range regressed: NoRegression is answered when
	// their sum reaches the confidence.
	NoRegressionProbability, OlderProbability float64
	// Top are the most probable first bad commits, at most five, most
	// probable first.
	Top []Candidate
	// BadPasses and GoodFails are the estimated flake rates: how often a
	// bad commit passes and a good one fails (posterior means).
	BadPasses, GoodFails float64
	// Runs counts the passed and failed runs observed, whatever their
	// weight; MaxRuns is the budget after which the search gives up.
	Runs, MaxRuns int
	// Candidates is the number of commits that could be the first bad one.
	Candidates int
}

// Posterior is the whole belief over the range, for a report's chart.
type Posterior struct {
	// NoRegression and Older are Decision's NoRegressionProbability and
	// OlderProbability.
	NoRegression, Older float64
	// Commits are the candidates in topological order, oldest first.
	Commits []CommitPosterior
}

// CommitPosterior is one candidate's share of the posterior.
type CommitPosterior struct {
	Commit Hash
	// FirstBad is the probability that the commit is the first bad one;
	// Bad that it is bad (that it reaches the first bad commit, or the
	// good ends are bad too).
	FirstBad, Bad float64
}

// Searcher is a search that a session drives with the runs so far. It
// derives everything from the observations, so that resuming a session is
// replaying its journal. The flake-aware search is one; git's search,
// which believes every verdict, can be put behind it.
type Searcher interface {
	// Next says what to do after the observations: test up to k commits
	// (k below 1 counts as 1), or stop with an answer.
	Next(obs []Observation, k int) (Decision, error)
}

var _ Searcher = (*Flaky)(nil)

// Defaults of FlakyOptions.
const (
	DefaultConfidence        = 0.95
	DefaultFlakeRate         = 0.15
	DefaultNoRegressionPrior = 0.5
)

// olderShare is the share of FlakyOptions.NoRegressionPrior that goes to
// "the good ends are bad too".
const olderShare = 0.1

// rateStrength is how many runs each Beta component of a rate's prior is
// worth (the sum of its parameters).
const rateStrength = 20

// maxRateMean caps the mean of a prior's components: a rate at 1/2 would
// make a verdict worthless, and a bad commit that passed more often than
// not would be a good one that fails.
const maxRateMean = 0.45

// maxRunsPerBit scales the default budget: this many runs per bit needed to
// name one of the candidates, plus the ends (see FlakyOptions.MaxRuns).
const maxRunsPerBit = 8

// FlakyOptions configure the flake-aware search. The zero value asks for
// the defaults.
type FlakyOptions struct {
	// Options choose the range as for git's search: --first-parent and
	// path limiting.
	Options
	// Confidence is the probability at which an answer is given;
	// 0 means DefaultConfidence.
	Confidence float64
	// MaxRuns is the number of passed and failed runs after which the
	// search gives up (Inconclusive). 0 means 8 * (log2(n) + 2), rounded
	// up, for n candidates: 8 runs for each bit that naming one of them
	// takes, and for the two ends; 80 runs for 250 candidates, 123 for
	// 10,000. A deterministic test needs about log2(n) + 7, a test wrong
	// one time in ten about three times log2(n), one time in five about
	// five times (see flaky_sim_test.go).
	MaxRuns int
	// FlakeRate is the typical rate of wrong verdicts to expect: the prior
	// of each flake rate (bad commits passing, good ones failing) is a
	// mixture of Beta distributions around FlakeRate/16, FlakeRate/3,
	// FlakeRate and 2*FlakeRate, with mean about 1.07*FlakeRate; the rates
	// themselves are learned from the runs. 0 means DefaultFlakeRate.
	// Say 0.3 for a test known to be very flaky, and allow it more runs:
	// in simulation, of the answers for a test whose bad commits pass 40%
	// of the time, 72% were right with the default and 92% with 0.3 (the
	// confidence claimed was 95%). Say 0.001 for a test known to be
	// deterministic.
	FlakeRate float64
	// NoRegressionPrior is the prior probability that nothing in the range
	// regressed, a tenth of it for "the good ends are bad too"; 0 means
	// DefaultNoRegressionPrior.
	NoRegressionPrior float64
	// NoVerify leaves out the runs at the ends that Next otherwise asks for
	// first.
	NoVerify bool
}

// Flaky is the flake-aware search: a Bayesian search over the range git's
// search bisects, for tests that can give a wrong verdict.
//
// It weighs n+2 hypotheses: for each candidate c (the commits of
// `bad ^good...` that git would count, those not TREESAME for the paths,
// and bad itself), "c is the first bad commit", under which a commit is
// bad exactly when it reaches c (c is the commit or one of its ancestors);
// "no regression", under which every commit is good and the failures seen
// at the bad end were flakes; and "the good ends are bad too", under which
// the good ends and the whole range are bad, so that whatever regressed is
// older than the range (the gate git-exact sessions keep at the ends).
// These two share the prior probability FlakyOptions.NoRegressionPrior,
// 1/2 by default (the search does not take a regression on trust), nine
// tenths of it to "no regression"; the candidates share the rest equally.
//
// A bad commit passes with an unknown rate a, and a good one fails with an
// unknown rate b. Both are integrated out under each hypothesis, as
// git-bayesect does: a hypothesis's likelihood is the Beta-Bernoulli
// marginal of the passes and fails at the commits it calls bad, times that
// of the runs at the commits it calls good. The prior of each rate is a
// mixture of Betas (see FlakyOptions.FlakeRate) with mass near 0, so that a
// deterministic test converges like bisection, a few runs longer to be
// sure, and at rates up to 30%, so that those are learned rather than
// explained away by blaming a later commit. A run counts wherever it was:
// at the ends, at candidates, at TREESAME commits, at commits tested
// before (which is how a flake shows) and outside the range, where a
// commit is bad under "c is first bad" when it reaches c in the
// repository's graph.
//
// Next proposes the commit whose probability of being bad (the total
// probability of the candidates it reaches, and of "the good ends are bad
// too") is nearest one half: a run there tells the most. On a line of
// commits that is where the posterior's mass crosses one half, as
// bisection's middle is for a uniform one. For k commits at once it takes
// those nearest 1/(k+1), ..., k/(k+1). A commit tested before, an end
// included, is proposed again when it tells the most. Next answers Found
// once a candidate reaches the confidence, NoRegression once the two
// hypotheses without a regression in the range together do, and
// Inconclusive once the runs are spent or every commit that could tell
// something was skipped.
//
// The confidence is calibrated when the test's flake rates are within the
// prior's reach: in simulation, of the answers given at 0.95, at least 95%
// were right, for tests that are deterministic or wrong up to one time in
// five, and for ranges with no regression and a test failing 30% of the
// time everywhere.
//
// Flaky is deterministic: its answers depend on the observations alone, so
// replaying a journal gives the same answers (reordering them changes
// nothing but rounding). It does no I/O beyond its Graph, and is safe for
// concurrent use.
type Flaky struct {
	graph Graph
	// goods are the good ends without repeats, in the caller's order;
	// bad is the bad end.
	goods []Hash
	bad   Hash

	confidence float64
	maxRuns    int
	noVerify   bool
	// rates is the prior of a (bad passes) and of b (good fails).
	rates ratePrior
	// logPriorCandidate, logPriorNone and logPriorOlder are the log
	// prior of each "c is first bad", of "no regression" and of "the good
	// ends are bad too".
	logPriorCandidate, logPriorNone, logPriorOlder float64

	// The range, by position in topological order, oldest first.
	hashes    []Hash
	candidate []bool
	posOf     map[Hash]int32
	index     *rangeIndex
	// candidates are the candidates' positions, ascending.
	candidates []int32

	mu sync.Mutex
	// outside holds what commits outside the range reach, found on first
	// use.
	outside map[Hash][]span
}

// Errors of bad options, each naming the way out.
var (
	errFlakyConfidence  = fmt.Errorf("the confidence must be above 0.5 and below 1 (0 takes the default, %g)", DefaultConfidence)
	errFlakyRate        = fmt.Errorf("the flake rate must be at least 0 and below 0.5 (0 takes the default, %g)", DefaultFlakeRate)
	errFlakyNoRegPrior  = fmt.Errorf("the prior of no regression must be at least 0 and below 1 (0 takes the default, %g)", DefaultNoRegressionPrior)
	errFlakyMaxRuns     = errors.New("the budget of runs must not be negative (0 takes the default)")
	errFlakyNoBadCommit = errors.New("bisect search: no bad commit")
)

// NewFlaky prepares a flake-aware search of the range `bad ^good...`
// (with opt's FirstParent and Paths, as git's search walks it), computing
// the range and what each commit reaches once. It returns ErrBadIsGood
// when the range is empty and ErrNoTestableCommit when every commit of it
// is TREESAME for the paths, as Next does. The good commits need not be
// ancestors of the bad one; unlike git, the search does not test merge
// bases (CheckMergeBases can, before).
func NewFlaky(g Graph, good []Hash, bad Hash, opt FlakyOptions) (*Flaky, error) {
	if bad.IsZero() {
		return nil, errFlakyNoBadCommit
	}
	if err := resolveFlakyOptions(&opt); err != nil {
		return nil, err
	}
	p := newPool(g)
	if opt.Paths && p.pathKeys == nil {
		return nil, errNoPathKeys
	}
	f := &Flaky{
		graph:      g,
		bad:        bad,
		confidence: opt.Confidence,
		noVerify:   opt.NoVerify,
		rates:      newRatePrior(opt.FlakeRate),
		outside:    map[Hash][]span{},
	}
	for _, h := range good {
		if !slices.Contains(f.goods, h) {
			f.goods = append(f.goods, h)
		}
	}

	args := []walkArg{{id: bad}}
	for _, h := range refs(f.goods) {
		args = append(args, walkArg{id: h, negative: true})
	}
	w := &revWalk{pool: p, firstParent: opt.FirstParent, prune: opt.Paths}
	if err := w.run(args); err != nil {
		return nil, err
	}
	list, nr := interestingList(&w.popped)
	if len(list) == 0 {
		return nil, ErrBadIsGood
	}
	if nr == 0 {
		return nil, ErrNoTestableCommit
	}
	d, err := newRangeDAG(list, opt.FirstParent)
	if err != nil {
		return nil, err
	}
	if f.index, err = newRangeIndex(d); err != nil {
		return nil, err
	}
	n := len(list)
	f.hashes = make([]Hash, n)
	f.candidate = make([]bool, n)
	f.posOf = make(map[Hash]int32, n)
	for q, li := range f.index.order {
		c := list[li]
		f.hashes[q] = c.id
		f.posOf[c.id] = int32(q)
		if c.flags&flagTreesame == 0 || c.id == bad {
			f.candidate[q] = true
			f.candidates = append(f.candidates, int32(q))
		}
	}

	nc := float64(len(f.candidates))
	f.logPriorNone = math.Log((1 - olderShare) * opt.NoRegressionPrior)
	f.logPriorOlder = math.Log(olderShare * opt.NoRegressionPrior)
	f.logPriorCandidate = math.Log((1 - opt.NoRegressionPrior) / nc)
	f.maxRuns = opt.MaxRuns
	if f.maxRuns == 0 {
		f.maxRuns = int(math.Ceil(maxRunsPerBit * (math.Log2(nc) + 2)))
	}
	return f, nil
}

func resolveFlakyOptions(opt *FlakyOptions) error {
	switch {
	case opt.Confidence == 0:
		opt.Confidence = DefaultConfidence
	case !(opt.Confidence > 0.5 && opt.Confidence < 1):
		return errFlakyConfidence
	}
	switch {
	case opt.FlakeRate == 0:
		opt.FlakeRate = DefaultFlakeRate
	case !(opt.FlakeRate > 0 && opt.FlakeRate < 0.5):
		return errFlakyRate
	}
	switch {
	case opt.NoRegressionPrior == 0:
		opt.NoRegressionPrior = DefaultNoRegressionPrior
	case !(opt.NoRegressionPrior > 0 && opt.NoRegressionPrior < 1):
		return errFlakyNoRegPrior
	}
	if opt.MaxRuns < 0 {
		return errFlakyMaxRuns
	}
	return nil
}

// Candidates returns the number of commits that could be the first bad one.
func (f *Flaky) Candidates() int { return len(f.candidates) }

// MaxRuns returns the budget of runs.
func (f *Flaky) MaxRuns() int { return f.maxRuns }

// Next says what to do after the observations: run the test at up to k
// commits (Test), or stop: Found, NoRegression or Inconclusive. Before
// anything else it asks for one run at each good end and then at the bad
// end, unless FlakyOptions.NoVerify is set or they have been observed
// (a skipped run counts). To keep k benches busy while some are running,
// ask for more and leave out the commits already running.
func (f *Flaky) Next(obs []Observation, k int) (Decision, error) {
	k = max(k, 1)
	ev, b, err := f.posterior(obs)
	if err != nil {
		return Decision{}, err
	}
	d := f.summary(b, ev)

	var ends []Hash
	if !f.noVerify {
		for _, h := range append(slices.Clone(f.goods), f.bad) {
			if _, seen := ev.at[h]; !seen && len(ends) < k {
				ends = append(ends, h)
			}
		}
	}
	switch {
	case len(ends) > 0:
		d.Kind = Test
		d.Commits = append(ends, f.probes(b, ev, k-len(ends), ends)...)
		return d, nil
	case d.Confidence >= f.confidence && d.Commit.IsZero():
		d.Kind = NoRegression
		return d, nil
	case d.Confidence >= f.confidence:
		d.Kind = Found
		return d, nil
	case ev.runs >= f.maxRuns:
		d.Kind = Inconclusive
		return d, nil
	}
	d.Commits = f.probes(b, ev, k, nil)
	if len(d.Commits) == 0 {
		d.Kind = Inconclusive
		return d, nil
	}
	d.Kind = Test
	return d, nil
}

// Posterior returns the whole belief after the observations: every
// candidate's probability of being the first bad one and of being bad, in
// topological order, oldest first.
func (f *Flaky) Posterior(obs []Observation) (Posterior, error) {
	_, b, err := f.posterior(obs)
	if err != nil {
		return Posterior{}, err
	}
	out := Posterior{NoRegression: b.none, Older: b.older, Commits: make([]CommitPosterior, 0, len(f.candidates))}
	for _, q := range f.candidates {
		out.Commits = append(out.Commits, CommitPosterior{Commit: f.hashes[q], FirstBad: b.firstBad[q], Bad: b.badAt(f.index.spansAt(q))})
	}
	return out, nil
}

// posterior gathers the observations and weighs them.
func (f *Flaky) posterior(obs []Observation) (evidence, belief, error) {
	ev, err := tally(obs)
	if err != nil {
		return evidence{}, belief{}, err
	}
	b, err := f.believe(ev)
	return ev, b, err
}

// evidence is the observations gathered by commit.
type evidence struct {
	commits []observed // in the order first observed
	at      map[Hash]int
	runs    int
}

// observed is what was seen at one commit.
type observed struct {
	commit        Hash
	passes, fails float64 // weighted
	skipped       bool
}

func tally(obs []Observation) (evidence, error) {
	ev := evidence{at: map[Hash]int{}}
	for i, o := range obs {
		switch o.Outcome {
		case Passed, Failed, Skipped:
		default:
			return evidence{}, fmt.Errorf("observation %d at %s has outcome %d; it must be Passed, Failed or Skipped", i, o.Commit, int(o.Outcome))
		}
		if o.Outcome != Skipped && !(o.Weight > 0 && o.Weight <= 1) {
			return evidence{}, fmt.Errorf("observation %d at %s has weight %g; a run's weight is above 0 and at most 1 (1 for an ordinary verdict; a run that tells nothing is Skipped)", i, o.Commit, o.Weight)
		}
		j, ok := ev.at[o.Commit]
		if !ok {
			j = len(ev.commits)
			ev.at[o.Commit] = j
			ev.commits = append(ev.commits, observed{commit: o.Commit})
		}
		switch o.Outcome {
		case Passed:
			ev.commits[j].passes += o.Weight
			ev.runs++
		case Failed:
			ev.commits[j].fails += o.Weight
			ev.runs++
		case Skipped:
			ev.commits[j].skipped = true
		}
	}
	return ev, nil
}

// belief is the posterior after some evidence.
type belief struct {
	// firstBad is each position's probability of being the first bad
	// commit (0 for commits that are not candidates); cum its prefix sums.
	firstBad []float64
	cum      []float64
	// none and older are the probabilities of "no regression" and of "the
	// good ends are bad too".
	none, older float64
	// badPasses and goodFails are the posterior means of the flake rates.
	badPasses, goodFails float64
}

// badAt is the probability that a commit of the range, or a good end,
// reaching spans is bad.
func (b *belief) badAt(spans []span) float64 {
	p := b.older
	for _, s := range spans {
		p += b.cum[s.hi+1] - b.cum[s.lo]
	}
	return min(max(p, 0), 1)
}

// lbeta is the log of the Beta function.
func lbeta(x, y float64) float64 {
	a, _ := math.Lgamma(x)
	b, _ := math.Lgamma(y)
	c, _ := math.Lgamma(x + y)
	return a + b - c
}

// ratePrior is the prior of a flake rate, a mixture of Beta
// distributions: mass near 0, so that a deterministic test converges like
// bisection, and enough at higher rates that they are learned, not
// explained away by moving the first bad commit.
type ratePrior []betaComponent

type betaComponent struct {
	alpha, beta float64
	// logWeight is the log of the component's weight, the weights summing
	// to 1; logNorm is lbeta(alpha, beta).
	logWeight, logNorm float64
}

// newRatePrior returns the prior of a flake rate for FlakeRate m: Beta
// distributions at m/16, m/3, m and 2m, weighted 1, 1, 2 and 2, whose
// mixture has mean 1.07m. Tuned by simulation (flaky_sim_test.go): with
// more weight near 0, tests flakier than that get wrong commits named with
// confidence; with more at high rates, a range without a regression, where
// the test fails 30% of the time everywhere, is rarely found so, as a bad
// end that passes often is then no sign of it.
func newRatePrior(m float64) ratePrior {
	mixture := [...]struct{ scale, weight float64 }{{1.0 / 16, 1}, {1.0 / 3, 1}, {1, 2}, {2, 2}}
	r := make(ratePrior, len(mixture))
	for i, c := range mixture {
		mean := min(m*c.scale, maxRateMean)
		a, b := mean*rateStrength, (1-mean)*rateStrength
		r[i] = betaComponent{alpha: a, beta: b, logWeight: math.Log(c.weight / 6), logNorm: lbeta(a, b)}
	}
	return r
}

// marginal returns the log probability of a sequence of runs of which
// wrong were flakes and right were not, with the rate integrated out, and
// the rate's posterior mean.
func (r ratePrior) marginal(wrong, right float64) (logL, mean float64) {
	var logs [8]float64
	top := math.Inf(-1)
	for i, c := range r {
		logs[i] = c.logWeight + lbeta(c.alpha+wrong, c.beta+right) - c.logNorm
		top = max(top, logs[i])
	}
	sum := 0.0
	for i, c := range r {
		w := math.Exp(logs[i] - top)
		sum += w
		mean += w * (c.alpha + wrong) / (c.alpha + c.beta + wrong + right)
	}
	return top + math.Log(sum), mean / sum
}

// reach returns the spans of candidates that a commit reaches.
func (f *Flaky) reach(h Hash) ([]span, error) {
	if q, ok := f.posOf[h]; ok {
		return f.index.spansAt(q), nil
	}
	if slices.Contains(f.goods, h) {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.outside[h]; ok {
		return s, nil
	}
	// What the commit reaches of the range lies in `h ^good...`: a
	// candidate is not reachable from a good commit.
	args := []walkArg{{id: h}}
	for _, g := range refs(f.goods) {
		args = append(args, walkArg{id: g, negative: true})
	}
	w := &revWalk{pool: newPool(f.graph)}
	if err := w.run(args); err != nil {
		return nil, err
	}
	var spans []span
	for c := range w.popped.all() {
		if q, ok := f.posOf[c.id]; ok && c.flags&flagUninteresting == 0 {
			spans = append(spans, f.index.spansAt(q)...)
		}
	}
	spans = slices.Clip(mergeSpans(spans))
	f.outside[h] = spans
	return spans, nil
}

// believe computes the posterior. Under "c is first bad" the runs at
// commits reaching c are runs at bad commits; difference arrays over the
// topological order give every candidate its counts in one pass. Under
// "no regression" no run is at a bad commit; under "the good ends are bad
// too" every run is that is at a good end, in the range, or at a commit
// reaching the range.
func (f *Flaky) believe(ev evidence) (belief, error) {
	n := len(f.hashes)
	passDiff := make([]float64, n+1)
	failDiff := make([]float64, n+1)
	var all, older counts
	for _, o := range ev.commits {
		if o.passes == 0 && o.fails == 0 {
			continue
		}
		all.passes += o.passes
		all.fails += o.fails
		spans, err := f.reach(o.commit)
		if err != nil {
			return belief{}, err
		}
		if _, inRange := f.posOf[o.commit]; inRange || len(spans) > 0 || slices.Contains(f.goods, o.commit) {
			older.passes += o.passes
			older.fails += o.fails
		}
		for _, s := range spans {
			passDiff[s.lo] += o.passes
			passDiff[s.hi+1] -= o.passes
			failDiff[s.lo] += o.fails
			failDiff[s.hi+1] -= o.fails
		}
	}

	none := f.likelihood(counts{}, all)
	none.log += f.logPriorNone
	old := f.likelihood(older, all)
	old.log += f.logPriorOlder
	byCandidate := make([]likelihood, n)
	best := max(none.log, old.log)
	// Hypotheses that count the same runs as bad share their
	// likelihood: neighbours in the order mostly do, and the others
	// often.
	known := map[counts]likelihood{}
	var bad, last counts
	var lastL likelihood
	have := false
	for q := range n {
		bad.passes += passDiff[q]
		bad.fails += failDiff[q]
		if !f.candidate[q] {
			continue
		}
		// Rounding in the running sums must not make a count negative.
		c := counts{max(bad.passes, 0), max(bad.fails, 0)}
		if !have || c != last {
			l, ok := known[c]
			if !ok {
				l = f.likelihood(c, all)
				l.log += f.logPriorCandidate
				known[c] = l
			}
			last, lastL, have = c, l, true
		}
		byCandidate[q] = lastL
		best = max(best, lastL.log)
	}

	b := belief{firstBad: make([]float64, n), cum: make([]float64, n+1)}
	b.none = math.Exp(none.log - best)
	b.older = math.Exp(old.log - best)
	total := b.none + b.older
	for _, q := range f.candidates {
		b.firstBad[q] = math.Exp(byCandidate[q].log - best)
		total += b.firstBad[q]
	}
	b.none /= total
	b.older /= total
	b.badPasses = b.none*none.badPasses + b.older*old.badPasses
	b.goodFails = b.none*none.goodFails + b.older*old.goodFails
	for q := range n {
		b.firstBad[q] /= total
		b.cum[q+1] = b.cum[q] + b.firstBad[q]
		b.badPasses += b.firstBad[q] * byCandidate[q].badPasses
		b.goodFails += b.firstBad[q] * byCandidate[q].goodFails
	}
	return b, nil
}

// counts are the weighted passed and failed runs of a set of commits.
type counts struct{ passes, fails float64 }

// likelihood is a hypothesis's log likelihood and the posterior means of
// the flake rates under it.
type likelihood struct{ log, badPasses, goodFails float64 }

// likelihood returns that of a hypothesis under which the runs bad were
// at bad commits, and the rest of all at good ones.
func (f *Flaky) likelihood(bad, all counts) likelihood {
	logA, a := f.rates.marginal(bad.passes, bad.fails)
	logB, b := f.rates.marginal(max(all.fails-bad.fails, 0), max(all.passes-bad.passes, 0))
	return likelihood{log: logA + logB, badPasses: a, goodFails: b}
}

// topCandidates is how many candidates a Decision lists.
const topCandidates = 5

// summary fills what a Decision says whatever its kind.
func (f *Flaky) summary(b belief, ev evidence) Decision {
	d := Decision{
		NoRegressionProbability: b.none,
		OlderProbability:        b.older,
		BadPasses:               b.badPasses,
		GoodFails:               b.goodFails,
		Runs:                    ev.runs,
		MaxRuns:                 f.maxRuns,
		Candidates:              len(f.candidates),
	}
	// The most probable candidates, earlier positions first among equals.
	for _, q := range f.candidates {
		p := b.firstBad[q]
		i := len(d.Top)
		for i > 0 && d.Top[i-1].Probability < p {
			i--
		}
		if i < topCandidates {
			d.Top = slices.Insert(d.Top, i, Candidate{Commit: f.hashes[q], Probability: p})
			if len(d.Top) > topCandidates {
				d.Top = d.Top[:topCandidates]
			}
		}
	}
	d.Confidence = b.none + b.older
	if len(d.Top) > 0 && d.Top[0].Probability > d.Confidence {
		d.Commit, d.Confidence = d.Top[0].Commit, d.Top[0].Probability
	}
	return d
}

// settled is how sure the search must be that a commit is bad, or good,
// for a run there to be not worth its time. Without it, a search whose
// remaining doubt is among skipped commits would test the bad end until
// its budget is spent.
const settled = 1e-3

// probes picks up to k commits to test: for each target 1/(k+1), ...,
// k/(k+1), nearest one half first, the commit not yet picked whose
// probability of being bad is nearest to it, among the good ends and the
// candidates, the older on ties. Skipped commits, those in taken and those
// whose state is settled are left out.
func (f *Flaky) probes(b belief, ev evidence, k int, taken []Hash) []Hash {
	if k <= 0 {
		return nil
	}
	leftOut := make(map[Hash]bool, len(taken))
	for _, o := range ev.commits {
		if o.skipped {
			leftOut[o.commit] = true
		}
	}
	for _, h := range taken {
		leftOut[h] = true
	}
	type option struct {
		commit Hash
		bad    float64
	}
	var options []option
	consider := func(h Hash, spans []span) {
		if leftOut[h] {
			return
		}
		if bad := b.badAt(spans); bad >= settled && bad <= 1-settled {
			options = append(options, option{commit: h, bad: bad})
		}
	}
	// The good ends are worth a run when they could be bad too.
	for _, h := range f.goods {
		consider(h, nil)
	}
	for _, q := range f.candidates {
		consider(f.hashes[q], f.index.spansAt(q))
	}
	targets := make([]float64, k)
	for i := range targets {
		targets[i] = float64(i+1) / float64(k+1)
	}
	slices.SortStableFunc(targets, func(x, y float64) int {
		dx, dy := math.Abs(x-0.5), math.Abs(y-0.5)
		switch {
		case dx < dy:
			return -1
		case dx > dy:
			return 1
		}
		return 0
	})
	var out []Hash
	picked := make([]bool, len(options))
	for _, t := range targets {
		best := -1
		for i, o := range options {
			if !picked[i] && (best < 0 || math.Abs(o.bad-t) < math.Abs(options[best].bad-t)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		picked[best] = true
		out = append(out, options[best].commit)
	}
	return out
}
