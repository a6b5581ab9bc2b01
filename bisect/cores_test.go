package bisect

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/predicate/run"
)

// cpusetHere stands for a machine where runs can be confined to cores.
func cpusetHere([]int) error { return nil }

// Every machine size, cores per run and number of benches: the slots and
// the builds never share a core, builds keep at least one, each slot has
// its cores, and as many slots as the cores allow go at once.
func TestPlanCoresNeverSharesACore(t *testing.T) {
	for n := 1; n <= 24; n++ {
		cores := make([]int, n)
		for i := range cores {
			cores[i] = 2 * i // not 0..n-1: the plan must use the cores it is given
		}
		for perRun := 0; perRun <= 5; perRun++ {
			for want := 1; want <= 9; want++ {
				p := planCores(cores, perRun, want, "--parallel", cpusetHere)
				c := max(perRun, DefaultCoresPerRun)
				name := fmt.Sprintf("%d cores, %d per run, %d wanted", n, c, want)
				if n-1 < c {
					assert.Equal(t, [][]int{nil}, p.slots, name)
					assert.Nil(t, p.build, name)
					assert.Contains(t, p.note, "too few to give measured runs cores of their own", name)
					continue
				}
				require.Len(t, p.slots, min(want, (n-1)/c), name)
				seen := map[int]bool{}
				for _, cpu := range p.build {
					seen[cpu] = true
				}
				assert.NotEmpty(t, p.build, name)
				for _, s := range p.slots {
					assert.Len(t, s, c, name)
					for _, cpu := range s {
						assert.False(t, seen[cpu], "%s: core %d given twice", name, cpu)
						seen[cpu] = true
					}
				}
				assert.Len(t, seen, n, "%s: every core goes to a slot or to builds", name)
				for cpu := range seen {
					assert.Contains(t, cores, cpu, name)
				}
				assert.Contains(t, p.note, "measured runs have cores of their own", name)
			}
		}
	}
}

func TestPlanCoresOnTwoCores(t *testing.T) {
	p := planCores([]int{0, 1}, 0, 2, "--parallel 2 with measured conditions", cpusetHere)
	assert.Equal(t, [][]int{{1}}, p.slots)
	assert.Equal(t, []int{0}, p.build)
	assert.Equal(t, "--parallel 2 with measured conditions: measured runs have cores of their own (1), 1 at a time; builds run on core 0; more measured runs at once would need 3 cores", p.note)

	p = planCores([]int{0, 1, 2, 3, 4, 5, 6, 7}, 2, 3, "--parallel 3 with measured conditions", cpusetHere)
	assert.Equal(t, [][]int{{6, 7}, {4, 5}, {2, 3}}, p.slots)
	assert.Equal(t, "--parallel 3 with measured conditions: measured runs have cores of their own (6-7; 4-5; 2-3), 3 at a time; builds run on cores 0-1", p.note)
}

// Without a cpuset the measured runs take turns, and the note says why.
func TestPlanCoresWithoutCPUSet(t *testing.T) {
	asked := false
	noCPUSet := func([]int) error {
		asked = true
		return fmt.Errorf("run: %w (no cpuset hierarchy is mounted)", run.ErrNoCPUSet)
	}
	p := planCores([]int{0, 1, 2, 3}, 1, 2, "--build-ahead", noCPUSet)
	assert.True(t, asked)
	assert.Equal(t, [][]int{nil}, p.slots)
	assert.Nil(t, p.build)
	assert.Contains(t, p.note, "--build-ahead: the measured runs take turns, most needed first, and builds run beside them at a lower priority, since no cores can be set apart for them here (")
	assert.Contains(t, p.note, "no cpuset hierarchy is mounted")

	// Too few cores is said without asking.
	asked = false
	p = planCores([]int{3}, 1, 2, "--parallel 2 with measured conditions", noCPUSet)
	assert.False(t, asked)
	assert.Equal(t, "--parallel 2 with measured conditions: core 3 is too few to give measured runs cores of their own (each takes 1, --cores-per-run, and builds keep one): the measured runs take turns, most needed first, and builds run beside them at a lower priority", p.note)
}

// Thousands of judgements through a gate of a few slots, some of them
// cancelled while they wait: no slot ever holds two, at most the slots go
// at once, every one that was not cancelled gets its turn, and every slot
// is free at the end.
func TestJudgeGateSlotsAreNeverShared(t *testing.T) {
	for _, slots := range []int{1, 2, 3, 5} {
		plan := corePlan{build: []int{0}}
		for i := range slots {
			plan.slots = append(plan.slots, []int{i + 1})
		}
		g := newJudgeGate(plan)
		var mu sync.Mutex
		holders := make([]int, slots)
		inside, most, done := 0, 0, 0
		var wg sync.WaitGroup
		for b := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(b), uint64(slots)))
				for i := range 300 {
					commit := fmt.Sprintf("%d-%d", b, i)
					if i%7 == 0 {
						g.prioritize([]string{commit})
					}
					ctx, cancel := context.WithCancel(context.Background())
					if rng.IntN(4) == 0 {
						cancel()
					}
					slot, err := g.enter(ctx, commit)
					cancel()
					if err != nil {
						continue
					}
					mu.Lock()
					holders[slot]++
					inside++
					most = max(most, inside)
					ok := holders[slot] == 1 && slices.Equal(g.cpus(slot), []int{slot + 1})
					mu.Unlock()
					assert.True(t, ok, "slot %d shared", slot)
					if rng.IntN(3) == 0 {
						time.Sleep(time.Duration(rng.IntN(50)) * time.Microsecond)
					}
					mu.Lock()
					holders[slot]--
					inside--
					done++
					mu.Unlock()
					g.leave(slot)
				}
			}()
		}
		wg.Wait()
		assert.LessOrEqual(t, most, slots)
		assert.Greater(t, done, 8*300/2)
		assert.Empty(t, g.waiting)
		assert.NotContains(t, g.busy, true, "a slot is left taken")
	}
}

