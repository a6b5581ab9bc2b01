package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sxbisect/sxbisect/bisect"
)

// What sxbisect keeps on the server. The names are part of the interface:
// an operator grants them (see the package documentation).
const (
	// WorkStream holds the steps to test, one message each, until a
	// worker has acknowledged it (a work queue).
	WorkStream = "SXBISECT_WORK"
	// ResultStream holds the results, one subject per step.
	ResultStream = "SXBISECT_RESULTS"
	// WorkersBucket is the key-value bucket of live workers.
	WorkersBucket = "sxbisect_workers"
	// BundleBucket is the object store of git bundles.
	BundleBucket = "sxbisect_bundles"
	// BuildBucket is the shared tier of the workers' build caches: an
	// object per build cache key (see SharedBuilds).
	BuildBucket = "sxbisect_builds"

	// Steps whose verdicts measure time go to workSubjectTiming, others
	// to workSubjectShared; a worker takes the first kind only when it is
	// idle, and runs it alone.
	workSubjectTiming = "sxbisect.work.timing"
	workSubjectShared = "sxbisect.work.shared"
	// A step's result is published on resultPrefix.<session>.<step id>.
	resultPrefix = "sxbisect.results"
	// A dropped step's id is published on cancelPrefix.<step id>.
	cancelPrefix = "sxbisect.cancel"

	// The work consumers, shared by every worker.
	timingConsumer = "timing"
	sharedConsumer = "shared"

	// dedupeWindow is the span in which a step published twice (by a
	// coordinator that restarted) is taken once, and a result published
	// twice (by two workers after a partition healed) is kept once.
	dedupeWindow = 48 * time.Hour
	// keepFor is how long results and bundles are kept: a coordinator
	// that comes back within it collects the results that came meanwhile.
	keepFor = 7 * 24 * time.Hour
	// workerEntryTTL is how long the workers bucket keeps an entry that
	// is not written again.
	workerEntryTTL = time.Minute
)

// Job is a step sent to the workers: a commit and the spec to test it
// with. It is the whole of what a worker is told: the commands come from
// the coordinator's spec, never from the commit under test.
type Job struct {
	// ID is the step's (bisect.StepRef.ID), or that id with a suffix -rN
	// when the step had to be sent again (see Tester).
	ID string `json:"id"`
	// Session is the session's token; SessionName its name, for people.
	Session     string `json:"session"`
	SessionName string `json:"session_name"`
	// Coordinator is the machine the session runs on.
	Coordinator string `json:"coordinator"`
	// Repo names the repository, as --allow-repo matches it: the URL
	// workers fetch from, or HOST:PATH of the coordinator's repository.
	Repo string `json:"repo"`
	// Fetch is the URL to fetch commits from, when workers fetch.
	Fetch string `json:"fetch,omitempty"`
	// Bundles are the objects of BundleBucket to fetch commits from, in
	// order, when they do not.
	Bundles []string `json:"bundles,omitempty"`
	Commit  string   `json:"commit"`
	// Kind says why the commit is tested.
	Kind bisect.StepKind `json:"kind"`
	// Spec is the session's build, test and conditions; the
	// coordinator's paths (Repo, PoolDir) are not in it.
	Spec bisect.Spec `json:"spec"`
	// Labels a worker must have (KEY=VALUE).
	Labels []string `json:"labels,omitempty"`
	// Prefer are the workers that ran the session's steps before, the
	// latest first: one of them that is free takes the step (it has the
	// baseline and the builds), unless it does not come for a second.
	Prefer []string `json:"prefer,omitempty"`
	// Timing says the step measures time: it runs alone on its worker.
	Timing bool      `json:"timing"`
	Sent   time.Time `json:"sent"`
}

