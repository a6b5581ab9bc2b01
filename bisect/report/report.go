package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/stats"
)

// Session is one session to report on: its journal, with the repository
// open for reading commits (bisect.ReadJournal gives both).
type Session struct {
	Journal *bisect.Journal
}

// Load reads the named session of the repository at repoPath. Close the
// session's journal when the report is built.
func Load(repoPath, name string) (Session, error) {
	j, err := bisect.ReadJournal(repoPath, name)
	if err != nil {
		return Session{}, err
	}
	return Session{Journal: j}, nil
}

// Report is the whole report: an overview, then each session. It is also
// the JSON format's schema: every field below is written, with its tag's
// name.
type Report struct {
	// Generated is when the report was built.
	Generated time.Time `json:"generated"`
	// Overview sums up every session.
	Overview Overview `json:"overview"`
	// Sessions are in the order they were given.
	Sessions []*SessionReport `json:"sessions"`
}

// Overview is what ran overall, how long it took and how busy the machine
// was.
type Overview struct {
	Sessions int `json:"sessions"`
	Steps    int `json:"steps"`
	// TestS adds up the steps' durations (build and test) of all sessions.
	TestS float64 `json:"test_s"`
	// Started and Ended span the first and the last record of all journals.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// Load is the machine's 1-minute load average around the measured
	// runs of all sessions; nil when no session measured it.
	Load *MachineLoad `json:"load,omitempty"`
	// Unfinished lists the sessions that can still be resumed.
	Unfinished []string `json:"unfinished,omitempty"`
}

// SessionReport is one session: what it found, the evidence, every step
// and how to run it again.
type SessionReport struct {
	Name string `json:"name"`
	Repo string `json:"repo"`
	// State says where the session stands (see bisect.SessionState).
	State bisect.SessionState `json:"state"`
	// Outcome is the bisect.Outcome when the session ended or stopped.
	Outcome bisect.Outcome `json:"outcome,omitempty"`
	// Message is the session's own last word (why it ended or stopped).
	Message string `json:"message,omitempty"`
	// Verdict says in one line what the session concluded.
	Verdict string `json:"verdict"`
	// Good and Bad are the resolved ends of the range.
	Good []Commit `json:"good"`
	Bad  Commit   `json:"bad"`
	// FirstBad is the first bad commit when one was found.
	FirstBad *Commit `json:"first_bad,omitempty"`
	// Candidates are the commits that could be the first bad one when
	// only skipped commits were left.
	Candidates []string `json:"candidates,omitempty"`
	// Confirmed says whether --confirm's re-tests held (nil without it).
	Confirmed *bool `json:"confirmed,omitempty"`
	// Beliefs are the flake-aware search's conclusions, when it answered:
	// the confidence, the posterior over the range, the flake rates.
	Beliefs *bisect.Beliefs `json:"beliefs,omitempty"`
	// Validated is what --validate's runs of the revert gave.
	Validated *bisect.Validation `json:"validated,omitempty"`
	// Evidence sets the baseline, the first bad commit's parent and the
	// first bad commit side by side; nil when nothing was found.
	Evidence *Evidence `json:"evidence,omitempty"`
	// Steps are every tested commit in the order the tests ran.
	Steps []Step `json:"steps"`
	// InFlight is the commit under test, or the one that was when the
	// session stopped.
	InFlight *Step `json:"in_flight,omitempty"`
	// Started is the start record's time, Ended the last record's.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// TestS adds up the steps' durations.
	TestS float64 `json:"test_s"`
	// Load is the 1-minute load average around the measured runs; nil
	// when the session measured none (LoadNote says so).
	Load     *MachineLoad `json:"load,omitempty"`
	LoadNote string       `json:"load_note,omitempty"`
	// Charts are the measured metrics against commit order.
	Charts []Chart `json:"charts,omitempty"`
	// Command starts the same session again; Resume goes on with an
	// unfinished one.
	Command string `json:"command"`
	Resume  string `json:"resume,omitempty"`
	// Spec is the session's spec as the journal keeps it.
	Spec bisect.Spec `json:"spec"`
	// Dir is the session's directory, with the logs of every step.
	Dir string `json:"session_dir"`
}

