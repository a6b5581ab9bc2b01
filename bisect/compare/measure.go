package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/repograph"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/worktree"
)

// Options say what to measure and how often.
type Options struct {
	// Spec gives the repository (Repo), the pool (PoolDir), the build
	// (Build, BuildTimeout) and the test with its conditions (Run,
	// Timeout, MemoryLimit, Expect, Scoreboard, ...), as for a session.
	// Its revisions and its search options are not used.
	Spec bisect.Spec
	// Rounds is the number of rounds (a run at each commit) before any
	// decision; MaxRounds, when larger, lets Check add rounds while a
	// ratio is undecided.
	Rounds, MaxRounds int
	// Progress, when set, is told what is going on, a line at a time.
	Progress func(msg string)
}

// Num is a figure that is written as null in JSON when it is not finite.
type Num float64

// MarshalJSON implements json.Marshaler.
func (n Num) MarshalJSON() ([]byte, error) {
	v := float64(n)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// Run is one run of the test at one commit.
type Run struct {
	// Metrics are the run's figures: cpu_s, wall_s, mem_mb, exit_code and,
	// as they apply, pass, total, oom, timed_out, load_before, load_after.
	Metrics map[string]float64 `json:"metrics"`
	// Quiet is false when the machine was busy during the run.
	Quiet bool `json:"quiet"`
	// Exit is the exit status ("0", "1"), "timeout", "oom" or the signal
	// that killed the test ("SIGSEGV").
	Exit string `json:"exit"`
	// Verdict is what the run makes of the commit by the test's
	// conditions alone (good, bad, skip), or "error" when the run cannot
	// be judged (a crash); Reason says why.
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
}

// Side is one of the two commits and its runs.
type Side struct {
	Rev    string `json:"rev"`
	Commit string `json:"commit"`
	// Worktree is where it was measured.
	Worktree string `json:"worktree"`
	Runs     []Run  `json:"runs"`
	// Build is the build's wall time in seconds.
	Build float64 `json:"build_s"`
}

// Exits counts the runs by exit status, as "0 x5" or "0 x4, 1 x1".
func (s *Side) Exits() string {
	counts := map[string]int{}
	var keys []string
	for _, r := range s.Runs {
		if counts[r.Exit] == 0 {
			keys = append(keys, r.Exit)
		}
		counts[r.Exit]++
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// Failures lists the runs that failed the test's conditions, as "run 2:
// exit 1".
func (s *Side) Failures() []string {
	var out []string
	for i, r := range s.Runs {
		if r.Verdict != string(predicate.Good) {
			out = append(out, fmt.Sprintf("run %d: %s", i+1, r.Reason))
		}
	}
	return out
}

// Score returns the lowest pass count of the runs, with its total; ok is
// false when no run has a scoreboard.
func (s *Side) Score() (pass, total float64, ok bool) {
	for _, r := range s.Runs {
		p, has := r.Metrics["pass"]
		if has && (!ok || p < pass) {
			pass, total, ok = p, r.Metrics["total"], true
		}
	}
	return pass, total, ok
}

// values returns the runs' figures of one metric; quietOnly leaves out
// runs on a busy machine.
func (s *Side) values(key string, quietOnly bool) []float64 {
	var out []float64
	for _, r := range s.Runs {
		if v, ok := r.Metrics[key]; ok && (r.Quiet || !quietOnly) {
			out = append(out, v)
		}
	}
	return out
}

// BuildError is a build that failed at one of the commits.
type BuildError struct {
	Commit, Reason string
	// Candidate is set when it was the candidate's build.
	Candidate bool
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("at %s: %s", text.ShortID(e.Commit), e.Reason)
}

// measurer holds the two worktrees and the test, for one command.
type measurer struct {
	opt        Options
	suite      *predicate.Suite
	ratios     []predicate.Ratio
	ignoreExit bool // IgnoreExit that the per-run suite could not keep
	scoreboard bool
	ref, cand  *Side
	benches    []*bisect.Bench
}

// newMeasurer resolves the revisions and builds the per-run test.
func newMeasurer(opt Options, refRev, candRev string) (*measurer, error) {
	if opt.Rounds < 1 {
		return nil, &bisect.UsageError{Msg: "the number of rounds must be at least 1"}
	}
	if opt.MaxRounds < opt.Rounds {
		opt.MaxRounds = opt.Rounds
	}
	if len(opt.Spec.Predicates) > 0 {
		return nil, &bisect.UsageError{Msg: "only the test (--run and its conditions) is measured here, not --predicate " + opt.Spec.Predicates[0].Name}
	}
	full, err := opt.Spec.Suite()
	if err != nil {
		return nil, err
	}
	cfg := full.Config()
	m := &measurer{opt: opt, ratios: cfg.Ratios, scoreboard: cfg.Scoreboard != "" || cfg.ScoreboardFile != ""}
	// Each Judge of this suite is one run: the ratios are decided here,
	// from both sides' runs together.
	cfg.Ratios = nil
	if m.suite, err = predicate.NewSuite(cfg); err != nil && cfg.IgnoreExit {
		// Ignoring the exit status left the single run nothing to judge:
		// it is judged with the status, and the status is ignored here.
		cfg.IgnoreExit, m.ignoreExit = false, true
		m.suite, err = predicate.NewSuite(cfg)
	}
	if err != nil {
		return nil, &bisect.UsageError{Msg: err.Error()}
	}
	repoPath := opt.Spec.Repo
	if repoPath == "" {
		repoPath = "."
	}
	repo, err := repograph.Open(repoPath)
	if err != nil {
		return nil, &bisect.UsageError{Msg: err.Error()}
	}
	defer repo.Close()
	resolve := func(rev string) (*Side, error) {
		h, err := repo.Resolve(rev)
		if err != nil {
			return nil, &bisect.UsageError{Msg: err.Error()}
		}
		return &Side{Rev: rev, Commit: h.String()}, nil
	}
	if m.ref, err = resolve(refRev); err != nil {
		return nil, err
	}
	if m.cand, err = resolve(candRev); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *measurer) say(format string, args ...any) {
	if m.opt.Progress != nil {
		m.opt.Progress(fmt.Sprintf(format, args...))
	}
}

// prepare takes a bench per side from the pool, preferring worktrees
// that hold the commits' builds already, and checks the commits out and
// builds them there, as a session's steps do.
func (m *measurer) prepare(ctx context.Context) error {
	repo := m.opt.Spec.Repo
	if repo == "" {
		repo = "."
	}
	pool, err := worktree.Open(repo, worktree.Options{Dir: m.opt.Spec.PoolDir})
	if err != nil {
		return err
	}
	benches := bisect.NewBenches(pool, m.opt.Spec, func(msg string) { m.say("%s", msg) })
	for _, s := range []*Side{m.ref, m.cand} {
		b, err := benches.Take(ctx, s.Commit)
		if err != nil {
			return err
		}
		m.benches = append(m.benches, b)
		s.Worktree = b.Dir()
		m.say("checking out and building %s (%s) in %s", text.ShortID(s.Commit), s.Rev, b.Dir())
		rep, ok, err := b.Prepare(ctx, s.Commit, "")
		s.Build = rep.Build.Seconds()
		if err != nil {
			return fmt.Errorf("%s: %w", s.Rev, err)
		}
		if !ok {
			return &BuildError{Commit: s.Commit, Reason: rep.Reason, Candidate: s == m.cand}
		}
		if rep.Metrics["build_reused"] == 1 {
			m.say("%s (%s): the worktree holds its build already", text.ShortID(s.Commit), s.Rev)
		}
	}
	return nil
}

// release gives the worktrees back to the pool.
func (m *measurer) release() error {
	var first error
	for _, b := range m.benches {
		if err := b.Release(); err != nil && first == nil {
			first = err
		}
	}
	m.benches = nil
	return first
}

// round runs the test once at each commit, the reference first.
func (m *measurer) round(ctx context.Context, k int) error {
	for _, s := range []*Side{m.ref, m.cand} {
		r, err := m.runOnce(ctx, s)
		if err != nil {
			return err
		}
		s.Runs = append(s.Runs, r)
	}
	m.say("round %d: %s cpu %.3fs wall %.3fs %s; %s cpu %.3fs wall %.3fs %s", k,
		text.ShortID(m.ref.Commit), m.ref.Runs[k-1].Metrics["cpu_s"], m.ref.Runs[k-1].Metrics["wall_s"], m.ref.Runs[k-1].Exit,
		text.ShortID(m.cand.Commit), m.cand.Runs[k-1].Metrics["cpu_s"], m.cand.Runs[k-1].Metrics["wall_s"], m.cand.Runs[k-1].Exit)
	return nil
}

// runOnce runs the test at s and checks it against the test's conditions.
func (m *measurer) runOnce(ctx context.Context, s *Side) (Run, error) {
	c := predicate.Candidate{Commit: s.Commit, Dir: s.Worktree, Env: env(s)}
	if m.scoreboard {
		// Any pass count holds: the counts are compared here.
		c.Baseline = &predicate.Baseline{Commit: m.ref.Commit, Metrics: map[string]float64{"pass": math.Inf(-1)}}
	}
	j, err := m.suite.Judge(ctx, c)
	if ctx.Err() != nil {
		return Run{}, ctx.Err()
	}
	var abort *predicate.AbortError
	if err != nil && (!errors.As(err, &abort) || j.Measurement == nil) {
		return Run{}, err
	}
	r := Run{Verdict: string(j.Verdict), Reason: j.Reason, Quiet: true}
	if len(j.Samples) > 0 {
		last := j.Samples[len(j.Samples)-1]
		r.Metrics, r.Quiet = last.Metrics, last.Quiet
	} else if mm := j.Measurement; mm != nil {
		mem := mm.PeakMemory
		if mem <= 0 {
			mem = mm.MaxRSS
		}
		r.Metrics = map[string]float64{
			"cpu_s": (mm.User + mm.Sys).Seconds(), "wall_s": mm.Wall.Seconds(), "exit_code": float64(mm.ExitCode),
		}
		if mem > 0 {
			r.Metrics["mem_mb"] = float64(mem) / (1 << 20)
		}
	}
	if err != nil {
		r.Verdict, r.Reason = "error", text.OneLine(err.Error())
	}
	if mm := j.Measurement; mm != nil {
		switch {
		case mm.OOMKilled:
			r.Exit = "oom"
		case mm.TimedOut:
			r.Exit = "timeout"
		case mm.Signal != "":
			r.Exit = mm.Signal
		default:
			r.Exit = strconv.Itoa(mm.ExitCode)
		}
		if m.ignoreExit && r.Verdict == string(predicate.Bad) && mm.Signal == "" && !mm.TimedOut &&
			!mm.OOMKilled && mm.ExitCode > 0 && mm.ExitCode < 128 && mm.ExitCode != 125 {
			r.Verdict, r.Reason = string(predicate.Good), "exit "+r.Exit+" (ignored)"
		}
	}
	return r, nil
}

func env(s *Side) []string { return bisect.CandidateEnv(s.Commit, s.Worktree) }
