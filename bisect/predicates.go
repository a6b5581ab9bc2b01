package bisect

import (
	"fmt"

	"github.com/sxbisect/sxbisect/predicate"
)

// suite builds the test predicate with the conditions the spec gives.
func (s Spec) suite() (*predicate.Suite, error) {
	cfg := predicate.SuiteConfig{
		Run: s.Run, Timeout: s.Timeout.D(), OnTimeout: s.OnTimeout, OnCrash: s.OnCrash, IgnoreExit: s.IgnoreExit,
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