// Commit describes a commit; Files are set for the first bad commit only.
type Commit struct {
	Commit  string `json:"commit"`
	Subject string `json:"subject,omitempty"`
	Author  string `json:"author,omitempty"`
	// Date is the author date, in the author's time zone, as git log
	// shows it.
	Date time.Time `json:"date,omitempty"`
	// committed is the committer date, which orders commits.
	committed time.Time
	Parents   []string `json:"parents,omitempty"`
	// Files the commit changes relative to its first parent.
	Files []string `json:"files,omitempty"`
	// Verdict is the commit's tested verdict, if it was tested.
	Verdict string `json:"verdict,omitempty"`
}

// Step is one tested commit.
type Step struct {
	// N counts the steps from 1 in the order they ran.
	N       int               `json:"n"`
	Commit  string            `json:"commit"`
	Subject string            `json:"subject,omitempty"`
	Kind    bisect.StepKind   `json:"kind"`
	Verdict predicate.Verdict `json:"verdict,omitempty"`
	// Term is Verdict in the session's terms (--term-old, --term-new,
	// --find-fix: see bisect.Terms).
	Term   string    `json:"term,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Time   time.Time `json:"time"`
	// DurationS is the step's whole time, BuildS and TestS its parts.
	DurationS float64 `json:"duration_s"`
	BuildS    float64 `json:"build_s,omitempty"`
	TestS     float64 `json:"test_s,omitempty"`
	// Metrics are the verdict's figures: the last run's cpu_s, wall_s,
	// mem_mb, exit_code, load_before, load_after; with --max-ratio the
	// ratio's cpu_median, cpu_baseline_median, cpu_ratio, cpu_low,
	// cpu_high, cpu_n (likewise wall_ and mem_); with a scoreboard pass
	// and total.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CPUs are the cores the step's test runs had to themselves ("" when
	// none were set apart; see bisect.VerdictRecord.CPUs).
	CPUs string `json:"cpus,omitempty"`
	// Samples are the measured runs, BaselineSamples the fresh baseline
	// runs taken beside them.
	Samples         []predicate.Sample `json:"samples,omitempty"`
	BaselineSamples []predicate.Sample `json:"baseline_samples,omitempty"`
	// Logs are the step's build and test logs: paths in the session's
	// logs directory, or, once CopyLogs has copied them beside the
	// report, paths relative to it.
	Logs []string `json:"logs,omitempty"`
	// Order is the commit's place in the range, oldest first (by commit
	// date), as the charts use it.
	Order int `json:"order"`
	// Worker names the sxbisect worker that measured the step, when the
	// session sent its steps to workers (--nats).
	Worker string `json:"worker,omitempty"`
}

// Remote reports whether workers on other machines measured the steps.
func (s *SessionReport) Remote() bool {
	for _, st := range s.Steps {
		if st.Worker != "" {
			return true
		}
	}
	return false
}

// workerLine says which workers measured how many steps.
func (s *SessionReport) workerLine() string {
	names := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		names[i] = st.Worker
	}
	where := ""
	if r := s.Spec.Remote; r != nil {
		where = " through " + r.URL
	}
	return "steps measured by workers" + where + ": " + bisect.CountWorkers(names)
}

// Evidence sets the measurements of the baseline, the first bad commit's
// parent and the first bad commit side by side.
type Evidence struct {
	// Metrics are the sample metrics compared (cpu_s, wall_s, mem_mb).
	Metrics []string `json:"metrics,omitempty"`
	// Columns are the baseline (when one was measured), the parent and
	// the first bad commit, in that order.
	Columns []EvidenceColumn `json:"columns"`
}

// EvidenceColumn is one commit's side of the evidence.
type EvidenceColumn struct {
	// Label is "baseline", "parent" or "first bad".
	Label   string `json:"label"`
	Commit  string `json:"commit"`
	Subject string `json:"subject,omitempty"`
	Verdict string `json:"verdict,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Figures are per metric of Evidence.Metrics.
	Figures map[string]Figure `json:"figures,omitempty"`
}

