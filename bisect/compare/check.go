package compare

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/stats"
)

// Defaults of Check.
const (
	DefaultCheckRounds    = 3
	DefaultCheckMaxRounds = 15
)

// Status is the outcome of one check, and of all of them.
type Status string

const (
	OK        Status = "ok"
	Fail      Status = "fail"
	Undecided Status = "undecided"
)

// Item is one check: a --max-ratio bound, the test's conditions, or the
// scoreboard.
type Item struct {
	// Check is "cpu", "wall" or "mem" for a ratio, "test" for the test's
	// own conditions, "scoreboard" or "build".
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Line is the check's line of output.
	Line string `json:"line"`
	// For a ratio: the bound, the ratio of the medians, its 98 %
	// confidence interval, the p-value of "above Max" and the samples used.
	Max   Num `json:"max,omitempty"`
	Ratio Num `json:"ratio,omitempty"`
	Low   Num `json:"low,omitempty"`
	High  Num `json:"high,omitempty"`
	P     Num `json:"p,omitempty"`
	N     int `json:"n,omitempty"`
}

// CheckResult is what Check found.
type CheckResult struct {
	Reference *Side  `json:"reference"`
	Candidate *Side  `json:"candidate"`
	Rounds    int    `json:"rounds"`
	Status    Status `json:"status"`
	Checks    []Item `json:"checks"`
}

// Check measures candidate against reference, interleaved, and applies
// the spec's conditions: opt.Rounds rounds (DefaultCheckRounds when 0),
// then one more at a time while a ratio is undecided, up to opt.MaxRounds
// (DefaultCheckMaxRounds when 0). A failing build of the candidate is a
// failed check; of the reference, an error.
func Check(ctx context.Context, opt Options, reference, candidate string) (*CheckResult, error) {
	if opt.Rounds == 0 {
		opt.Rounds = DefaultCheckRounds
	}
	if opt.MaxRounds == 0 {
		opt.MaxRounds = max(DefaultCheckMaxRounds, opt.Rounds)
	}
	m, err := newMeasurer(opt, reference, candidate)
	if err != nil {
		return nil, err
	}
	defer m.release()
	res := &CheckResult{Reference: m.ref, Candidate: m.cand}
	if err := m.prepare(ctx); err != nil {
		var be *BuildError
		if errors.As(err, &be) && be.Candidate {
			res.Status = Fail
			res.Checks = []Item{{Check: "build", Status: Fail, Line: "FAIL build: " + strings.TrimPrefix(be.Reason, "build ")}}
			return res, nil
		}
		return nil, err
	}
	for k := 1; ; k++ {
		if err := m.round(ctx, k); err != nil {
			return nil, err
		}
		res.Rounds = k
		if k < m.opt.Rounds {
			continue
		}
		res.Checks = m.judge(k)
		res.Status = overall(res.Checks)
		if res.Status != Undecided || k >= m.opt.MaxRounds || !m.ratioUndecided(res.Checks) {
			break
		}
	}
	if err := m.release(); err != nil {
		return nil, err
	}
	return res, nil
}

// judge applies every check to the runs so far.
func (m *measurer) judge(n int) []Item {
	items := []Item{m.testItem(n)}
	if m.scoreboard {
		items = append(items, m.scoreItem())
	}
	for _, r := range m.ratios {
		items = append(items, m.ratioItem(r))
	}
	return items
}

// testItem: every run of the candidate must hold the test's conditions;
// a reference that does not hold them cannot be compared with.
func (m *measurer) testItem(n int) Item {
	it := Item{Check: "test"}
	if f := m.cand.Failures(); len(f) > 0 {
		it.Status, it.Line = Fail, fmt.Sprintf("FAIL test: %s (n=%d)", f[0], n)
		for _, r := range m.cand.Runs {
			if r.Verdict == string(predicate.Skip) {
				continue
			}
			if r.Verdict != string(predicate.Good) {
				return it
			}
		}
		// Only skips (exit 125): the test cannot judge the candidate.
		it.Status, it.Line = Undecided, fmt.Sprintf("?    test: %s: the test cannot judge it (n=%d)", f[0], n)
		return it
	}
	if f := m.ref.Failures(); len(f) > 0 {
		it.Status, it.Line = Undecided, fmt.Sprintf("?    test: the reference fails its own test (%s): no comparison", f[0])
		return it
	}
	it.Status, it.Line = OK, fmt.Sprintf("ok   test: %s (n=%d)", m.cand.Runs[len(m.cand.Runs)-1].Reason, n)
	return it
}

