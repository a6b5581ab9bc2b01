package predicate

import (
	"strings"
	"testing"

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

func TestReadLinesCutsLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxLine+10)
	var got []string
	require.NoError(t, readLines(strings.NewReader("a\r\n\n"+long+"\nlast"), func(l string) { got = append(got, l) }))
	require.Len(t, got, 4)
	assert.Equal(t, "a", got[0])
	assert.Equal(t, "", got[1])
	assert.Len(t, got[2], maxLine)
	assert.Equal(t, "last", got[3])
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
