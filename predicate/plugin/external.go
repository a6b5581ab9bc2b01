package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// The values of SXBISECT_PHASE.
const (
	// PhaseJudge: judge the commit in SXBISECT_WORKTREE.
	PhaseJudge = "judge"
	// PhaseBaseline: measure the good commit, for plugins that compare.
	PhaseBaseline = "baseline"
)

// External is the predicate of a plugin program: it runs the program in
// the candidate's worktree and reads its answer (see the package
// documentation for the protocol).
type External struct {
	// Path is the program, as Find returns it.
	Path string
	// Timeout, when non-zero, bounds each run's wall time; at expiry the
	// program's whole process group is killed.
	Timeout time.Duration
	// OnTimeout is what a timeout makes of the commit (default bad).
	OnTimeout predicate.Policy
	// MeasuresBaseline says that the program, run with
	// SXBISECT_PHASE=baseline at the good commit, answers with the
	// metrics that its later runs compare with.
	MeasuresBaseline bool
	// Env is added to the program's environment (KEY=VALUE); New puts the
	// parameters here as SXBISECT_PARAM_*.
	Env []string
}

// Name returns the predicate's name: the program's file name without
// Prefix.
func (e External) Name() string {
	return strings.TrimPrefix(filepath.Base(e.Path), Prefix)
}

// NeedsBaseline reports whether the session should call MeasureBaseline:
// only for a plugin that measures one.
func (e External) NeedsBaseline() bool { return e.MeasuresBaseline }

// Judge runs the program with SXBISECT_PHASE=judge in c.Dir. The
// Judgement carries the run's measurement (its Tail holds the end of
// stderr, then the end of stdout) and metrics: the run's own (wall_s,
// user_s, sys_s, max_rss_mb), replaced by the program's where it reports
// the same name.
func (e External) Judge(ctx context.Context, c predicate.Candidate) (predicate.Judgement, error) {
	j, ans, err := e.run(ctx, c, PhaseJudge)
	if err != nil || ans == nil {
		return j, err
	}
	switch v := predicate.Verdict(ans.Verdict); v {
	case predicate.Good, predicate.Bad, predicate.Skip:
		j.Verdict = v
	case "":
		return j, e.answerError(`the JSON answer has no "verdict"`, ans.line)
	default:
		return j, e.answerError(fmt.Sprintf("verdict %q is not good, bad or skip", ans.Verdict), ans.line)
	}
	j.Reason = e.prefix(ans.Verdict)
	if d := oneLine(ans.Detail); d != "" {
		j.Reason = e.prefix(d)
	}
	j.Metrics = mergeMetrics(j.Metrics, ans.Metrics)
	j.Samples = []predicate.Sample{{Metrics: j.Metrics, Quiet: true}}
	return j, nil
}

// MeasureBaseline runs the program with SXBISECT_PHASE=baseline in c.Dir,
// the good commit's worktree, and keeps the metrics of its answer (merged
// with the run's own, as in Judge). A program that does not measure
// baselines (MeasuresBaseline false) is not run, and the baseline is empty.
func (e External) MeasureBaseline(ctx context.Context, c predicate.Candidate) (*predicate.Baseline, error) {
	if !e.MeasuresBaseline {
		return &predicate.Baseline{Commit: c.Commit}, nil
	}
	j, ans, err := e.run(ctx, c, PhaseBaseline)
	if err != nil {
		return nil, err
	}
	at := " while measuring the baseline at the good commit " + c.Commit
	switch {
	case j.Measurement != nil && j.Measurement.TimedOut:
		return nil, &predicate.AbortError{Reason: e.prefix(fmt.Sprintf("timed out after %s%s", e.Timeout, at))}
	case ans == nil:
		return nil, &predicate.AbortError{Reason: e.prefix(fmt.Sprintf(
			"printed no JSON answer%s (%s); with SXBISECT_PHASE=baseline a plugin prints {\"metrics\": {...}} on its last line",
			at, strings.TrimPrefix(j.Reason, e.prefix(""))))}
	case ans.Verdict != "" && ans.Verdict != string(predicate.Good):
		why := ans.Verdict
		if d := oneLine(ans.Detail); d != "" {
			why += ": " + d
		}
		return nil, &predicate.AbortError{Reason: e.prefix(fmt.Sprintf("answered %s%s", why, at))}
	case len(ans.Metrics) == 0:
		return nil, e.answerError(`the baseline answer has no "metrics"`, ans.line)
	}
	metrics := mergeMetrics(j.Metrics, ans.Metrics)
	return &predicate.Baseline{
		Commit:  c.Commit,
		Samples: []predicate.Sample{{Metrics: metrics, Quiet: true}},
		Metrics: metrics,
	}, nil
}

