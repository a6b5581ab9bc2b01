package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/buildcache"
	"github.com/sxbisect/sxbisect/internal/gitfixture"
	"github.com/sxbisect/sxbisect/internal/natstest"
)

// Metrics of a step whose build came from the build cache (bisect's).
const (
	cachedMetric  = "build_cached"
	reusedMetric  = "build_reused"
	sharedMetric  = "build_shared"
	damagedMetric = "build_shared_damaged"
)

// levelRepo builds a line of n commits where commit i holds i in "value"
// and level(i) in src/level, the build's only input.
func levelRepo(t *testing.T, n int, level func(i int) int) (string, []string) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	hashes, err := gitfixture.Build(repo, gitfixture.Linear(n, func(i int) map[string]string {
		return map[string]string{"value": fmt.Sprint(i), "src/level": fmt.Sprint(level(i))}
	}))
	require.NoError(t, err)
	return repo, hashes
}

// levelSpec bisects repo for the first commit whose value is not below
// bad. Its build copies src/level to out/level and appends the commit and
// the worktree it built in to counter, outside every worktree; its test
// reads out/level, so that a step without its build's outputs fails.
func levelSpec(t *testing.T, url, repo, good, counter string, bad int) bisect.Spec {
	return bisect.Spec{
		Repo: repo, Good: []string{good}, Bad: "main",
		Build:       fmt.Sprintf(`echo "$SXBISECT_COMMIT $PWD" >> '%s' && mkdir -p out && cp src/level out/level`, counter),
		Run:         fmt.Sprintf(`sleep 0.05; test -s out/level && test "$(cat value)" -lt %d`, bad),
		BuildInputs: []string{"src"}, BuildOutputs: []string{"out"},
		Remote: &bisect.RemoteSpec{URL: url},
	}
}

// bisectRange runs a session of spec named name on the workers and checks
// that it found the first bad commit.
func bisectRange(t *testing.T, url string, spec bisect.Spec, name, firstBad string) *bisect.Result {
	t.Helper()
	spec.Name = name
	res, err := bisect.Start(context.Background(), spec, dispatcher(t, url, bisect.RemoteSpec{}))
	require.NoError(t, err)
	require.Equal(t, bisect.Found, res.Outcome, res.Message)
	assert.Equal(t, firstBad, *res.FirstBad)
	return res
}

