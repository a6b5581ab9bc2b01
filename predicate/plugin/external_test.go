package plugin_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/plugin"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

// samplePlugins is the PATH of the sample plugins in testdata/plugins.
func samplePlugins(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "testdata", "plugins"))
	require.NoError(t, err)
	return dir
}

func newPlugin(t *testing.T, name string, params map[string]string) *plugin.External {
	t.Helper()
	e, err := plugin.NewOnPath(name, samplePlugins(t), params)
	require.NoError(t, err)
	return e
}

// worktree is a directory holding files, standing in for a checkout.
func worktree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

func judgeIn(t *testing.T, e *plugin.External, dir string) (predicate.Judgement, error) {
	t.Helper()
	return e.Judge(context.Background(), predicate.Candidate{Commit: commit, Dir: dir})
}

// abortReason requires err to be an abort and returns its reason.
func abortReason(t *testing.T, err error) string {
	t.Helper()
	var abort *predicate.AbortError
	require.True(t, errors.As(err, &abort), "want an abort, got %v", err)
	return abort.Reason
}

func TestJSONAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		files   map[string]string
		params  map[string]string
		verdict predicate.Verdict
		reason  string
		markers float64
	}{
		{"marked", map[string]string{"STATUS": "ok\nstill ok\n"}, nil, predicate.Good, "plugin markers: 2 markers in STATUS", 2},
		{"unmarked", map[string]string{"STATUS": "failing\n"}, nil, predicate.Bad, "plugin markers: no ok in STATUS", 0},
		{"missing", nil, nil, predicate.Skip, "plugin markers: no STATUS at this commit", -1},
		{"params", map[string]string{"OTHER": "yes\n"}, map[string]string{"file": "OTHER", "marker": "yes"}, predicate.Good, "plugin markers: 1 markers in OTHER", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newPlugin(t, "markers", tc.params)
			assert.Equal(t, "markers", e.Name())
			j, err := judgeIn(t, e, worktree(t, tc.files))
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, j.Verdict)
			assert.Equal(t, tc.reason, j.Reason)
			if tc.markers >= 0 {
				assert.Equal(t, tc.markers, j.Metrics["markers"])
			} else {
				assert.NotContains(t, j.Metrics, "markers")
			}
			assert.Contains(t, j.Metrics, "wall_s", "the run's own metrics stay")
			require.Len(t, j.Samples, 1)
			assert.Equal(t, j.Metrics, j.Samples[0].Metrics)
			require.NotNil(t, j.Measurement)
			assert.Equal(t, 0, j.Measurement.ExitCode)
		})
	}
}

// The markers plugin prints a JSON line on stderr after its answer: the
// answer is read from stdout alone.
func TestStderrDoesNotDisturbTheAnswer(t *testing.T) {
	t.Parallel()
	dir := worktree(t, map[string]string{"STATUS": "ok\n"})
	logPath := filepath.Join(t.TempDir(), "test.log")
	j, err := newPlugin(t, "markers", nil).Judge(context.Background(),
		predicate.Candidate{Commit: commit, Dir: dir, LogPath: logPath})
	require.NoError(t, err)
	assert.Equal(t, predicate.Good, j.Verdict)

	tail := j.Measurement.Tail
	assert.Contains(t, tail, `a JSON line on stderr is not the answer`)
	assert.True(t, strings.HasSuffix(tail, `{"verdict": "good", "metrics": {"markers": 1}, "detail": "1 markers in STATUS"}`+"\n"), "the answer ends the tail:\n%s", tail)

	log, err := os.ReadFile(logPath)
	require.NoError(t, err)
	stderr, stdout, ok := strings.Cut(string(log), "\n--- stdout of sxbisect-predicate-markers ---\n")
	require.True(t, ok, "log:\n%s", log)
	assert.Contains(t, stderr, "markers: looking for 'ok' in STATUS at "+commit)
	assert.Contains(t, stderr, "markers: done")
	assert.Equal(t, "checking STATUS\n"+`{"verdict": "good", "metrics": {"markers": 1}, "detail": "1 markers in STATUS"}`+"\n", stdout)
}

func TestExitStatusWithoutAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		params  map[string]string
		verdict predicate.Verdict
		reason  string
	}{
		{map[string]string{"code": "0"}, predicate.Good, "plugin exit: exit 0"},
		{map[string]string{"code": "1"}, predicate.Bad, "plugin exit: exit 1"},
		{map[string]string{"code": "125"}, predicate.Skip, "plugin exit: exit 125"},
		{map[string]string{"code": "127"}, predicate.Bad, "plugin exit: exit 127"},
		// A last line that is no JSON object is no answer.
		{map[string]string{"code": "1", "answer": "verdict: good"}, predicate.Bad, "plugin exit: exit 1"},
		// An answer holds whatever the exit status, even one that would stop the session.
		{map[string]string{"code": "1", "answer": `{"verdict": "good"}`}, predicate.Good, "plugin exit: good"},
		{map[string]string{"code": "200", "answer": `{"verdict": "skip", "detail": "no compiler"}`}, predicate.Skip, "plugin exit: no compiler"},
	} {
		j, err := judgeIn(t, newPlugin(t, "exit", tc.params), t.TempDir())
		require.NoError(t, err, "%v", tc.params)
		assert.Equal(t, tc.verdict, j.Verdict, "%v", tc.params)
		assert.Equal(t, tc.reason, j.Reason, "%v", tc.params)
		assert.Contains(t, j.Measurement.Tail, "warning: the suite is short")
		assert.Contains(t, j.Measurement.Tail, "3 of 3 passed")
	}
}

func TestExitStatusThatStopsTheSession(t *testing.T) {
	t.Parallel()
	_, err := judgeIn(t, newPlugin(t, "markers", map[string]string{"flie": "STATUS"}), t.TempDir())
	assert.Contains(t, abortReason(t, err), "plugin markers: test exited 255", "a plugin rejects a parameter it does not know")

	j, err := judgeIn(t, newPlugin(t, "exit", map[string]string{"code": "200"}), t.TempDir())
	reason := abortReason(t, err)
	assert.True(t, strings.HasPrefix(reason, "plugin exit: "), reason)
	assert.Contains(t, reason, "200")
	require.NotNil(t, j.Measurement, "the run is kept for the journal")
	assert.Equal(t, 200, j.Measurement.ExitCode)

	_, err = judgeIn(t, newPlugin(t, "exit", map[string]string{"signal": "KILL"}), t.TempDir())
	reason = abortReason(t, err)
	assert.True(t, strings.HasPrefix(reason, "plugin exit: "), reason)
	assert.Contains(t, reason, "SIGKILL")
}

func TestMalformedAnswer(t *testing.T) {
	t.Parallel()
	_, err := judgeIn(t, newPlugin(t, "badjson", nil), t.TempDir())
	assert.Equal(t, `plugin badjson: the last line of its stdout is not a valid JSON answer (invalid character '}' looking for beginning of object key string): {"verdict": "bad", "metrics": {"size_mb": 41.5,}}`,
		abortReason(t, err))

	long := `{"verdict": "good", "detail": "` + strings.Repeat("é", 400) + `"`
	for _, tc := range []struct{ line, want string }{
		{`{"verdict": "maybe"}`, `plugin echo: verdict "maybe" is not good, bad or skip: {"verdict": "maybe"}`},
		{`{"metrics": {"x": 1}}`, `plugin echo: the JSON answer has no "verdict": {"metrics": {"x": 1}}`},
		{`{"verdict": "good", "metrics": {"x": "fast"}}`, `plugin echo: the last line of its stdout is not a valid JSON answer (json: cannot unmarshal string into Go struct field answer.metrics of type float64): {"verdict": "good", "metrics": {"x": "fast"}}`},
		{`{"verdict": "good"} and more`, `plugin echo: the last line of its stdout is not a valid JSON answer (invalid character 'a' after top-level value): {"verdict": "good"} and more`},
		{`{"verdict": "good", "metrics": {"": 1}}`, `plugin echo: a metric has an empty name: {"verdict": "good", "metrics": {"": 1}}`},
		{long, `plugin echo: the last line of its stdout is not a valid JSON answer (unexpected end of JSON input): ` + long[:199] + `...`},
	} {
		_, err := judgeIn(t, newPlugin(t, "echo", map[string]string{"line": tc.line}), t.TempDir())
		assert.Equal(t, tc.want, abortReason(t, err))
	}
}