// answer is the JSON object on the last line of a plugin's stdout.
type answer struct {
	Verdict string             `json:"verdict"`
	Metrics map[string]float64 `json:"metrics"`
	Detail  string             `json:"detail"`

	line string // as printed, for error messages
}

// run runs the program once in phase. The Judgement it returns has the
// measurement and the run's metrics; its verdict and reason are those of
// the exit status or the timeout, which hold when ans is nil. ans is the
// JSON answer; it is nil after a timeout, whatever was printed.
func (e External) run(ctx context.Context, c predicate.Candidate, phase string) (predicate.Judgement, *answer, error) {
	if err := checkExecutable(e.Path); err != nil {
		return predicate.Judgement{}, nil, fmt.Errorf("plugin %s: %w", e.Name(), err)
	}
	tmp, err := os.MkdirTemp("", "sxbisect-plugin-")
	if err != nil {
		return predicate.Judgement{}, nil, fmt.Errorf("plugin %s: %w", e.Name(), err)
	}
	defer os.RemoveAll(tmp)

	env := append(append([]string{}, c.Env...), e.Env...)
	env = append(env,
		"SXBISECT_COMMIT="+c.Commit,
		"SXBISECT_WORKTREE="+c.Dir,
		"SXBISECT_PHASE="+phase,
	)
	if c.Baseline != nil {
		file := filepath.Join(tmp, "baseline.json")
		data, err := json.MarshalIndent(c.Baseline, "", "  ")
		if err == nil {
			err = os.WriteFile(file, append(data, '\n'), 0o600)
		}
		if err != nil {
			return predicate.Judgement{}, nil, fmt.Errorf("plugin %s: writing the baseline: %w", e.Name(), err)
		}
		env = append(env, "SXBISECT_BASELINE="+file)
	}
	if c.BaselineDir != "" {
		env = append(env, "SXBISECT_BASELINE_WORKTREE="+c.BaselineDir)
	}

	// stdout goes to a file of its own, stderr to run's capture; exec
	// makes the program the process that run waits for, so that its exit
	// status and a signal that kills it are seen as they are.
	stdout := filepath.Join(tmp, "stdout")
	cmd := predicate.Command{
		Run:       "exec " + text.SingleQuote(e.Path) + " >" + text.SingleQuote(stdout),
		Timeout:   e.Timeout,
		OnTimeout: e.OnTimeout,
		Env:       env,
	}
	j, err := cmd.Judge(ctx, c)
	var abort *predicate.AbortError
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return j, nil, err
		}
		if !errors.As(err, &abort) {
			return j, nil, fmt.Errorf("plugin %s: %w", e.Name(), err)
		}
	}
	end, readErr := readEnd(stdout)
	if j.Measurement != nil {
		m := *j.Measurement
		m.Tail = joinTail(m.Tail, end.tail)
		if end.size > 0 && c.LogPath != "" {
			if err := appendStdout(c.LogPath, e.Name(), stdout); err != nil && m.LogError == "" {
				m.LogError = err.Error()
			}
		}
		j.Measurement = &m
	}

	if j.Measurement != nil && j.Measurement.TimedOut {
		if abort != nil {
			return j, nil, &predicate.AbortError{Reason: e.prefix(fmt.Sprintf("timed out after %s and on-timeout is abort", e.Timeout))}
		}
		j.Reason = e.prefix(j.Reason)
		return j, nil, nil
	}
	if readErr != nil {
		return j, nil, fmt.Errorf("plugin %s: reading its stdout: %w", e.Name(), readErr)
	}
	if strings.HasPrefix(end.line, "{") {
		ans := answer{line: end.line}
		if err := json.Unmarshal([]byte(end.line), &ans); err != nil {
			return j, nil, e.answerError(fmt.Sprintf("the last line of its stdout is not a valid JSON answer (%v)", err), end.line)
		}
		for name := range ans.Metrics {
			if name == "" {
				return j, nil, e.answerError("a metric has an empty name", end.line)
			}
		}
		// The answer holds even where the exit status alone would have
		// stopped the session.
		return j, &ans, nil
	}
	if abort != nil {
		return j, nil, &predicate.AbortError{Reason: e.prefix(abort.Reason)}
	}
	j.Reason = e.prefix(j.Reason)
	return j, nil, nil
}

