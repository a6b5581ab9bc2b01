package bisect

import (
	"fmt"
	"math"
	"runtime"
	"strings"

	"github.com/sxbisect/sxbisect/bisect/search"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// FlakyMode chooses between git's search, which believes every verdict,
// and the flake-aware one, which weighs them as evidence.
type FlakyMode string

const (
	// FlakyAuto, the default, searches as git does until verdicts
	// contradict each other (one commit both good and bad, or --confirm's
	// re-tests disagreeing), and then goes on flake-aware from the
	// verdicts it has. An end that disagrees with the premise is tested
	// once more before the session says "no regression", since one flaky
	// run there would otherwise end a real bisection.
	FlakyAuto FlakyMode = "auto"
	// FlakyOn is flake-aware from the start (--flaky).
	FlakyOn FlakyMode = "on"
	// FlakyOff is git's search and nothing else (--no-flaky): every
	// verdict is final, as before.
	FlakyOff FlakyMode = "off"
)

// ParseFlakyMode reads a FlakyMode.
func ParseFlakyMode(s string) (FlakyMode, error) {
	switch m := FlakyMode(s); m {
	case FlakyAuto, FlakyOn, FlakyOff:
		return m, nil
	case "":
		return FlakyAuto, nil
	}
	return "", fmt.Errorf("unknown flaky mode %q: valid values are auto, on, off", s)
}

// Flake-aware evidence weights of verdicts that say less than a clean run
// does. A run that timed out or was killed for memory on a busy machine
// may be the machine's doing; a measured comparison still undecided at its
// cap leans one way without deciding.
const (
	weightBusyFailure = 0.5
	weightUndecided   = 0.25
)

// Beliefs are what the flake-aware search concluded, as the result and
// the end record keep them.
type Beliefs struct {
	// Confidence is the probability of the answer: that FirstBad is the
	// first bad commit (found), or that nothing regressed (no-regression);
	// for an inconclusive session, that of the leading hypothesis.
	Confidence float64 `json:"confidence"`
	// NoRegression is the probability that nothing in the range regressed
	// and the failures seen were flakes; Older that the good ends fail
	// too, so that the problem is older than the range.
	NoRegression float64 `json:"no_regression"`
	Older        float64 `json:"older"`
	// Posterior are the most probable first bad commits, most probable
	// first (at most five).
	Posterior []CandidateBelief `json:"posterior"`
	// FlakeRate are the estimated rates of wrong verdicts.
	FlakeRate FlakeRates `json:"flake_rate"`
	// Runs counts the passed and failed runs weighed; MaxRuns is the
	// budget the search had.
	Runs    int `json:"runs"`
	MaxRuns int `json:"max_runs"`
	// Why says what made the session flake-aware: --flaky, or the
	// contradiction it saw.
	Why string `json:"why"`
	// Range is the posterior over every candidate of the range, in
	// topological order, oldest first, for charts; candidates below one
	// in ten thousand are left out.
	Range []RangeBelief `json:"range,omitempty"`
}

// CandidateBelief is a commit with its probability of being the first bad
// one.
type CandidateBelief struct {
	Commit      string  `json:"commit"`
	Probability float64 `json:"probability"`
}

// RangeBelief is one candidate's share of the posterior: its order in the
// range (oldest first), the probability that it is the first bad commit,
// and that it is bad.
type RangeBelief struct {
	Order    int     `json:"order"`
	Commit   string  `json:"commit"`
	FirstBad float64 `json:"first_bad"`
	Bad      float64 `json:"bad"`
}

// FlakeRates are the estimated rates of wrong verdicts: how often a bad
// commit passes, and a good one fails.
type FlakeRates struct {
	BadPasses float64 `json:"bad_passes"`
	GoodFails float64 `json:"good_fails"`
}

// flakyReason says why the session is flake-aware, "" when it is not:
// --flaky, or in auto mode a commit with both verdicts.
func (s *session) flakyReason() string {
	switch s.spec.Flaky {
	case FlakyOn:
		return "--flaky"
	case FlakyOff:
		return ""
	}
	return s.contradiction()
}

// contradiction says how the verdicts contradict each other, "" when they
// do not: a commit tested both good and bad, the first such in the
// journal's order. With several benches it also finds a good commit that
// reaches a bad one: probes run on premises that later verdicts may deny,
// and their verdicts can then contradict the others' without any commit
// having both.
func (s *session) contradiction() string {
	seen := map[string]predicate.Verdict{}
	var goods, bads []string
	for _, v := range s.hist.verdicts {
		if v.Verdict == predicate.Skip || v.Kind == KindValidate {
			continue
		}
		if prev, ok := seen[v.Commit]; ok && prev != v.Verdict {
			return fmt.Sprintf(s.words("verdicts contradict each other: %s tested both good and bad"), text.ShortID(v.Commit))
		}
		seen[v.Commit] = v.Verdict
		if v.Verdict == predicate.Good {
			goods = append(goods, v.Commit)
		} else {
			bads = append(bads, v.Commit)
		}
	}
	if !s.verdictsInAnyOrder() {
		// One at a time, git's search tests only commits between the
		// good ones and the bad: none can reach a bad verdict.
		return ""
	}
	for _, g := range goods {
		for _, b := range bads {
			if s.reaches(g, b) {
				return fmt.Sprintf(s.words("verdicts contradict each other: %s tested good, but it reaches %s, which tested bad"), text.ShortID(g), text.ShortID(b))
			}
		}
	}
	return ""
}

// reaches reports whether commit from reaches commit to (is it, or has it
// as an ancestor). It is asked for every bad verdict each time a parallel
// session derives its state, so it must cost what lies between the two
// commits, not the whole history below them.
func (s *session) reaches(from, to string) bool {
	key := [2]string{from, to}
	if ok, known := s.memo.reaches[key]; known {
		return ok
	}
	ok, err := search.ReachesCheaply(s.graph, hashOf(from), hashOf(to))
	if err != nil {
		return false
	}
	if s.memo.reaches == nil {
		s.memo.reaches = map[[2]string]bool{}
	}
	s.memo.reaches[key] = ok
	return ok
}

// flakySearch is the session's flake-aware search, prepared once.
func (s *session) flakySearch() (*search.Flaky, error) {
	if s.flaky != nil {
		return s.flaky, nil
	}
	var goods []search.Hash
	for _, g := range s.spec.GoodCommits {
		goods = append(goods, hashOf(g))
	}
	f, err := search.NewFlaky(s.graph, goods, hashOf(s.spec.BadCommit), search.FlakyOptions{
		Options: s.searchOptions(), Confidence: s.spec.Confidence, MaxRuns: s.spec.MaxRuns,
		FlakeRate: s.spec.FlakeRate, NoVerify: s.spec.NoVerify,
	})
	if err != nil {
		return nil, err
	}
	s.flaky = f
	return f, nil
}

// observations are the session's verdicts as evidence, in journal order:
// every kind counts, the ends' verifications and the re-tests included.
func (s *session) observations() []search.Observation {
	obs := make([]search.Observation, 0, len(s.hist.verdicts))
	for _, v := range s.hist.verdicts {
		if v.Kind == KindValidate {
			// A revert on top of the bad end is not a commit of the range.
			continue
		}
		obs = append(obs, s.observation(v))
	}
	return obs
}

// observation turns a verdict into evidence with its weight.
func (s *session) observation(v VerdictRecord) search.Observation {
	o := search.Observation{Commit: hashOf(v.Commit), Weight: 1}
	switch v.Verdict {
	case predicate.Good:
		o.Outcome = search.Passed
	case predicate.Bad:
		o.Outcome = search.Failed
		if busyFailure(v, s.spec) {
			o.Weight = weightBusyFailure
		}
	default:
		o.Outcome = search.Skipped
		if failed, ok := undecidedLeaning(v, s.spec); ok {
			o.Outcome, o.Weight = search.Passed, weightUndecided
			if failed {
				o.Outcome = search.Failed
			}
		}
	}
	return o
}

// busyFailure reports whether a bad verdict came from a timeout or an OOM
// kill while the machine was busier than the spec allows (or, without
// --max-load, busier than one run per CPU): on a busy machine these push
// good commits towards bad.
func busyFailure(v VerdictRecord, spec Spec) bool {
	if !strings.HasPrefix(v.Reason, "timeout") && !strings.HasPrefix(v.Reason, "oom") && !strings.Contains(v.Reason, "(timeout after") {
		return false
	}
	load := math.Max(v.Metrics["load_before"], v.Metrics["load_after"])
	limit := spec.MaxLoad
	if limit <= 0 {
		limit = float64(numCPU())
	}
	return load > limit
}

// undecidedLeaning reads a skip that a measured comparison left undecided
// at its cap: failed says whether its estimate lies above the bound. ok is
// false for any other skip, which is no evidence.
func undecidedLeaning(v VerdictRecord, spec Spec) (failed, ok bool) {
	for _, r := range spec.MaxRatio {
		ratio, err := predicate.ParseRatio(r)
		if err != nil {
			continue
		}
		if est, has := v.Metrics[ratio.Metric+"_ratio"]; has && v.Metrics[ratio.Metric+"_n"] > 0 {
			return est > ratio.Max, true
		}
	}
	return false, false
}

// decideFlaky asks the flake-aware search what to do next.
func (s *session) decideFlaky(why string) (action, error) {
	f, err := s.flakySearch()
	if err != nil {
		return action{}, err
	}
	obs := s.observations()
	d, err := f.Next(obs, 1)
	if err != nil {
		return action{}, err
	}
	if d.Kind == search.Test {
		c := d.Commits[0].String()
		kind := KindFlaky
		if isEnd(s.spec, c) && !s.tested(c) {
			kind = KindVerify
		}
		return action{commit: c, kind: kind, remaining: d.Candidates, stepsLeft: max(d.MaxRuns-d.Runs, 0)}, nil
	}
	beliefs, err := s.beliefs(f, obs, d, why)
	if err != nil {
		return action{}, err
	}
	end := &EndRecord{Beliefs: beliefs}
	pct := func(p float64) string { return fmt.Sprintf("%.1f%%", 100*p) }
	rates := fmt.Sprintf(s.words("estimated flake rates: bad commits pass %s, good ones fail %s; %d runs"), pct(d.BadPasses), pct(d.GoodFails), d.Runs)
	switch d.Kind {
	case search.Found:
		c := d.Commit.String()
		end.Outcome, end.FirstBad = Found, c
		end.Message = fmt.Sprintf(s.words("%s is the first bad commit: %s\nConfidence %s, weighing every verdict as evidence (%s; %s)."),
			c, s.subject(c), pct(d.Confidence), why, rates)
	case search.NoRegression:
		end.Outcome = NoRegression
		if d.OlderProbability > d.NoRegressionProbability {
			end.Message = fmt.Sprintf(s.words("no regression in range: with %s confidence, the good end %s fails too, so the problem is older than the range (%s; %s); bisect from an older good commit"),
				pct(d.Confidence), shortList(s.spec.GoodCommits), why, rates)
			break
		}
		end.Message = fmt.Sprintf(s.words("no regression in range: with %s confidence, the failures seen were flakes, not a change (%s; %s); the bad end %s does not fail reliably"),
			pct(d.Confidence), why, rates, text.ShortID(s.spec.BadCommit))
	default:
		end.Outcome = Inconclusive
		var top []string
		for _, c := range d.Top {
			top = append(top, fmt.Sprintf("%s %s", text.ShortID(c.Commit.String()), pct(c.Probability)))
		}
		end.Message = fmt.Sprintf(s.words("inconclusive: %d runs gave no answer at %s confidence (%s; %s); the likeliest first bad commits: %s; no regression %s. Give more runs (--max-runs), or a steadier test"),
			d.Runs, pct(s.confidence()), why, rates, strings.Join(top, ", "), pct(d.NoRegressionProbability))
		for _, c := range d.Top {
			end.Candidates = append(end.Candidates, c.Commit.String())
		}
	}
	return action{end: end}, nil
}

// beliefs summarises a decision of the flake-aware search for the result.
func (s *session) beliefs(f *search.Flaky, obs []search.Observation, d search.Decision, why string) (*Beliefs, error) {
	b := &Beliefs{
		Confidence: d.Confidence, NoRegression: d.NoRegressionProbability, Older: d.OlderProbability,
		FlakeRate: FlakeRates{BadPasses: d.BadPasses, GoodFails: d.GoodFails},
		Runs:      d.Runs, MaxRuns: d.MaxRuns, Why: why, Posterior: []CandidateBelief{},
	}
	for _, c := range d.Top {
		b.Posterior = append(b.Posterior, CandidateBelief{Commit: c.Commit.String(), Probability: c.Probability})
	}
	post, err := f.Posterior(obs)
	if err != nil {
		return nil, err
	}
	for i, c := range post.Commits {
		if c.FirstBad >= 1e-4 || c.Bad >= 1e-4 && c.Bad <= 1-1e-4 {
			b.Range = append(b.Range, RangeBelief{Order: i, Commit: c.Commit.String(), FirstBad: c.FirstBad, Bad: c.Bad})
		}
	}
	return b, nil
}

// confidence is the confidence the flake-aware search answers at.
func (s *session) confidence() float64 {
	if s.spec.Confidence > 0 {
		return s.spec.Confidence
	}
	return search.DefaultConfidence
}

func numCPU() int { return runtime.NumCPU() }

// tested reports whether commit has a verdict.
func (s *session) tested(commit string) bool {
	for _, v := range s.hist.verdicts {
		if v.Commit == commit {
			return true
		}
	}
	return false
}