func TestAnswerDetails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		line    string
		verdict predicate.Verdict
		reason  string
		metrics map[string]float64
	}{
		{`   {"verdict": "skip", "detail": "two\nlines\t here"}  `, predicate.Skip, "plugin echo: two lines here", nil},
		{`{"verdict": "bad", "future": [1, 2], "metrics": {"wall_s": 99, "pass": 3}}`, predicate.Bad, "plugin echo: bad", map[string]float64{"wall_s": 99, "pass": 3}},
	} {
		j, err := judgeIn(t, newPlugin(t, "echo", map[string]string{"line": tc.line}), t.TempDir())
		require.NoError(t, err)
		assert.Equal(t, tc.verdict, j.Verdict)
		assert.Equal(t, tc.reason, j.Reason)
		for k, v := range tc.metrics {
			assert.Equal(t, v, j.Metrics[k], "the plugin's %s replaces the run's", k)
		}
	}
}

func TestHangingPluginIsKilledAtTheTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		onTimeout string
		verdict   predicate.Verdict
	}{{"bad", predicate.Bad}, {"skip", predicate.Skip}, {"abort", ""}} {
		t.Run(tc.onTimeout, func(t *testing.T) {
			t.Parallel()
			e := newPlugin(t, "hang", map[string]string{"timeout": "300ms", "on-timeout": tc.onTimeout})
			start := time.Now()
			j, err := judgeIn(t, e, t.TempDir())
			assert.Less(t, time.Since(start), 4*time.Second)
			require.NotNil(t, j.Measurement)
			assert.True(t, j.Measurement.TimedOut)
			if tc.verdict == "" {
				assert.Equal(t, "plugin hang: timed out after 300ms and on-timeout is abort", abortReason(t, err))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, j.Verdict, "what it printed before hanging does not count")
			assert.Equal(t, "plugin hang: timeout after 300ms", j.Reason)
		})
	}
}

func TestCancelStopsAHangingPlugin(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newPlugin(t, "hang", nil).Judge(ctx, predicate.Candidate{Commit: commit, Dir: t.TempDir()})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 4*time.Second)
}

// readEnv reads what the envdump plugin wrote of its environment.
func readEnv(t *testing.T, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "sxbisect-env.txt"))
	require.NoError(t, err)
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	return env
}

