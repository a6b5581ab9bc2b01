package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// The gate lets one in at a time, and of those waiting the one that comes
// first in the scheduler's order; a wait that is cancelled takes no turn.
func TestJudgeGateGoesByPriority(t *testing.T) {
	g := newJudgeGate(sharedPlan(""))
	g.prioritize([]string{"a", "b", "c"})
	first, err := g.enter(context.Background(), "z")
	require.NoError(t, err)
	got := make(chan string, 3)
	for _, c := range []string{"c", "b", "a"} {
		go func() {
			if slot, err := g.enter(context.Background(), c); err == nil {
				got <- c
				time.Sleep(5 * time.Millisecond)
				g.leave(slot)
			}
		}()
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error)
	go func() {
		_, err := g.enter(cctx, "0")
		cancelled <- err
	}()
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.waiting) == 4
	}, time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
	g.leave(first)
	assert.Equal(t, []string{"a", "b", "c"}, []string{<-got, <-got, <-got})
}

// --build-ahead: tests never overlap, while the commits that could come
// next are built beside them; the answer is git's.
func TestBuildAheadBuildsWhileOneTestRunsAlone(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 40)
	events := filepath.Join(t.TempDir(), "events")
	stamp := func(what string) string {
		return fmt.Sprintf(`echo "%s $(date +%%s%%N) $SXBISECT_COMMIT" >> %s`, what, events)
	}
	res, err := Start(context.Background(), Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", BuildAhead: true,
		Build: stamp("build-start") + "; sleep 0.2; cp value built; " + stamp("build-end"),
		Run:   stamp("test-start") + `; sleep 0.2; ` + stamp("test-end") + `; test "$(cat built)" -lt 23`}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, commits[23], *res.FirstBad)

	type span struct{ from, to int64 }
	var tests, builds []span
	open := map[string]int64{}
	data, err := os.ReadFile(events)
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		at, err := strconv.ParseInt(f[1], 10, 64)
		require.NoError(t, err)
		kind, edge, _ := strings.Cut(f[0], "-")
		key := kind + f[2]
		if edge == "start" {
			open[key] = at
			continue
		}
		if from, ok := open[key]; ok {
			if kind == "test" {
				tests = append(tests, span{from, at})
			} else {
				builds = append(builds, span{from, at})
			}
			delete(open, key)
		}
	}
	sort.Slice(tests, func(i, j int) bool { return tests[i].from < tests[j].from })
	for i := 1; i < len(tests); i++ {
		assert.GreaterOrEqual(t, tests[i].from, tests[i-1].to, "two tests overlapped")
	}
	overlapped := false
	for _, b := range builds {
		for _, tt := range tests {
			overlapped = overlapped || b.from < tt.to && tt.from < b.to
		}
	}
	assert.True(t, overlapped, "no build ran beside a test")
}
