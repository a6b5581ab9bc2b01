package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sxbisect/sxbisect/bisect"
	"github.com/sxbisect/sxbisect/bisect/remote"
	"github.com/sxbisect/sxbisect/internal/text"
	"github.com/sxbisect/sxbisect/predicate"
)

// natsFlags say how to reach the NATS server: the URL, and the credentials,
// which come from flags, the environment or files, and are never recorded.
type natsFlags struct {
	cfg          remote.Config
	passwordFile string
	ackWait      durationFlag
}

// register declares the flags; what is the URL's flag for, in a word.
func (n *natsFlags) register(fs *pflag.FlagSet, what string) {
	fs.StringVar(&n.cfg.URL, "nats", "", what)
	fs.StringVar(&n.cfg.User, "nats-user", "", "log in to the NATS server as `USER` (the password from --nats-password-file or "+remote.EnvPassword+")")
	fs.StringVar(&n.passwordFile, "nats-password-file", "", "read the NATS password from `FILE`")
	fs.StringVar(&n.cfg.CredsFile, "nats-creds", "", "a NATS credentials `FILE` (user JWT and nkey seed; or "+remote.EnvCreds+")")
	fs.StringVar(&n.cfg.NKeyFile, "nats-nkey", "", "a `FILE` with a NATS user's nkey seed (or "+remote.EnvNKey+")")
	fs.StringVar(&n.cfg.TLSCert, "nats-tls-cert", "", "a client certificate `FILE` for the NATS server")
	fs.StringVar(&n.cfg.TLSKey, "nats-tls-key", "", "the client certificate's key `FILE`")
	fs.StringVar(&n.cfg.TLSCA, "nats-tls-ca", "", "the certificate authorities `FILE` the server's certificate must chain to")
	fs.BoolVar(&n.cfg.Insecure, "insecure", false, "connect to a NATS server off this machine without credentials (anyone who can publish there runs commands on the workers)")
}

// given says whether a server was named.
func (n *natsFlags) given() bool { return n.cfg.URL != "" }

// connect reads the password file and the environment, and connects.
func (n *natsFlags) connect(ctx context.Context, name string) (*remote.Conn, error) {
	cfg := n.cfg
	if n.passwordFile != "" {
		pw, err := remote.ReadSecretFile(n.passwordFile)
		if err != nil {
			return nil, err
		}
		cfg.Password = pw
	}
	cfg = cfg.FromEnv()
	cfg.Name = name
	return remote.Connect(ctx, cfg, remote.Deadlines{AckWait: time.Duration(n.ackWait)})
}

// remoteFlags are start's and batch's flags for sending steps to workers.
type remoteFlags struct {
	natsFlags
	labels     []string
	repoURL    string
	workerWait durationFlag
}

func (r *remoteFlags) register(fs *pflag.FlagSet) {
	r.natsFlags.register(fs, "send the steps to sxbisect workers through the NATS JetStream server at `URL` (see 'sxbisect help worker')")
	fs.StringArrayVar(&r.labels, "worker-label", nil, "only workers with the label `KEY=VALUE` take the steps (repeatable)")
	fs.StringVar(&r.repoURL, "nats-repo-url", "", "workers fetch the commits from `URL` (default: a git bundle of the range, through the server)")
	fs.Var(&r.workerWait, "worker-wait", "stop the session (resumable) when no live worker could take a step for `DURATION` (default: wait for one)")
}

// spec is what a session records of the flags: never the credentials.
func (r *remoteFlags) spec() (*bisect.RemoteSpec, error) {
	if !r.given() {
		if len(r.labels) > 0 || r.repoURL != "" || r.workerWait != 0 {
			return nil, &bisect.UsageError{Msg: "--worker-label, --worker-wait and --nats-repo-url are about workers: give the server with --nats URL too"}
		}
		return nil, nil
	}
	labels, err := remote.ParseLabels(r.labels)
	if err != nil {
		return nil, err
	}
	rs := &bisect.RemoteSpec{URL: r.cfg.URL, Labels: labels, RepoURL: r.repoURL, Insecure: r.cfg.Insecure, WorkerWait: bisect.Duration(r.workerWait)}
	if err := (remote.Config{URL: rs.URL, Insecure: true}).Check(); err != nil {
		return nil, err
	}
	return rs, nil
}

// dispatch connects and returns the tester of sessions that go remote,
// with a line on stderr about the workers that can take their steps.
func (r *remoteFlags) dispatch(ctx context.Context, env *Env, cmd string, rs *bisect.RemoteSpec) (func(ctx context.Context, spec bisect.Spec, prefer string) (bisect.Tester, error), func(), error) {
	conn, err := r.connect(ctx, "sxbisect "+cmd)
	if err != nil {
		return nil, nil, err
	}
	tellWorkers(ctx, env, cmd, conn, rs.Labels)
	return remote.NewDispatcher(conn, *rs).NewTester, conn.Close, nil
}

