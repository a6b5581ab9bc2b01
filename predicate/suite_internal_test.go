package predicate

import (
	"io"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseScoreboardShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json        string
		pass, total float64
	}{
		{`{"pass":530,"total":530}`, 530, 530},
		{`{"Passed":528,"Total":530}`, 528, 530},
		{`{"passed":528,"failed":2}`, 528, 530},
		{`{"ok":"12","count":"15"}`, 12, 15},
		{`{"passing":3,"tests":4,"name":"erlang"}`, 3, 4},
		{`{"totals":{"pass":590,"total":590},"suites":[]}`, 590, 590},
		{`{"summary":{"passes":1,"failures":1}}`, 1, 2},
		{`{"total":{"pass":5,"fail":0}}`, 5, 5},
		{`{"score":"530/530"}`, 530, 530},
		{`{"scoreboard":" 0 / 0 "}`, 0, 0},
	} {
		pass, total, err := parseScoreboard([]byte(tc.json))
		require.NoError(t, err, tc.json)
		assert.Equal(t, tc.pass, pass, tc.json)
		assert.Equal(t, tc.total, total, tc.json)
	}
	for _, bad := range []string{``, `[1,2]`, `{"pass":1}`, `{"total":5}`, `{"pass":-1,"total":3}`, `{"score":"lots"}`, `{"pass":true,"total":1}`} {
		_, _, err := parseScoreboard([]byte(bad))
		require.Error(t, err, bad)
		assert.NotContains(t, err.Error(), "\n")
	}
}

func TestReadBlocksCutsLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxLine+10)
	text := "a\r\n\n" + long + "\nlast"
	// Whole, and in reads of half the room there is: the buffer grows as
	// it must.
	readers := map[string]io.Reader{"whole": strings.NewReader(text), "halves": iotest.HalfReader(strings.NewReader(text))}
	for name, r := range readers {
		var got []string
		require.NoError(t, readBlocks(r, func(b []byte, skipped int64) {
			assert.Zero(t, skipped)
			for len(b) > 0 {
				var line []byte
				line, b = cutLine(b)
				got = append(got, string(line))
			}
		}), name)
		require.Len(t, got, 4, name)
		assert.Equal(t, "a\r", got[0], name)
		assert.Equal(t, "", got[1], name)
		assert.Equal(t, maxLine, len(got[2]), name)
		assert.Equal(t, "last", got[3], name)
	}
}

// sizeRecorder is a reader that notes the largest buffer it was given.
type sizeRecorder struct {
	r       io.Reader
	largest int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.largest = max(s.largest, len(p))
	return s.r.Read(p)
}

// A tail of a few KiB, or a short log, is read back into a buffer of its
// size's order, not of the longest line's.
func TestReadBlocksBufferGrowsWithTheInput(t *testing.T) {
	t.Parallel()
	short := &sizeRecorder{r: strings.NewReader("ok\n1/1 passed\n")}
	var lines []byte
	require.NoError(t, readBlocks(short, func(b []byte, _ int64) { lines = append(lines, b...) }))
	assert.Equal(t, "ok\n1/1 passed\n", string(lines))
	assert.LessOrEqual(t, short.largest, firstReadBlock)

	long := &sizeRecorder{r: strings.NewReader(strings.Repeat("y", 10*maxLine))}
	require.NoError(t, readBlocks(long, func([]byte, int64) {}))
	assert.LessOrEqual(t, long.largest, 4*maxLine, "bounded whatever the input")
}

func TestCutLongLinesCutsTheFirstLineToo(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxLine+10)
	assert.Equal(t, long[:maxLine]+"\nshort\n", string(cutLongLines([]byte(long+"\nshort\n"))))
	assert.Equal(t, "short\n"+long[:maxLine]+"\n", string(cutLongLines([]byte("short\n"+long+"\n"))))
	assert.Equal(t, "a\nb\n", string(cutLongLines([]byte("a\nb\n"))))
}

func TestRequiredLiteral(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]string{
		`(?P<pass>\d+)/(?P<total>\d+) passed`:          " passed",
		`^erlang: (?P<pass>\d+)/(?P<total>\d+) passed`: "erlang: ",
		`\(ok-len`:          "(ok-len",
		`(?i)passed`:        "",
		`ok|fail`:           "",
		`(done)+`:           "done",
		`x(abc)?y`:          "x",
		`(?:marker){2,}`:    "marker",
		`\d+ tests? passed`: " passed",
	} {
		tree, err := syntax.Parse(expr, syntax.Perl)
		require.NoError(t, err)
		assert.Equal(t, want, requiredLiteral(tree), expr)
	}
}

// The matcher finds what a regular expression does on each line alone,
// with or without a literal to look for first.
func TestLineMatcherAgreesWithTheExpression(t *testing.T) {
	t.Parallel()
	block := []byte("ok 1 passed\n3/4 passed\nx 5/6 passed y\n\nnothing 7/8\n9/10 passed")
	for _, expr := range []string{`(?P<pass>\d+)/(?P<total>\d+) passed`, `^(?P<pass>\d+)/(?P<total>\d+)`, `(?P<pass>\d)/(?P<total>\d)\b`} {
		re := regexp.MustCompile(expr)
		m := newLineMatcher(re)
		var want []string
		for _, l := range strings.Split(string(block), "\n") {
			if re.MatchString(l) {
				want = append(want, l)
			}
		}
		var got []string
		m.last(block, func(line []byte) bool { got = append([]string{string(line)}, got...); return false })
		assert.Equal(t, want, got, expr)
		assert.Equal(t, len(want) > 0, m.first(block), expr)
		// The last one accepted ends the search.
		var first string
		m.last(block, func(line []byte) bool { first = string(line); return true })
		assert.Equal(t, want[len(want)-1], first, expr)
	}
	m := newLineMatcher(regexp.MustCompile(`\(ok-len`))
	assert.False(t, m.first([]byte("(ok\n-len\n")))
	assert.True(t, m.first([]byte("a\n(ok-len 3)\n")))
}

func TestSampleLogNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", sampleLog("", "", 3))
	assert.Equal(t, "/l/003-ab-test.log", sampleLog("/l/003-ab-test.log", "", 1))
	assert.Equal(t, "/l/003-ab-test.2.log", sampleLog("/l/003-ab-test.log", "", 2))
	assert.Equal(t, "/l/003-ab-test.baseline-1.log", sampleLog("/l/003-ab-test.log", "baseline-", 1))
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "512 MiB", formatSize(512<<20))
	assert.Equal(t, "2 GiB", formatSize(2<<30))
	assert.Equal(t, "1.5 GiB", formatSize(3<<29))
	assert.Equal(t, "100 bytes", formatSize(100))
}
