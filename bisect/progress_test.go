package bisect

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
)

// A session tells its progress when a step moves on to another phase:
// checkout, build, each run of the test, the baseline's runs, so that a
// status line can say what a long step is doing.
func TestStepsTellTheirPhases(t *testing.T) {
	repo, commits := gitfixture.ValueRepo(t, 8)
	var mu sync.Mutex
	var events []Event
	progress := ProgressFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Type != EventNote {
			events = append(events, e)
		}
	})
	spec := Spec{Repo: repo, Good: []string{commits[0]}, Bad: "main", Build: "true",
		Run: `echo "$(cat value)/1 passed"; test "$(cat value)" -lt 5`, Scoreboard: `(?P<pass>\d+)/(?P<total>\d+) passed`, IgnoreExit: false}
	res, err := Start(context.Background(), spec, Options{Progress: progress})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)

	type step struct {
		commit string
		phases []Event
	}
	var steps []step
	for _, e := range events {
		switch e.Type {
		case EventTest:
			steps = append(steps, step{commit: e.Commit})
		case EventPhase:
			require.NotEmpty(t, steps, "a phase outside a step")
			cur := &steps[len(steps)-1]
			assert.Equal(t, cur.commit, e.Commit)
			assert.Equal(t, len(steps), e.Step)
			cur.phases = append(cur.phases, e)
		}
	}
	require.Len(t, steps, len(res.Steps))
	for i, s := range steps {
		require.NotEmpty(t, s.phases, "step %d", i+1)
		var names []Phase
		test := false
		for _, p := range s.phases {
			names = append(names, p.Phase)
			if p.Phase == PhaseTest && p.Run == 1 && p.Runs == 1 {
				test = true
			}
		}
		assert.Contains(t, names, PhaseCheckout, "step %d", i+1)
		assert.Contains(t, names, PhaseBuild, "step %d", i+1)
		assert.True(t, test, "step %d: no 'run 1 of 1' in %v", i+1, names)
		if i == 0 {
			// The baseline's scoreboard is measured at the good end first.
			assert.Equal(t, PhaseCheckout, names[0])
			assert.Contains(t, names, PhaseBaseline)
		}
	}
}
