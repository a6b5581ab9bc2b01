package bisect

import (
	"errors"
	"time"

	"github.com/sxbisect/sxbisect/predicate"
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
func openPredicate(ref PredicateRef, timeout time.Duration) (predicate.Predicate, error) {
	return predicate.New(ref.Name, ref.Params)
}