// Figure is one metric at one commit.
type Figure struct {
	// Median of Samples, in the metric's unit (seconds, MiB).
	Median float64 `json:"median"`
	// Ratio is Median over the baseline's median (0 when unknown).
	Ratio float64 `json:"ratio,omitempty"`
	// Judged is the ratio the predicate decided on (with the fresh
	// baseline runs), Low and High its confidence interval; 0 if none.
	Judged float64 `json:"judged_ratio,omitempty"`
	Low    float64 `json:"low,omitempty"`
	High   float64 `json:"high,omitempty"`
	// Samples are the values of every run.
	Samples []float64 `json:"samples"`
}

// MachineLoad summarises the 1-minute load averages taken before and after the
// measured runs, and how many runs were on a machine busier than
// --max-load (NotQuiet).
type MachineLoad struct {
	Runs     int     `json:"runs"`
	Before   Spread  `json:"before"`
	After    Spread  `json:"after"`
	NotQuiet int     `json:"not_quiet,omitempty"`
	MaxLoad  float64 `json:"max_load,omitempty"`
}

// Spread is the least, the median and the most of some figures.
type Spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Chart is a metric that bears on the verdict against commit order: a
// --max-ratio metric, peak memory under --memory-limit, the scoreboard's
// pass count. A session judged by pass or fail alone has no chart.
type Chart struct {
	// Metric is the sample metric (cpu_s, wall_s, mem_mb, pass).
	Metric string `json:"metric"`
	// Title names the metric with its unit, for the axis.
	Title string `json:"title"`
	// Baseline is the good commit's median (the baseline's pass count
	// for a scoreboard). Threshold is the line past which a commit is
	// bad: Baseline times MaxRatio, the memory limit, or the baseline's
	// pass count (bad below it); 0 when there is none. ThresholdNote says
	// which.
	Baseline      float64 `json:"baseline,omitempty"`
	MaxRatio      float64 `json:"max_ratio,omitempty"`
	Threshold     float64 `json:"threshold,omitempty"`
	ThresholdNote string  `json:"threshold_note,omitempty"`
	// FirstBad is the first bad commit, marked on the chart ("" if none).
	FirstBad string `json:"first_bad,omitempty"`
	// Points are the tested commits' values, by Order.
	Points []Point `json:"points"`
}

// Point is one step on a chart.
type Point struct {
	Order   int               `json:"order"`
	Commit  string            `json:"commit"`
	Subject string            `json:"subject,omitempty"`
	Verdict predicate.Verdict `json:"verdict"`
	// Value is the median of Samples, every run's value at the commit.
	Value   float64   `json:"value"`
	Samples []float64 `json:"samples,omitempty"`
}

// Build assembles the report of the sessions. It reads commits from each
// session's repository; what cannot be read is left out.
func Build(sessions []Session) *Report {
	r := &Report{Generated: time.Now().UTC(), Sessions: []*SessionReport{}}
	var loads []predicate.Sample
	for _, s := range sessions {
		sr, samples := buildSession(s.Journal)
		r.Sessions = append(r.Sessions, sr)
		loads = append(loads, samples...)
		o := &r.Overview
		o.Sessions++
		o.Steps += len(sr.Steps)
		o.TestS += sr.TestS
		if o.Started.IsZero() || sr.Started.Before(o.Started) {
			o.Started = sr.Started
		}
		if sr.Ended.After(o.Ended) {
			o.Ended = sr.Ended
		}
		if sr.Resume != "" {
			o.Unfinished = append(o.Unfinished, sr.Name)
		}
	}
	r.Overview.Load = loadOf(loads, 0)
	return r
}

// ratioKey maps a --max-ratio metric to the sample metric it reads.
func ratioKey(metric string) string {
	switch metric {
	case predicate.MetricWall:
		return "wall_s"
	case predicate.MetricMem:
		return "mem_mb"
	}
	return "cpu_s"
}