// tellWorkers says how many live workers can take steps with labels.
func tellWorkers(ctx context.Context, env *Env, cmd string, conn *remote.Conn, labels []string) {
	list, err := conn.Workers(ctx)
	if err != nil {
		return
	}
	n := 0
	for _, w := range list {
		if remote.Matches(w.Labels, labels) {
			n++
		}
	}
	with := ""
	if len(labels) > 0 {
		with = " with the labels " + strings.Join(labels, ", ")
	}
	if n == 0 {
		fmt.Fprintf(env.Stderr, "sxbisect %s: no live worker%s on %s yet: the steps wait for one ('sxbisect worker --nats %s')\n", cmd, with, conn.URL(), conn.URL())
		return
	}
	fmt.Fprintf(env.Stderr, "sxbisect %s: %d live workers%s on %s\n", cmd, n, with, conn.URL())
}

// resumeRemote is resume's tester for a session that recorded a server:
// its steps go to workers again.
func resumeRemote(ctx context.Context, env *Env, n *natsFlags, repo, name string) (func(context.Context, bisect.Spec, string) (bisect.Tester, error), func(), error) {
	j, err := bisect.ReadJournal(repo, name)
	if err != nil {
		// Resume itself says what is wrong with the session.
		return nil, func() {}, nil
	}
	rs := j.Start.Spec.Remote
	j.Close()
	if rs == nil {
		if n.given() {
			return nil, nil, &bisect.UsageError{Msg: fmt.Sprintf("session %q was started without --nats, and its steps run here: leave --nats out", name)}
		}
		return nil, func() {}, nil
	}
	rf := remoteFlags{natsFlags: *n}
	if !rf.given() {
		rf.cfg.URL = rs.URL
	}
	rf.cfg.Insecure = rf.cfg.Insecure || rs.Insecure
	return rf.dispatch(ctx, env, "resume", rs)
}

