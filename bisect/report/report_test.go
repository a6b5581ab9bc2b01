package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/report"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/predicate"
)

// evil is the subject of the first bad commit: markup, a table cell's
// pipe and quotes, which every format must keep as text.
const evil = `jit: <script>alert("x")</script> & <img src=http://evil.example/x> | 'q'`

// measuredSession runs a real session with --max-ratio cpu=1.5 on commits
// whose test does 2.5 times the CPU work from commit k on.
func measuredSession(t *testing.T) (string, []string) {
	t.Helper()
	const n, k = 10, 6
	dir := filepath.Join(t.TempDir(), "repo")
	commits := gitfixture.Linear(n, func(i int) map[string]string {
		work := 300000
		if i >= k {
			work = work * 5 / 2
		}
		return map[string]string{"work": fmt.Sprint(work), "src/level": fmt.Sprint(i)}
	})
	commits[k].Message = evil
	hashes, err := gitfixture.Build(dir, commits)
	require.NoError(t, err)
	res, err := bisect.Start(context.Background(), bisect.Spec{
		Repo: dir, Name: "cpu", Good: []string{hashes[0]}, Bad: "main",
		Run: `awk -v n="$(cat work)" 'BEGIN { for (i = 0; i < n; i++) s += i }'`, MaxRatio: []string{"cpu=1.5"},
	}, bisect.Options{})
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	require.Equal(t, hashes[k], *res.FirstBad)
	return dir, hashes
}

func TestReportOfAMeasuredSession(t *testing.T) {
	repo, hashes := measuredSession(t)
	s, err := report.Load(repo, "cpu")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	first := hashes[6]

	t.Run("model", func(t *testing.T) {
		require.Len(t, r.Sessions, 1)
		sr := r.Sessions[0]
		assert.Equal(t, bisect.StateFinished, sr.State)
		require.NotNil(t, sr.FirstBad)
		assert.Equal(t, first, sr.FirstBad.Commit)
		assert.Equal(t, evil, sr.FirstBad.Subject)
		assert.Equal(t, []string{"src/level", "work"}, sr.FirstBad.Files)
		require.NotNil(t, sr.Evidence)
		require.Len(t, sr.Evidence.Columns, 3)
		assert.Equal(t, []string{"baseline", "parent", "first bad"},
			[]string{sr.Evidence.Columns[0].Label, sr.Evidence.Columns[1].Label, sr.Evidence.Columns[2].Label})
		bad := sr.Evidence.Columns[2].Figures["cpu_s"]
		assert.GreaterOrEqual(t, len(bad.Samples), 3)
		assert.Greater(t, bad.Ratio, 1.5)
		require.Len(t, sr.Charts, 1)
		c := sr.Charts[0]
		assert.Equal(t, "cpu_s", c.Metric)
		assert.Greater(t, c.Baseline, 0.0)
		assert.InDelta(t, c.Baseline*1.5, c.Threshold, 1e-9)
		assert.Equal(t, "CPU time, user + system (s)", c.Title)
		assert.Equal(t, first, c.FirstBad)
		for _, p := range c.Points {
			assert.GreaterOrEqual(t, len(p.Samples), 3, "every run of %s is on the chart", p.Commit)
		}
		for _, s := range sr.Steps {
			require.NotEmpty(t, s.Logs, "step %d links its logs", s.N)
			assert.Contains(t, s.Logs[0], fmt.Sprintf("%03d-%s-test", s.N, s.Commit[:12]))
		}
		assert.Contains(t, sr.Command, "--max-ratio cpu=1.5")
		assert.Contains(t, sr.Command, hashes[0])
		assert.Empty(t, sr.Resume)
		require.NotNil(t, sr.Load, "measured runs record the load around them")
		assert.Positive(t, sr.Load.Runs)
		assert.Equal(t, len(sr.Steps), r.Overview.Steps)
	})

	t.Run("markdown", func(t *testing.T) {
		md := r.Markdown()
		for _, want := range []string{"## Session cpu: finished", first, "### Evidence", "baseline `", "parent `",
			"cpu_s samples", "### Steps", "| bisect |", "sxbisect start --repo", "machine load: 1-minute load"} {
			assert.Contains(t, md, want)
		}
		assert.Contains(t, md, `\| 'q'`, "a pipe in a subject is escaped in tables")
	})

	t.Run("json", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, r.WriteJSON(&buf))
		var back report.Report
		require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
		require.Len(t, back.Sessions, 1)
		assert.Equal(t, first, back.Sessions[0].FirstBad.Commit)
		var raw map[string]any
		require.NoError(t, json.Unmarshal(buf.Bytes(), &raw))
		sess := raw["sessions"].([]any)[0].(map[string]any)
		for _, k := range []string{"verdict", "first_bad", "evidence", "steps", "charts", "command", "spec", "load"} {
			assert.Contains(t, sess, k)
		}
	})

	t.Run("html", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, r.WriteHTML(&buf))
		page := buf.String()
		checkWellFormed(t, page)
		checkSelfContained(t, page)
		assert.NotContains(t, page, "<script>alert")
		assert.Contains(t, page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
		assert.Equal(t, 1, strings.Count(page, "<svg "))
		assert.Contains(t, page, `<line class="base"`)
		assert.Contains(t, page, `<line class="thresh"`)
		assert.Contains(t, page, `<g class="bad">`)
		assert.Contains(t, page, "CPU time, user &#43; system (s)</text>", "the y axis has a title with its unit")
		assert.Contains(t, page, `<line class="firstbad"`)
		assert.Contains(t, page, ">first bad "+first[:12]+"</text>")
		// Round ticks: each label is a short decimal, in even steps.
		ticks := regexp.MustCompile(`dominant-baseline="middle">([0-9.e-]+)</text>`).FindAllStringSubmatch(page, -1)
		require.GreaterOrEqual(t, len(ticks), 3)
		for _, tk := range ticks {
			assert.LessOrEqual(t, len(tk[1]), 5, "tick %s", tk[1])
		}
		assert.Regexp(t, `<a href="[^"]*/logs/001-[0-9a-f]{12}-test\.log">test</a>`, page)
	})

	t.Run("logs copied beside the report", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, r.CopyLogs(dir, "report-logs"))
		step := r.Sessions[0].Steps[0]
		require.NotEmpty(t, step.Logs)
		assert.Equal(t, fmt.Sprintf("report-logs/cpu/001-%s-test.log", step.Commit[:12]), step.Logs[0])
		assert.FileExists(t, filepath.Join(dir, step.Logs[0]))
		var buf bytes.Buffer
		require.NoError(t, r.WriteHTML(&buf))
		assert.Contains(t, buf.String(), `<a href="`+step.Logs[0]+`">test</a>`)
	})
}

