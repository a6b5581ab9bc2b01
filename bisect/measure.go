package bisect

import "github.com/sxbisect/sxbisect/predicate"

// Suite returns the spec's test (--run with its measured conditions) as
// the bisection builds it, so that other commands measure commits exactly
// as a session does. It is a usage error when the spec has no --run.
func (s Spec) Suite() (*predicate.Suite, error) {
	if s.Run == "" {
		return nil, &UsageError{Msg: "nothing to measure: give the test with --run CMD"}
	}
	suite, err := s.WithDefaults().suite()
	if err != nil {
		return nil, &UsageError{Msg: err.Error()}
	}
	return suite, nil
}