// scoreItem: the candidate's lowest pass count must not fall below the
// reference's.
func (m *measurer) scoreItem() Item {
	it := Item{Check: "scoreboard"}
	rp, rt, rok := m.ref.Score()
	cp, ct, cok := m.cand.Score()
	switch {
	case !cok:
		it.Status, it.Line = Fail, "FAIL scoreboard: not found at the candidate"
	case !rok:
		it.Status, it.Line = Undecided, "?    scoreboard: not found at the reference"
	case cp < rp:
		it.Status, it.Line = Fail, fmt.Sprintf("FAIL scoreboard %g/%g < %g/%g", cp, ct, rp, rt)
	default:
		it.Status, it.Line = OK, fmt.Sprintf("ok   scoreboard %g/%g >= %g/%g", cp, ct, rp, rt)
	}
	return it
}

// ratioItem decides a --max-ratio bound with package stats at Level, as
// bisection does: wall time from quiet runs only. It fails when the ratio
// is significantly above the bound and holds when significantly below;
// samples that do not overlap at all are not enough when they are too few
// for that to be significant at Level (3 or 4 runs a side).
func (m *measurer) ratioItem(r predicate.Ratio) Item {
	quiet := r.Metric == predicate.MetricWall
	key := sampleKey(r.Metric)
	d := stats.Decide(m.cand.values(key, quiet), m.ref.values(key, quiet), r.Max, stats.Options{})
	it := Item{Check: r.Metric, Max: Num(r.Max), Ratio: Num(d.Ratio), High: Num(d.High), P: Num(d.PBad), N: min(d.N, d.BaselineN)}
	if d.Low > 0 {
		it.Low = Num(d.Low)
	}
	enough := d.N >= stats.DefaultMinSamples && d.BaselineN >= stats.DefaultMinSamples
	switch {
	case enough && d.PBad <= Level:
		it.Status, it.Line = Fail, fmt.Sprintf("FAIL %s %s > %g (n=%d, %s)", r.Metric, times(d.Ratio), r.Max, it.N, pValue(d.PBad))
	case enough && d.PGood <= Level:
		it.Status, it.Line = OK, fmt.Sprintf("ok   %s %s <= %g (n=%d, %s)", r.Metric, times(d.Ratio), r.Max, it.N, pValue(d.PGood))
	default:
		extra := ""
		switch {
		case quiet && (d.N < stats.DefaultMinSamples || d.BaselineN < stats.DefaultMinSamples):
			extra = fmt.Sprintf(", %d and %d quiet runs", d.N, d.BaselineN)
		case stats.SmallestP(d.N, d.BaselineN) > Level:
			extra = fmt.Sprintf(": too few runs to be significant at level %g, which takes %d a side", Level, DefaultRounds)
		}
		it.Status, it.Line = Undecided, fmt.Sprintf("?    %s %s undecided against %g (%s, n=%d%s)", r.Metric, times(d.Ratio), r.Max, d.Interval(), it.N, extra)
	}
	// And benchstat's figures: reference and candidate, median ± spread,
	// and the change with its p.
	var bs Metric
	bs.Good, bs.Bad = Num(d.BaselineMedian), Num(d.Median)
	bs.benchstatFigures(m.cand.values(key, quiet), m.ref.values(key, quiet))
	it.Line += fmt.Sprintf(": %s → %s, %s", spreadText(bs.Good, bs.GoodSpread, bs.SpreadIQR), spreadText(bs.Bad, bs.BadSpread, bs.SpreadIQR), deltaText(bs))
	return it
}

func (m *measurer) ratioUndecided(items []Item) bool {
	for _, it := range items {
		if it.Status == Undecided && it.Check != "test" && it.Check != "scoreboard" {
			return true
		}
	}
	return false
}

// overall: any failure fails, otherwise any undecided check is undecided.
func overall(items []Item) Status {
	st := OK
	for _, it := range items {
		switch it.Status {
		case Fail:
			return Fail
		case Undecided:
			st = Undecided
		}
	}
	return st
}

// Text is one line per check, for a CI log.
func (r *CheckResult) Text() string {
	var b strings.Builder
	for _, it := range r.Checks {
		b.WriteString(it.Line + "\n")
	}
	if r.Reference.Commit != "" {
		fmt.Fprintf(&b, "%s: %s (%s) against %s (%s), %d rounds\n", r.Status, text.ShortID(r.Candidate.Commit), r.Candidate.Rev,
			text.ShortID(r.Reference.Commit), r.Reference.Rev, r.Rounds)
	}
	return b.String()
}
