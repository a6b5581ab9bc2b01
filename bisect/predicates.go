package bisect

import (
	"errors"
	"time"

	"github.com/sxbisect/sxbisect/predicate"
	"github.com/sxbisect/sxbisect/predicate/plugin"
)

// suite builds the test predicate with the conditions the spec gives.
func (s Spec) suite() (predicate.Predicate, error) {
	if s.measured() {
		return nil, errors.New("measured conditions (--max-ratio, --memory-limit, --expect, --scoreboard) are not built in yet")
	}
	return predicate.Command{Run: s.Run, Timeout: s.Timeout.D(), OnTimeout: s.OnTimeout}, nil
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