// coresOf reads the lines "<what> <commit> <cores>" that builds and tests
// append to a file: the cores each saw (Cpus_allowed_list).
func coresOf(t *testing.T, file string) (builds, tests map[string]bool, testsByCommit map[string]string) {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	builds, tests, testsByCommit = map[string]bool{}, map[string]bool{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 3, line)
		switch f[0] {
		case "build":
			builds[f[2]] = true
		case "test":
			tests[f[2]] = true
			testsByCommit[f[1]] = f[2]
		}
	}
	return builds, tests, testsByCommit
}

const recordCores = `grep Cpus_allowed_list /proc/self/status | cut -f2`

// --parallel 2 with --max-ratio: the builds and the measured runs, the
// baseline's included, see disjoint cores from inside, and each step says
// which cores its measured runs had.
func TestParallelMeasuredRunsHaveCoresOfTheirOwn(t *testing.T) {
	allowed, err := run.AllowedCPUs()
	require.NoError(t, err)
	if len(allowed) < 2 {
		t.Skip("needs two cores: one for builds, one for measured runs")
	}
	if err := run.CheckCPUSet(allowed); err != nil {
		t.Skipf("no writable cpuset here, so measured runs take turns instead: %v", err)
	}
	repo, hashes := workRepo(t, 16, 11, 1000000)
	events := filepath.Join(t.TempDir(), "cores")
	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main", Parallel: 2, NoBuildCache: true,
		Build:    fmt.Sprintf(`echo "build $SXBISECT_COMMIT $(%s)" >> %s; sleep 0.05`, recordCores, events),
		Run:      fmt.Sprintf(`echo "test $SXBISECT_COMMIT $(%s)" >> %s; %s`, recordCores, events, cpuTest),
		MaxRatio: []string{"cpu=1.5"},
	}, Options{})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[11], *res.FirstBad)

	builds, tests, byCommit := coresOf(t, events)
	require.NotEmpty(t, builds)
	require.NotEmpty(t, tests)
	for b := range builds {
		for tc := range tests {
			bc, _ := run.ParseCPUs(b)
			tcs, _ := run.ParseCPUs(tc)
			for _, cpu := range bc {
				assert.NotContains(t, tcs, cpu, "a build on %s shares a core with a measured run on %s", b, tc)
			}
		}
	}
	assert.Len(t, tests, 1, "on %d cores there is one slot of measured cores: %v", len(allowed), tests)
	for _, s := range res.Steps {
		assert.NotEmpty(t, s.CPUs, "step %s", s.Commit)
		if c, ok := byCommit[s.Commit]; ok {
			assert.Equal(t, c, s.CPUs, "step %s says where its runs went", s.Commit)
		}
	}
	assert.Contains(t, res.Message, "measured runs have cores of their own")
}

// Where the cores are too few (a machine of one core, stood for by
// Options.CPUs), the session says so and the measured runs take turns on
// any core.
func TestTooFewCoresMeasuredRunsTakeTurns(t *testing.T) {
	allowed, err := run.AllowedCPUs()
	require.NoError(t, err)
	repo, hashes := workRepo(t, 8, 5, 1000000)
	events := filepath.Join(t.TempDir(), "cores")
	res, err := Start(context.Background(), Spec{
		Repo: repo, Good: []string{hashes[0]}, Bad: "main", Parallel: 2, NoBuildCache: true,
		Build:    fmt.Sprintf(`echo "build $SXBISECT_COMMIT $(%s)" >> %s`, recordCores, events),
		Run:      fmt.Sprintf(`echo "test $SXBISECT_COMMIT $(%s)" >> %s; %s`, recordCores, events, cpuTest),
		MaxRatio: []string{"cpu=1.5"},
	}, Options{CPUs: allowed[:1]})
	require.NoError(t, err)
	require.Equal(t, Found, res.Outcome, res.Message)
	assert.Equal(t, hashes[5], *res.FirstBad)
	assert.Contains(t, res.Message, fmt.Sprintf("Note: --parallel 2 with measured conditions: core %d is too few to give measured runs cores of their own (each takes 1, --cores-per-run, and builds keep one): the measured runs take turns", allowed[0]))
	builds, tests, _ := coresOf(t, events)
	all := run.FormatCPUs(allowed)
	assert.Equal(t, map[string]bool{all: true}, builds, "builds run anywhere")
	assert.Equal(t, map[string]bool{all: true}, tests, "measured runs run anywhere")
	for _, s := range res.Steps {
		assert.Empty(t, s.CPUs)
	}
}

func TestCoresPerRunCannotBeNegative(t *testing.T) {
	_, err := Start(context.Background(), Spec{Repo: t.TempDir(), Good: []string{"a"}, Bad: "b", Run: "true", CoresPerRun: -1}, Options{})
	var usage *UsageError
	require.True(t, errors.As(err, &usage), "%v", err)
	assert.Equal(t, "--cores-per-run -1 cannot be negative: give the cores each measured run has to itself, such as 2", usage.Msg)
}