// Outcome is a worker's answer for a step.
type Outcome struct {
	ID string `json:"id"`
	// Worker is the worker's name, Host its machine.
	Worker string `json:"worker"`
	Host   string `json:"host"`
	// Report is the step's report, when it gave a verdict.
	Report *bisect.Report `json:"report,omitempty"`
	// Error is set when it gave none: Abort says the test or the build
	// asked to stop (a *predicate.AbortError, with Crash), which stops
	// the session as it would on this machine.
	Error string `json:"error,omitempty"`
	Abort bool   `json:"abort,omitempty"`
	Crash bool   `json:"crash,omitempty"`
	// Logs is where the whole build and test output are on the worker.
	Logs    string    `json:"logs,omitempty"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
}

func workSubject(timing bool) string {
	if timing {
		return workSubjectTiming
	}
	return workSubjectShared
}

func resultSubject(session, id string) string { return resultPrefix + "." + session + "." + id }

// checkToken refuses what cannot be one token of a subject, or a file's
// name: step ids and session tokens name both.
func checkToken(what, s string) error {
	if s == "" || strings.ContainsAny(s, ". *>/\\\t\r\n") {
		return fmt.Errorf("%s %q cannot be part of a NATS subject or a file name", what, s)
	}
	return nil
}

// ensureStreams makes the streams and buckets, or finds them made.
func (c *Conn) ensureStreams(ctx context.Context) error {
	streams := []jetstream.StreamConfig{{
		Name: WorkStream, Subjects: []string{"sxbisect.work.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: dedupeWindow, MaxAge: keepFor,
		Description: "sxbisect: steps to test, until a worker acknowledges them",
	}, {
		Name: ResultStream, Subjects: []string{resultPrefix + ".>"}, Retention: jetstream.LimitsPolicy,
		Storage: jetstream.FileStorage, Duplicates: dedupeWindow, MaxAge: keepFor,
		Description: "sxbisect: the workers' results, one subject per step",
	}}
	for _, cfg := range streams {
		if _, err := c.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
				return fmt.Errorf("the NATS server at %s has no JetStream: start it with 'nats-server -js'", c.url)
			}
			return fmt.Errorf("making the stream %s on %s: %w", cfg.Name, c.url, err)
		}
	}
	return nil
}

// workers is the bucket of live workers.
func (c *Conn) workers(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, WorkersBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: WorkersBucket, TTL: workerEntryTTL, Storage: jetstream.FileStorage,
			Description: "sxbisect: live workers and what they run",
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = c.js.KeyValue(ctx, WorkersBucket)
		}
	}
	return kv, err
}

// bundles is the object store of git bundles.
func (c *Conn) bundles(ctx context.Context) (jetstream.ObjectStore, error) {
	return c.objectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: BundleBucket, TTL: keepFor, Storage: jetstream.FileStorage,
		Description: "sxbisect: git bundles of the ranges under test",
	})
}

// objectStore opens the object store cfg names, making it as cfg says
// when the server has none; one that another made meanwhile is opened.
func (c *Conn) objectStore(ctx context.Context, cfg jetstream.ObjectStoreConfig) (jetstream.ObjectStore, error) {
	obs, err := c.js.ObjectStore(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = c.js.CreateObjectStore(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			obs, err = c.js.ObjectStore(ctx, cfg.Bucket)
		}
	}
	return obs, err
}

// WorkerInfo is a worker's entry in WorkersBucket, written at every
// heartbeat.
type WorkerInfo struct {
	Name string `json:"name"`
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Labels are the worker's KEY=VALUE labels, sorted.
	Labels []string `json:"labels,omitempty"`
	Slots  int      `json:"slots"`
	// AllowRepos are the repositories it takes steps of (none: any).
	AllowRepos []string  `json:"allow_repos,omitempty"`
	Started    time.Time `json:"started"`
	Seen       time.Time `json:"seen"`
	// Heartbeat is how often it writes its entry.
	Heartbeat time.Duration `json:"heartbeat_ns"`
	Jobs      []RunningJob  `json:"jobs"`
}

// RunningJob is a step a worker runs.
type RunningJob struct {
	ID          string          `json:"id"`
	Session     string          `json:"session"`
	Coordinator string          `json:"coordinator"`
	Commit      string          `json:"commit"`
	Kind        bisect.StepKind `json:"kind"`
	Timing      bool            `json:"timing"`
	Started     time.Time       `json:"started"`
	// Finishing says its result is on its way: the slot is about free.
	Finishing bool `json:"finishing,omitempty"`
}

// live reports whether the worker wrote its entry lately.
func (w WorkerInfo) live(now time.Time) bool {
	hb := w.Heartbeat
	if hb <= 0 {
		hb = DefaultDeadlines.Heartbeat
	}
	return now.Sub(w.Seen) < 3*hb
}

// free reports whether the worker can take a step now, by its entry: a
// timing step when it runs nothing, another when it has a free slot and
// runs no timing step.
func (w WorkerInfo) free(timing bool) bool {
	busy := 0
	for _, j := range w.Jobs {
		if j.Finishing {
			continue
		}
		if j.Timing {
			return false
		}
		busy++
	}
	if timing {
		return busy == 0
	}
	return busy < w.Slots
}

// Matches reports whether a worker with these labels may take a step
// that asks for want: it has every one of them.
func Matches(have, want []string) bool {
	for _, l := range want {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

// Workers lists the live workers, by name.
func (c *Conn) Workers(ctx context.Context) ([]WorkerInfo, error) {
	kv, err := c.workers(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := kv.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []WorkerInfo
	for _, k := range keys {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue // gone since the listing
		}
		var w WorkerInfo
		if json.Unmarshal(e.Value(), &w) != nil || !w.live(now) {
			continue
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b WorkerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ParseLabels checks KEY=VALUE labels and returns them sorted, without
// duplicates.
func ParseLabels(labels []string) ([]string, error) {
	var out []string
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" || strings.ContainsAny(l, " \t\n,") {
			return nil, &bisect.UsageError{Msg: fmt.Sprintf("label %q is not KEY=VALUE: give e.g. os=debian", l)}
		}
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