// A session judged by its test's exit status has no chart: its figures
// decided nothing.
func TestReportChartsOnlyWhatBearsOnTheVerdict(t *testing.T) {
	repo, hashes := gitfixture.ValueRepo(t, 10)
	_, err := bisect.Start(context.Background(), bisect.Spec{Repo: repo, Good: []string{hashes[0]}, Bad: "main",
		Run: `test "$(cat value)" -lt 4`, Expect: "."}, bisect.Options{})
	require.NoError(t, err)
	s, err := report.Load(repo, "default")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	assert.Empty(t, r.Sessions[0].Charts)
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	assert.NotContains(t, buf.String(), "<svg ")
}

// checkWellFormed checks that every element opened is closed, in order.
func checkWellFormed(t *testing.T, page string) {
	t.Helper()
	void := map[string]bool{"meta": true, "br": true, "img": true, "hr": true, "link": true, "input": true}
	tag := regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>`)
	var stack []string
	for _, m := range tag.FindAllStringSubmatch(page, -1) {
		name := strings.ToLower(m[2])
		switch {
		case m[1] == "/":
			require.NotEmpty(t, stack, "</%s> closes nothing", name)
			require.Equal(t, stack[len(stack)-1], name, "</%s> closes <%s>", name, stack[len(stack)-1])
			stack = stack[:len(stack)-1]
		case m[3] == "/" || void[name]:
		default:
			stack = append(stack, name)
		}
	}
	assert.Empty(t, stack, "unclosed elements")
	assert.True(t, strings.HasPrefix(page, "<!DOCTYPE html>"))
}

// checkSelfContained checks that the page loads nothing: no scripts, no
// links, and no URL in any attribute, but for the anchors to the steps'
// log files, which are files, never from elsewhere, and load nothing
// until followed.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	assert.NotRegexp(t, `(?i)<(script|link|iframe|img|object|embed)\b`, page)
	attr := regexp.MustCompile(`(?i)\s(?:src|href|xlink:href|action|srcset)\s*=`)
	logLink := regexp.MustCompile(`^<a href="[^":]*\.log">$`)
	for _, m := range regexp.MustCompile(`<[^>]*>`).FindAllString(page, -1) {
		if logLink.MatchString(m) {
			continue
		}
		assert.False(t, attr.MatchString(m), "an attribute that loads something: %s", m)
		assert.NotContains(t, strings.ToLower(m), "http", "a URL in the tag %s", m)
	}
	assert.NotContains(t, strings.ToLower(page), "url(", "a URL in the style sheet")
}