var cmdWorker = &Command{
	Name:      "worker",
	UsageLine: "worker --nats URL [--dir DIR] [--slots N] [--label KEY=VALUE] [--allow-repo PATTERN] [--shared-cache-max SIZE | --no-shared-cache]",
	Short:     "test the steps of sessions on other machines",
	Long: `
Worker takes steps from the NATS JetStream server at URL and tests them on
this machine: 'sxbisect start --nats URL' and 'sxbisect batch PLAN --nats URL'
on another machine send them, and journal the results that come back.

Under --dir the worker keeps a clone of each repository it is sent steps of,
with its own scratch worktrees and build cache, the baselines it measured and
the logs of its steps. It gets commits without a shared file system: from a
git bundle of the range that the session put on the server, or from the URL
the session gave with --nats-repo-url.

The workers share their builds through the server: a build whose inputs this
worker has not built is taken from the object store ` + remote.BuildBucket + ` when
another worker, of this session or an earlier one, put it there, and a build
made here (or a failure by its exit status) is put there. Every content is
checked against its hash as it is restored; a copy that is damaged or cut
short is a miss: the step builds, says so (the end of its build output, the
metric build_shared_damaged, this worker's log) and puts a sound copy in its
place. A build taken from the bucket shows as a cached one (build reused
from COMMIT; the metrics build_cached and build_shared). The first worker to
make the bucket gives its size, --shared-cache-max (default 10G); a full
bucket takes no new builds, which each worker says once, and keeps serving
those it holds: delete it (nats stream rm OBJ_` + remote.BuildBucket + `) to start
it afresh. --no-shared-cache keeps builds to this worker.

A step that measures time (--max-ratio on cpu or wall, a predicate) runs
alone: the worker takes it only when idle, and nothing beside it. Up to
--slots other steps run at once. --max-ratio compares with a baseline this
worker measured, at the good commit, once per spec.

While it runs a step, the worker tells the server four times per --ack-wait
that it is alive; a worker that dies (kill -9, a power cut) stops telling,
and its step goes to another worker when --ack-wait has passed. Ctrl-C or
SIGTERM hands the running steps back at once.

Anyone who can publish to the server can run commands on the workers: give
the server credentials (--nats-creds, or --nats-user with the password in
` + remote.EnvPassword + `); a server off this machine without them is
refused unless --insecure. --allow-repo restricts the worker to the
repositories it names (the --nats-repo-url, or HOST:PATH of the session's
repository; * stands for anything).

'sxbisect workers --nats URL' lists the live workers.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var n natsFlags
		var opts remote.WorkerOptions
		n.register(fs, "take steps from the NATS JetStream server at `URL`")
		fs.StringVar(&opts.Dir, "dir", defaultWorkerDir(), "keep clones, worktrees, build caches, baselines and logs in `DIR`")
		fs.IntVar(&opts.Slots, "slots", 1, "run up to `N` steps that measure no time at once (timing steps run alone)")
		fs.StringArrayVar(&opts.Labels, "label", nil, "a `KEY=VALUE` label that sessions can ask for with --worker-label (repeatable)")
		fs.StringArrayVar(&opts.AllowRepos, "allow-repo", nil, "take only steps of repositories matching `PATTERN` (repeatable; default: any)")
		fs.StringVar(&opts.Name, "name", "", "the worker's `NAME` in listings and reports (default: host name and process id)")
		fs.Var(&n.ackWait, "ack-wait", "a step of a worker silent for `DURATION` goes to another worker (default 2m)")
		fs.BoolVar(&opts.NoSharedCache, "no-shared-cache", false, "neither take builds from the workers' shared build cache nor put any there")
		sharedMax := fs.String("shared-cache-max", "10G", "make the shared build cache of `SIZE` bytes (K, M, G suffixes), if this worker is the first")
		return func(ctx context.Context, args []string) int {
			if len(args) > 0 {
				return fail(env, "worker", &bisect.UsageError{Msg: "worker takes no arguments: give the server with --nats URL"})
			}
			if fs.Changed("shared-cache-max") && opts.NoSharedCache {
				return fail(env, "worker", &bisect.UsageError{Msg: "--shared-cache-max sizes the shared build cache that --no-shared-cache turns off: give one of them"})
			}
			max, err := predicate.ParseSize(*sharedMax)
			if err != nil {
				return fail(env, "worker", &bisect.UsageError{Msg: fmt.Sprintf("--shared-cache-max %q is not a size: give bytes, or a number with K, M or G, e.g. 10G", *sharedMax)})
			}
			if max <= 0 {
				return fail(env, "worker", &bisect.UsageError{Msg: "--shared-cache-max must be more than 0: to do without the shared build cache, give --no-shared-cache"})
			}
			opts.SharedCacheMax = max
			if opts.Slots < 1 {
				return fail(env, "worker", &bisect.UsageError{Msg: "--slots must be 1 or more"})
			}
			conn, err := n.connect(ctx, "sxbisect worker")
			if err != nil {
				return fail(env, "worker", err)
			}
			defer conn.Close()
			opts.Log = env.Stderr
			w, err := remote.NewWorker(conn, opts)
			if err != nil {
				return fail(env, "worker", err)
			}
			if err := w.Run(ctx); err != nil {
				return fail(env, "worker", err)
			}
			if ctx.Err() != nil {
				return exitInterrupted
			}
			return 0
		}
	},
}

// defaultWorkerDir is where a worker keeps its state unless told.
func defaultWorkerDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "sxbisect", "worker")
}

var cmdWorkers = &Command{
	Name:      "workers",
	UsageLine: "workers --nats URL [--json]",
	Short:     "list the live workers",
	Long: `
Workers lists the workers that are alive on the NATS server at URL: their
labels, slots, the steps each runs (session, commit, since when) and how long
each has been running. A worker is alive while it writes its entry, every
few seconds.
`,
	Flags: func(fs *pflag.FlagSet, env *Env) func(context.Context, []string) int {
		var n natsFlags
		var asJSON bool
		n.register(fs, "the NATS JetStream server's `URL`")
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		return func(ctx context.Context, args []string) int {
			if len(args) > 0 {
				return fail(env, "workers", &bisect.UsageError{Msg: "workers takes no arguments: give the server with --nats URL"})
			}
			conn, err := n.connect(ctx, "sxbisect workers")
			if err != nil {
				return fail(env, "workers", err)
			}
			defer conn.Close()
			list, err := conn.Workers(ctx)
			if err != nil {
				return fail(env, "workers", err)
			}
			if asJSON {
				if list == nil {
					list = []remote.WorkerInfo{}
				}
				data, _ := json.MarshalIndent(workersJSON{Schema: bisect.JSONSchema, Workers: list}, "", "  ")
				fmt.Fprintln(env.Stdout, string(data))
				return 0
			}
			fmt.Fprint(env.Stdout, workersText(list, time.Now()))
			return 0
		}
	},
}

// workersJSON is what 'workers --json' prints.
type workersJSON struct {
	Schema  int                 `json:"schema"`
	Workers []remote.WorkerInfo `json:"workers"`
}

// workersText is the list of workers for people.
func workersText(list []remote.WorkerInfo, now time.Time) string {
	if len(list) == 0 {
		return "no live workers\n"
	}
	var b strings.Builder
	for _, w := range list {
		labels := strings.Join(w.Labels, ",")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(&b, "%s  host %s  slots %d  labels %s  up %s\n", w.Name, w.Host, w.Slots, labels, now.Sub(w.Started).Round(time.Second))
		if len(w.Jobs) == 0 {
			fmt.Fprintf(&b, "    idle\n")
		}
		for _, j := range w.Jobs {
			timing := ""
			if j.Timing {
				timing = ", timing: alone"
			}
			fmt.Fprintf(&b, "    %s %s of session %s from %s, for %s%s\n", j.Kind, text.ShortID(j.Commit), j.Session, j.Coordinator, now.Sub(j.Started).Round(time.Second), timing)
		}
	}
	return text.Escape(b.String())
}
