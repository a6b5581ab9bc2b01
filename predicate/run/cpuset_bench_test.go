package run

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sxbisect/sxbisect/predicate/stats"
)

// BenchmarkMeasuredBesideABuild measures what a cpuset buys a measured
// run that has a build beside it, as ratios taken in one run: the CPU and
// wall time of one fixed piece of work (awk counting to 3 million, single
// threaded) beside a build that burns every core (as make -jN does: one
// spinning shell per core), over the same work measured alone.
//
//   - nocpuset: the build and the measured run anywhere, as they ran
//     before measured runs had cores of their own;
//   - cpuset: the measured run on the last core, the build on the others
//     (on 2 cores: measured on core 1, build on core 0), as a session with
//     --parallel or --build-ahead and --max-ratio shares them out;
//   - alone-cpuset: the measured run on the last core, no build, to show
//     that the cpuset itself costs nothing.
//
// Each iteration measures every variant once, in an order that rotates,
// so that a change of the machine's load falls on all of them alike; the
// metrics are the medians' ratios to the runs alone (cpu-x, wall-x):
//
//	go test -run '^$' -bench MeasuredBesideABuild -benchtime 15x ./predicate/run/
func BenchmarkMeasuredBesideABuild(b *testing.B) {
	allowed, err := AllowedCPUs()
	if err != nil {
		b.Fatal(err)
	}
	if len(allowed) < 2 {
		b.Skip("needs two cores: one for the build, one for the measured run")
	}
	if err := CheckCPUSet(allowed); err != nil {
		b.Skipf("no writable cpuset here: %v", err)
	}
	measured, build := allowed[len(allowed)-1:], allowed[:len(allowed)-1]
	dir := b.TempDir()
	const work = `awk 'BEGIN { for (i = 0; i < 3000000; i++) s += i }'`
	type variant struct {
		name              string
		build, measuredOn []int
		withBuild         bool
	}
	variants := []variant{
		{name: "alone"},
		{name: "alone-cpuset", measuredOn: measured},
		{name: "nocpuset", withBuild: true},
		{name: "cpuset", withBuild: true, build: build, measuredOn: measured},
	}
	cpu, wall := map[string][]float64{}, map[string][]float64{}
	b.ResetTimer()
	for i := range b.N {
		for k := range variants {
			v := variants[(i+k)%len(variants)]
			stop := func() {}
			if v.withBuild {
				stop = startBurningBuild(b, dir, len(allowed), v.build)
			}
			m, err := Run(context.Background(), Spec{Command: work, Dir: dir, CPUs: v.measuredOn})
			stop()
			if err != nil || m.ExitCode != 0 {
				b.Fatalf("%s: %v %s", v.name, err, m.Tail)
			}
			cpu[v.name] = append(cpu[v.name], (m.User + m.Sys).Seconds())
			wall[v.name] = append(wall[v.name], m.Wall.Seconds())
		}
	}
	b.StopTimer()
	for _, v := range variants[1:] {
		b.ReportMetric(stats.Median(cpu[v.name])/stats.Median(cpu["alone"]), "cpu-x-"+v.name)
		b.ReportMetric(stats.Median(wall[v.name])/stats.Median(wall["alone"]), "wall-x-"+v.name)
	}
	b.ReportMetric(stats.Median(cpu["alone"])*1000, "cpu-ms-alone")
}

// startBurningBuild starts a build of n spinning shells on cpus (any core
// when none), waits until they spin, and returns what stops it.
func startBurningBuild(b *testing.B, dir string, n int, cpus []int) func() {
	b.Helper()
	ready := filepath.Join(dir, "spinning")
	_ = os.Remove(ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Spec{
			Command: `for i in $(seq ` + strconv.Itoa(n) + `); do sh -c 'while :; do :; done' & done; touch spinning; wait`,
			Dir:     dir, CPUs: cpus, Grace: 100 * time.Millisecond,
		})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the build did not start spinning")
		}
	}
	// The spinners take their cores before the measurement starts.
	time.Sleep(20 * time.Millisecond)
	return func() {
		cancel()
		<-done
	}
}