func TestReportOfAnAbortedSessionSaysHowToResume(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(8, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	}))
	require.NoError(t, err)
	tested := 0
	tester := bisect.TesterFunc(func(ctx context.Context, commit string) (bisect.Report, error) {
		tested++
		if tested == 3 {
			return bisect.Report{}, &predicate.AbortError{Reason: "the build server is down"}
		}
		v := predicate.Good
		if commit == hashes[7] {
			v = predicate.Bad
		}
		return bisect.Report{Verdict: v, Reason: "exit 0"}, nil
	})
	res, err := bisect.Start(context.Background(), bisect.Spec{
		Repo: dir, Name: "stuck", Good: []string{hashes[0]}, Bad: "main", Run: "true",
	}, bisect.Options{NewTester: func(context.Context, bisect.Spec, string) (bisect.Tester, error) { return tester, nil }})
	require.NoError(t, err)
	require.Equal(t, bisect.Aborted, res.Outcome)

	s, err := report.Load(dir, "stuck")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	sr := r.Sessions[0]
	assert.Equal(t, bisect.StateAborted, sr.State)
	assert.Nil(t, sr.Evidence)
	assert.Nil(t, sr.Load)
	assert.Contains(t, sr.Resume, "sxbisect resume --repo")
	assert.Equal(t, []string{"stuck"}, r.Overview.Unfinished)
	md := r.Markdown()
	assert.Contains(t, md, "## Unfinished")
	assert.Contains(t, md, "no load figures")
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	assert.NotContains(t, buf.String(), "<svg")
	checkWellFormed(t, buf.String())
}

// A flake-aware session's report says how sure the answer is and shows
// the posterior over the range, in Markdown and in HTML.
func TestReportOfAFlakyShowsThePosterior(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(dir, gitfixture.Linear(40, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i)}
	}))
	require.NoError(t, err)
	runs := map[string]int{}
	tester := bisect.TesterFunc(func(ctx context.Context, commit string) (bisect.Report, error) {
		runs[commit]++
		bad := slices.Index(hashes, commit) >= 23
		if runs[commit] == 2 && commit == hashes[30] {
			bad = false // one flake
		}
		if bad {
			return bisect.Report{Verdict: predicate.Bad, Reason: "exit 1"}, nil
		}
		return bisect.Report{Verdict: predicate.Good, Reason: "exit 0"}, nil
	})
	res, err := bisect.Start(context.Background(), bisect.Spec{
		Repo: dir, Name: "flaky", Good: []string{hashes[0]}, Bad: "main", Run: "true", Flaky: bisect.FlakyOn,
	}, bisect.Options{NewTester: func(context.Context, bisect.Spec, string) (bisect.Tester, error) { return tester, nil }})
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)

	s, err := report.Load(dir, "flaky")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	sr := r.Sessions[0]
	require.NotNil(t, sr.Beliefs)
	assert.GreaterOrEqual(t, sr.Beliefs.Confidence, 0.95)
	md := r.Markdown()
	assert.Contains(t, md, "### How sure")
	assert.Contains(t, md, "estimated flake rates")
	assert.Contains(t, md, "`"+hashes[23][:12]+"` |")
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	html := buf.String()
	assert.Contains(t, html, "P(first bad), %")
	assert.Contains(t, html, `<rect class="bad"`)
}

