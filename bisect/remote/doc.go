// Package remote sends a session's steps to sxbisect workers on other
// machines, through a NATS JetStream server, for the nights one machine
// cannot hold: a timing step must run alone on its machine, so more cores
// do not make a measured bisection faster, but more machines do.
//
// The search and the journal stay on the machine that runs the session
// (the coordinator) and stay authoritative. What goes out is a step: a
// commit and the session's spec, as JSON (Job). What comes back is the
// step's report (bisect.Report) and the name of the worker that measured
// it (Outcome), journaled as it arrives.
//
// # Running workers
//
// One server, Debian's package, with JetStream and its store on disk:
//
//	apt-get install nats-server
//	nats-server -js -sd /var/lib/nats     # add authentication: see Security
//
// On each test machine, one worker:
//
//	sxbisect worker --nats nats://SERVER:4222 --nats-creds worker.creds \
//	    --dir /var/cache/sxbisect --slots 4 --label os=debian
//
// On the user's machine, sessions and batches name the server:
//
//	sxbisect start --nats nats://SERVER:4222 --nats-creds me.creds --parallel 3 \
//	    --run 'bash lib/tcl/test.sh' --max-ratio cpu=1.5 83dbb595 architecture
//	sxbisect batch night.toml --nats nats://SERVER:4222 --nats-creds me.creds
//	sxbisect workers --nats nats://SERVER:4222 --nats-creds me.creds
//
// --parallel K keeps K steps out at once; a batch runs all its jobs at
// once (or --jobs N), timing jobs too, since each worker runs a timing step
// alone. --worker-label KEY=VALUE (repeatable) sends the steps only to
// workers with those labels.
//
// # What a worker does
//
// Under --dir, a worker keeps a bare clone per repository (repos/), each
// with its own worktree pool and build cache as any repository has, the
// baselines it measured (baselines/), the whole logs of its steps
// (logs/SESSION/), and the process trees it runs (processes.jsonl, so that
// a worker killed with SIGKILL kills what it left running when it starts
// again).
//
// It gets the commits without a shared file system. By default the
// coordinator puts a git bundle of the range (the bad and good commits
// and everything they reach) into the object store BundleBucket, once per
// range, and the worker fetches it once; a commit outside the range (the
// revert --validate tests) comes in a small bundle of its own. With
// --nats-repo-url URL the worker fetches from URL instead (a path or
// file:// URL of a bare repository will do).
//
// A timing step (a spec with --max-ratio on cpu or wall, or a predicate:
// see batch.IsTiming) runs alone: the worker takes one only when it is
// idle, and takes nothing beside it. Other steps run up to --slots at
// once. --max-ratio compares a commit with a baseline measured on the same
// worker: each worker measures its own at the good commit, in a worktree
// it keeps there, and keeps it for the next step of the same spec.
//
// A session's steps stay with the workers that ran its steps before: a
// step names them (Job.Prefer), and a worker offered it leaves it, for a
// second at most, to one of them that is free, since that one has the
// session's baseline measured and its builds made. A worker writes its
// entry in WorkersBucket whenever a step starts or ends, so that the
// others know who is free.
//
// # Shared builds
//
// Each worker's build caches (one per clone) have a shared tier,
// SharedBuilds: the object store BuildBucket, an object per build cache
// key (see buildcache.Tiered). A build a worker does not hold is taken
// from there, checked, and kept in its own cache; a build it makes is put
// there. Keys name git object ids, the build command and the values of
// --build-env, the same on every worker; what is not in the key (the
// compiler installed) must be alike on the workers that share a bucket,
// as it must be between the sessions sharing one machine's cache. Two
// workers that put one key at once each write a whole object and the
// later wins; one that reads it meanwhile reads a damaged object, a miss.
// The bucket's size is fixed by the worker that makes it
// (WorkerOptions.SharedCacheMax); full, it refuses new objects (its stream
// discards new messages) and serves those it holds. --no-shared-cache
// turns the tier off on a worker.
//
// # Losing a machine loses at most its step
//
//   - A worker says it is alive four times per ack deadline (--ack-wait,
//     default 2m) while it runs a step. A worker killed with kill -9, or a
//     machine that goes down, stops saying so, and the step goes to
//     another worker when the deadline has passed. Ctrl-C or SIGTERM hands
//     the running steps back at once.
//   - A worker publishes a step's result before it acknowledges the step.
//     Results are published with the step's id as the message id, so a
//     step that ran twice (a worker that was cut off past its deadline,
//     then came back) has one result; a coordinator journals one verdict
//     per step id.
//   - A coordinator killed in the middle of a run resumes from its journal
//     ('sxbisect resume'): the steps that were in flight are sent again
//     under the same ids, which the server takes for duplicates, and their
//     results, which came meanwhile, are collected from the result stream
//     (a durable consumer per session tells of them as they come; a step's
//     result is also looked up by its id).
//   - The server keeps its streams on disk (JetStream file storage): a
//     restart loses nothing, and workers and coordinators reconnect by
//     themselves.
//
// # What is on the server
//
//	WorkStream     SXBISECT_WORK: steps, until a worker acknowledges them
//	               (subjects sxbisect.work.timing and sxbisect.work.shared)
//	ResultStream   SXBISECT_RESULTS: results, sxbisect.results.SESSION.STEP
//	WorkersBucket  sxbisect_workers: each live worker's labels, slots and
//	               steps, rewritten every few seconds ('sxbisect workers')
//	BundleBucket   sxbisect_bundles: git bundles of the ranges under test
//	BuildBucket    sxbisect_builds: the workers' shared build cache
//
// and core subjects sxbisect.cancel.STEP, on which a coordinator tells a
// worker to stop a step its session no longer needs. Results and bundles
// are kept for a week; builds until the bucket is full.
//
// # Security
//
// Anyone who can publish to the work stream can run commands on the
// workers: a step's spec holds its build and test commands. Treat the
// right to publish on sxbisect.> like a login on every worker.
//
//   - Credentials (a user and a password, an nkey or a credentials file,
//     TLS client certificates) come from flags, the environment
//     (SXBISECT_NATS_USER, SXBISECT_NATS_PASSWORD, SXBISECT_NATS_CREDS,
//     SXBISECT_NATS_NKEY, SXBISECT_NATS_TLS_*) or files, never from a commit
//     under test, and are never recorded: a session records the server's
//     URL, and a URL with credentials in it is refused.
//   - A server off the loopback without credentials is refused unless
//     --insecure is given.
//   - A worker can restrict itself to the repositories it is told
//     (--allow-repo PATTERN, * standing for anything): a step's repository
//     is its --nats-repo-url, or HOST:PATH of the coordinator's checkout.
//   - The commands a worker runs come only from the coordinator's spec
//     (--build, --run, the conditions, predicates by name), never from the
//     candidate commit's files; presets of .sxbisect.toml are read on the
//     coordinator, from the user's checkout.
package remote
