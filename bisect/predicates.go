package bisect

import (
	"fmt"
	"strings"

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
	var err error
	if cfg.LogCap, err = s.logCap(); err != nil {
		return nil, err
	}
	return predicate.NewSuite(cfg)
}

// minLogCap is the least --log-cap: a log shorter than that would not even
// hold a stack trace.
const minLogCap = 64 << 10

// logCap reads LogCap as run.Spec takes it: 0 for the default, -1 for
// none.
func (s Spec) logCap() (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s.LogCap)) {
	case "":
		return 0, nil
	case "none":
		return -1, nil
	}
	n, err := predicate.ParseSize(s.LogCap)
	if err == nil && n < minLogCap {
		err = fmt.Errorf("size %q is below the least cap, 64K", s.LogCap)
	}
	if err != nil {
		return 0, fmt.Errorf("--log-cap %s: %w; give a size such as 16M, or none to keep whole logs", s.LogCap, err)
	}
	return n, nil
}