func TestEnvironmentAndBaselineFile(t *testing.T) {
	t.Parallel()
	e := newPlugin(t, "envdump", map[string]string{"max-growth": "1.1", "Mixed_case": "a b", "timeout": "10s"})
	dir, baseDir := t.TempDir(), t.TempDir()
	baseline := &predicate.Baseline{
		Commit:  "fedcba9876543210fedcba9876543210fedcba98",
		Samples: []predicate.Sample{{Metrics: map[string]float64{"score": 812, "wall_s": 4.5}, Quiet: true}},
		Metrics: map[string]float64{"score": 812, "wall_s": 4.5},
	}
	j, err := e.Judge(context.Background(), predicate.Candidate{
		Commit: commit, Dir: dir, Env: []string{"SXBISECT_EXTRA=from the session"},
		Baseline: baseline, BaselineDir: baseDir,
	})
	require.NoError(t, err)
	assert.Equal(t, predicate.Good, j.Verdict)

	env := readEnv(t, dir)
	baselineFile := env["SXBISECT_BASELINE"]
	assert.True(t, filepath.IsAbs(baselineFile), baselineFile)
	delete(env, "SXBISECT_BASELINE")
	assert.Equal(t, map[string]string{
		"SXBISECT_COMMIT":            commit,
		"SXBISECT_WORKTREE":          dir,
		"SXBISECT_PHASE":             "judge",
		"SXBISECT_BASELINE_WORKTREE": baseDir,
		"SXBISECT_EXTRA":             "from the session",
		"SXBISECT_PARAM_MAX_GROWTH":  "1.1",
		"SXBISECT_PARAM_MIXED_CASE":  "a b",
	}, env)
	_, err = os.Stat(baselineFile)
	assert.True(t, errors.Is(err, os.ErrNotExist), "the baseline file is removed after the run: %v", err)

	var seen predicate.Baseline
	data, err := os.ReadFile(filepath.Join(dir, "sxbisect-baseline.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &seen))
	assert.Equal(t, *baseline, seen)

	pwd, err := os.ReadFile(filepath.Join(dir, "sxbisect-pwd.txt"))
	require.NoError(t, err)
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, real, strings.TrimSpace(string(pwd)), "it runs in the worktree")

	// Without a baseline there is no file, and no variable for it.
	dir = t.TempDir()
	_, err = judgeIn(t, e, dir)
	require.NoError(t, err)
	env = readEnv(t, dir)
	assert.NotContains(t, env, "SXBISECT_BASELINE")
	assert.NotContains(t, env, "SXBISECT_BASELINE_WORKTREE")
	assert.NoFileExists(t, filepath.Join(dir, "sxbisect-baseline.json"))
}

func TestBaselinePhase(t *testing.T) {
	t.Parallel()
	e := newPlugin(t, "score", map[string]string{"baseline": "true"})
	var p predicate.Predicate = e
	b, ok := p.(predicate.Baseliner)
	require.True(t, ok)
	assert.True(t, e.NeedsBaseline())

	good := worktree(t, map[string]string{"SCORE": "100\n"})
	base, err := b.MeasureBaseline(context.Background(), predicate.Candidate{Commit: "good", Dir: good})
	require.NoError(t, err)
	assert.Equal(t, "good", base.Commit)
	assert.Equal(t, 100.0, base.Metrics["score"])
	assert.Contains(t, base.Metrics, "wall_s")
	require.Len(t, base.Samples, 1)
	assert.Equal(t, base.Metrics, base.Samples[0].Metrics)

	for _, tc := range []struct {
		score   string
		verdict predicate.Verdict
	}{{"95", predicate.Good}, {"100", predicate.Good}, {"80", predicate.Bad}} {
		dir := worktree(t, map[string]string{"SCORE": tc.score})
		j, err := e.Judge(context.Background(), predicate.Candidate{Commit: commit, Dir: dir, Baseline: base})
		require.NoError(t, err)
		assert.Equal(t, tc.verdict, j.Verdict, "score %s", tc.score)
		assert.Equal(t, "plugin score: score "+tc.score+", 100 at the good commit", j.Reason)
		assert.Equal(t, 100.0, j.Metrics["baseline_score"])
	}
}

func TestBaselinePhaseFailures(t *testing.T) {
	t.Parallel()
	c := predicate.Candidate{Commit: "good", Dir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"exit", map[string]string{"baseline": "true"}, "plugin exit: printed no JSON answer while measuring the baseline at the good commit good (exit 0)"},
		{"echo", map[string]string{"baseline": "true", "line": `{"verdict": "skip", "detail": "no build"}`}, "plugin echo: answered skip: no build while measuring the baseline at the good commit good"},
		{"echo", map[string]string{"baseline": "true", "line": `{"verdict": "good"}`}, `plugin echo: the baseline answer has no "metrics": {"verdict": "good"}`},
		{"hang", map[string]string{"baseline": "true", "timeout": "0.2"}, "plugin hang: timed out after 200ms while measuring the baseline at the good commit good"},
	} {
		_, err := newPlugin(t, tc.name, tc.params).MeasureBaseline(context.Background(), c)
		assert.True(t, strings.HasPrefix(abortReason(t, err), tc.want), "%s\nwant %s", err, tc.want)
	}

	// A plugin that measures no baseline is not run for one.
	e := newPlugin(t, "envdump", nil)
	assert.False(t, e.NeedsBaseline())
	base, err := e.MeasureBaseline(context.Background(), c)
	require.NoError(t, err)
	assert.Equal(t, &predicate.Baseline{Commit: "good"}, base)
	assert.NoFileExists(t, filepath.Join(c.Dir, "sxbisect-env.txt"))
}