// buildLines are the builds that ran: a line "COMMIT WORKTREE" each.
func buildLines(t *testing.T, counter string) []string {
	t.Helper()
	data, err := os.ReadFile(counter)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// sharedObjects lists the build cache keys in the shared bucket.
func sharedObjects(t *testing.T, url string) []string {
	t.Helper()
	conn := connect(t, url)
	obs, err := conn.js.ObjectStore(context.Background(), BuildBucket)
	if err != nil {
		return nil
	}
	infos, err := obs.List(context.Background())
	if err != nil {
		return nil
	}
	var names []string
	for _, info := range infos {
		names = append(names, info.Name)
	}
	return names
}

func sharedStore(t *testing.T, url string) jetstream.ObjectStore {
	t.Helper()
	obs, err := connect(t, url).js.ObjectStore(context.Background(), BuildBucket)
	require.NoError(t, err)
	return obs
}

// Two workers of one session build each set of inputs once between them:
// the worker that built them is stopped once its build is in the shared
// tier, and the other, which never built, restores it from there for the
// steps left.
func TestWorkersOfASessionShareTheirBuilds(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := levelRepo(t, 48, func(int) int { return 7 })
	counter := filepath.Join(t.TempDir(), "builds")
	dirs := map[string]string{"w1": t.TempDir(), "w2": t.TempDir()}
	stops := map[string]func(){}
	for name, dir := range dirs {
		_, stops[name] = runWorker(t, srv.URL(), WorkerOptions{Name: name, Dir: dir})
	}
	spec := levelSpec(t, srv.URL(), repo, commits[0], counter, 31)
	type outcome struct {
		res *bisect.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := bisect.Start(context.Background(), spec, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
		done <- outcome{res, err}
	}()
	waitFor(t, 20*time.Second, "the first build to be in the shared build cache", func() bool {
		return len(sharedObjects(t, srv.URL())) > 0
	})
	lines := buildLines(t, counter)
	require.Len(t, lines, 1)
	builder := ""
	for name, dir := range dirs {
		if strings.Contains(lines[0], " "+dir) {
			builder = name
		}
	}
	require.NotEmpty(t, builder, "the build ran in no worker's directory: %s", lines[0])
	stops[builder]()

	out := <-done
	require.NoError(t, out.err)
	require.Equal(t, bisect.Found, out.res.Outcome, out.res.Message)
	assert.Equal(t, commits[31], *out.res.FirstBad)
	assert.Len(t, buildLines(t, counter), 1, "the inputs were built again: %v", buildLines(t, counter))
	shared := 0
	for _, s := range out.res.Steps {
		if s.Worker != builder && s.Metrics[sharedMetric] == 1 {
			assert.Equal(t, 1.0, s.Metrics[cachedMetric])
			assert.NotEmpty(t, s.BuildFrom)
			shared++
		}
	}
	assert.Equal(t, 1, shared, "the other worker restored the build from the shared tier once, then reused it in its worktree")
}

// A shared entry cut short is a miss, said in the step and the worker's
// log: the worker builds, and puts a sound entry in its place, which a
// fresh worker then restores.
func TestADamagedSharedBuildIsBuiltAgain(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := levelRepo(t, 16, func(int) int { return 3 })
	counter := filepath.Join(t.TempDir(), "builds")
	spec := levelSpec(t, srv.URL(), repo, commits[0], counter, 9)
	session := func(name string) *bisect.Result { return bisectRange(t, srv.URL(), spec, name, commits[9]) }

	_, stop := runWorker(t, srv.URL(), WorkerOptions{Name: "w1", Dir: t.TempDir()})
	session("first")
	stop()
	require.Len(t, buildLines(t, counter), 1)
	keys := sharedObjects(t, srv.URL())
	require.Len(t, keys, 1)
	obs := sharedStore(t, srv.URL())
	whole, err := obs.GetBytes(context.Background(), keys[0])
	require.NoError(t, err)
	_, err = obs.PutBytes(context.Background(), keys[0], whole[:len(whole)/2])
	require.NoError(t, err)

	var log lockedBuffer
	_, stop = runWorker(t, srv.URL(), WorkerOptions{Name: "w2", Dir: t.TempDir(), Log: &log})
	res := session("damaged")
	stop()
	assert.Len(t, buildLines(t, counter), 2, "the damaged entry was not built again")
	damaged := 0
	for _, s := range res.Steps {
		damaged += int(s.Metrics[damagedMetric])
		assert.Zero(t, s.Metrics[sharedMetric], "a step took the damaged entry")
	}
	assert.Equal(t, 1, damaged)
	assert.Contains(t, log.String(), "the shared build cache's copy (bucket sxbisect_builds) is damaged")
	j, err := bisect.ReadJournal(repo, "damaged")
	require.NoError(t, err)
	defer j.Close()
	said := false
	for _, v := range j.Verdicts {
		said = said || strings.Contains(v.BuildTail, "is damaged")
	}
	assert.True(t, said, "no step's build log says the shared copy was damaged")

	fixed, err := obs.GetBytes(context.Background(), keys[0])
	require.NoError(t, err)
	assert.Equal(t, len(whole), len(fixed), "the damaged entry was not replaced")

	runWorker(t, srv.URL(), WorkerOptions{Name: "w3", Dir: t.TempDir()})
	res = session("fixed")
	assert.Len(t, buildLines(t, counter), 2, "the replaced entry was not restored")
	assert.Equal(t, 1.0, res.Steps[0].Metrics[sharedMetric])
}

// A second session over a range, on fresh workers with empty build
// caches, builds nothing: every build comes from the shared tier. With
// --no-shared-cache, fresh workers build all again.
func TestFreshWorkersBuildNothingTheSharedTierHolds(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	repo, commits := levelRepo(t, 41, func(i int) int { return i / 5 })
	counter := filepath.Join(t.TempDir(), "builds")
	// One step at a time, so that both sessions test the same commits.
	spec := levelSpec(t, srv.URL(), repo, commits[0], counter, 23)
	session := func(name string, workers ...WorkerOptions) *bisect.Result {
		t.Helper()
		for _, w := range workers {
			_, stop := runWorker(t, srv.URL(), w)
			defer stop()
		}
		s := spec
		s.Name = name
		res, err := bisect.Start(context.Background(), s, dispatcher(t, srv.URL(), bisect.RemoteSpec{}))
		require.NoError(t, err)
		require.Equal(t, bisect.Found, res.Outcome, res.Message)
		assert.Equal(t, commits[23], *res.FirstBad)
		return res
	}
	fresh := func(names ...string) []WorkerOptions {
		var opts []WorkerOptions
		for _, n := range names {
			opts = append(opts, WorkerOptions{Name: n, Dir: t.TempDir()})
		}
		return opts
	}

	session("first", fresh("a1", "a2")...)
	built := len(buildLines(t, counter))
	require.Positive(t, built)

	res := session("again", fresh("b1", "b2")...)
	assert.Len(t, buildLines(t, counter), built, "fresh workers built again")
	for _, s := range res.Steps {
		assert.True(t, s.Metrics[cachedMetric] == 1 || s.Metrics[reusedMetric] == 1, "step at %s built", s.Commit)
	}

	off := fresh("c1", "c2")
	for i := range off {
		off[i].NoSharedCache = true
	}
	session("off", off...)
	assert.Len(t, buildLines(t, counter), 2*built, "workers with --no-shared-cache took builds from the shared tier")
}

// The bucket is made with the worker's size limit, which a worker with
// another limit does not change; a full bucket refuses new entries and
// keeps serving those it holds.
func TestTheSharedBucketHasTheWorkersLimit(t *testing.T) {
	srv := natstest.Start(t, natstest.Options{})
	conn := connect(t, srv.URL())
	sb, differs, err := OpenSharedBuilds(context.Background(), conn, 1<<20)
	require.NoError(t, err)
	assert.Empty(t, differs)
	st, err := sb.obs.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, int64(1<<20), st.(*jetstream.ObjectBucketStatus).StreamInfo().Config.MaxBytes)
	_, differs, err = OpenSharedBuilds(context.Background(), conn, 2<<20)
	require.NoError(t, err)
	assert.Contains(t, differs, "kept rather than")

	// Full: a put is refused, and what is there stays.
	k1, k2 := buildcache.Key(strings.Repeat("a", 64)), buildcache.Key(strings.Repeat("b", 64))
	require.NoError(t, sb.Put(context.Background(), k1, bytes.NewReader(make([]byte, 600<<10))))
	assert.Error(t, sb.Put(context.Background(), k2, bytes.NewReader(make([]byte, 600<<10))))
	has, err := sb.Has(context.Background(), k2)
	require.NoError(t, err)
	assert.False(t, has, "a refused put left an object")
	r, err := sb.Get(context.Background(), k1)
	require.NoError(t, err)
	require.NotNil(t, r)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Len(t, data, 600<<10)
}