func (e External) prefix(s string) string { return "plugin " + e.Name() + ": " + s }

// answerError is the error for an answer that cannot be used: it names the
// plugin and shows the line, since the fix is in the plugin.
func (e External) answerError(what, line string) error {
	return &predicate.AbortError{Reason: e.prefix(what + ": " + shorten(line, maxShownLine))}
}

// maxShownLine bounds how much of a line an error message shows.
const maxShownLine = 200

func mergeMetrics(run, plugin map[string]float64) map[string]float64 {
	merged := make(map[string]float64, len(run)+len(plugin))
	for k, v := range run {
		merged[k] = v
	}
	for k, v := range plugin {
		merged[k] = v
	}
	return merged
}

// oneLine makes a plugin's detail fit a reason: one line, bounded.
func oneLine(s string) string {
	return shorten(text.OneLine(s), maxShownLine)
}

// shorten cuts s to at most n bytes, on a character boundary, marking the
// cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Parameters that New reads itself; every other one goes to the program.
const (
	paramTimeout   = "timeout"
	paramOnTimeout = "on-timeout"
	paramBaseline  = "baseline"
)

// New builds the predicate of the plugin sxbisect-predicate-NAME found on
// the PATH of the environment, from params:
//
//	timeout     a Go duration (30s, 10m) or plain seconds; absent or 0: none
//	on-timeout  skip, bad (default) or abort
//	baseline    true when the program measures the good commit
//	            (SXBISECT_PHASE=baseline); default false
//
// Every other parameter is the program's own: NAME=VALUE reaches it as the
// environment variable SXBISECT_PARAM_NAME, upper case, dashes turned to
// underscores (max-growth=1.1 is SXBISECT_PARAM_MAX_GROWTH=1.1). A name is
// made of letters, digits, dashes and underscores. The program is the one
// to reject a parameter it does not know.
func New(name string, params map[string]string) (*External, error) {
	return NewOnPath(name, os.Getenv("PATH"), params)
}

// NewOnPath is New with the plugin looked up in path instead of $PATH.
func NewOnPath(name, path string, params map[string]string) (*External, error) {
	exe, err := Find(name, path)
	if err != nil {
		return nil, err
	}
	e := &External{Path: exe, OnTimeout: predicate.PolicyBad}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fromParam := map[string]string{}
	for _, k := range keys {
		v := params[k]
		switch k {
		case paramTimeout:
			d, err := parseTimeout(v)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: timeout %q is not a duration such as 30s or 10m", name, v)
			}
			e.Timeout = d
		case paramOnTimeout:
			p, err := predicate.ParsePolicy(v)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: on-timeout: %w", name, err)
			}
			e.OnTimeout = p
		case paramBaseline:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: baseline %q is not true or false", name, v)
			}
			e.MeasuresBaseline = b
		default:
			variable, err := paramVariable(k)
			if err != nil {
				return nil, fmt.Errorf("plugin %s: %w", name, err)
			}
			if other, taken := fromParam[variable]; taken {
				return nil, fmt.Errorf("plugin %s: parameters %q and %q are both %s", name, other, k, variable)
			}
			fromParam[variable] = k
			e.Env = append(e.Env, variable+"="+v)
		}
	}
	return e, nil
}

// Open returns the predicate called name: the one compiled in when the
// registry has it, built by its factory, or else the plugin
// sxbisect-predicate-NAME on $PATH, built by New. A plugin without a
// timeout of its own gets timeout (a session's --timeout), so that a plugin
// that hangs is killed like a test that hangs. A predicate compiled in
// cannot be replaced by a plugin, as git's own commands cannot be by
// git-NAME programs. The error for a name that is neither is a
// *NotFoundError.
func Open(name string, params map[string]string, timeout time.Duration) (predicate.Predicate, error) {
	if _, ok := predicate.Lookup(name); ok {
		return predicate.New(name, params)
	}
	e, err := New(name, params)
	if err != nil {
		return nil, err
	}
	if e.Timeout == 0 {
		e.Timeout = timeout
	}
	return e, nil
}

func parseTimeout(s string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("not a duration")
	}
	return d, nil
}

// paramVariable is the environment variable that carries parameter name.
func paramVariable(name string) (string, error) {
	if name == "" {
		return "", errors.New("a parameter has an empty name")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", fmt.Errorf("parameter name %q: use letters, digits, dashes and underscores", name)
		}
	}
	return "SXBISECT_PARAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")), nil
}