func TestProgramGoneAfterLookup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sxbisect-predicate-gone"), 0o755)
	e, err := plugin.NewOnPath("gone", dir, nil)
	require.NoError(t, err)
	require.NoError(t, os.Remove(e.Path))
	_, err = judgeIn(t, e, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "plugin gone: ")
	assert.Contains(t, err.Error(), e.Path)
}

func TestParameters(t *testing.T) {
	t.Parallel()
	path := samplePlugins(t)
	for value, want := range map[string]time.Duration{"30s": 30 * time.Second, "10m": 10 * time.Minute, "90": 90 * time.Second, "1.5": 1500 * time.Millisecond, "0": 0} {
		e, err := plugin.NewOnPath("markers", path, map[string]string{"timeout": value})
		require.NoError(t, err, value)
		assert.Equal(t, want, e.Timeout, value)
		assert.Equal(t, predicate.PolicyBad, e.OnTimeout)
		assert.Empty(t, e.Env, "timeout is not the plugin's parameter")
	}
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"timeout": "soon"}, `plugin markers: timeout "soon" is not a duration such as 30s or 10m`},
		{map[string]string{"timeout": "-1s"}, `plugin markers: timeout "-1s" is not a duration such as 30s or 10m`},
		{map[string]string{"on-timeout": "retry"}, `plugin markers: on-timeout: unknown policy "retry": valid values are skip, bad, abort`},
		{map[string]string{"baseline": "maybe"}, `plugin markers: baseline "maybe" is not true or false`},
		{map[string]string{"file name": "x"}, `plugin markers: parameter name "file name": use letters, digits, dashes and underscores`},
		{map[string]string{"max-growth": "1", "max_growth": "2"}, `plugin markers: parameters "max-growth" and "max_growth" are both SXBISECT_PARAM_MAX_GROWTH`},
	} {
		_, err := plugin.NewOnPath("markers", path, tc.params)
		assert.EqualError(t, err, tc.want)
	}
	_, err := plugin.NewOnPath("nope", path, nil)
	assert.EqualError(t, err, "no predicate nope: not built in, and no sxbisect-predicate-nope on PATH")
}

// Open is what the command line calls: built-ins first, then PATH.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sxbisect-predicate-exit-code"), 0o755)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+samplePlugins(t)+string(os.PathListSeparator)+os.Getenv("PATH"))

	p, err := plugin.Open("exit-code", map[string]string{"run": "true"}, 0)
	require.NoError(t, err)
	assert.IsType(t, predicate.Command{}, p, "the built-in comes before a plugin of its name")

	p, err = plugin.Open("markers", map[string]string{"marker": "yes"}, 0)
	require.NoError(t, err)
	require.IsType(t, &plugin.External{}, p)
	assert.Equal(t, filepath.Join(samplePlugins(t), "sxbisect-predicate-markers"), p.(*plugin.External).Path)
	j, err := p.Judge(context.Background(), predicate.Candidate{Commit: commit, Dir: worktree(t, map[string]string{"STATUS": "yes"})})
	require.NoError(t, err)
	assert.Equal(t, predicate.Good, j.Verdict)
	assert.Zero(t, p.(*plugin.External).Timeout, "no timeout given, none set")

	p, err = plugin.Open("markers", nil, 7*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, p.(*plugin.External).Timeout, "a plugin without a timeout of its own gets the session's")

	_, err = plugin.Open("nope", nil, 0)
	var nf *plugin.NotFoundError
	assert.True(t, errors.As(err, &nf))
}
