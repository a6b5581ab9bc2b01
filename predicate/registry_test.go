package predicate_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/predicate"
)

// uniqueName keeps the global registry usable across -count=N runs.
func uniqueName(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
}

type fixedVerdict predicate.Verdict

func (f fixedVerdict) Name() string { return "fixed" }
func (f fixedVerdict) Judge(context.Context, predicate.Candidate) (predicate.Judgement, error) {
	return predicate.Judgement{Verdict: predicate.Verdict(f)}, nil
}

func TestRegisterLookupNames(t *testing.T) {
	name := uniqueName(t)
	predicate.Register(name, func(params map[string]string) (predicate.Predicate, error) {
		return fixedVerdict(params["verdict"]), nil
	})
	f, ok := predicate.Lookup(name)
	require.True(t, ok)
	p, err := f(map[string]string{"verdict": "skip"})
	require.NoError(t, err)
	j, err := p.Judge(context.Background(), predicate.Candidate{})
	require.NoError(t, err)
	assert.Equal(t, predicate.Skip, j.Verdict)

	names := predicate.Names()
	assert.Contains(t, names, name)
	assert.Contains(t, names, "exit-code")
	assert.True(t, sort.StringsAreSorted(names))

	_, ok = predicate.Lookup("no-such-predicate")
	assert.False(t, ok)
}

func TestRegisterTwicePanics(t *testing.T) {
	name := uniqueName(t)
	factory := func(map[string]string) (predicate.Predicate, error) { return fixedVerdict("good"), nil }
	predicate.Register(name, factory)
	assert.PanicsWithValue(t, "predicate: Register called twice for "+name, func() { predicate.Register(name, factory) })
	assert.Panics(t, func() { predicate.Register("exit-code", factory) })
	assert.Panics(t, func() { predicate.Register(uniqueName(t)+"-nil", nil) })
	assert.Panics(t, func() { predicate.Register("", factory) })
}

func TestNewUnknownNameListsRegistered(t *testing.T) {
	_, err := predicate.New("no-such-predicate", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"no-such-predicate"`)
	assert.Contains(t, err.Error(), "exit-code")
}

func TestExitCodeFactory(t *testing.T) {
	t.Parallel()
	p, err := predicate.New("exit-code", map[string]string{"run": "exit 125", "timeout": "90s", "on-timeout": "skip"})
	require.NoError(t, err)
	assert.Equal(t, predicate.Command{Run: "exit 125", Timeout: 90 * time.Second, OnTimeout: predicate.PolicySkip}, p)
	assert.Equal(t, "exit-code", p.Name())
	j, err := p.Judge(context.Background(), predicate.Candidate{Dir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, predicate.Skip, j.Verdict)

	p, err = predicate.New("exit-code", map[string]string{"run": "make test"})
	require.NoError(t, err)
	assert.Equal(t, predicate.Command{Run: "make test", OnTimeout: predicate.PolicyBad}, p)

	for _, tc := range []struct {
		params  map[string]string
		message string
	}{
		{map[string]string{}, "parameter run (the test command) is required"},
		{map[string]string{"run": "true", "timout": "1s"}, `unknown parameter "timout" (valid: run, timeout, on-timeout)`},
		{map[string]string{"run": "true", "timeout": "ten"}, `timeout "ten" is not a duration`},
		{map[string]string{"run": "true", "timeout": "-1s"}, `timeout "-1s" is not a duration`},
		{map[string]string{"run": "true", "on-timeout": "good"}, `on-timeout: unknown policy "good"`},
	} {
		_, err := predicate.New("exit-code", tc.params)
		require.Error(t, err, "%v", tc.params)
		assert.Contains(t, err.Error(), tc.message)
	}
}