// ratios parses the spec's --max-ratio values: metric to bound.
func ratios(spec bisect.Spec) (keys []string, max map[string]float64) {
	max = map[string]float64{}
	for _, mr := range spec.MaxRatio {
		name, x, _ := strings.Cut(mr, "=")
		var v float64
		fmt.Sscan(x, &v)
		k := ratioKey(strings.TrimSpace(name))
		if _, ok := max[k]; !ok {
			keys = append(keys, k)
		}
		max[k] = v
	}
	return keys, max
}

type builder struct {
	j     *bisect.Journal
	infos map[string]*Commit
}

func (b *builder) commit(sha string) Commit {
	if c, ok := b.infos[sha]; ok {
		return *c
	}
	c := &Commit{Commit: sha}
	if b.j.Repo != nil && sha != "" {
		if info, err := b.j.Repo.Info(plumbing.NewHash(sha)); err == nil {
			c.Subject, c.Author, c.Date, c.committed = info.Subject, info.Author, info.AuthorDate, info.CommitDate
			for _, p := range info.Parents {
				c.Parents = append(c.Parents, p.String())
			}
		}
	}
	b.infos[sha] = c
	return *c
}

func buildSession(j *bisect.Journal) (*SessionReport, []predicate.Sample) {
	b := &builder{j: j, infos: map[string]*Commit{}}
	spec := j.Start.Spec
	sr := &SessionReport{
		Name: spec.Name, Repo: spec.Repo, Spec: spec, Dir: j.Dir,
		Bad: b.commit(spec.BadCommit), Started: j.Start.Time, Ended: j.Start.Time,
		Steps: []Step{}, Command: reproduce(spec),
	}
	for _, g := range spec.GoodCommits {
		sr.Good = append(sr.Good, b.commit(g))
	}
	seen := func(t time.Time) {
		if t.After(sr.Ended) {
			sr.Ended = t
		}
	}
	verdictOf := map[string]*bisect.VerdictRecord{}
	var samples []predicate.Sample
	for i := range j.Verdicts {
		v := &j.Verdicts[i]
		v.Metrics = withoutEmptyRatios(v.Metrics)
		c := b.commit(v.Commit)
		sr.Steps = append(sr.Steps, Step{
			N: i + 1, Commit: v.Commit, Subject: c.Subject, Kind: v.Kind, Verdict: v.Verdict, Term: spec.Terms().Of(v.Verdict),
			Reason: v.Reason, Time: v.Time, DurationS: v.Duration, BuildS: v.Build, TestS: v.Test,
			Metrics: v.Metrics, CPUs: v.CPUs, Samples: v.Samples, BaselineSamples: v.BaselineSamples, Worker: v.Worker,
		})
		sr.TestS += v.Duration
		seen(v.Time)
		if prev, ok := verdictOf[v.Commit]; !ok || prev.Kind == bisect.KindConfirm {
			verdictOf[v.Commit] = v
		}
		samples = append(append(samples, v.Samples...), v.BaselineSamples...)
		if len(v.Samples) == 0 && hasLoad(v.Metrics) {
			samples = append(samples, predicate.Sample{Metrics: v.Metrics, Quiet: true})
		}
	}
	for _, bl := range j.Baselines {
		seen(bl.Time)
		if bl.Baseline != nil {
			samples = append(samples, bl.Baseline.Samples...)
		}
	}
	if f := j.InFlight; f != nil {
		c := b.commit(f.Commit)
		sr.InFlight = &Step{N: len(sr.Steps) + 1, Commit: f.Commit, Subject: c.Subject, Kind: f.Kind, Time: f.Time}
		seen(f.Time)
	}
	resume := fmt.Sprintf("sxbisect resume --repo %s --name %s", text.ShellQuote(spec.Repo), text.ShellQuote(spec.Name))
	sr.State, sr.Outcome, sr.Message = j.State()
	switch sr.State {
	case bisect.StateFinished:
		sr.Candidates, sr.Confirmed = j.End.Candidates, j.End.Confirmed
		sr.Beliefs, sr.Validated = j.End.Beliefs, j.End.Validated
		seen(j.End.Time)
	case bisect.StateAborted, bisect.StateInterrupted:
		sr.Resume = resume
		seen(j.Stop.Time)
	case bisect.StateStopped:
		sr.Resume = resume
	}
	if j.End != nil && j.End.FirstBad != "" {
		c := b.commit(j.End.FirstBad)
		if j.Repo != nil {
			c.Files, _ = j.Repo.ChangedFiles(plumbing.NewHash(c.Commit))
		}
		if v := verdictOf[c.Commit]; v != nil {
			c.Verdict = string(v.Verdict)
		}
		sr.FirstBad = &c
	}
	sr.Verdict = verdictLine(sr)
	stepLogs(sr)

	// Commit order: by commit date, then id, over the tested commits and
	// the good ends.
	commits := append([]string{}, spec.GoodCommits...)
	for _, s := range sr.Steps {
		commits = append(commits, s.Commit)
	}
	slices.SortFunc(commits, func(x, y string) int {
		if c := b.commit(x).committed.Compare(b.commit(y).committed); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	commits = slices.Compact(commits)
	order := map[string]int{}
	for i, c := range commits {
		order[c] = i
	}
	for i := range sr.Steps {
		sr.Steps[i].Order = order[sr.Steps[i].Commit]
	}

	var base *bisect.BaselineRecord
	if len(j.Baselines) > 0 {
		base = &j.Baselines[0]
	}
	sr.Evidence = b.evidence(sr, base, verdictOf)
	sr.Charts = charts(sr, base)
	sr.Load = loadOf(samples, spec.MaxLoad)
	if sr.Load == nil {
		sr.LoadNote = "the journal holds no load figures for this session: its test was not measured"
	}
	return sr, samples
}

// withoutEmptyRatios leaves out the figures of a ratio that was made from
// no samples on a side (its _n or _baseline_n is 0): journals written
// before such figures were dropped hold a wall_ratio of 1 where no run
// was quiet, which is no measurement.
func withoutEmptyRatios(m map[string]float64) map[string]float64 {
	var empty []string
	for k, n := range m {
		if n != 0 {
			continue
		}
		if p, ok := strings.CutSuffix(k, "_baseline_n"); ok {
			empty = append(empty, p)
		} else if p, ok := strings.CutSuffix(k, "_n"); ok {
			empty = append(empty, p)
		}
	}
	if len(empty) == 0 {
		return m
	}
	out := make(map[string]float64, len(m))
	for k, x := range m {
		out[k] = x
	}
	for _, p := range empty {
		for _, f := range []string{"ratio", "low", "high", "median", "baseline_median"} {
			delete(out, p+"_"+f)
		}
	}
	return out
}

func hasLoad(m map[string]float64) bool {
	_, ok := m["load_before"]
	return ok
}

func verdictLine(sr *SessionReport) string {
	terms := sr.Spec.Terms()
	switch {
	case sr.FirstBad != nil:
		s := fmt.Sprintf(terms.Words("first bad commit %s %q"), text.ShortID(sr.FirstBad.Commit), sr.FirstBad.Subject)
		if sr.Confirmed != nil && !*sr.Confirmed {
			s += " (not confirmed: the re-tests disagreed; the test may be flaky)"
		} else if sr.Confirmed != nil {
			s += " (confirmed)"
		}
		return s
	case sr.Outcome == bisect.OnlySkipped:
		return fmt.Sprintf(terms.Words("only skipped commits are left: the first bad commit is one of %d candidates"), len(sr.Candidates))
	case sr.Outcome == bisect.NoRegression:
		return terms.Words("no regression in the range")
	case sr.State == bisect.StateRunning:
		return fmt.Sprintf("still running, %d steps so far", len(sr.Steps))
	}
	return fmt.Sprintf("unfinished (%s) after %d steps", sr.State, len(sr.Steps))
}

// sampleKeys are the metrics of the evidence and the charts: the ratio's
// metrics, else those the samples or the verdicts have.
func sampleKeys(sr *SessionReport) []string {
	keys, _ := ratios(sr.Spec)
	if len(keys) > 0 {
		return keys
	}
	for _, k := range []string{"cpu_s", "wall_s", "mem_mb"} {
		for _, s := range sr.Steps {
			if _, ok := s.Metrics[k]; ok {
				keys = append(keys, k)
				break
			}
		}
	}
	return keys
}

// values are a verdict's runs of metric k: its samples, or its one figure.
func values(samples []predicate.Sample, metrics map[string]float64, k string) []float64 {
	var out []float64
	for _, s := range samples {
		if x, ok := s.Metrics[k]; ok {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		if x, ok := metrics[k]; ok {
			out = append(out, x)
		}
	}
	return out
}

// prefix is the ratio figures' prefix in a verdict's metrics ("cpu_").
func prefix(k string) string {
	p, _, _ := strings.Cut(k, "_")
	return p + "_"
}

func (b *builder) evidence(sr *SessionReport, base *bisect.BaselineRecord, verdictOf map[string]*bisect.VerdictRecord) *Evidence {
	if sr.FirstBad == nil {
		return nil
	}
	keys := sampleKeys(sr)
	ev := &Evidence{Metrics: keys}
	baseMedian := map[string]float64{}
	if base != nil && base.Baseline != nil {
		col := EvidenceColumn{Label: "baseline", Commit: base.Baseline.Commit, Verdict: string(predicate.Good), Figures: map[string]Figure{}}
		col.Subject = b.commit(col.Commit).Subject
		for _, k := range keys {
			vs := values(base.Baseline.Samples, base.Baseline.Metrics, k)
			if len(vs) > 0 {
				baseMedian[k] = stats.Median(vs)
				col.Figures[k] = Figure{Median: baseMedian[k], Ratio: 1, Samples: vs}
			}
		}
		ev.Columns = append(ev.Columns, col)
	}
	column := func(label, sha string) EvidenceColumn {
		col := EvidenceColumn{Label: label, Commit: sha, Subject: b.commit(sha).Subject, Figures: map[string]Figure{}}
		v := verdictOf[sha]
		if v == nil {
			col.Verdict = "untested"
			for _, g := range sr.Spec.GoodCommits {
				if g == sha {
					col.Verdict = "good (given)"
				}
			}
			return col
		}
		col.Verdict, col.Reason = string(v.Verdict), v.Reason
		for _, k := range keys {
			vs := values(v.Samples, v.Metrics, k)
			if len(vs) == 0 {
				continue
			}
			f := Figure{Median: stats.Median(vs), Samples: vs}
			if bm := baseMedian[k]; bm > 0 {
				f.Ratio = f.Median / bm
			}
			p := prefix(k)
			f.Judged, f.Low, f.High = v.Metrics[p+"ratio"], v.Metrics[p+"low"], v.Metrics[p+"high"]
			col.Figures[k] = f
		}
		return col
	}
	if ps := sr.FirstBad.Parents; len(ps) > 0 {
		ev.Columns = append(ev.Columns, column("parent", ps[0]))
	}
	ev.Columns = append(ev.Columns, column("first bad", sr.FirstBad.Commit))
	return ev
}

// stepLogs finds each step's logs in the session's logs directory, named
// by the session as NNN-<commit>-build.log and NNN-<commit>-test*.log.
// The number is the step's own when the steps ran one at a time; a
// commit's logs are taken by its id alone when it was tested once.
func stepLogs(sr *SessionReport) {
	dir := filepath.Join(sr.Dir, "logs")
	tested := map[string]int{}
	for _, s := range sr.Steps {
		tested[s.Commit]++
	}
	for i := range sr.Steps {
		s := &sr.Steps[i]
		short := text.ShortID(s.Commit)
		logs, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("%03d-%s-*.log", s.N, short)))
		if len(logs) == 0 && tested[s.Commit] == 1 {
			logs, _ = filepath.Glob(filepath.Join(dir, fmt.Sprintf("[0-9][0-9][0-9]-%s-*.log", short)))
		}
		sort.SliceStable(logs, func(a, b int) bool { return logOrder(logs[a]) < logOrder(logs[b]) })
		s.Logs = logs
	}
}

// logOrder puts a step's logs in the order they were written: the build,
// the test's runs, the fresh baseline runs.
func logOrder(path string) int {
	name := strings.TrimSuffix(filepath.Base(path), ".log")
	parts := strings.SplitN(name, "-", 3)
	if len(parts) < 3 {
		return 1 << 20
	}
	what, n := parts[2], 1
	if i := strings.LastIndexAny(what, ".-"); i >= 0 {
		if k, err := strconv.Atoi(what[i+1:]); err == nil {
			n = k
		}
	}
	switch {
	case strings.HasPrefix(what, "build"):
		return 0
	case strings.Contains(what, "baseline"):
		return 1000 + n
	}
	return n
}

// CopyLogs copies every step's logs into dir/sub/<session>/ and makes
// Steps' Logs point there, relative to dir, so that a report written into
// dir links to them wherever it is moved with them.
func (r *Report) CopyLogs(dir, sub string) error {
	for _, s := range r.Sessions {
		into := filepath.Join(dir, sub, s.Name)
		for i := range s.Steps {
			step := &s.Steps[i]
			for k, log := range step.Logs {
				if !filepath.IsAbs(log) {
					continue // copied already
				}
				if err := copyFile(log, filepath.Join(into, filepath.Base(log))); err != nil {
					return err
				}
				step.Logs[k] = filepath.ToSlash(filepath.Join(sub, s.Name, filepath.Base(log)))
			}
		}
	}
	return nil
}

// copyFile copies the file at from to to, making to's directory.
func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// chartTitles name the charted metrics with their units.
var chartTitles = map[string]string{
	"cpu_s":  "CPU time, user + system (s)",
	"wall_s": "wall time (s)",
	"mem_mb": "peak memory (MiB)",
	"pass":   "tests passed",
}

// charts are the metrics that bear on the verdict: the --max-ratio ones,
// peak memory under a memory limit, and a scoreboard's pass count. A
// session judged by its test's exit status (or --expect, a timeout) alone
// has none: a chart of figures that decided nothing says nothing.
func charts(sr *SessionReport, base *bisect.BaselineRecord) []Chart {
	keys, max := ratios(sr.Spec)
	limits := map[string]float64{}
	if sr.Spec.MemoryLimit != "" {
		if n, err := predicate.ParseSize(sr.Spec.MemoryLimit); err == nil {
			if !slices.Contains(keys, "mem_mb") {
				keys = append(keys, "mem_mb")
			}
			limits["mem_mb"] = float64(n) / (1 << 20)
		}
	}
	if sr.Spec.Scoreboard != "" || sr.Spec.ScoreboardFile != "" {
		keys = append(keys, "pass")
	}
	var out []Chart
	for _, k := range keys {
		c := Chart{Metric: k, Title: chartTitles[k], MaxRatio: max[k]}
		if sr.FirstBad != nil {
			c.FirstBad = sr.FirstBad.Commit
		}
		p := prefix(k)
		for _, s := range sr.Steps {
			vs := values(s.Samples, s.Metrics, k)
			v, ok := s.Metrics[p+"median"]
			if !ok || k == "pass" {
				if len(vs) == 0 {
					continue
				}
				v = stats.Median(vs)
			}
			if c.Baseline == 0 && k != "pass" {
				c.Baseline = s.Metrics[p+"baseline_median"]
			}
			if k == "pass" {
				c.Baseline = math.Max(c.Baseline, s.Metrics["baseline_pass"])
			}
			c.Points = append(c.Points, Point{Order: s.Order, Commit: s.Commit, Subject: s.Subject, Verdict: s.Verdict, Value: v, Samples: vs})
		}
		if base != nil && base.Baseline != nil && k != "pass" {
			if vs := values(base.Baseline.Samples, base.Baseline.Metrics, k); len(vs) > 0 {
				c.Baseline = stats.Median(vs)
			}
		}
		switch {
		case c.MaxRatio > 0:
			c.Threshold = c.Baseline * c.MaxRatio
			c.ThresholdNote = fmt.Sprintf("bad above: baseline × %g", c.MaxRatio)
		case limits[k] > 0:
			c.Baseline, c.Threshold = 0, limits[k]
			c.ThresholdNote = "the memory limit " + sr.Spec.MemoryLimit + ": an OOM kill inside it is bad"
		case k == "pass" && c.Baseline > 0:
			c.Threshold = c.Baseline
			c.ThresholdNote = "bad below: the good commit's pass count"
		default:
			c.Baseline = 0
		}
		if len(c.Points) > 0 {
			sort.SliceStable(c.Points, func(i, j int) bool { return c.Points[i].Order < c.Points[j].Order })
			out = append(out, c)
		}
	}
	return out
}

func loadOf(samples []predicate.Sample, maxLoad float64) *MachineLoad {
	var before, after []float64
	l := &MachineLoad{MaxLoad: maxLoad}
	for _, s := range samples {
		b, okb := s.Metrics["load_before"]
		a, oka := s.Metrics["load_after"]
		if !okb && !oka {
			continue
		}
		l.Runs++
		if okb {
			before = append(before, b)
		}
		if oka {
			after = append(after, a)
		}
		if maxLoad > 0 && !s.Quiet {
			l.NotQuiet++
		}
	}
	if l.Runs == 0 {
		return nil
	}
	l.Before, l.After = spread(before), spread(after)
	return l
}

func spread(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	return Spread{Min: slices.Min(xs), Median: stats.Median(xs), Max: slices.Max(xs)}
}

// reproduce is the sxbisect start command line of the spec.
func reproduce(s bisect.Spec) string {
	args := []string{"sxbisect", "start", "--repo", text.ShellQuote(s.Repo), "--name", text.ShellQuote(s.Name)}
	flag := func(name, v string) {
		if v != "" {
			args = append(args, "--"+name, text.ShellQuote(v))
		}
	}
	dur := func(name string, d bisect.Duration) {
		if d != 0 {
			flag(name, d.String())
		}
	}
	boolean := func(name string, on bool) {
		if on {
			args = append(args, "--"+name)
		}
	}
	flag("build", s.Build)
	dur("build-timeout", s.BuildTimeout)
	if s.OnBuildFailure != "" && s.OnBuildFailure != predicate.PolicySkip {
		flag("on-build-failure", string(s.OnBuildFailure))
	}
	flag("run", s.Run)
	dur("timeout", s.Timeout)
	if s.OnTimeout != "" && s.OnTimeout != predicate.PolicyBad {
		flag("on-timeout", string(s.OnTimeout))
	}
	if s.OnCrash != "" && s.OnCrash != predicate.PolicyAbort {
		flag("on-crash", string(s.OnCrash))
	}
	for _, r := range s.MaxRatio {
		flag("max-ratio", r)
	}
	if s.Repeat > 0 {
		flag("repeat", fmt.Sprint(s.Repeat))
	}
	flag("memory-limit", s.MemoryLimit)
	flag("expect", s.Expect)
	flag("scoreboard", s.Scoreboard)
	flag("scoreboard-file", s.ScoreboardFile)
	boolean("ignore-exit", s.IgnoreExit)
	if s.MaxLoad > 0 {
		flag("max-load", fmt.Sprint(s.MaxLoad))
	}
	flag("log-cap", s.LogCap)
	for _, p := range s.Predicates {
		flag("predicate", p.Name)
		for _, k := range slices.Sorted(maps.Keys(p.Params)) {
			flag("param", p.Name+":"+k+"="+p.Params[k])
		}
	}
	if s.Confirm > 0 {
		flag("confirm", fmt.Sprint(s.Confirm))
	}
	boolean("first-parent", s.FirstParent)
	boolean("no-verify", s.NoVerify)
	flag("pool", s.PoolDir)
	goods := s.GoodCommits
	if len(goods) == 0 {
		goods = s.Good
	}
	for _, g := range goods[min(1, len(goods)):] {
		flag("good", g)
	}
	if len(goods) > 0 {
		args = append(args, text.ShellQuote(goods[0]))
	}
	bad := s.BadCommit
	if bad == "" {
		bad = s.Bad
	}
	args = append(args, text.ShellQuote(bad))
	if len(s.Paths) > 0 {
		args = append(args, "--")
		for _, p := range s.Paths {
			args = append(args, text.ShellQuote(p))
		}
	}
	return strings.Join(args, " ")
}
