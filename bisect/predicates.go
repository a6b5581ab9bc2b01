package bisect

import (
	"fmt"
	"time"

	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/plugin"
)

// suite builds the test predicate with the conditions the spec gives.
func (s Spec) suite() (*predicate.Suite, error) {
	cfg := predicate.SuiteConfig{
		Run: s.Run, Timeout: s.Timeout.D(), OnTimeout: s.OnTimeout, IgnoreExit: s.IgnoreExit,
		Expect: s.Expect, Scoreboard: s.Scoreboard, ScoreboardFile: s.ScoreboardFile,
		Repeat: s.Repeat, MaxLoad: s.MaxLoad,
	}
	for _, r := range s.MaxRatio {
		ratio, err := predicate.ParseRatio(r)
		if err != nil {
			return nil, fmt.Errorf("--max-ratio %s: %w", r, err)
		}
		cfg.Ratios = append(cfg.Ratios, ratio)
	}
	if s.MemoryLimit != "" {
		limit, err := predicate.ParseSize(s.MemoryLimit)
		if err != nil {
			return nil, fmt.Errorf("--memory-limit %s: %w", s.MemoryLimit, err)
		}
		cfg.MemoryLimit = limit
	}
	return predicate.NewSuite(cfg)
}

// openPredicate finds a named predicate: one compiled in (the registry),
// or an sxbisect-predicate-NAME executable on PATH.
// A plugin without a timeout of its own gets the session's --timeout, so
// that a plugin that hangs is killed like a test that hangs.
func openPredicate(ref PredicateRef, timeout time.Duration) (predicate.Predicate, error) {
	if _, ok := predicate.Lookup(ref.Name); ok {
		return predicate.New(ref.Name, ref.Params)
	}
	ext, err := plugin.New(ref.Name, ref.Params)
	if err != nil {
		return nil, err
	}
	if ext.Timeout == 0 {
		ext.Timeout = timeout
	}
	return ext, nil
}
