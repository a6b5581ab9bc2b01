package predicate

import (
	"context"
	"time"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// SetRunnerForTest replaces the runner, so that the decisions on
// measurements can be tested without processes.
func (s *Suite) SetRunnerForTest(f func(context.Context, run.Spec) (run.Measurement, error)) {
	s.run = f
}

// SetLoadForTest replaces the load average, sleeping and the CPU count.
func (s *Suite) SetLoadForTest(load func() (float64, error), sleep func(context.Context, time.Duration) error, numCPU int) {
	s.loadAvg, s.sleep, s.numCPU = load, sleep, numCPU
}