// A wall ratio made from no samples (no run was quiet) is no figure, in
// journals that recorded one as 1 too.
func TestReportShowsNoRatioFromNoSamples(t *testing.T) {
	dir, hashes := gitfixture.ValueRepo(t, 4)
	tester := bisect.TesterFunc(func(ctx context.Context, commit string) (bisect.Report, error) {
		v := predicate.Good
		if commit == hashes[3] {
			v = predicate.Bad
		}
		return bisect.Report{Verdict: v, Reason: "exit 0", Metrics: map[string]float64{
			"cpu_ratio": 1.02, "cpu_n": 3, "cpu_baseline_n": 8, "wall_s": 9.5,
			"wall_ratio": 1, "wall_n": 0, "wall_baseline_n": 0, "wall_baseline_median": 4.2,
		}}, nil
	})
	res, err := bisect.Start(context.Background(), bisect.Spec{
		Repo: dir, Name: "busy", Good: []string{hashes[0]}, Bad: "main", Run: "true",
	}, bisect.Options{NewTester: func(context.Context, bisect.Spec, string) (bisect.Tester, error) { return tester, nil }})
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)

	s, err := report.Load(dir, "busy")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	for _, st := range r.Sessions[0].Steps {
		assert.NotContains(t, st.Metrics, "wall_ratio", "step %d", st.N)
		assert.NotContains(t, st.Metrics, "wall_baseline_median")
		assert.Equal(t, 0.0, st.Metrics["wall_n"], "the count itself is a figure")
		assert.Equal(t, 1.02, st.Metrics["cpu_ratio"])
		assert.Equal(t, "cpu ratio 1.02x, wall 9.50s", st.MetricsText())
	}
	assert.NotContains(t, r.Markdown(), "wall ratio")
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	assert.NotContains(t, buf.String(), "wall ratio")
	buf.Reset()
	require.NoError(t, r.WriteJSON(&buf))
	assert.NotContains(t, buf.String(), "wall_ratio")
}

// The cores a step's measured runs had are in its record, and the step
// table shows them.
func TestReportShowsTheCoresOfMeasuredRuns(t *testing.T) {
	dir, hashes := gitfixture.ValueRepo(t, 4)
	tester := bisect.TesterFunc(func(ctx context.Context, commit string) (bisect.Report, error) {
		rep := bisect.Report{Verdict: predicate.Good, Reason: "exit 0", Metrics: map[string]float64{"cpu_ratio": 1.02}, CPUs: "1"}
		if commit == hashes[3] {
			rep.Verdict, rep.CPUs = predicate.Bad, "2-3"
		}
		return rep, nil
	})
	res, err := bisect.Start(context.Background(), bisect.Spec{
		Repo: dir, Name: "cores", Good: []string{hashes[0]}, Bad: "main", Run: "true",
	}, bisect.Options{NewTester: func(context.Context, bisect.Spec, string) (bisect.Tester, error) { return tester, nil }})
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	for _, st := range res.Steps {
		assert.NotEmpty(t, st.CPUs, "the result's step %s", st.Commit)
	}

	s, err := report.Load(dir, "cores")
	require.NoError(t, err)
	defer s.Journal.Close()
	r := report.Build([]report.Session{s})
	texts := map[string]string{}
	for _, st := range r.Sessions[0].Steps {
		texts[st.Commit] = st.MetricsText()
	}
	assert.Equal(t, "cpu ratio 1.02x, on core 1", texts[hashes[0]])
	assert.Equal(t, "cpu ratio 1.02x, on cores 2-3", texts[hashes[3]])
	assert.Contains(t, r.Markdown(), "| cpu ratio 1.02x, on core 1 |")
	var buf bytes.Buffer
	require.NoError(t, r.WriteHTML(&buf))
	assert.Contains(t, buf.String(), "on cores 2-3")
	buf.Reset()
	require.NoError(t, r.WriteJSON(&buf))
	assert.Contains(t, buf.String(), `"cpus": "2-3"`)
}
