package bisect

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// endsProbe is a predicate that records which commits it was told are an
// end of the range, judges by the file "value", and, when abortAtEnds is
// set, stops the session at an end as the suite does when the machine is
// too busy to judge wall time there.
type endsProbe struct {
	mu          sync.Mutex
	ends        map[string]bool
	abortAtEnds bool
}

func (p *endsProbe) Name() string { return "ends-probe" }

func (p *endsProbe) Judge(_ context.Context, c predicate.Candidate) (predicate.Judgement, error) {
	p.mu.Lock()
	p.ends[c.Commit] = c.End
	abort := p.abortAtEnds
	p.mu.Unlock()
	if c.End && abort {
		return predicate.Judgement{}, &predicate.AbortError{Reason: "cannot judge an end"}
	}
	data, err := os.ReadFile(filepath.Join(c.Dir, "value"))
	if err != nil {
		return predicate.Judgement{}, err
	}
	var v int
	if _, err := fmt.Sscan(string(data), &v); err != nil {
		return predicate.Judgement{}, err
	}
	if v >= 5 {
		return predicate.Judgement{Verdict: predicate.Bad, Reason: "value"}, nil
	}
	return predicate.Judgement{Verdict: predicate.Good, Reason: "value"}, nil
}

// probes is the registry of the probes of tests, by the parameter probe.
var probes sync.Map

func init() {
	predicate.Register("ends-probe", func(params map[string]string) (predicate.Predicate, error) {
		p, ok := probes.Load(params["probe"])
		if !ok {
			return nil, fmt.Errorf("no probe %q", params["probe"])
		}
		return p.(*endsProbe), nil
	})
}

func TestPredicatesAreToldWhichCommitsAreEnds(t *testing.T) {
	dir, hashes := gitfixture.ValueRepo(t, 9)
	probe := &endsProbe{ends: map[string]bool{}}
	probes.Store(t.Name(), probe)
	spec := Spec{Repo: dir, Good: []string{hashes[0]}, Bad: "main",
		Predicates: []PredicateRef{{Name: "ends-probe", Params: map[string]string{"probe": t.Name()}}}}

	probe.mu.Lock()
	probe.ends, probe.abortAtEnds = map[string]bool{}, true
	probe.mu.Unlock()
	res, err := Start(context.Background(), spec, Options{})
	require.NoError(t, err)
	assert.Equal(t, Aborted, res.Outcome)
	assert.Equal(t, "aborted at "+text.ShortID(hashes[0])+": cannot judge an end", res.Message)

	probe.mu.Lock()
	probe.ends, probe.abortAtEnds = map[string]bool{}, false
	probe.mu.Unlock()
	res, err = Resume(context.Background(), dir, "default", Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[5], *res.FirstBad)
	probe.mu.Lock()
	defer probe.mu.Unlock()
	assert.Greater(t, len(probe.ends), 2)
	for commit, end := range probe.ends {
		assert.Equal(t, commit == hashes[0] || commit == hashes[8], end, "commit %s", text.ShortID(commit))
	}
}
